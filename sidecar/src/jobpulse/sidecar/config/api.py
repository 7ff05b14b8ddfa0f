"""REST: ``/api/monitor/config`` (read, merge-patch, replace the runtime changes) and its history.

Every route is for admins; the caller's name (its token's, or with authentication off the
``X-JobPulse-User`` header's or "local") goes into the audit trail. PATCH and PUT read their body
themselves rather than let Litestar decode it: a body that is not JSON, or not a JSON object, is then
refused here and recorded in the audit trail like every other rejected change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, patch, put
from litestar.di import NamedDependency
from litestar.exceptions import ServiceUnavailableException, ValidationException
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import QueryParameter, RawBody

from jobpulse.sidecar.api.bounds import INT64_MAX
from jobpulse.sidecar.api.errors import ConflictException, UnprocessableEntityException
from jobpulse.sidecar.api.openapi import request_content
from jobpulse.sidecar.api.paging import Limit
from jobpulse.sidecar.auth.principal import Principal
from jobpulse.sidecar.auth.roles import ADMIN, access
from jobpulse.sidecar.config.layers import DEFAULT, leaves, origin_of
from jobpulse.sidecar.config.secrets import masked
from jobpulse.sidecar.config.service import REQUEST, ConfigConflict, ConfigService, Rejection, StorageUnavailable
from jobpulse.sidecar.config.validation import Problem
from jobpulse.sidecar.settings import RESTART_KEYS, SettingsError
from jobpulse.sidecar.timestamps import to_datetime


class ConfigView(msgspec.Struct):
    """The settings in force and where each key's value comes from.

    ``sources`` maps every key path to ``default``, ``file``, ``env``, ``flag`` or ``runtime``.
    ``runtime`` holds the runtime changes (what PATCH edits and PUT replaces) and ``version`` counts
    them. ``pending_restart`` has values for ``restart_required`` keys that wait for a restart;
    ``rejected`` says why the settings file or the stored runtime changes are not applied.
    Secrets are masked everywhere.
    """

    version: int
    values: dict[str, Any]
    sources: dict[str, str]
    runtime: dict[str, Any]
    restart_required: list[str]
    pending_restart: dict[str, Any]
    file: str | None
    rejected: list[Rejection]


class ChangeEntry(msgspec.Struct):
    """One key of a change: its value before and after (None: not set), secrets masked."""

    key: str
    old: Any
    new: Any


class ChangeRecord(msgspec.Struct):
    """One accepted change or rejected attempt: who, when, from where, what changed or what was wrong."""

    id: int
    at: datetime
    who: str
    source: str
    accepted: bool
    version: int | None
    replica: str | None
    changes: list[ChangeEntry]
    errors: list[Problem]
    request: Any


class ConfigHistory(msgspec.Struct):
    """Changes, newest first; ask for older ones with ``cursor=next_cursor``."""

    items: list[ChangeRecord]
    next_cursor: int | None


def config_view(service: ConfigService) -> ConfigView:
    values = msgspec.to_builtins(service.live.current)
    sources = {
        path: layer.name if (layer := origin_of(path, service.origins)) else DEFAULT for path, _ in leaves(values)
    }
    return ConfigView(
        version=service.version,
        values=masked(values),
        sources=sources,
        runtime=masked(service.runtime),
        restart_required=list(RESTART_KEYS),
        pending_restart=service.pending_restart,
        file=service.sources.file_path,
        rejected=list(service.rejected.values()),
    )


def _record(row: Any) -> ChangeRecord:
    decode = msgspec.json.decode
    return ChangeRecord(
        id=row.id,
        at=to_datetime(row.at_ns),
        who=row.who,
        source=row.source,
        accepted=row.accepted,
        version=row.version,
        replica=row.replica,
        changes=decode(row.changes or "[]", type=list[ChangeEntry]),
        errors=decode(row.errors or "[]", type=list[Problem]),
        request=decode(row.request) if row.request else None,
    )


_OBJECT = "a JSON object"

# What each kind of JSON value is called when it is sent where an object is expected.
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def _invalid(problems: list[Problem]) -> UnprocessableEntityException:
    count = len(problems)
    return UnprocessableEntityException(
        detail=f"{count} invalid setting{'s' if count != 1 else ''}, nothing was changed: "
        + "; ".join(f"{problem.key or 'the body'}: {problem.message}" for problem in problems),
        extra=[msgspec.to_builtins(problem) for problem in problems],
    )


async def _read(service: ConfigService, body: bytes, who: str, *, replace: bool) -> dict[str, Any]:
    """The JSON object ``body`` holds; otherwise the refusal, recorded in the audit trail."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        # 400 (malformed), not 422: errors.py. The bytes are not kept: unread, their secrets cannot be masked.
        why = str(error).removeprefix("JSON is malformed: ")
        message = "empty" if not body.strip() else f"not valid JSON: {why[:1].lower()}{why[1:]}"
        problem = Problem(key="", message=message, allowed=_OBJECT, source=REQUEST)
        await service.refuse(who, problem, replace=replace)
        raise ValidationException(
            detail=f"the body is {message}; nothing was changed", extra=[msgspec.to_builtins(problem)]
        ) from None
    if not isinstance(document, dict):
        kind = "null" if document is None else _JSON_KINDS[type(document)]
        problem = Problem(
            key="",
            message=f"must be a JSON object, not {kind}",
            allowed=_OBJECT,
            # Like a table's, an array's value is not repeated: it is in the audit trail, masked.
            value=msgspec.UNSET if isinstance(document, list) else masked(document),
            source=REQUEST,
        )
        await service.refuse(who, problem, replace=replace, request=document)
        raise _invalid([problem])
    return document


