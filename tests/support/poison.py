"""Poisonous requests for a sidecar: every kind of bad input an OTLP sender or a reader can send.

Each request is built from a seeded ``random.Random``, so a failing run can be replayed. Requests
that carry records are about poisoned jobs of their own (``poison-...`` ids), each with a valid start
record next to the poison: one bad record must not cost the valid ones.

    poisoner = Poisoner(random.Random(7), max_request_bytes=1 << 20)
    for request in poisoner.schedule(rounds=3):
        status = request.send(client)
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from tests.support.otlp_build import logs_request, record

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}

# Beyond what storage holds: signed 64-bit for counts and seq, finite for floats.
INT_BEYOND_64_BITS = str(2**63)
SEQ_BEYOND_64_BITS = str(2**64)
NON_FINITE = (math.inf, -math.inf, math.nan)

NESTING_DEPTH = 400
CONTROL_CHARACTERS = ("\x00", "\x1b[31m", "\x1b[2J", "\x1b]0;title\x07", "\r\n", "\x7f", "\u202e")

# Float attributes of job events, with the event that carries each; all of them reach arithmetic.
FLOAT_ATTRIBUTES = (
    ("process.cpu.utilization", "jobpulse.job.resources"),
    ("jobpulse.job.step.duration_s", "jobpulse.job.step"),
    ("jobpulse.job.expected_duration_s", "jobpulse.job.start"),
    ("jobpulse.job.heartbeat_interval_s", "jobpulse.job.start"),
)

# What an event needs besides the attribute under test to be a valid record of its kind.
START = "jobpulse.job.start"
EVENT_NEEDS: dict[str, dict[str, Any]] = {
    START: {"jobpulse.job.name": "poisoned"},
    "jobpulse.job.step": {"jobpulse.job.step": "load", "jobpulse.job.step.state": "completed"},
}


@dataclass
class PoisonRequest:
    """One request: what kind of poison it is, and how to send it."""

    kind: str  # the Poisoner method that built it, without ``kind_``
    method: str
    path: str
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def send(self, client: httpx.Client) -> httpx.Response:
        return client.request(self.method, self.path, content=self.content, headers=self.headers, params=self.params)


# ---- OTLP/JSON, written by hand: the poison is in what a typed builder would refuse to write ----


def attr(key: str, **value: Any) -> dict[str, Any]:
    """An OTLP/JSON KeyValue: ``attr("jobpulse.seq", intValue="1")``."""
    return {"key": key, "value": value}


def json_any(value: Any) -> dict[str, Any]:
    """An OTLP/JSON AnyValue; non-finite doubles as the strings the OTLP/JSON mapping uses for them."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {
            "doubleValue": value
            if math.isfinite(value)
            else {math.inf: "Infinity", -math.inf: "-Infinity"}.get(value, "NaN")
        }
    return {"stringValue": value}


def json_record(
    job_id: str, seq: int | str, event_name: str = "", *attributes: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """An OTLP/JSON LogRecord of ``job_id``; ``fields`` are LogRecord fields (``body``, ``timeUnixNano``)."""
    result: dict[str, Any] = {
        "timeUnixNano": "1700000000000000000",
        "attributes": [
            attr("jobpulse.job.id", stringValue=job_id),
            attr("jobpulse.seq", intValue=str(seq)),
            *attributes,
        ],
    }
    if event_name:
        result["eventName"] = event_name
    result.update(fields)
    return result


def json_start(job_id: str, name: str = "poisoned", *attributes: dict[str, Any]) -> dict[str, Any]:
    return json_record(job_id, 1, "jobpulse.job.start", attr("jobpulse.job.name", stringValue=name), *attributes)


# A placeholder that json.dumps writes verbatim; replaced by nesting too deep for json.dumps to write.
_DEEP = "deep-nesting-goes-here"


def nested_json(depth: int, container: str) -> str:
    """An OTLP/JSON AnyValue ``depth`` levels of ``arrayValue`` or ``kvlistValue`` deep."""
    opening, closing = {
        "arrayValue": ('{"arrayValue":{"values":[', "]}}"),
        "kvlistValue": ('{"kvlistValue":{"values":[{"key":"k","value":', "}]}}"),
    }[container]
    return opening * depth + '{"stringValue":"bottom"}' + closing * depth


def json_logs(records: list[dict[str, Any]], deep: str = "") -> bytes:
    """An OTLP/JSON ExportLogsServiceRequest; ``deep`` replaces every ``deep_value()`` in the records."""
    body = json.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": [attr("service.name", stringValue="poisoner")]},
                    "scopeLogs": [{"logRecords": records}],
                }
            ]
        },
        separators=(",", ":"),
    )
    return body.replace(json.dumps(deep_value(), separators=(",", ":")), deep).encode()


