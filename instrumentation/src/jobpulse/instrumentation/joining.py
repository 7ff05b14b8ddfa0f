"""One job reported by two processes: `jobpulse run` starts it, and the command it runs may join it.

The wrapper gives the command the job's id (``JOBPULSE_JOB_ID``) and its trace context
(``TRACEPARENT``, W3C format). The first `track_job` run of a process that finds them reports into
that job instead of starting one: no start record, no end record (the wrapper sends both, the end
from the command's exit), its span a child of the wrapper's, its counts and steps on the same job.

Every record of a job needs a seq of its own, and the processes cannot coordinate, so the seq space
is split: the wrapper numbers its records from 1, a joined process from a block of its own above
that (picked by its pid), and the wrapper's end takes `OWNER_END_SEQ`, above every block, so that
what the command reported counts in the job's final figures (docs/conventions.md, "Ordering").
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENV_JOB_ID = "JOBPULSE_JOB_ID"
ENV_TRACEPARENT = "TRACEPARENT"

# The wrapper's own records stay below this; a joined process numbers from its block above it.
JOINED_SEQ_BASE = 1 << 40
_BLOCK_BITS = 32  # records per joined process: 4 billion
_PID_BITS = 22  # Linux pids fit (pid_max is at most 2^22); larger ones wrap
OWNER_END_SEQ = 1 << 56  # above every block: JOINED_SEQ_BASE + 2^22 * 2^32 < 2^55

_propagator = TraceContextTextMapPropagator()
_lock = threading.Lock()


@dataclass(frozen=True)
class Inherited:
    """The job a process was started to report into."""

    job_id: str
    # The wrapper's job span, as the parent of this process's span (empty without a valid TRACEPARENT).
    parent: Context
    first_seq: int


def claim(max_id_length: int) -> Inherited | None:
    """The job named by ``JOBPULSE_JOB_ID``, for the first run that asks; None after, or without it.

    The variables are taken out of the environment: processes this one starts from then on (workers
    of a pool, say) run jobs of their own, rather than report counts of their own into the same job.
    """
    with _lock:
        job_id = os.environ.pop(ENV_JOB_ID, "")
        if not job_id or len(job_id) > max_id_length:
            return None
        traceparent = os.environ.pop(ENV_TRACEPARENT, "")
    parent = _propagator.extract({"traceparent": traceparent}, context=Context())
    block = os.getpid() & ((1 << _PID_BITS) - 1)
    return Inherited(job_id, parent, JOINED_SEQ_BASE + (block << _BLOCK_BITS))


def child_environment(job_id: str, trace_context: Context) -> dict[str, str]:
    """The variables that let a process started for the job join it."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace_context)
    environment = {ENV_JOB_ID: job_id}
    if "traceparent" in carrier:
        environment[ENV_TRACEPARENT] = carrier["traceparent"]
    return environment