async def _change(service: ConfigService, body: bytes, principal: Principal, *, replace: bool) -> ConfigView:
    who = principal.name or "local"
    document = await _read(service, body, who, replace=replace)
    try:
        await service.change(document, who, replace=replace)
    except SettingsError as error:
        raise _invalid(error.problems) from None
    except ConfigConflict as error:
        raise ConflictException(detail=str(error)) from None
    except StorageUnavailable as error:
        raise ServiceUnavailableException(detail=str(error)) from None
    return config_view(service)


_REFUSALS = [ValidationException, UnprocessableEntityException, ConflictException, ServiceUnavailableException]

# Settings by key, any JSON value each: what Litestar documents for ``dict[str, Any]``.
_SETTINGS = {"application/json": Schema(type=OpenAPIType.OBJECT, additional_properties=Schema())}
_PATCH_BODY = request_content(
    _SETTINGS,
    "A JSON merge patch of the runtime changes: a key's new value, null to remove its runtime change",
)
_PUT_BODY = request_content(
    _SETTINGS,
    "Every runtime change, as a document of settings ({} for none)",
)


class ConfigController(Controller):
    """The sidecar's configuration, changed while it runs."""

    path = "/api/monitor/config"
    tags = ["configuration"]
    opt = access(ADMIN)

    @get("/", summary="The settings in force, the source of each key, what waits for a restart")
    async def get_config(self, config_service: NamedDependency[ConfigService]) -> ConfigView:
        return config_view(config_service)

    @patch(
        "/",
        summary="Change settings now (a JSON merge patch of the runtime changes; null removes one)",
        description="Validated as a whole with every other source: a 422 lists every problem (key, value, what "
        "is allowed) and changes nothing. Unknown keys are refused by name; a change of a key listed in "
        "restart_required (the address, the database, authentication on or off, the event bus) is "
        "refused: it needs a restart.",
        raises=_REFUSALS,
        operation_class=_PATCH_BODY,
    )
    async def patch_config(
        self, config_service: NamedDependency[ConfigService], principal: NamedDependency[Principal], body: RawBody
    ) -> ConfigView:
        return await _change(config_service, body, principal, replace=False)

    @put(
        "/",
        summary="Replace every runtime change with this document ({} removes them all)",
        description="Validated like PATCH. Masked secrets read from GET may be sent back: they keep their value.",
        raises=_REFUSALS,
        operation_class=_PUT_BODY,
    )
    async def put_config(
        self, config_service: NamedDependency[ConfigService], principal: NamedDependency[Principal], body: RawBody
    ) -> ConfigView:
        return await _change(config_service, body, principal, replace=True)

    @get("/history", summary="Accepted and rejected changes, newest first (secrets masked)")
    async def config_history(
        self,
        config_service: NamedDependency[ConfigService],
        limit: Limit = 50,
        cursor: Annotated[int | None, QueryParameter(ge=1, le=INT64_MAX)] = None,
    ) -> ConfigHistory:
        rows = await config_service.history(limit + 1, cursor)
        items = [_record(row) for row in rows[:limit]]
        return ConfigHistory(items=items, next_cursor=items[-1].id if len(rows) > limit else None)
