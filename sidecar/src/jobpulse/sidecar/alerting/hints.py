"""Suggested actions for a failed job, matched on its exception type and message.

Configured hints come first; the built-in ones cover the usual failures of ETL jobs. Every matching
hint contributes its actions (in order, without repeats), so a connection timeout gets both the
timeout and the connection advice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from jobpulse.sidecar.alerting.config import Hint

BUILTIN_HINTS: tuple[Hint, ...] = (
    Hint(
        type=r"(?i)timeout|timedout",
        message=r"(?i)timed? ?out",
        actions=[
            "Transient: retry the job.",
            "If it keeps timing out, check the remote service's latency or raise the job's timeout.",
        ],
    ),
    Hint(
        type=r"(?i)connect|socket|gaierror|unreachable|brokenpipe",
        message=r"(?i)connection (refused|reset|aborted|error)|could not connect|name or service not known|unreachable",
        actions=[
            "Check that the remote service or database is up and reachable from the job's host, then retry.",
        ],
    ),
    Hint(
        type=r"(?i)validation|valueerror|typeerror|keyerror|decodeerror|parsererror|schema|invalid",
        actions=[
            "Check the input data: the error names the record or field that did not fit.",
            "Fix or quarantine the offending records, then re-run.",
        ],
    ),
    Hint(
        type=r"(?i)integrity|uniqueviolation|foreignkey",
        message=r"(?i)duplicate key|unique constraint|foreign key",
        actions=["A database constraint failed: look for duplicate or already-loaded input, make the load idempotent."],
    ),
    Hint(
        type=r"(?i)permission|accessdenied|unauthori[sz]ed|forbidden|authentication",
        message=r"(?i)permission denied|access denied|\b40[13]\b",
        actions=["Check the job's credentials and permissions (expired token or password, missing grant)."],
    ),
    Hint(
        type=r"(?i)filenotfound|nosuchkey|nosuchfile|notfound",
        actions=["Check that the input exists: the upstream job may not have produced it yet."],
    ),
    Hint(
        type=r"(?i)memoryerror|outofmemory",
        message=r"(?i)no space left|disk full|out of memory|cannot allocate",
        actions=["Free memory or disk on the host, or process the input in smaller batches."],
    ),
)

FALLBACK = "Read the last log lines and the stack trace, fix the cause and re-run the job."


class HintBook:
    """Configured and built-in hints, compiled once."""

    def __init__(self, hints: Sequence[Hint], builtin: bool = True) -> None:
        chosen = [*hints, *(BUILTIN_HINTS if builtin else ())]
        self._compiled = [
            (
                re.compile(hint.type) if hint.type is not None else None,
                re.compile(hint.message) if hint.message is not None else None,
                hint.actions,
            )
            for hint in chosen
        ]

    def suggest(self, error_type: str | None, message: str | None) -> list[str]:
        """Actions for an exception of ``error_type`` with ``message``; never empty."""
        actions: list[str] = []
        for type_pattern, message_pattern, hint_actions in self._compiled:
            matched = (type_pattern is not None and error_type is not None and type_pattern.search(error_type)) or (
                message_pattern is not None and message is not None and message_pattern.search(message)
            )
            if matched:
                actions.extend(action for action in hint_actions if action not in actions)
        return actions or [FALLBACK]
