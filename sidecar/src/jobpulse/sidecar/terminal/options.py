"""The options the remote commands share: where the sidecar is, the caller's token, and the choices
of job statuses and log levels."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from jobpulse.sidecar.model.events import LEVELS
from jobpulse.sidecar.model.state import STATUSES

DEFAULT_URL = "http://127.0.0.1:4318"

StatusChoice = Enum("StatusChoice", {status: status for status in STATUSES}, type=str)  # type: ignore[misc]
LevelChoice = Enum("LevelChoice", {level: level for level in LEVELS}, type=str)  # type: ignore[misc]

UrlOption = Annotated[str, typer.Option("--url", envvar="JOBPULSE_URL", help="The sidecar's base URL (JOBPULSE_URL).")]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="JOBPULSE_TOKEN",
        help="Your token, when the sidecar requires one (JOBPULSE_TOKEN).",
        show_default=False,
        show_envvar=False,
    ),
]
ReasonOption = Annotated[str | None, typer.Option(help="Why; kept in the job's command history.")]
JsonOption = Annotated[bool, typer.Option("--json", help="The sidecar's JSON instead of a table.")]
StatusesOption = Annotated[
    list[StatusChoice] | None,
    typer.Option("--status", help="Only jobs with this status (repeatable).", show_default=False),
]
LevelOption = Annotated[
    LevelChoice | None, typer.Option("--level", help="Only lines at this level or above.", show_default=False)
]


def values(choices: list[StatusChoice] | None) -> list[str] | None:
    """The plain strings of repeated choice options; None when none were given."""
    return [choice.value for choice in choices] if choices else None
