"""One redraw of ``jobpulse watch``: a title, a banner while the feed reconnects or after it resynced,
the jobs table with progress bars, and a footer with the keys or the last action's outcome."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from jobpulse.client import ConnectionState, JobSummary
from jobpulse.sidecar.terminal.board import Board
from jobpulse.sidecar.terminal.views import NONE, duration, percent, rate, records, shown, status_text, step_text

KEYS = "↑/↓ select  p pause  r resume  c cancel  q quit"
DISPLAY_ONLY = "display only: standard input is not a terminal (Ctrl+C quits)"
RESYNC_SHOWN_S = 10.0
ID_WIDTH = 12


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
    return ProgressBar(total=100.0, completed=job.progress_percent, width=20)


def jobs_table(board: Board, interactive: bool) -> Table:
    """The watched jobs; the selected one highlighted, ended ones dimmed."""
    table = Table(box=None, pad_edge=False, header_style="bold", expand=False)
    for column in ("", "JOB", "ID", "TYPE", "STATUS", "PROGRESS", "%", "RECORDS", "RATE", "ETA", "STEP"):
        table.add_column(column, no_wrap=True, overflow="ellipsis", justify="right" if column == "%" else "left")
    for job in board.rows():
        chosen = interactive and job.id == board.selected
        short_id = job.id if len(job.id) <= ID_WIDTH else job.id[: ID_WIDTH - 1] + "…"
        table.add_row(
            "▶" if chosen else " ",
            shown(job.name),
            shown(short_id),
            shown(job.job_type),
            status_text(job),
            _progress(job),
            percent(job.progress_percent),
            records(job),
            rate(job.rate_per_s),
            duration(job.eta_s),
            step_text(job),
            style="reverse" if chosen else ("dim" if job.id in board.ended_at else None),
        )
    return table


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
