"""Realistic JobEvent streams for tests that feed a JobStore directly (storage, alerting)."""

from __future__ import annotations

import itertools
import uuid

from jobpulse.sidecar.model.events import JobEvent

S = 1_000_000_000
T0 = 1_700_000_000 * S


def run(
    *,
    job_id: str | None = None,
    name: str = "orders-import",
    job_type: str = "csv_import",
    owner: str = "ops",
    start_ns: int = T0,
    duration_s: float = 10.0,
    status: str | None = "completed",
    processed: int = 100,
    failed: int = 0,
    total: int | None = None,
    error_type: str | None = None,
    error_message: str | None = None,
    steps: tuple[tuple[str, float], ...] = (),
    log_lines: int = 0,
    log_level: str = "info",
    received_ns: int | None = None,
) -> list[JobEvent]:
    """One job run as an emitter sends it: start, steps, log lines, progress, and (unless status is
    None, a still-running job) an end event."""
    job_id = job_id or uuid.uuid4().hex
    seq = itertools.count(1)
    received = received_ns if received_ns is not None else start_ns
    common = {"job_id": job_id, "received_ns": received, "host": "worker-1", "pid": 4242, "service": "etl"}
    events = [
        JobEvent(
            kind="start",
            seq=next(seq),
            time_ns=start_ns,
            name=name,
            job_type=job_type,
            owner=owner,
            total=total,
            processed=0,
            failed=0,
            step_names=tuple(step for step, _ in steps) or None,
            **common,
        )
    ]
    clock = start_ns
    for index, (step, seconds) in enumerate(steps):
        events.append(
            JobEvent(
                kind="step",
                seq=next(seq),
                time_ns=clock,
                step=step,
                step_index=index,
                step_count=len(steps),
                step_state="started",
                **common,
            )
        )
        clock += int(seconds * S)
        events.append(
            JobEvent(
                kind="step",
                seq=next(seq),
                time_ns=clock,
                step=step,
                step_index=index,
                step_state="failed" if status == "failed" and index == len(steps) - 1 else "completed",
                step_duration_s=seconds,
                **common,
            )
        )
    for line in range(log_lines):
        events.append(
            JobEvent(
                kind="log",
                seq=next(seq),
                time_ns=start_ns + line * 1000,
                level=log_level,
                message=f"line {line} of {name}",
                logger="etl",
                **common,
            )
        )
    end_ns = start_ns + int(duration_s * S)
    events.append(
        JobEvent(
            kind="progress",
            seq=next(seq),
            time_ns=end_ns - S // 10,
            processed=processed,
            failed=failed,
            total=total,
            **common,
        )
    )
    if status is not None:
        events.append(
            JobEvent(
                kind="end",
                seq=next(seq),
                time_ns=end_ns,
                status=status,
                processed=processed,
                failed=failed,
                total=total,
                error_type=error_type,
                error_message=error_message,
                step=steps[-1][0] if steps and status == "failed" else None,
                **common,
            )
        )
    return events
