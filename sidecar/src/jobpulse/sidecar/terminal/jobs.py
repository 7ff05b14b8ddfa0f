"""``jobpulse jobs ls|show|logs|pause|resume|cancel``: one request (or one feed) each, printed for
people (rich) or for scripts (``--json``: the sidecar's own JSON)."""

from __future__ import annotations

import sys
from contextlib import closing
from typing import Any

import msgspec
import typer

from jobpulse.client import Client, LogLine
from jobpulse.client.endpoints import Endpoint
from jobpulse.client.jobs import LogLevel
from jobpulse.sidecar.printable import printable
from jobpulse.sidecar.terminal.remote import Remote, reporting
from jobpulse.sidecar.terminal.views import console, job_panel, job_table, log_text

_log_line = msgspec.json.Encoder()


def _print_raw(client: Client, endpoint: Endpoint[Any, Any], *args: Any, **kwargs: Any) -> None:
    """Print the sidecar's answer to ``endpoint`` exactly as it sent it."""
    answer = client.send(endpoint.request(*args, **kwargs), msgspec.Raw)
    sys.stdout.write(bytes(answer).decode() + "\n")


def list_jobs(remote: Remote, statuses: list[str] | None, job_type: str | None, limit: int, as_json: bool) -> None:
    """The newest ``limit`` jobs matching the filters (the history, active jobs included)."""
    query = {"status": statuses, "job_type": job_type, "limit": limit}
    with reporting(remote), remote.client() as client:
        if as_json:
            _print_raw(client, Client.jobs, **query)
            return
        page = client.jobs(**query)
    screen = console()
    screen.print(job_table(page.items))
    more = f" of {page.total}{'' if page.total_exact else '+'}" if page.next_cursor else ""
    screen.print(f"{len(page.items)}{more} jobs", style="dim")


def show_job(remote: Remote, job_id: str, as_json: bool) -> None:
    with reporting(remote, job_id=job_id), remote.client() as client:
        if as_json:
            _print_raw(client, Client.job, job_id)
            return
        job = client.job(job_id)
    console().print(job_panel(job))


def show_logs(remote: Remote, job_id: str, level: LogLevel | None, follow: bool, as_json: bool) -> None:
    """The job's log lines from the first; with ``follow``, then each as it comes until the job ends.

    ``--json`` prints one JSON object per line, of the same fields whether it came from storage or
    from the live feed. Following goes on through a sidecar restart (the feed reconnects and resumes).
    """
    screen = console(highlight=False, soft_wrap=True)
    with reporting(remote, job_id=job_id), remote.client() as client:
        if follow:
            # The feed would wait for a sidecar that is not there, or for a job it does not know: REST says so.
            client.job(job_id)
        lines = client.follow_logs(job_id, level) if follow else client.iter_logs(job_id, level=level)
        with closing(lines):
            for line in lines:
                if as_json:
                    fields = {name: getattr(line, name) for name in LogLine.__struct_fields__}
                    sys.stdout.write(_log_line.encode(fields).decode() + "\n")
                    sys.stdout.flush()
                else:
                    screen.print(log_text(line))


def control(remote: Remote, action: str, job_id: str, reason: str | None) -> None:
    """Ask for ``action`` (pause, resume, cancel) on the job; the job obeys at its next checkpoint."""
    with reporting(remote, job_id=job_id, doing=f"{action} of job '{job_id}'"), remote.client() as client:
        command = getattr(client, action)(job_id, reason=reason)
    typer.echo(
        f"{action} of job {printable(job_id)} requested (command {command.id}, {command.state}); "
        "the job obeys at its next checkpoint"
    )
