"""RedisBus: replicas share job events through one Redis stream.

Why it is built this way (docs/architecture.md, "Replicas"):

- An OTLP request's events are one stream entry, and the request is answered once XADD returned: a
  replica that dies after answering loses nothing, and one that cannot reach Redis answers 503, which
  exporters retry.
- Each replica reads the whole stream with plain XREAD from the last id it folded, not through a
  consumer group: every replica needs every entry, and a group whose consumers died would pin entries
  and keep the stream from being trimmed.
- The fold is idempotent, so a replica that starts reads the retained stream from its beginning on
  top of the state history restored, and is ready once it reached the stream's last id at start.
- The stream is trimmed to about ``maxlen`` entries. A replica that fell further behind than that, or
  finds the stream gone or renumbered (Redis restarted without its data), cannot know what it missed:
  it says so (``on_gap``: every feed client is resynced) and reads the stream again from its start.
  Never a silent gap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import msgspec
import redis.asyncio as redis
from redis.exceptions import RedisError

from jobpulse.sidecar.bus.entries import EVENTS_FIELD, cursor_of, decode_events, encode_events, id_key
from jobpulse.sidecar.feed.cursors import BusCursors
from jobpulse.sidecar.ingest.receiver import BusUnavailable
from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.store import JobStore
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.bus")

START = b"0-0"
# Entries one XREAD returns at most; never more than the stream keeps (settings bound bus_stream_maxlen).
READ_COUNT = 200
# How long one XREAD waits for news: the reader notices a dead connection within about this.
BLOCK_MS = 1000
# Events folded before the reader lets the rest of the event loop run (between entries, never inside one).
_YIELD_EVERY = 2000
RETRY_MIN_S = 0.1
RETRY_MAX_S = 5.0


class BusStats:
    """Counters for /metrics and /readyz."""

    def __init__(self) -> None:
        self.entries_written = 0
        self.events_written = 0
        self.write_failures = 0
        self.entries_read = 0
        self.events_read = 0
        self.entries_invalid = 0
        self.reconnects = 0
        self.gaps = 0
        # Seconds between an entry being added and this replica folding it, for the newest entry read.
        self.lag_s = 0.0


class RedisBus:
    """Publishes this replica's events to the stream and folds every replica's into the store."""

    def __init__(
        self,
        store: JobStore,
        cursors: BusCursors,
        url: str,
        stream: str,
        maxlen: int,
        *,
        on_gap: Callable[[], None],
        on_caught_up: Callable[[], None],
    ) -> None:
        self.store = store
        self.cursors = cursors
        self.url = url
        self.stream = stream
        self.maxlen = maxlen
        self.on_gap = on_gap
        self.on_caught_up = on_caught_up
        self.stats = BusStats()
        # The id of the last entry folded; START reads the stream from its beginning.
        self.last_id = START
        # The stream's last id when this replica first reached Redis (Redis's time when it was empty):
        # ready once folded up to it.
        self.target: bytes | None = None
        self.caught_up = False
        self.connected = False
        self.problem: str | None = "connecting to the broker"
        self._writer: redis.Redis | None = None
        self._reader: redis.Redis | None = None
        self._tasks = BackgroundTasks()

    def _client(self) -> redis.Redis:
        # The socket timeout outlasts a blocking XREAD; a dead server is noticed within it.
        return redis.Redis.from_url(self.url, socket_timeout=BLOCK_MS / 1000 + 4, socket_connect_timeout=2)

    async def start(self) -> None:
        self._writer = self._client()
        self._reader = self._client()
        self._tasks.spawn(self._follow(), "bus-reader")

    async def stop(self) -> None:
        await self._tasks.cancel()
        for client in (self._writer, self._reader):
            if client is not None:
                await client.aclose()

    async def publish(self, events: list[JobEvent]) -> None:
        """Add one entry with ``events``; returns once Redis holds it."""
        assert self._writer is not None, "the bus has not started"
        try:
            await self._writer.xadd(
                self.stream, {EVENTS_FIELD: encode_events(events)}, maxlen=self.maxlen, approximate=True
            )
        except RedisError as error:
            self.stats.write_failures += 1
            raise BusUnavailable(f"the event bus did not take the events: {error}") from None
        self.stats.entries_written += 1
        self.stats.events_written += len(events)

    def readiness(self) -> str:
        if not self.connected:
            return self.problem or "connecting to the broker"
        if not self.caught_up:
            target = (self.target or START).decode()
            return f"catching up with the event bus: at {self.last_id.decode()}, ready at {target}"
        return "ok"

    # ---- reading ------------------------------------------------------------------------------

    async def _follow(self) -> None:
        delay = RETRY_MIN_S
        while True:
            try:
                await self._reconnected()
                delay = RETRY_MIN_S
                while True:
                    await self._read()
            except (RedisError, OSError) as error:
                if self.connected:
                    log.warning("lost the event bus (%s); reconnecting", error)
                self.connected = False
                self.problem = f"broker unreachable: {error}"
                self.stats.reconnects += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    async def _reconnected(self) -> None:
        """Find where the stream begins and ends now: whether entries were lost, and how far catching up goes."""
        assert self._reader is not None
        first = await self._reader.xrange(self.stream, count=1)
        last = await self._reader.xrevrange(self.stream, count=1)
        if self.stats.reconnects:
            log.warning("the event bus is back")
        self.connected = True
        self.problem = None
        if self.target is None:
            self.target = last[0][0] if last else await self._now_id()
        if self.last_id == START:
            return
        if not first:
            self._lost("the stream is gone (Redis restarted without its data?)")
        elif id_key(first[0][0]) > id_key(self.last_id):
            self._lost("the stream was trimmed past the last entry read")
        elif id_key(last[0][0]) < id_key(self.last_id):
            self._lost("the stream was started again")

    async def _now_id(self) -> bytes:
        """The id an entry added now would get at least: Redis's clock, as stream ids use it."""
        assert self._reader is not None
        seconds, microseconds = await self._reader.time()
        return f"{seconds * 1000 + microseconds // 1000}-0".encode()

    def _lost(self, why: str) -> None:
        self.stats.gaps += 1
        log.warning("event bus entries may be lost (%s): every feed client is resynced", why)
        self.last_id = START
        self.on_gap()

    async def _read(self) -> None:
        assert self._reader is not None
        response = await self._reader.xread({self.stream: self.last_id}, count=READ_COUNT, block=BLOCK_MS)
        if not response:
            self.stats.lag_s = 0.0
            self._reached_end()
            return
        entries = response[0][1]
        # Entries trimmed behind this replica's back leave at least a whole read after its last id.
        if len(entries) == READ_COUNT and self.last_id != START:
            first = await self._reader.xrange(self.stream, count=1)
            if first and id_key(first[0][0]) > id_key(self.last_id):
                self._lost("the stream was trimmed past the last entry read")
                return
        await self._fold(entries)
        if self.target is not None and id_key(self.last_id) >= id_key(self.target):
            self._reached_end()

    async def _fold(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        apply = self.store.apply
        follow = self.cursors.follow
        stats = self.stats
        since_yield = 0
        for entry_id, fields in entries:
            try:
                events = decode_events(fields[EVENTS_FIELD])
            except (KeyError, msgspec.DecodeError):
                stats.entries_invalid += 1
                log.warning("skipped stream entry %s: not a jobpulse entry", entry_id.decode())
                events = []
            follow(cursor_of(entry_id))
            for event in events:
                apply(event)
            self.last_id = entry_id
            stats.entries_read += 1
            stats.events_read += len(events)
            since_yield += len(events)
            if since_yield >= _YIELD_EVERY:
                since_yield = 0
                await asyncio.sleep(0)
        stats.lag_s = max(0.0, time.time() - id_key(self.last_id)[0] / 1000)

    def _reached_end(self) -> None:
        if not self.caught_up:
            self.caught_up = True
            # Feed cursors below where the stream stood at start were never served here: a client
            # bringing one (from another replica, or from before Redis lost its data) gets a resync.
            self.cursors.follow(cursor_of(self.target or START))
            log.info("caught up with the event bus at %s", self.last_id.decode())
            self.on_caught_up()
