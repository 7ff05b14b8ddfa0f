"""Checking a settings document against the settings model, reporting every problem at once.

msgspec stops at the first error. Here the document is walked alongside the model's types: each value
is converted on its own and unknown keys are named, so one pass lists everything that is wrong, each
with its key path, the bad value (masked when secret) and what the key accepts. Checks that involve
several keys (a Struct's ``__post_init__``) run on a table once everything in it is valid.
"""

from __future__ import annotations

import difflib
import re
import types
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import msgspec
import msgspec.inspect

from jobpulse.sidecar.config.layers import join
from jobpulse.sidecar.config.secrets import mask_value

# msgspec ends a message with where, inside the value it converted, the problem is.
_WHERE = re.compile(r"^(?P<message>.*) - at `\$(?P<where>[^`]*)`$", re.S)
# The model's own checks start their messages with the field they are about: "url: not a usable ...".
_FIELD_FIRST = re.compile(r"^(?P<field>[a-z_]+): (?P<message>.*)$", re.S)


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One invalid setting: its key path, the bad value, what is wrong, what would do, and its source."""

    key: str
    message: str
    allowed: str = ""
    # Not repeated for tables and lists (long, and they may hold secrets): the key names the entry.
    value: Any = msgspec.UNSET
    source: str = ""

    def __str__(self) -> str:
        where = self.key or "the settings"
        shown = "" if self.value is msgspec.UNSET else f" = {self.value!r}"
        origin = f" from {self.source}" if self.source else ""
        allowed = f" (allowed: {self.allowed})" if self.allowed else ""
        return f"{where}{shown}{origin}: {self.message}{allowed}"


def check(document: Any, model: type, *, strict: bool, whole: bool) -> list[Problem]:
    """Every problem of ``document`` as a ``model``.

    ``whole`` says the document is complete, so required keys and checks across keys apply; a layer
    that gives only some keys (a file, a patch) is checked with ``whole=False``.
    """
    return _check(document, model, "", strict, whole)


def _check(value: Any, annotation: Any, path: str, strict: bool, whole: bool) -> list[Problem]:
    bare, optional = _bare(annotation)
    if value is None and optional:
        return []
    if _is_struct(bare):
        return _check_table(value, bare, annotation, path, strict, whole)
    item = _list_item(bare)
    if item is not None and isinstance(value, list):
        problems = [
            problem
            for index, element in enumerate(value)
            for problem in _check(element, item, f"{path}[{index}]", strict, True)
        ]
        return problems or _convert(value, annotation, path, strict)
    return _convert(value, annotation, path, strict)


def _check_table(value: Any, struct: type, annotation: Any, path: str, strict: bool, whole: bool) -> list[Problem]:
    if not isinstance(value, dict):
        return [_problem(path, value, f"expected a table, got {_kind(value)}", annotation)]
    hints = _hints(struct)
    known = struct.__struct_fields__
    problems: list[Problem] = []
    for key, item in value.items():
        if key not in known:
            problems.append(_unknown(join(path, key), key, item, known))
        else:
            problems.extend(_check(item, hints[key], join(path, key), strict, whole))
    if whole and not problems:
        problems.extend(_convert(value, struct, path, strict, table=struct))
    return problems


def _convert(value: Any, annotation: Any, path: str, strict: bool, *, table: type | None = None) -> list[Problem]:
    try:
        msgspec.convert(value, annotation, strict=strict)
    except msgspec.ValidationError as error:
        return [_from_error(str(error), value, annotation, path, table)]
    return []


def _from_error(text: str, value: Any, annotation: Any, path: str, table: type | None) -> Problem:
    """A Problem from a msgspec message, its path made absolute (and narrowed to the field a check names)."""
    match = _WHERE.match(text)
    message, where = (match["message"], match["where"]) if match else (text, "")
    if where and where != "[...]":
        return _problem(path + where, _inside(value, where), _sentence(message), annotation)
    named = _FIELD_FIRST.match(message)
    if table is not None and named and named["field"] in table.__struct_fields__:
        field = named["field"]
        annotation = _hints(table)[field]
        # A table's description says nothing a check across its keys does not.
        allowed = "" if _is_struct(_bare(annotation)[0]) else describe(annotation)
        return Problem(key=join(path, field), message=named["message"], allowed=allowed)
    if table is not None:
        return Problem(key=path, message=message)
    return _problem(path, value, _sentence(message), annotation)


def _inside(value: Any, where: str) -> Any:
    """The part of ``value`` at msgspec's ``where`` (``[0]``, ``.name``), or UNSET."""
    for index, key in re.findall(r"\[(\d+)\]|\.(\w+)", where):
        try:
            value = value[int(index)] if index else value[key]
        except (LookupError, TypeError):
            return msgspec.UNSET
    return value


