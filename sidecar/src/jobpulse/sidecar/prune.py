"""``jobpulse prune``: apply (or preview) the retention policy to the history database now."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table

from jobpulse.sidecar.history.db import create_engine, migrate
from jobpulse.sidecar.history.retention import RetentionReport, RetentionSweeper
from jobpulse.sidecar.settings import Settings


async def _sweep(settings: Settings, dry_run: bool, console: Console) -> RetentionReport:
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        sweeper = RetentionSweeper(engine, settings.retention_policy())
        with console.status("pruning…") as status:

            def progress(phase: str, done: int) -> None:
                status.update(f"{phase}: {done:,}")

            return await sweeper.sweep(dry_run=dry_run, progress=progress)
    finally:
        await engine.dispose()


def report_table(report: RetentionReport, settings: Settings) -> Table:
    verb = "would remove" if report.dry_run else "removed"
    table = Table(title=f"retention: {verb}", show_header=True)
    table.add_column("rule")
    table.add_column("jobs", justify="right")
    table.add_column("log lines", justify="right")
    policy = settings.retention_policy()
    table.add_row(
        f"jobs ended over {policy.job_days:g} days ago", f"{report.jobs_expired:,}", f"{report.log_lines_expired:,}"
    )
    table.add_row(
        f"over {policy.log_lines_per_job:,} lines per job", f"{report.jobs_trimmed:,}", f"{report.log_lines_trimmed:,}"
    )
    table.add_row(
        f"log storage over {policy.log_storage_mb:g} MB", f"{report.jobs_rotated:,}", f"{report.log_lines_rotated:,}"
    )
    table.add_row(
        f"alerts resolved over {policy.job_days:g} days ago",
        f"{report.alerts_expired:,} alerts",
        f"{report.notifications_expired:,} deliveries",
    )
    table.add_row(
        f"rows set aside over {policy.job_days:g} days ago", f"{report.dead_letters_expired:,} dead letters", ""
    )
    table.caption = f"about {report.log_bytes_freed / 1024 / 1024:.1f} MB of log text"
    return table


def prune(settings: Settings, *, dry_run: bool, console: Console | None = None) -> RetentionReport:
    """Run one retention sweep against ``settings.database_url`` and print what it did."""
    console = console or Console()
    report = asyncio.run(_sweep(settings, dry_run, console))
    console.print(report_table(report, settings))
    return report
