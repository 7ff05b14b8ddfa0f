"""Where settings come from: layers of partial documents, merged lowest first, and JSON merge patch.

A layer is what one source gave (the file, one environment variable, the flags, the runtime changes).
Tables merge key by key, anything else (numbers, strings, lists) is replaced whole by a higher layer;
a key no layer gives keeps its default. Runtime changes are themselves a layer that a JSON merge patch
(RFC 7396) edits: ``null`` removes a runtime change, so the key falls back to the layers below.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

DEFAULT = "default"
FILE = "file"
ENV = "env"
FLAG = "flag"
RUNTIME = "runtime"


class Layer(NamedTuple):
    """What one source gave: ``name`` is the kind of source, ``label`` says it in error messages."""

    name: str
    label: str
    values: dict[str, Any]
    # Typed sources (files, JSON) are converted strictly; text ones (environment, flags) are parsed.
    strict: bool


def join(path: str, key: str) -> str:
    """``alerting`` + ``rules`` -> ``alerting.rules``."""
    return f"{path}.{key}" if path else key


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: tables merge key by key, other values replace."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        merged[key] = deep_merge(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged


def merged(layers: Sequence[Layer]) -> dict[str, Any]:
    """The document the layers make, lowest first (without the defaults, which the model adds)."""
    document: dict[str, Any] = {}
    for layer in layers:
        document = deep_merge(document, layer.values)
    return document


def leaves(document: dict[str, Any], path: str = "") -> Iterator[tuple[str, Any]]:
    """(key path, value) of every value that is not a non-empty table."""
    for key, value in document.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, join(path, key))
        else:
            yield join(path, key), value


def origins(layers: Sequence[Layer]) -> dict[str, Layer]:
    """The layer each key path's value comes from (the highest that gives it)."""
    found: dict[str, Layer] = {}
    for layer in layers:
        for path, value in leaves(layer.values):
            # An empty table gives nothing: its keys keep the value from below.
            if value != {}:
                found[path] = layer
    return found


def origin_of(path: str, found: dict[str, Layer]) -> Layer | None:
    """The layer that gave ``path`` or the table around it (a list entry's key belongs to the list)."""
    while path:
        if path in found:
            return found[path]
        path = path[: max(path.rfind("."), path.rfind("["), 0)]
    return None


def giver(path: str, layers: Sequence[Layer]) -> Layer | None:
    """The highest layer that gives ``path``, a table around it or a key inside it: who to blame for a
    problem of several keys together."""
    for layer in reversed(layers):
        for leaf, _ in leaves(layer.values):
            if leaf == path or _inside(leaf, path) or _inside(path, leaf):
                return layer
    return None


def _inside(path: str, table: str) -> bool:
    return path.startswith((f"{table}.", f"{table}["))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: ``patch`` applied to ``target``; ``null`` members remove keys, tables merge."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def pruned(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without empty tables (what removing a table's last runtime change leaves)."""
    result = {}
    for key, value in document.items():
        if isinstance(value, dict):
            value = pruned(value)
            if not value:
                continue
        result[key] = value
    return result


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key path, old value, new value) for every leaf that differs; a missing side is None."""
    before, after = dict(leaves(old)), dict(leaves(new))
    return [
        (path, before.get(path), after.get(path))
        for path in [*before, *(path for path in after if path not in before)]
        if before.get(path) != after.get(path)
    ]
