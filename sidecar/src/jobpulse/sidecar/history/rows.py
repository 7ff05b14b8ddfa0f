"""Between JobState and table rows."""

from __future__ import annotations

from typing import Any

import msgspec

from jobpulse.sidecar.model.events import LEVEL_NUMBERS
from jobpulse.sidecar.model.figures import waited_s
from jobpulse.sidecar.model.state import JobState, LogLine

_encode_state = msgspec.json.Encoder().encode
_decode_state = msgspec.json.Decoder(JobState).decode
_encode_attributes = msgspec.json.Encoder().encode

# What one stored log line costs besides its text: key columns, level, time, index entry.
LOG_ROW_OVERHEAD_BYTES = 64


def decode_state(blob: bytes) -> JobState:
    return _decode_state(blob)


def duration_s(state: JobState) -> float | None:
    if state.ended_ns is None:
        return None
    return max(state.ended_ns - started_ns(state), 0) / 1e9


def started_ns(state: JobState) -> int:
    # A job that has not run sorts (and falls in periods) by when it was queued.
    return state.begun_ns or state.queued_ns or 0


def job_row(state: JobState) -> dict[str, Any]:
    error = state.error
    duration = duration_s(state)
    return {
        "id": state.id,
        "name": state.name,
        "job_type": state.job_type,
        "owner": state.owner,
        "status": state.status,
        "previous_status": state.previous_status,
        "processed": state.processed,
        "failed": state.failed,
        "total": state.total,
        "step": state.step,
        "started_ns": started_ns(state),
        "ended_ns": state.ended_ns,
        "updated_ns": state.last_ns,
        "duration_s": duration,
        "name_key": (state.name or "").lower(),
        "ended_key": state.ended_ns if state.ended_ns is not None else -1,
        "duration_key": duration if duration is not None else -1.0,
        "expected_duration_s": state.expected_duration_s,
        "host": state.host,
        "pid": state.pid,
        "service": state.service,
        "trace_id": state.trace_id,
        "error_type": error.type if error else None,
        "error_message": error.message if error else None,
        "error_step": error.step if error else None,
        "rss_bytes": state.resources.rss_bytes if state.resources else None,
        "ident_seq": state.ident_seq,
        "log_lines": sum(state.log_counts),
        "wait_s": waited_s(state),
        "state": _encode_state(state),
    }


def step_rows(state: JobState) -> list[dict[str, Any]]:
    return [
        {
            "job_id": state.id,
            "name": timing.name,
            "job_name": state.name,
            "step_index": timing.index,
            "state": timing.state,
            "started_ns": timing.started_ns,
            "ended_ns": timing.ended_ns,
            "duration_ns": timing.duration_ns,
            "runs": max(timing.starts, timing.ends),
        }
        for timing in state.steps
    ]


def log_row(job_id: str, line: LogLine) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "seq": line.seq,
        "time_ns": line.time_ns,
        "level": LEVEL_NUMBERS.get(line.level, 1),
        "message": line.message,
        "logger": line.logger,
        "attributes": _encode_attributes(line.attributes).decode() if line.attributes else None,
    }


def log_row_bytes(row: dict[str, Any]) -> int:
    return len(row["message"]) + len(row["attributes"] or "") + LOG_ROW_OVERHEAD_BYTES
