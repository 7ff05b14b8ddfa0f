"""Text from jobs and clients made safe to show: control characters become visible escapes.

Job names, job ids and request paths are stored exactly as received. Only where the sidecar shows
them (metric label values, its own log lines, command-line output) is a NUL, an ANSI escape or a line
break written out as ``\\x00``, ``\\x1b``, ``\\x0a``, so that it can neither forge a log line, recolour
or clear an operator's terminal, nor trip up a metrics parser.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls (0x9b is a one-byte CSI, the start of an ANSI escape sequence).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escaped(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def control_character(text: str) -> str | None:
    """The first control character in ``text``, if any."""
    found = _CONTROL.search(text)
    return found.group() if found else None


def printable(text: str) -> str:
    """``text`` with every control character replaced by its ``\\xNN`` escape."""
    # isprintable() is a fast C check that is true for almost every name; it is false for a few
    # harmless characters too (non-ASCII spaces), which the substitution then leaves as they are.
    return text if text.isprintable() else _CONTROL.sub(_escaped, text)
