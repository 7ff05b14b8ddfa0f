"""The typer commands that talk to a running sidecar: ``jobpulse jobs ...`` and ``jobpulse watch``.

Only the declarations are here, so that ``jobpulse --help`` stays quick; each command loads the
client and rich when it runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from jobpulse.sidecar.terminal.options import (
    DEFAULT_URL,
    JsonOption,
    LevelOption,
    ReasonOption,
    StatusesOption,
    TokenOption,
    UrlOption,
    values,
)

jobs_app = typer.Typer(help="List, show, follow, pause, resume or cancel jobs on a sidecar.", no_args_is_help=True)

JobId = Annotated[str, typer.Argument(help="The job's id.", show_default=False)]


def _remote(url: str, token: str | None):
    from jobpulse.sidecar.terminal.remote import Remote

    return Remote(url, token)


@jobs_app.command("ls")
def list_jobs(
    status: StatusesOption = None,
    job_type: Annotated[str | None, typer.Option("--type", help="Only jobs of this type.", show_default=False)] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """List jobs, newest first: running ones and the history."""
    from jobpulse.sidecar.terminal import jobs

    jobs.list_jobs(_remote(url, token), values(status), job_type, limit, as_json)


@jobs_app.command("show")
def show_job(
    job_id: JobId, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL, token: TokenOption = None
) -> None:
    """Everything about one job: figures, steps, error, recent log lines."""
    from jobpulse.sidecar.terminal import jobs

    jobs.show_job(_remote(url, token), job_id, as_json)


@jobs_app.command("logs")
def job_logs(
    job_id: JobId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Then print each new line as it comes, until the job ends.")
    ] = False,
    level: LevelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """A job's log lines from the first. With --follow it exits 0 once the job has ended, however it ended."""
    from jobpulse.sidecar.terminal import jobs

    jobs.show_logs(_remote(url, token), job_id, level.value if level else None, follow, as_json)


def _control(action: str, job_id: str, url: str, reason: str | None, token: str | None) -> None:
    from jobpulse.sidecar.terminal import jobs

    jobs.control(_remote(url, token), action, job_id, reason)


@jobs_app.command("pause")
def pause_job(
    job_id: JobId, url: UrlOption = DEFAULT_URL, reason: ReasonOption = None, token: TokenOption = None
) -> None:
    """Ask a running job to pause at its next checkpoint."""
    _control("pause", job_id, url, reason, token)


@jobs_app.command("resume")
def resume_job(
    job_id: JobId, url: UrlOption = DEFAULT_URL, reason: ReasonOption = None, token: TokenOption = None
) -> None:
    """Ask a paused job to resume."""
    _control("resume", job_id, url, reason, token)


@jobs_app.command("cancel")
def cancel_job(
    job_id: JobId, url: UrlOption = DEFAULT_URL, reason: ReasonOption = None, token: TokenOption = None
) -> None:
    """Ask a job to stop; it ends as cancelled."""
    _control("cancel", job_id, url, reason, token)


def watch(
    status: StatusesOption = None,
    job_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only jobs of this type (repeatable).", show_default=False)
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """A live table of the active jobs: progress, rate, ETA, status.

    Keys: up/down (or k/j) select a job, p pauses it, r resumes it, c cancels it (after y), q quits.
    When standard input is not a terminal it only shows.
    """
    from jobpulse.sidecar.terminal.watch import run_watch

    raise typer.Exit(run_watch(_remote(url, token), values(status), job_type or None))
