"""The level of a line of output, when the line says it.

Recognised: Python logging's default format (``WARNING:root:...``), a leading ``LEVEL:`` or
``[LEVEL]`` (after a timestamp too, as in ``2024-05-01 12:00:00,123 - etl - WARNING - ...`` or
``2024-05-01T12:00:00Z ERROR ...``), and JSON lines with a ``level``, ``levelname`` or ``severity``
field (names, or pino's numbers: 30 info, 40 warn, 50 error).
"""

from __future__ import annotations

import json
import logging
import re

TRACE = 5  # below DEBUG: OTLP's trace range

_BY_NAME = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "err": logging.ERROR,
    "critical": logging.CRITICAL,
    "crit": logging.CRITICAL,
    "fatal": logging.CRITICAL,
    "panic": logging.CRITICAL,
}
# pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
_BY_NUMBER = (
    (60, logging.CRITICAL),
    (50, logging.ERROR),
    (40, logging.WARNING),
    (30, logging.INFO),
    (20, logging.DEBUG),
)
_JSON_FIELDS = ("level", "levelname", "severity", "log.level", "loglevel", "lvl")

_NAMES = "|".join(sorted(_BY_NAME, key=len, reverse=True))
_UPPER_NAMES = _NAMES.upper()
_TIMESTAMP = (
    r"\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"
    r"|\d\d:\d\d:\d\d(?:[.,]\d+)?"
)
_TEXT = re.compile(
    rf"""\s*
    (?:\[?(?:{_TIMESTAMP})\]?\s*(?:[-|]\s*)?)?     # a timestamp, maybe in brackets
    (?:[\w.\-]+\s+-\s+)?                            # a logger's name, as in "%(name)s - %(levelname)s - "
    (?:
        \[(?P<bracketed>{_NAMES})\]                 # [WARNING]  [warn]
      | (?P<prefixed>{_NAMES})(?=:|\s+-\s)          # WARNING:root:...  error: ...  INFO - ...
      | (?-i:(?P<word>{_UPPER_NAMES}))(?=\s)        # ERROR 1045 (28000): Access denied
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def recognise(text: str) -> int | None:
    """The `logging` level `text` states, or None when it states none."""
    if text.startswith("{"):
        return _json_level(text)
    match = _TEXT.match(text)
    if match is None:
        return None
    name = match.group("bracketed") or match.group("prefixed") or match.group("word")
    return _BY_NAME[name.lower()]


def _json_level(text: str) -> int | None:
    try:
        fields = json.loads(text)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    for key in _JSON_FIELDS:
        value = fields.get(key)
        if isinstance(value, str) and value.lower() in _BY_NAME:
            return _BY_NAME[value.lower()]
        if isinstance(value, int) and not isinstance(value, bool):
            return next((level for floor, level in _BY_NUMBER if value >= floor), TRACE)
    return None
