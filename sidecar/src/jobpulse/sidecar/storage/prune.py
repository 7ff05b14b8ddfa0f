"""``jobpulse prune``: apply (or preview) the retention policy to the database now."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.storage.migrate import migrate
from jobpulse.sidecar.storage.policy import RetentionPolicy
from jobpulse.sidecar.storage.retention import RetentionPart, RetentionReport, RetentionSweeper


async def _sweep(
    engine: AsyncEngine, policy: RetentionPolicy, parts: Sequence[RetentionPart], dry_run: bool, console: Console
) -> RetentionReport:
    try:
        await migrate(engine)
        sweeper = RetentionSweeper(engine, policy, parts)
        with console.status("pruning…") as status:

            def progress(phase: str, done: int) -> None:
                status.update(f"{phase}: {done:,}")

            return await sweeper.sweep(dry_run=dry_run, progress=progress)
    finally:
        await engine.dispose()


def report_table(report: RetentionReport, policy: RetentionPolicy) -> Table:
    """Each part's lines, in the parts' order, with their notes as the caption."""
    verb = "would remove" if report.dry_run else "removed"
    table = Table(title=f"retention: {verb}", show_header=True)
    table.add_column("rule")
    table.add_column("jobs", justify="right")
    table.add_column("log lines", justify="right")
    notes = []
    for counts in report.parts:
        for row in counts.rows(policy):
            table.add_row(*row)
        if note := counts.note():
            notes.append(note)
    table.caption = "; ".join(notes) or None
    return table


def prune(
    engine: AsyncEngine,
    policy: RetentionPolicy,
    parts: Sequence[RetentionPart],
    *,
    dry_run: bool,
    console: Console | None = None,
) -> RetentionReport:
    """Migrate ``engine``'s database, run one retention sweep of ``parts`` on it, print what it did and
    dispose of the engine."""
    console = console or Console()
    report = asyncio.run(_sweep(engine, policy, parts, dry_run, console))
    console.print(report_table(report, policy))
    return report
