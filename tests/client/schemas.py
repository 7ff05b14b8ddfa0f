"""Comparing two JSON Schemas by what they accept: the client's (from msgspec) and the sidecar's (OpenAPI).

The two spell the same thing differently (``anyOf`` and ``oneOf``, ``"type": ["null", "string"]``,
``$defs`` and ``components/schemas``, an object with or without ``additionalProperties: {}``); the
comparison looks through the spelling at types, formats, enum values, object properties and which of
them are required. Constraints (lengths, ranges) and descriptions are not compared.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


class Document:
    """A JSON Schema with its named definitions, for resolving ``$ref``."""

    def __init__(self, definitions: dict[str, Schema]) -> None:
        self.definitions = definitions

    def resolve(self, schema: Schema) -> tuple[str | None, Schema]:
        """(definition name or None, the schema with ``$ref`` followed)."""
        ref = schema.get("$ref")
        if ref is None:
            return None, schema
        name = ref.rsplit("/", 1)[-1]
        return name, self.definitions[name]


def alternatives(schema: Schema) -> tuple[bool, list[Schema]]:
    """(whether null is allowed, the non-null alternatives)."""
    if "anyOf" in schema or "oneOf" in schema:
        nullable, found = False, []
        for option in schema.get("anyOf") or schema["oneOf"]:
            option_nullable, option_found = alternatives(option)
            nullable |= option_nullable
            found += option_found
        return nullable, found
    kind = schema.get("type")
    enum = schema.get("enum")
    if isinstance(kind, list):
        rest = {key: value for key, value in schema.items() if key not in ("type", "enum")}
        if enum is not None:
            rest["enum"] = [value for value in enum if value is not None]
        return "null" in kind, [{**rest, "type": other} for other in kind if other != "null"]
    if kind == "null":
        return True, []
    return False, [schema]


def kind_of(schema: Schema) -> str:
    if "properties" in schema:
        return "struct"
    kind = schema.get("type")
    if kind is None and "enum" in schema:
        values = schema["enum"]
        kind = "string" if all(isinstance(value, str) for value in values) else "mixed enum"
    if kind is None and "items" in schema:
        kind = "array"
    return kind or "any"


class Comparison:
    """Differences between a client schema and a server schema, as readable lines."""

    def __init__(self, client: Document, server: Document, *, request: bool = False, naive_times: bool = False) -> None:
        """``request``: compare a request body (see :meth:`compare`). ``naive_times``: a string with
        format ``date-time`` on one side matches one without on the other, because msgspec writes the
        format only for datetimes that must carry an offset, and one side's schema comes from msgspec
        types that take naive times."""
        self.client = client
        self.server = server
        self.request = request
        self.naive_times = naive_times
        self.problems: list[str] = []
        self.compared: set[tuple[str | None, str | None]] = set()
        """The pairs of named definitions (client, server) compared so far."""

    def compare(self, client: Schema, server: Schema, where: str, *, optional: bool = False) -> None:
        """Record how ``client`` differs from ``server`` at ``where`` (``optional``: a field the server
        does not require)."""
        client_null, client_options = alternatives(client)
        server_null, server_options = alternatives(server)
        # A request may send less than the server takes: never null where null is allowed, or nothing
        # instead of null for an optional field (omit_defaults).
        sends_less = self.request and (not client_null or optional)
        if client_null != server_null and not sends_less:
            self.problems.append(
                f"{where}: null {'allowed' if client_null else 'refused'} by the client, not the server"
            )
        if len(client_options) != len(server_options):
            self.problems.append(
                f"{where}: {len(client_options)} alternatives in the client, {len(server_options)} in the server"
            )
            return
        by_kind = sorted(server_options, key=kind_of)
        for client_option, server_option in zip(sorted(client_options, key=kind_of), by_kind, strict=True):
            self._single(client_option, server_option, where)

    def _single(self, client: Schema, server: Schema, where: str) -> None:
        client_name, client = self.client.resolve(client)
        server_name, server = self.server.resolve(server)
        if client_name is not None or server_name is not None:
            if (client_name, server_name) in self.compared:
                return
            self.compared.add((client_name, server_name))
        client_kind, server_kind = kind_of(client), kind_of(server)
        if client_kind != server_kind:
            self.problems.append(f"{where}: {client_kind} in the client, {server_kind} in the server")
            return
        formats = {client.get("format"), server.get("format")}
        if len(formats) > 1 and not (self.naive_times and formats == {None, "date-time"}):
            self.problems.append(
                f"{where}: format {client.get('format')} in the client, {server.get('format')} in the server"
            )
        client_enum, server_enum = client.get("enum"), server.get("enum")
        if (client_enum is None) != (server_enum is None) or set(client_enum or ()) != set(server_enum or ()):
            self.problems.append(f"{where}: values {client_enum} in the client, {server_enum} in the server")
        if client_kind == "struct":
            self._struct(client, server, where)
        elif client_kind == "array":
            self.compare(client.get("items", {}), server.get("items", {}), f"{where}[]")
        elif client_kind == "object":
            self.compare(client.get("additionalProperties", {}), server.get("additionalProperties", {}), f"{where}{{}}")

    def _struct(self, client: Schema, server: Schema, where: str) -> None:
        client_fields, server_fields = client["properties"], server["properties"]
        for name in sorted(client_fields.keys() - server_fields.keys()):
            self.problems.append(f"{where}.{name}: in the client, not in the server")
        for name in sorted(server_fields.keys() - client_fields.keys()):
            self.problems.append(f"{where}.{name}: in the server, not in the client")
        client_required, server_required = set(client.get("required", ())), set(server.get("required", ()))
        for name in sorted(client_fields.keys() & server_fields.keys()):
            if (name in client_required) != (name in server_required):
                self.problems.append(
                    f"{where}.{name}: {'required' if name in client_required else 'optional'} in the client, "
                    f"{'required' if name in server_required else 'optional'} in the server"
                )
            self.compare(
                client_fields[name], server_fields[name], f"{where}.{name}", optional=name not in server_required
            )