def _shown(path: str, value: Any) -> Any:
    """``value`` as a Problem repeats it: masked when secret, left out when a table or a list."""
    return msgspec.UNSET if isinstance(value, dict | list) or value is msgspec.UNSET else mask_value(path, value)


def _problem(path: str, value: Any, message: str, annotation: Any) -> Problem:
    return Problem(key=path, value=_shown(path, value), message=message, allowed=describe(annotation))


def _unknown(path: str, key: str, value: Any, known: tuple[str, ...]) -> Problem:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return Problem(
        key=path, value=_shown(path, value), message=f"unknown key '{key}'{hint}", allowed="one of " + ", ".join(known)
    )


def _sentence(message: str) -> str:
    return message[:1].lower() + message[1:]


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}.get(
        type(value), type(value).__name__
    )


# ---- types ------------------------------------------------------------------------------------


@cache
def _hints(struct: type) -> dict[str, Any]:
    return get_type_hints(struct, include_extras=True)


def _bare(annotation: Any) -> tuple[Any, bool]:
    """The type without constraints or None, and whether None is allowed."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [member for member in get_args(annotation) if member is not type(None)]
        optional = len(members) < len(get_args(annotation))
        if len(members) == 1:
            return _bare(members[0])[0], optional
    return annotation, False


def _is_struct(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)


def _list_item(annotation: Any) -> Any:
    """The item type of a list of tables, else None."""
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if _is_struct(_bare(item)[0]):
            return item
    return None


def describe(annotation: Any) -> str:
    """What a key of type ``annotation`` accepts, in words: "an integer from 0 to 65535"."""
    return _describe(msgspec.inspect.type_info(annotation))


def _describe(info: msgspec.inspect.Type) -> str:
    if isinstance(info, msgspec.inspect.BoolType):
        return "true or false"
    if isinstance(info, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        return ("an integer" if isinstance(info, msgspec.inspect.IntType) else "a number") + _bounds(info)
    if isinstance(info, msgspec.inspect.StrType):
        length = _length(info)
        return "a string" + (f" of {length} characters" if length else "")
    if isinstance(info, msgspec.inspect.LiteralType):
        return "one of " + ", ".join(repr(value) for value in info.values)
    if isinstance(info, msgspec.inspect.ListType):
        length = _length(info)
        return f"a list{f' of {length} items' if length else ''}, each {_describe(info.item_type)}"
    if isinstance(info, msgspec.inspect.DictType):
        return f"a table whose values are each {_describe(info.value_type)}"
    if isinstance(info, msgspec.inspect.UnionType):
        members = [member for member in info.types if not isinstance(member, msgspec.inspect.NoneType)]
        unset = len(members) < len(info.types)
        return " or ".join(_describe(member) for member in members) + (", or unset" if unset else "")
    if isinstance(info, msgspec.inspect.StructType):
        return "a table with the keys " + ", ".join(field.name for field in info.fields)
    return type(info).__name__.removesuffix("Type").lower()


def _bounds(info: msgspec.inspect.IntType | msgspec.inspect.FloatType) -> str:
    low = (">=", info.ge) if info.ge is not None else (">", info.gt) if info.gt is not None else None
    high = ("<=", info.le) if info.le is not None else ("<", info.lt) if info.lt is not None else None
    if low and high and low[0] == ">=" and high[0] == "<=":
        return f" from {low[1]} to {high[1]}"
    return "".join(
        f" {sign} {bound}" if index == 0 else f" and {sign} {bound}"
        for index, (sign, bound) in enumerate(part for part in (low, high) if part)
    )


def _length(info: msgspec.inspect.StrType | msgspec.inspect.ListType) -> str:
    low, high = info.min_length, info.max_length
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    return f"at most {high}" if high is not None else ""
