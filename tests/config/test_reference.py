"""docs/configuration.md against the settings model: every key, including each key of the ``alerting``
table, has a row whose type and range, default, "applies" (live or restart) and example agree with
the model. A key added to the model without a row, or a default changed on one side only, fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

from jobpulse.sidecar.alerting.config import RuleConfig, Rules
from jobpulse.sidecar.settings import RESTART_KEYS, Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
RULE = "<rule>"
# A table or a list of tables documented as one row (its keys are described in the row).
WHOLE = ("alerting", "schedules")
# Its default depends on the machine (the per-user data directory); its row says how.
MACHINE_DEFAULT = "database_url"


class Row(msgspec.Struct):
    """One row of the settings tables: the cells after the key."""

    kind: str
    default: str
    applies: str
    meaning: str
    example: str


class Key(msgspec.Struct):
    """A documented key path, its type and its default (``msgspec.NODEFAULT`` when required)."""

    path: str
    type: mi.Type
    default: Any


def documented() -> dict[str, Row]:
    section = DOCS.read_text().split("\n## Settings\n", 1)[1].split("\n## Changing settings", 1)[0]
    rows = {}
    for line in section.splitlines():
        if found := re.match(r"^\| `([a-z_.<>\[\]]+)` \| (.*) \|$", line):
            rows[found[1]] = Row(*found[2].split(" | "))
    return rows


def _default(field: mi.Field) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return msgspec.to_builtins(field.default_factory())
    return msgspec.NODEFAULT


def _keys(struct: mi.StructType, path: str) -> Iterator[Key]:
    for field in struct.fields:
        key = f"{path}.{field.name}" if path else field.name
        kind = field.type
        if key in WHOLE:
            yield Key(key, kind, msgspec.NODEFAULT)
        if isinstance(kind, mi.StructType):
            yield from _keys(kind, key)
        elif key in WHOLE:
            continue  # a list of tables: its row describes their keys
        elif isinstance(kind, mi.ListType) and isinstance(kind.item_type, mi.StructType):
            yield from _keys(kind.item_type, key + "[]")
        else:
            yield Key(key, kind, _default(field))


def model_keys() -> list[Key]:
    """Every key of the model, the alerting table's included; the rules' common keys once, as ``<rule>``."""
    common = [
        Key(f"alerting.rules.{RULE}.{field.name}", field.type, msgspec.NODEFAULT)
        for field in mi.type_info(RuleConfig).fields
    ]
    names = {field.name for field in mi.type_info(RuleConfig).fields}
    found = _keys(mi.type_info(Settings), "")
    return [key for key in found if not re.fullmatch(rf"alerting\.rules\.\w+\.({'|'.join(names)})", key.path)] + common


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _range(kind: mi.IntType | mi.FloatType) -> str:
    """The range as the docs write it: ``≥ 1``, ``> 0``, ``0–100``, ``> 0 and ≤ 1``."""
    low = ("≥", kind.ge) if kind.ge is not None else (">", kind.gt) if kind.gt is not None else None
    high = ("≤", kind.le) if kind.le is not None else ("<", kind.lt) if kind.lt is not None else None
    if low and high and (low[0], high[0]) == ("≥", "≤"):
        return f"{_number(low[1])}–{_number(high[1])}"
    return " and ".join(f"{part[0]} {_number(part[1])}" for part in (low, high) if part is not None)


def kind_problems(kind: mi.Type, cell: str) -> list[str]:
    if isinstance(kind, mi.UnionType):
        members = [member for member in kind.types if not isinstance(member, mi.NoneType)]
        unset = [] if "unset" in cell else ["says nothing of unset"]
        return unset + kind_problems(members[0], cell) if len(members) == 1 else unset
    if isinstance(kind, mi.BoolType):
        return [] if cell.startswith("boolean") else ["is no boolean"]
    if isinstance(kind, mi.IntType | mi.FloatType):
        word = "integer" if isinstance(kind, mi.IntType) else "number"
        wanted = f"{word} {_range(kind)}".strip()
        return [] if cell.startswith(wanted) else [f"should start {wanted!r}"]
    if isinstance(kind, mi.LiteralType):
        return [f"misses `{value}`" for value in kind.values if f"`{value}`" not in cell]
    if isinstance(kind, mi.ListType):
        item = [] if isinstance(kind.item_type, mi.StrType) else kind_problems(kind.item_type, cell)
        return (["is no list"] if "list" not in cell else []) + item
    if isinstance(kind, mi.DictType):
        return [] if "table" in cell else ["is no table"]
    return []


def parsed_default(cell: str) -> Any:
    """A default cell's value: its first `code` as TOML (or as text), unset, empty, or required."""
    if cell.startswith(("unset", "none")):
        return None
    if cell.startswith("empty"):
        return []
    if cell.startswith("required"):
        return msgspec.NODEFAULT
    code = re.match(r"`([^`]*)`", cell)
    assert code, f"no value in {cell!r}"
    try:
        return msgspec.toml.decode(f"value = {code[1]}".encode())["value"]
    except msgspec.DecodeError:
        return code[1]


