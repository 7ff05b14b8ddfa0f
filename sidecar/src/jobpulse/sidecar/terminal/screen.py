"""One redraw of ``jobpulse watch``: a title, a banner while the feed reconnects or after it resynced,
the jobs table with progress bars, and a footer with the keys or the last action's outcome."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.text import Text

from jobpulse.client import ConnectionState, JobSummary
from jobpulse.sidecar.terminal.board import Board
from jobpulse.sidecar.terminal.columns import Column, FittedTable
from jobpulse.sidecar.terminal.views import NONE, duration, percent, rate, records, shown, status_text, step_text

KEYS = "↑/↓ select  p pause  r resume  c cancel  q quit"
DISPLAY_ONLY = "display only: standard input is not a terminal (Ctrl+C quits)"
RESYNC_SHOWN_S = 10.0
ID_WIDTH = 12
BAR_WIDTH = 20


def banner(state: ConnectionState, opened: bool, since_resync_s: float | None) -> Text | None:
    """What the feed's connection is up to, when the table may be stale or was just rebuilt.

    ``opened``: the feed has been connected before (so a new attempt is a reconnection);
    ``since_resync_s``: seconds since the last resync, if any.
    """
    if state.phase in ("connecting", "backing_off") and opened:
        text = Text(" reconnecting to the live feed", style="bold black on yellow")
        if state.attempt:
            wait = f", next try in {state.next_delay_s:.1f} s" if state.next_delay_s is not None else ""
            text.append(f": {state.attempt} attempt(s) failed{wait} ({state.last_error}) ")
        return text
    if state.phase == "connecting":
        return Text(" connecting to the live feed… ", style="bold black on yellow")
    if since_resync_s is not None and since_resync_s < RESYNC_SHOWN_S:
        return Text(
            " resynced: the sidecar could not replay what was missed; the table was rebuilt from its active jobs ",
            style="bold black on cyan",
        )
    return None


def _progress(job: JobSummary) -> RenderableType:
    if job.progress_percent is None:
        return Text(NONE)
    return ProgressBar(total=100.0, completed=job.progress_percent, width=BAR_WIDTH)


def _short_id(job: JobSummary) -> Text:
    return shown(job.id if len(job.id) <= ID_WIDTH else job.id[: ID_WIDTH - 1] + "…")


# In the order shown; a narrow terminal shrinks the name and the step, then leaves out whole columns
# in the order of DROPPED: every figure is shown in full.
COLUMNS: list[Column[JobSummary]] = [
    Column("JOB", lambda job: shown(job.name), shortest=24),
    Column("ID", _short_id),
    Column("TYPE", lambda job: shown(job.job_type)),
    Column("STATUS", status_text),
    Column("PROGRESS", _progress, width=BAR_WIDTH),
    Column("%", lambda job: Text(percent(job.progress_percent)), "right"),
    Column("RECORDS", lambda job: Text(records(job))),
    Column("RATE", lambda job: Text(rate(job.rate_per_s)), "right"),
    Column("ETA", lambda job: Text(duration(job.eta_s)), "right"),
    Column("STEP", step_text, shortest=16),
]
DROPPED = ("ID", "TYPE", "PROGRESS", "STEP", "RECORDS")


def jobs_table(board: Board, interactive: bool) -> FittedTable[JobSummary]:
    """The watched jobs; the selected one marked and highlighted, ended ones dimmed."""

    def chosen(job: JobSummary) -> bool:
        return interactive and job.id == board.selected

    return FittedTable(
        COLUMNS,
        board.rows(),
        DROPPED,
        marker=lambda job: "▶" if chosen(job) else " ",
        style=lambda job: "reverse" if chosen(job) else ("dim" if job.id in board.ended_at else None),
    )


def render(board: Board, *, title: str, top: Text | None, note: Text | None, interactive: bool) -> RenderableType:
    """The whole screen: ``top`` is the banner, ``note`` the footer's message (the keys when None)."""
    parts: list[RenderableType] = [Text(title, style="bold")]
    if top is not None:
        parts.append(top)
    if board.jobs:
        parts.append(jobs_table(board, interactive))
    else:
        parts.append(Text("no active job matches", style="dim"))
    footer = note or Text(KEYS if interactive else DISPLAY_ONLY, style="dim")
    parts.append(footer)
    return Group(*parts)
