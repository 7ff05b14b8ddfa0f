"""Label values for jobpulse metrics, with a budget that keeps their cardinality bounded.

Job names, step names and exception types are meant to be few (runs of one job share its name), but
they come from the jobs, so a job that puts a run id into its name must not be able to grow the
sidecar's series without bound. The first ``max_names`` job names (and the first ``max_per_name``
step names / exception types per job name) keep their own label value; later ones are reported as
``OTHER``. Job ids appear only on the per-active-job gauges, which exist only while a job is active.
Label values are shown with control characters escaped (:func:`~jobpulse.sidecar.printable.printable`).
"""

from __future__ import annotations

from jobpulse.sidecar.printable import printable

UNKNOWN = "unknown"
"""Label value of a job that did not say its name or type."""

OTHER = "_other"
"""Label value of everything past the budget."""


class LabelBudget:
    """Hands out label values, folding the ones past the budget into :data:`OTHER`."""

    def __init__(self, max_names: int = 1000, max_per_name: int = 100) -> None:
        self.max_names = max_names
        self.max_per_name = max_per_name
        self._names: set[str] = set()
        self._per_name: dict[tuple[str, str], set[str]] = {}

    def name(self, value: str | None) -> str:
        """The label value for job name ``value``."""
        value = printable(value) if value else UNKNOWN
        names = self._names
        if value in names:
            return value
        if len(names) >= self.max_names:
            return OTHER
        names.add(value)
        return value

    def within(self, job_name: str, kind: str, value: str | None) -> str:
        """The label value for ``value`` of ``kind`` (``step``, ``exception_type``) under ``job_name``."""
        value = printable(value) if value else UNKNOWN
        seen = self._per_name.setdefault((job_name, kind), set())
        if value in seen:
            return value
        if len(seen) >= self.max_per_name:
            return OTHER
        seen.add(value)
        return value

    def job_type(self, job_name: str, value: str | None) -> str:
        """The label value for job type ``value`` of jobs named ``job_name``."""
        return self.within(job_name, "job_type", value)

    def queue(self, value: str | None) -> str:
        """The label value for queue ``value``: the first ``max_per_name`` queues keep their own."""
        return self.within("", "queue", value)

    def queue_job_type(self, queue: str, value: str | None) -> str:
        """The label value for job type ``value`` among the jobs waiting in ``queue`` (a label value)."""
        return self.within(queue, "queue_job_type", value)


def escape(value: str) -> str:
    """A label value escaped for the Prometheus text and OpenMetrics formats."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
    return value