def default_problems(key: Key, cell: str) -> list[str]:
    if key.path in WHOLE or key.path == MACHINE_DEFAULT:
        return []
    if key.path.startswith(f"alerting.rules.{RULE}."):
        return rule_default_problems(key.path.rsplit(".", 1)[1], cell)
    shown = parsed_default(cell)
    model = key.default
    if shown is None and model in ([], {}):
        return []
    if isinstance(model, float | int) and not isinstance(model, bool) and isinstance(shown, float | int):
        return [] if float(shown) == float(model) else [f"default {shown!r}, the model's {model!r}"]
    return [] if shown == model else [f"default {shown!r}, the model's {model!r}"]


def rule_default_problems(name: str, cell: str) -> list[str]:
    defaults = msgspec.to_builtins(Rules())
    if name == "severity":
        # "`warning`; `high` for `job_failed`, `job_lost`, ..."
        severities, _, rules = cell.partition(" for ")
        usual, other = re.findall(r"`([a-z]+)`", severities)
        others = set(re.findall(r"`([a-z_]+)`", rules))
        shown = {rule: other if rule in others else usual for rule in defaults}
        model = {rule: values["severity"] for rule, values in defaults.items()}
        return [] if shown == model else [f"severities {shown}, the model's {model}"]
    values = {repr(values[name]) for values in defaults.values()}
    shown = parsed_default(cell)
    return [] if values == {repr(shown)} else [f"default {shown!r}, the rules' {values}"]


def _paths(value: Any, path: str = "") -> Iterator[str]:
    """Every key path in ``value``, into tables and lists: ``alerting.channels[0].url``."""
    if path:
        yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, f"{path}[{index}]")


def example_problems(key: Key, cell: str) -> list[str]:
    text = cell.replace("<br>", "\n").replace("`", "")
    try:
        document = msgspec.toml.decode(text.encode())
        msgspec.convert(document, Settings)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as error:
        return [f"example {text!r} is not valid: {error}"]
    pattern = re.escape(key.path).replace(re.escape(RULE), "[a-z_]+").replace(r"\[\]", r"\[\d+\]")
    given = any(re.fullmatch(pattern, path) for path in _paths(document))
    return [] if given else [f"example {text!r} does not set it"]


def test_every_key_of_the_model_has_a_row_and_no_row_names_a_key_the_model_lacks():
    rows, keys = documented(), [key.path for key in model_keys()]
    assert [key for key in keys if key not in rows] == []
    assert [row for row in rows if row not in keys] == []


@pytest.mark.parametrize("key", model_keys(), ids=lambda key: key.path)
def test_a_row_agrees_with_the_model(key: Key):
    row = documented()[key.path]
    restart = key.path in RESTART_KEYS
    problems = [
        *kind_problems(key.type, row.kind),
        *default_problems(key, row.default),
        *([] if row.applies.startswith("restart") == restart else [f"applies {row.applies!r}, restart: {restart}"]),
        *([] if row.meaning else ["no meaning"]),
        *example_problems(key, row.example),
    ]
    assert problems == []
