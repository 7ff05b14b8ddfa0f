"""What a stream entry holds, and the feed cursor its id makes.

One entry is one OTLP request's events, msgpack-encoded: a request is the unit the receiver answers for,
and one entry per request keeps the bus's per-entry costs (a round trip, an id) off each event.

A Redis stream id is ``<milliseconds>-<sequence>``. The cursor is ``ms * 2**11 + seq``: it increases
with the id, every replica derives the same one, and it stays below 2**53 (until the year 2109), so a
browser's JavaScript numbers hold it exactly. More than 2048 entries in one millisecond would share a
cursor; a replica does not publish near that rate.
"""

from __future__ import annotations

import msgspec

from jobpulse.sidecar.model.events import JobEvent

SEQ_BITS = 11
_SEQ_MAX = (1 << SEQ_BITS) - 1

# The field of a stream entry that holds its events.
EVENTS_FIELD = b"e"

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[JobEvent]).decode


def encode_events(events: list[JobEvent]) -> bytes:
    return _encode(events)


def decode_events(payload: bytes) -> list[JobEvent]:
    return _decode(payload)


def cursor_of(entry_id: bytes | str) -> int:
    """The feed cursor of a stream entry id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return (int(ms) << SEQ_BITS) | min(int(seq or 0), _SEQ_MAX)


def id_key(entry_id: bytes | str) -> tuple[int, int]:
    """A stream id as a pair that compares as Redis orders ids."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)
