"""What ``jobpulse watch`` shows, folded from live-feed messages: the jobs, and which one is selected.

A pure fold: no I/O, times passed in. A snapshot or resync replaces the jobs; a status update adds or
replaces one (and drops it when it left the statuses watched); progress moves one. A job that ended
stays listed, dimmed, for ``linger_s`` seconds, so that its outcome can be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from jobpulse.client import (
    ENDED,
    FeedMessage,
    JobProgress,
    JobStatusUpdate,
    JobSummary,
    Progress,
    Resync,
    Snapshot,
    UnknownMessage,
)

_MOVING = Progress.__struct_fields__


@dataclass
class Board:
    """The watched jobs by id, the selected job's id, when the last resync came."""

    statuses: frozenset[str] | None = None
    linger_s: float = 60.0
    jobs: dict[str, JobSummary] = field(default_factory=dict)
    ended_at: dict[str, float] = field(default_factory=dict)
    selected: str | None = None
    resynced_at: float | None = None

    def apply(self, message: FeedMessage | UnknownMessage, now: float) -> None:
        """Fold one feed message in; ``now`` is a monotonic time."""
        if isinstance(message, Snapshot | Resync):
            self.jobs = {job.id: job for job in message.data.jobs}
            self.ended_at = {}
            if isinstance(message, Resync):
                self.resynced_at = now
        elif isinstance(message, JobStatusUpdate):
            self._put(message.data, now)
        elif isinstance(message, JobProgress) and message.data.id in self.jobs:
            moved = {name: getattr(message.data, name) for name in _MOVING}
            self.jobs[message.data.id] = msgspec.structs.replace(self.jobs[message.data.id], **moved)
        self._keep_selection()

    def _put(self, job: JobSummary, now: float) -> None:
        if self.statuses is not None and job.status not in self.statuses:
            self.jobs.pop(job.id, None)
            return
        self.jobs[job.id] = job
        if job.status in ENDED:
            self.ended_at.setdefault(job.id, now)

    def prune(self, now: float) -> None:
        """Drop the jobs that ended more than ``linger_s`` ago."""
        for job_id, ended in list(self.ended_at.items()):
            if now - ended > self.linger_s:
                del self.ended_at[job_id]
                self.jobs.pop(job_id, None)
        self._keep_selection()

    def rows(self) -> list[JobSummary]:
        """Active jobs first, then those that ended; each group in order of start."""
        return sorted(
            self.jobs.values(),
            key=lambda job: (job.id in self.ended_at, job.started_at.timestamp() if job.started_at else 0.0, job.id),
        )

    def move(self, step: int) -> None:
        """Select the job ``step`` rows below (above when negative) the selected one, within the table."""
        ids = [job.id for job in self.rows()]
        if not ids:
            return
        at = ids.index(self.selected) if self.selected in ids else 0
        self.selected = ids[max(0, min(len(ids) - 1, at + step))]

    def selected_job(self) -> JobSummary | None:
        return self.jobs.get(self.selected) if self.selected is not None else None

    def _keep_selection(self) -> None:
        if self.selected not in self.jobs:
            rows = self.rows()
            self.selected = rows[0].id if rows else None