def deep_value() -> dict[str, Any]:
    return {"stringValue": _DEEP}


# ---- protobuf, written by hand where the protobuf library refuses to build the message ----------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def nested_protobuf_request(job_id: str, depth: int) -> bytes:
    """A protobuf logs request whose one log line carries an attribute ``depth`` arrays deep.

    Field numbers from opentelemetry-proto: AnyValue.array_value = 5, ArrayValue.values = 1,
    LogRecord.attributes = 6, KeyValue.key/value = 1/2, ScopeLogs.log_records = 2,
    ResourceLogs.scope_logs = 2, ExportLogsServiceRequest.resource_logs = 1.
    """
    value = _field(1, b"bottom")
    for _ in range(depth):
        value = _field(5, _field(1, value))
    line = record("", {"jobpulse.job.id": job_id, "jobpulse.seq": 2}, body="deep").SerializeToString()
    line += _field(6, _field(1, b"deep") + _field(2, value))
    return _field(1, _field(2, _field(2, line)))


# ---- the catalogue ------------------------------------------------------------------------------


class Poisoner:
    """Builds poisonous requests at random; each kind is a method named ``kind_*``."""

    def __init__(self, rng: random.Random, max_request_bytes: int) -> None:
        self.rng = rng
        self.max_request_bytes = max_request_bytes
        self._ids = itertools.count(1)
        # Compressing 8 MiB takes a while: one bomb serves every request that sends one.
        self._bomb = gzip.compress(b"\x00" * max(8 << 20, 4 * max_request_bytes), compresslevel=9)

    @classmethod
    def kinds(cls) -> list[str]:
        return sorted(name.removeprefix("kind_") for name in dir(cls) if name.startswith("kind_"))

    def schedule(self, rounds: int) -> Iterator[PoisonRequest]:
        """Every kind ``rounds`` times, in random order."""
        kinds = self.kinds() * rounds
        self.rng.shuffle(kinds)
        for kind in kinds:
            yield replace(getattr(self, f"kind_{kind}")(), kind=kind)

    def job_id(self) -> str:
        return f"poison-{next(self._ids)}-{self.rng.getrandbits(32):08x}"

    def _logs(self, body: bytes, headers: dict[str, str] | None = None) -> PoisonRequest:
        return PoisonRequest("", "POST", "/v1/logs", body, headers or JSON)

    def _json_or_protobuf(self, event: str, attributes: dict[str, Any]) -> PoisonRequest:
        """A poisoned job's start and an ``event`` carrying ``attributes`` (one record when the event
        is the start), in either encoding at random."""
        job_id = self.job_id()
        events = [] if event == START else [(START, EVENT_NEEDS[START])]
        events.append((event, {**EVENT_NEEDS.get(event, {}), **attributes}))
        if self.rng.random() < 0.5:
            records = [
                record(name, {"jobpulse.job.id": job_id, "jobpulse.seq": seq, **carried})
                for seq, (name, carried) in enumerate(events, 1)
            ]
            return self._logs(logs_request(records), PROTOBUF)
        return self._logs(
            json_logs(
                [
                    json_record(job_id, seq, name, *(attr(key, **json_any(value)) for key, value in carried.items()))
                    for seq, (name, carried) in enumerate(events, 1)
                ]
            ),
        )

    # -- numbers storage cannot hold

    def kind_int_beyond_64_bits(self) -> PoisonRequest:
        job_id = self.job_id()
        key = self.rng.choice(["jobpulse.job.processed", "jobpulse.job.failed", "jobpulse.job.total"])
        return self._logs(
            json_logs(
                [
                    json_start(job_id),
                    json_record(job_id, 2, "jobpulse.job.progress", attr(key, intValue=INT_BEYOND_64_BITS)),
                ]
            ),
        )

    def kind_double_beyond_64_bits(self) -> PoisonRequest:
        return self._json_or_protobuf("jobpulse.job.progress", {"jobpulse.job.processed": 1e19})

    def kind_seq_beyond_64_bits(self) -> PoisonRequest:
        job_id = self.job_id()
        return self._logs(
            json_logs(
                [
                    json_start(job_id),
                    json_record(job_id, SEQ_BEYOND_64_BITS, "", body={"stringValue": "a line with a seq of 2**64"}),
                ]
            ),
        )

    def kind_step_index_1e30(self) -> PoisonRequest:
        return self._json_or_protobuf(
            "jobpulse.job.step",
            {"jobpulse.job.step.state": "started", "jobpulse.job.step.index": 1e30},
        )

    def kind_memory_1e30(self) -> PoisonRequest:
        return self._json_or_protobuf("jobpulse.job.resources", {"process.memory.usage": 1e30})

    def kind_huge_finite_double(self) -> PoisonRequest:
        # Finite, but not once turned into nanoseconds or multiplied by a window.
        key, event = self.rng.choice(FLOAT_ATTRIBUTES)
        return self._json_or_protobuf(event, {key: 1e300})

    def kind_non_finite_double(self) -> PoisonRequest:
        key, event = self.rng.choice(FLOAT_ATTRIBUTES)
        return self._json_or_protobuf(event, {key: self.rng.choice(NON_FINITE)})

    def kind_time_beyond_64_bits(self) -> PoisonRequest:
        # timeUnixNano is a fixed64, and these are past it; the second is past any date Python can show.
        job_id = self.job_id()
        return self._logs(
            json_logs(
                [
                    json_start(job_id),
                    json_record(
                        job_id,
                        2,
                        "jobpulse.job.progress",
                        attr("jobpulse.job.processed", intValue="5"),
                        timeUnixNano=self.rng.choice([SEQ_BEYOND_64_BITS, "99999999999999999999999"]),
                    ),
                ]
            ),
        )

    # -- structure

    def kind_deep_json_nesting(self) -> PoisonRequest:
        job_id = self.job_id()
        container = self.rng.choice(["arrayValue", "kvlistValue"])
        deep = nested_json(NESTING_DEPTH, container)
        where = self.rng.choice(["attribute", "body"])
        line = (
            json_record(job_id, 2, "", attr("deep", **deep_value()), body={"stringValue": "deep"})
            if where == "attribute"
            else json_record(job_id, 2, "", body=deep_value())
        )
        return self._logs(json_logs([json_start(job_id), line], deep=deep))

    def kind_deep_protobuf_nesting(self) -> PoisonRequest:
        return self._logs(nested_protobuf_request(self.job_id(), NESTING_DEPTH), PROTOBUF)

    def kind_garbage_protobuf(self) -> PoisonRequest:
        return self._logs(self.rng.randbytes(self.rng.randint(1, 4096)), PROTOBUF)

    def kind_garbage_json(self) -> PoisonRequest:
        body = self.rng.choice(
            [
                b"{not json",
                b'{"resourceLogs": 5}',
                b"[]" * 1000,
                b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}',
            ]
        )
        return self._logs(body)

    def kind_truncated_gzip(self) -> PoisonRequest:
        job_id = self.job_id()
        whole = gzip.compress(json_logs([json_start(job_id)]))
        cut = whole[: self.rng.randint(1, len(whole) - 1)]
        return self._logs(cut, {**JSON, "content-encoding": "gzip"})

    def kind_gzip_bomb(self) -> PoisonRequest:
        return self._logs(self._bomb, {**PROTOBUF, "content-encoding": "gzip"})

    def kind_oversize_body(self) -> PoisonRequest:
        return self._logs(b"\x00" * (self.max_request_bytes + 1), PROTOBUF)

    def kind_wrong_content_type(self) -> PoisonRequest:
        job_id = self.job_id()
        body = json_logs([json_start(job_id)])
        headers = self.rng.choice(
            [
                {"content-type": "text/plain"},
                {},
                {"content-type": "application/json; charset=utf-16"},
                {"content-type": "multipart/form-data; boundary=x"},
                {**JSON, "content-encoding": "br"},
                PROTOBUF,  # a JSON body announced as protobuf
            ]
        )
        return self._logs(body, headers)

    # -- odd but valid

    def kind_control_characters_in_names(self) -> PoisonRequest:
        def nasty() -> str:
            return "poisoned" + "".join(self.rng.choices(CONTROL_CHARACTERS, k=3)) + "name"

        job_id = self.job_id() + self.rng.choice(CONTROL_CHARACTERS)
        return self._logs(
            json_logs(
                [
                    json_start(
                        job_id,
                        nasty(),
                        attr("jobpulse.job.type", stringValue=nasty()),
                        attr("jobpulse.job.owner", stringValue=nasty()),
                    ),
                    json_record(
                        job_id,
                        2,
                        "jobpulse.job.step",
                        attr("jobpulse.job.step", stringValue=nasty()),
                        attr("jobpulse.job.step.state", stringValue="started"),
                    ),
                    json_record(job_id, 3, "", body={"stringValue": nasty()}, severityText=nasty()),
                    json_record(
                        job_id,
                        4,
                        "jobpulse.job.end",
                        attr("jobpulse.job.status", stringValue="failed"),
                        attr("exception.type", stringValue=nasty()),
                        attr("exception.message", stringValue=nasty()),
                    ),
                ]
            ),
        )

    def kind_progress_after_end(self) -> PoisonRequest:
        job_id = self.job_id()
        records = [
            json_start(job_id),
            json_record(
                job_id,
                2,
                "jobpulse.job.end",
                attr("jobpulse.job.status", stringValue="completed"),
                attr("jobpulse.job.processed", intValue="100"),
            ),
            json_record(job_id, 3, "jobpulse.job.progress", attr("jobpulse.job.processed", intValue="3")),
        ]
        self.rng.shuffle(records)
        return self._logs(json_logs(records))

    def kind_valid_job(self) -> PoisonRequest:
        job_id = self.job_id()
        records = [
            json_start(job_id, "poisoner-own-job", attr("jobpulse.job.total", intValue="10")),
            json_record(job_id, 2, "jobpulse.job.progress", attr("jobpulse.job.processed", intValue="10")),
            json_record(job_id, 3, "", body={"stringValue": "all ten done"}, severityNumber=9),
            json_record(job_id, 4, "jobpulse.job.end", attr("jobpulse.job.status", stringValue="completed")),
        ]
        return self._logs(json_logs(records))

    # -- readers, who see every job, poisoned ones included

    def kind_read_shared_views(self) -> PoisonRequest:
        path, params = self.rng.choice(
            [
                ("/api/jobs", {}),
                ("/api/jobs", {"name": "\x00"}),
                ("/api/jobs", {"q": "\x1b[31m"}),
                ("/api/monitor/jobs", {}),
                ("/api/monitor/ingest", {}),
                ("/api/monitor/dead-letters", {}),
                ("/metrics", {}),
            ]
        )
        return PoisonRequest("", "GET", path, params=params)
