"""Jobs as the terminal shows them: tables, a job's panel, log lines.

Every text a job or a client supplied (names, ids, steps, messages, errors) goes through
:func:`jobpulse.sidecar.printable.printable` and into a :class:`rich.text.Text`, never into rich
markup, so it can neither move the cursor, recolour the terminal nor style the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from jobpulse.client import JobDetail, JobSummary, LogLine
from jobpulse.sidecar.printable import printable
from jobpulse.sidecar.terminal.columns import Column, FittedTable

STATUS_STYLES = {
    "pending": "cyan",
    "running": "green",
    "paused": "yellow",
    "completed": "blue",
    "failed": "bold red",
    "cancelled": "magenta",
    "lost": "red",
}
LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "red", "critical": "bold red"}
NONE = "–"
# A pipe has no width: rows are written whole rather than folded to rich's default of 80 columns.
PIPE_WIDTH = 1000


def console(**options: Any) -> Console:
    """A console for the terminal, or, when the output is not one, as wide as the rows."""
    terminal = Console(**options)
    return terminal if terminal.is_terminal else Console(width=PIPE_WIDTH, **options)


def shown(text: str | None) -> Text:
    """Job-supplied text as a Text, control characters escaped ("–" for none)."""
    return Text(NONE if text is None else printable(text))


def duration(seconds: float | None) -> str:
    """``1:02:03``, ``2:03`` or ``4.5s``."""
    if seconds is None:
        return NONE
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def rate(per_s: float | None) -> str:
    return NONE if per_s is None else f"{per_s:,.1f}/s"


def percent(value: float | None) -> str:
    return NONE if value is None else f"{value:.1f}%"


def when(moment: datetime | None) -> str:
    """A time in the terminal's local zone, to the second."""
    return NONE if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def records(job: JobSummary) -> str:
    """``120/500 (3 failed)``: processed of total, and failures when there are any."""
    done = f"{job.processed:,}" if job.total is None else f"{job.processed:,}/{job.total:,}"
    return f"{done} ({job.failed:,} failed)" if job.failed else done


def status_text(job: JobSummary) -> Text:
    """The status in its colour, with a control request the job has not acted on yet."""
    text = Text(job.status, style=STATUS_STYLES.get(job.status, ""))
    pending = job.pending_command
    if pending is not None:
        text.append(f" ({pending.action} asked{', overdue' if pending.overdue else ''})", style="dim")
    return text


def step_text(job: JobSummary) -> Text:
    step = job.step
    if step is None:
        return Text(NONE)
    text = shown(step.name)
    if step.index is not None and step.count is not None:
        text.append(f" ({step.index + 1} of {step.count})")
    return text


# A job's full id is what the other commands take: it is never cut short. A narrow terminal shrinks
# the name, then leaves out whole columns in the order of LIST_DROPPED.
LIST_COLUMNS: list[Column[JobSummary]] = [
    Column("ID", lambda job: shown(job.id)),
    Column("NAME", lambda job: shown(job.name), shortest=16),
    Column("TYPE", lambda job: shown(job.job_type)),
    Column("STATUS", status_text),
    Column("PROGRESS", lambda job: Text(percent(job.progress_percent)), "right"),
    Column("RECORDS", lambda job: Text(records(job))),
    Column("STARTED", lambda job: Text(when(job.started_at))),
    Column("DURATION", lambda job: Text(duration(job.execution_time_s)), "right"),
]
LIST_DROPPED = ("TYPE", "STARTED", "RECORDS", "DURATION")


def job_table(jobs: list[JobSummary]) -> FittedTable[JobSummary]:
    """The jobs of ``jobs ls``, one row each."""
    return FittedTable(LIST_COLUMNS, jobs, LIST_DROPPED)


def log_text(line: LogLine) -> Text:
    """``2026-05-01 12:00:00 WARNING  message``."""
    text = Text(f"{when(line.time)} ")
    text.append(f"{line.level.upper():<8} ", style=LEVEL_STYLES.get(line.level, ""))
    text.append(printable(line.message))
    return text


def _facts(job: JobDetail) -> Table:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    rows: list[tuple[str, Text | str]] = [
        ("id", shown(job.id)),
        ("type", shown(job.job_type)),
        ("owner", shown(job.owner)),
        ("status", status_text(job)),
        ("progress", f"{percent(job.progress_percent)}  {records(job)}"),
        ("rate", f"{rate(job.rate_per_s)}  ETA {duration(job.eta_s)}"),
        ("step", step_text(job)),
        ("started", when(job.started_at)),
        ("ended", when(job.ended_at)),
        ("duration", duration(job.execution_time_s)),
        ("where", shown(f"{job.host or NONE} pid {job.pid or NONE} {job.service or ''}".strip())),
        ("trace id", shown(job.trace_id)),
    ]
    for name, value in rows:
        facts.add_row(name, value)
    return facts


def _steps(job: JobDetail) -> Table:
    steps = Table(title="steps", box=None, pad_edge=False, header_style="bold", title_justify="left")
    for column in ("STEP", "STATE", "DURATION", "RUNS"):
        steps.add_column(column)
    for step in job.steps:
        steps.add_row(shown(step.name), step.state, duration(step.duration_s), str(step.runs))
    return steps


def _error(job: JobDetail) -> Text:
    error = job.error
    assert error is not None
    text = Text("error: ", style="bold red")
    text.append(printable(f"{error.type or 'error'}: {error.message or ''}"))
    if error.step:
        text.append(printable(f" (in step {error.step})"), style="dim")
    if error.stacktrace:
        # The trace keeps its line breaks; only other control characters are escaped.
        text.append("\n" + "\n".join(printable(line) for line in error.stacktrace.splitlines()), style="dim")
    return text


def job_panel(job: JobDetail) -> Panel:
    """Everything ``jobs show`` says about one job."""
    parts: list[RenderableType] = [_facts(job)]
    if job.steps:
        parts.append(_steps(job))
    if job.error is not None:
        parts.append(_error(job))
    if job.recent_logs:
        counts = ", ".join(f"{count} {level}" for level, count in job.log_counts.items() if count)
        parts.append(Text(f"recent log lines (in all: {counts}):", style="bold"))
        parts.extend(log_text(line) for line in job.recent_logs)
    return Panel(Group(*parts), title=shown(job.name or job.id), title_align="left", expand=False)
