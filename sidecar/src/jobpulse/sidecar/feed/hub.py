"""FeedHub: turns job changes into feed messages and fans them out to WebSocket clients.

Why it is built this way (docs/architecture.md has the measurements):

- Changes are collected for one short tick and sent as one frame per client: one WebSocket frame per
  event per client saturates a core long before a few hundred clients are served.
- The tick adapts to load: a flush that queued F frames holds the next one back F / ``frames_per_s``
  seconds, at most ``tick_s``. A quiet feed (few clients, rare changes) sends each change at once; a
  busy one batches, so the frames it sends per second stay bounded and no change waits longer than
  ``tick_s``.
- Within a tick only the newest progress of each job survives; status changes and log lines all do.
- Each message is encoded once. Clients with equal filters form a group that shares one frame, so the
  per-client cost is a queue append and a send.
- A group's progress rate (``progress_hz``) caps the job_progress messages it gets per job: a job's
  change goes out when the job is due, else it is skipped until the next change after the due time;
  a job that stops changing meanwhile gets a fresh message one period after it was due (a catch-up,
  published with a new cursor), so no client keeps stale figures and cursors only grow.
- Every message gets a cursor and stays in a bounded replay ring; a client that reconnects with its
  cursor gets exactly what it missed, or a resync with a fresh snapshot when the ring no longer
  reaches back that far. Cursors come from ``cursors`` (feed/cursors.py): the sidecar's own sequence,
  or, on a bus, the entry each change came from, so a client resumes on any replica.
- Each client has a queue bounded in length and in age. A client that falls behind (too many frames
  waiting, or the oldest waiting longer than ``max_lag_s``) is resynced rather than allowed to grow
  memory, read stale news or slow the others; one whose socket stops draining altogether is
  disconnected.
- The hub watches its own delay: each message remembers when what it reports was ingest, each frame
  carries the oldest such time per message type, and when a client's socket has taken the frame the
  delay is observed once per message type in it (per frame, not per message).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from jobpulse.sidecar import schemas
from jobpulse.sidecar.feed.cursors import BusCursors, LocalCursors
from jobpulse.sidecar.feed.protocol import (
    ALERT,
    JOB_LOG,
    JOB_PROGRESS,
    JOB_STATUS_UPDATE,
    RESYNC,
    SNAPSHOT,
    MessageMeta,
    ServerMessage,
    Subscription,
)
from jobpulse.sidecar.latency import Histogram
from jobpulse.sidecar.model.events import KIND_LOG, LEVEL_NUMBERS
from jobpulse.sidecar.model.fold import folded_line
from jobpulse.sidecar.model.state import TERMINAL_STATUSES, JobState
from jobpulse.sidecar.settings import DEFAULT_ACK_TIMEOUT_S
from jobpulse.sidecar.store import JobChange, JobStore
from jobpulse.sidecar.tasks import BackgroundTasks
from jobpulse.sidecar.timestamps import to_datetime

if TYPE_CHECKING:
    from jobpulse.sidecar.settings import Settings

log = logging.getLogger("jobpulse.sidecar.feed")

_encode = msgspec.json.Encoder().encode
# Replayed history is sent in frames of at most this many messages, and snapshots in parts of at most
# this many jobs: a connection storm then holds a part per client in flight, not a whole snapshot.
_REPLAY_CHUNK = 500
SNAPSHOT_PART_JOBS = 500

# Why a client was sent a resync: its queue was full, its oldest frame too old, or the cursor it
# resumed from is not in the replay ring (older than the ring, or from another sidecar).
RESYNC_BACKLOG = "backlog"
RESYNC_LAG = "lag"
RESYNC_CURSOR = "cursor"
RESYNC_CAUSES = (RESYNC_BACKLOG, RESYNC_LAG, RESYNC_CURSOR)
# Every client is resynced when the bus lost entries (counted only once it happens).
RESYNC_BUS = "bus"
# The causes the sidecar forces on a client that could not keep up.
FORCED_RESYNCS = (RESYNC_BACKLOG, RESYNC_LAG)

# Why a connection failed before its first frame: connect parameters the feed refuses, a client that
# went away during the handshake, an error of the sidecar's, a cap on open connections.
HANDSHAKE_INVALID = "invalid_parameters"
HANDSHAKE_GONE = "client_gone"
HANDSHAKE_ERROR = "error"
HANDSHAKE_CAPACITY = "capacity"

# The message types whose delay from ingest to the socket is measured.
_MEASURED_TYPES = (JOB_STATUS_UPDATE, JOB_PROGRESS, JOB_LOG, ALERT)

# On a bus, how long a client that resumes from a cursor this replica has not reached yet waits for it.
RESUME_WAIT_S = 5.0

# For each message type a frame holds: its delay histogram, and the oldest ingest time (ns) of the
# messages of that type in the frame. Resolved once per group, so a client's send costs no lookup.
Origins = tuple[tuple[Histogram, int], ...]


class FeedClient:
    """One connected WebSocket client: its filter, its bounded queue of frames and its counters."""

    _ids = itertools.count(1)

    def __init__(self, remote: str, subscription: Subscription, queue_frames: int, max_lag_s: float = 2.0) -> None:
        self.id = next(self._ids)
        self.remote = remote
        self.connected_at = datetime.now(UTC)
        self.subscription = subscription
        # (monotonic time queued, frame, its origins): the age of the oldest entry is the client's lag.
        self.queue: deque[tuple[float, str, Origins]] = deque()
        self.queue_frames = queue_frames
        self.max_lag_s = max_lag_s
        self.wake = asyncio.Event()
        self.needs_resync = False
        self.resync_cause = RESYNC_LAG
        self.sending_since: float | None = None
        self.frames_sent = 0
        self.frames_dropped = 0
        self.resyncs = 0
        # Set by the connection handler: how to tear the connection down when the hub drops it.
        self.abort: Callable[[], None] | None = None

    def enqueue(self, frame: str, now: float, origins: Origins = ()) -> None:
        """Queue a feed frame built at monotonic time ``now``; when the client lags too far, drop the
        backlog and owe it a resync."""
        if self.needs_resync:
            self.frames_dropped += 1
            return
        queue = self.queue
        full = len(queue) >= self.queue_frames
        if full or (queue and now - queue[0][0] > self.max_lag_s):
            self.frames_dropped += len(self.queue) + 1
            self.queue.clear()
            self.needs_resync = True
            self.resync_cause = RESYNC_BACKLOG if full else RESYNC_LAG
            self.resyncs += 1
        else:
            queue.append((now, frame, origins))
        self.wake.set()

    def reply(self, *frames: str) -> None:
        """Queue direct answers (pong, error, the parts of a snapshot); never dropped."""
        now = time.monotonic()
        self.queue.extend((now, frame, ()) for frame in frames)
        self.wake.set()

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "remote": self.remote,
            "connected_at": self.connected_at,
            "subscription": self.subscription.describe(),
            "queued_frames": len(self.queue),
            "frames_sent": self.frames_sent,
            "frames_dropped": self.frames_dropped,
            "resyncs": self.resyncs,
        }


class _Group:
    """Clients with equal filters, and what their progress rate needs: when each job may next have a
    job_progress message, and the jobs whose newest change was skipped (with its ingest time, ns)."""

    __slots__ = ("clients", "due", "held")

    def __init__(self) -> None:
        self.clients: set[FeedClient] = set()
        self.due: dict[str, float] = {}
        self.held: dict[str, int] = {}


# (message filter data, encoded message, ingest time ns): a message published this tick.
Published = tuple[MessageMeta, bytes, int]


class _Pending:
    """Changes collected during the current tick, in arrival order: (message type, payload, when what
    it reports was ingested, ns, the cursor stamp it was collected with)."""

    __slots__ = ("entries", "progress_at")

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any, int, int] | None] = []
        self.progress_at: dict[str, int] = {}


class FeedHub:
    """Collects changes from the JobStore and serves them to clients."""

    def __init__(
        self,
        store: JobStore,
        *,
        tick_s: float = 0.02,
        replay_messages: int = 20_000,
        queue_frames: int = 256,
        max_lag_s: float = 2.0,
        send_timeout_s: float = 10.0,
        progress_hz: float = 0.0,
        frames_per_s: float = 10_000.0,
        ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S,
        test_delay_s: float = 0.0,
        clock_ns: Callable[[], int] = time.time_ns,
        cursors: LocalCursors | BusCursors | None = None,
    ) -> None:
        self.store = store
        # Tests only: every flush waits this much longer, as a sidecar that cannot keep up would.
        self.test_delay_s = test_delay_s
        self.ack_timeout_s = ack_timeout_s
        # The longest a change waits, and the frame rate beyond which the feed waits that long.
        self.tick_s = tick_s
        self.frames_per_s = frames_per_s
        self.queue_frames = queue_frames
        self.max_lag_s = max_lag_s
        self.send_timeout_s = send_timeout_s
        # The progress rate of subscriptions that name no rate and no job ids (0: every change).
        self.progress_hz = progress_hz
        # Whether job log lines go out at all.
        self.log_streaming = True
        self.clock_ns = clock_ns
        # Embedded, cursors start at the start-up time in microseconds, so a cursor from before a
        # restart is always older than anything in the new ring and gets a resync, never a wrong replay.
        self.cursors = cursors or LocalCursors(clock_ns() // 1000)
        self._ring: deque[tuple[int, MessageMeta, bytes]] = deque(maxlen=replay_messages)
        # The ring holds every message with a cursor above this one. On a bus nothing is replayable
        # until the replica has caught up (``replay_from_now``).
        self._floor = self.cursors.current if not self.cursors.follows_bus else 2**63
        # Clients that resumed from a cursor this replica has not reached yet: (cursor, deadline).
        self._parked: dict[FeedClient, tuple[int, float]] = {}
        self._pending = _Pending()
        self._wake = asyncio.Event()
        self._last_flush = 0.0
        # How long after the last flush the next one may start: that flush's frames / frames_per_s.
        self._hold_s = 0.0
        self._groups: dict[Subscription, _Group] = {}
        # When the next catch-up is due (monotonic), if any group holds a skipped change.
        self._catch_up_at: float | None = None
        self._clients: dict[int, FeedClient] = {}
        self._snapshot_cache: dict[tuple[Subscription, str], tuple[int, list[str]]] = {}
        self._tasks = BackgroundTasks()
        self.messages_published = 0
        self.resyncs = dict.fromkeys(RESYNC_CAUSES, 0)
        self.clients_dropped = 0
        self.handshake_failures = dict.fromkeys(
            (HANDSHAKE_INVALID, HANDSHAKE_GONE, HANDSHAKE_ERROR, HANDSHAKE_CAPACITY), 0
        )
        # Seconds from ingest to a client's socket taking the frame, by message type.
        self.send_delay = {message_type: Histogram() for message_type in _MEASURED_TYPES}
        store.add_listener(self.on_change)

    @property
    def cursor(self) -> int:
        """The cursor of the newest message: a snapshot made now is as of this cursor."""
        return self.cursors.current

    @property
    def resyncs_sent(self) -> int:
        """Resyncs sent, whatever their cause."""
        return sum(self.resyncs.values())

    @property
    def connection_failures(self) -> int:
        """Failed handshakes, forced resyncs and dropped clients since start."""
        forced = sum(self.resyncs[cause] for cause in FORCED_RESYNCS)
        return sum(self.handshake_failures.values()) + forced + self.clients_dropped

    def handshake_failed(self, reason: str) -> None:
        """Count a connection that failed before its first frame, for ``reason``."""
        self.handshake_failures[reason] = self.handshake_failures.get(reason, 0) + 1

    def reconfigure(self, settings: Settings) -> None:
        """Apply new settings to the running feed: connected clients stay connected.

        A new tick or frame rate applies from the next flush, new queue bounds to the next frame queued
        for each client, a smaller replay window keeps the newest messages, and turning log streaming off
        stops job_log messages from the next change on (progress and status continue).
        """
        self.tick_s = settings.feed_tick_ms / 1000
        self.frames_per_s = settings.feed_frames_per_s
        if settings.feed_replay_messages != self._ring.maxlen:
            dropped = len(self._ring) - settings.feed_replay_messages
            if dropped > 0:
                self._floor = max(self._floor, self._ring[dropped - 1][0])
            self._ring = deque(self._ring, maxlen=settings.feed_replay_messages)
        self.queue_frames = settings.feed_client_queue_frames
        self.max_lag_s = settings.feed_client_max_lag_s
        for client in self._clients.values():
            client.queue_frames, client.max_lag_s = self.queue_frames, self.max_lag_s
        self.send_timeout_s = settings.feed_send_timeout_s
        self.progress_hz = settings.feed_progress_hz
        self.ack_timeout_s = settings.control_ack_timeout_s
        self.log_streaming = settings.log_streaming_enabled
        self.test_delay_s = settings.feed_test_delay_ms / 1000

    # ---- collecting ---------------------------------------------------------------------------

    def on_change(self, change: JobChange) -> None:
        """JobStore listener: note what the change means for the feed."""
        old, new, event = change
        pending = self._pending
        stamp = self.cursors.stamp()
        # Events the sidecar makes itself (lost marks, control requests) were never ingested.
        origin = event.received_ns or self.clock_ns()
        if old is None or old.status != new.status or old.pending_action != new.pending_action:
            pending.entries.append((JOB_STATUS_UPDATE, new, origin, stamp))
        if event.kind == KIND_LOG:
            if self.log_streaming:
                line = folded_line(new, event, self.store.limits)
                pending.entries.append((JOB_LOG, (new, line), origin, stamp))
        elif old is not None and not new.is_terminal and _moved(old, new):
            previous = pending.progress_at.get(new.id)
            if previous is not None:
                # The surviving message carries the changes it replaces: its delay counts from the oldest.
                origin = min(origin, pending.entries[previous][2])  # type: ignore[index]
                pending.entries[previous] = None
            pending.progress_at[new.id] = len(pending.entries)
            pending.entries.append((JOB_PROGRESS, new, origin, stamp))
        if not self._wake.is_set():
            self._wake.set()

    def publish(self, message_type: str, data: Any, meta: MessageMeta) -> None:
        """Queue a message that does not come from a job change (alerts); its delay counts from now."""
        self._pending.entries.append((message_type, (data, meta), self.clock_ns(), self.cursors.stamp()))
        if not self._wake.is_set():
            self._wake.set()

    # ---- the tick -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.spawn(self._flush_loop(), "feed-flush")
        self._tasks.spawn(self._watchdog_loop(), "feed-watchdog")

    @property
    def running(self) -> bool:
        return self._tasks.running

    async def stop(self) -> None:
        await self._tasks.cancel()

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._catch_up_at is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, self._catch_up_at - time.monotonic()))
            self._wake.clear()
            # Quiet feeds flush at once; busy ones batch what arrives while the last flush's frames are paid for.
            delay = self._last_flush + self.current_tick_s - loop.time() + self.test_delay_s
            if delay > 0:
                await asyncio.sleep(delay)
            self._last_flush = loop.time()
            try:
                self.flush()
            except Exception:
                log.exception("feed flush failed")

    def flush(self) -> None:
        """Encode what the tick collected and hand each group of clients its frame."""
        pending, self._pending = self._pending, _Pending()
        queued_at = time.monotonic()
        lagging = self._lagging(queued_at, pending.progress_at)
        if not pending.entries and not lagging:
            self._hold_s = 0.0
            self._catch_up_at = self._next_catch_up()
            return
        now_ns = self.clock_ns()
        timestamp = to_datetime(now_ns)
        published: list[Published] = []
        for entry in pending.entries:
            if entry is not None:
                published.append(self._publish(*entry, timestamp, now_ns))
        # A catch-up reports what the newest folded change left, so it carries the newest stamp.
        stamp = self.cursors.stamp()
        catch_ups = {
            job_id: self._publish(JOB_PROGRESS, state, origin, stamp, timestamp, now_ns)
            for job_id, (state, origin) in lagging.items()
        }
        self.messages_published += len(published) + len(catch_ups)
        self._snapshot_cache.clear()
        everything: Origins | None = None
        frames = 0
        for subscription, group in self._groups.items():
            clients = group.clients
            matched = [entry for entry in published if subscription.matches(entry[0])]
            rate = self.progress_rate(subscription)
            if rate:
                matched = _throttle(group, matched, catch_ups, queued_at, 1 / rate)
            if not matched:
                continue
            frame = _frame([raw for _, raw, _ in matched])
            if len(matched) < len(published):
                origins = self._origins(matched)
            else:
                # Most groups take every message: their origins are worked out once per flush.
                origins = everything = everything or self._origins(published)
            for client in clients:
                client.enqueue(frame, queued_at, origins)
            frames += len(clients)
        self._hold_s = frames / self.frames_per_s
        if self._parked:
            self._release_parked()
        self._catch_up_at = self._next_catch_up()

    @property
    def current_tick_s(self) -> float:
        """How long after the last flush the next one waits, collecting changes: the current tick."""
        return min(self._hold_s, self.tick_s)

    def _publish(
        self, message_type: str, payload: Any, origin: int, stamp: int, timestamp: datetime, now_ns: int
    ) -> Published:
        """Render and encode one message under its cursor, into the replay ring."""
        data, meta = self._render(message_type, payload, now_ns)
        cursor = self.cursors.assign(stamp)
        raw = _encode(ServerMessage(message_type, timestamp, cursor, data))
        ring = self._ring
        if len(ring) == ring.maxlen:
            self._floor = ring[0][0]
        ring.append((cursor, meta, raw))
        return meta, raw, origin

    def progress_rate(self, subscription: Subscription) -> float:
        """The job_progress messages per job per second ``subscription`` gets (0: every change): what it
        asked for, else every change for a client of named jobs, else the feed's default."""
        if subscription.progress_hz is not None:
            return subscription.progress_hz
        return 0.0 if subscription.job_ids.include is not None else self.progress_hz

    def _lagging(self, now: float, changed: dict[str, int]) -> dict[str, tuple[JobState, int]]:
        """Jobs some group skipped a change of, that have not changed since they were due for a
        period: they need a fresh message (job id -> state, ingest time of the oldest skipped change).
        A job that ended or left the store meanwhile is no longer held: its end said the rest."""
        if self._catch_up_at is None or now < self._catch_up_at:
            return {}
        lagging: dict[str, tuple[JobState, int]] = {}
        for subscription, group in self._groups.items():
            rate = self.progress_rate(subscription)
            if not rate:
                group.held.clear()
                continue
            period, due, held = 1 / rate, group.due, group.held
            for job_id in [job_id for job_id in held if job_id not in changed and now >= due[job_id] + period]:
                state = self.store.get(job_id)
                if state is None or state.is_terminal:
                    del held[job_id]
                    continue
                origin = held[job_id]
                if job_id in lagging:
                    origin = min(origin, lagging[job_id][1])
                lagging[job_id] = (state, origin)
        return lagging

    def _next_catch_up(self) -> float | None:
        soonest: float | None = None
        for subscription, group in self._groups.items():
            rate = self.progress_rate(subscription)
            if group.held and rate:
                due, period = group.due, 1 / rate
                at = min(due[job_id] for job_id in group.held) + period
                soonest = at if soonest is None else min(soonest, at)
        return soonest

    def _render(self, message_type: str, payload: Any, now_ns: int) -> tuple[Any, MessageMeta]:
        if message_type == JOB_PROGRESS:
            state: JobState = payload
            return schemas.progress(state, now_ns), _meta(message_type, state)
        if message_type == JOB_STATUS_UPDATE:
            return schemas.summary(payload, now_ns, self.ack_timeout_s), _meta(message_type, payload)
        if message_type == JOB_LOG:
            state, line = payload
            data = {"job_id": state.id, "job_name": state.name, "job_type": state.job_type}
            data.update(msgspec.structs.asdict(schemas.log_view(line)))
            return data, _meta(message_type, state, LEVEL_NUMBERS.get(line.level, 1))
        return payload

    # ---- clients ------------------------------------------------------------------------------

    def connect(self, remote: str, subscription: Subscription) -> FeedClient:
        client = FeedClient(remote, subscription, self.queue_frames, self.max_lag_s)
        self._clients[client.id] = client
        self._join(client)
        return client

    @property
    def replay_messages(self) -> int | None:
        """How many messages the replay window holds at most."""
        return self._ring.maxlen

    def disconnect(self, client: FeedClient) -> None:
        self._clients.pop(client.id, None)
        self._parked.pop(client, None)
        self._leave(client)

    def set_subscription(self, client: FeedClient, subscription: Subscription) -> None:
        self._leave(client)
        client.subscription = subscription
        if client not in self._parked:
            self._join(client)

    def _join(self, client: FeedClient) -> None:
        group = self._groups.get(client.subscription)
        if group is None:
            group = self._groups[client.subscription] = _Group()
        group.clients.add(client)

    def _leave(self, client: FeedClient) -> None:
        group = self._groups.get(client.subscription)
        if group is not None:
            group.clients.discard(client)
            if not group.clients:
                del self._groups[client.subscription]

    @property
    def clients(self) -> list[FeedClient]:
        return list(self._clients.values())

    def snapshot(self, subscription: Subscription, message_type: str = SNAPSHOT) -> list[str]:
        """The active jobs matching ``subscription`` as of the current cursor: frames of one message
        each, ``data.part`` 1 to ``data.parts`` of at most SNAPSHOT_PART_JOBS jobs (one part when
        there are none).

        Clients with equal filters connect, or fall behind and are resynced, in droves: they share
        the frames built for the first of them until the cursor moves.
        """
        cached = self._snapshot_cache.get((subscription, message_type))
        if cached is not None and cached[0] == self.cursor:
            return cached[1]
        now_ns = self.clock_ns()
        timestamp = to_datetime(now_ns)
        states = [
            state
            for state in self.store.active()
            if subscription.matches_job(state.id, state.job_type, (state.status,))
        ]
        parts = max(1, -(-len(states) // SNAPSHOT_PART_JOBS))
        frames = []
        for part in range(parts):
            chunk = states[part * SNAPSHOT_PART_JOBS : (part + 1) * SNAPSHOT_PART_JOBS]
            jobs = [schemas.summary(state, now_ns, self.ack_timeout_s) for state in chunk]
            data = {"jobs": jobs, "part": part + 1, "parts": parts}
            frames.append(_frame([_encode(ServerMessage(message_type, timestamp, self.cursor, data))]))
        self._snapshot_cache[(subscription, message_type)] = (self.cursor, frames)
        return frames

    def direct(self, message_type: str, data: Any) -> str:
        """A frame for one client only (pong, error): not replayable, stamped with the current cursor."""
        message = ServerMessage(message_type, to_datetime(self.clock_ns()), self.cursor, data)
        return _frame([_encode(message)])

    def resume(self, client: FeedClient, cursor: int) -> None:
        """Queue for ``client`` everything after ``cursor`` that matches its filter, or a resync.

        On a bus, a cursor this replica has not reached yet (the client came from a replica that read
        the bus a moment earlier) waits for it, out of its group, for up to ``RESUME_WAIT_S``.
        """
        if cursor > self.cursor and self.cursors.follows_bus and cursor >= self._floor:
            self._leave(client)
            self._parked[client] = (cursor, time.monotonic() + RESUME_WAIT_S)
            return
        self._replay(client, cursor)

    def _replay(self, client: FeedClient, cursor: int) -> None:
        if cursor == self.cursor:
            return
        if cursor > self.cursor or cursor < self._floor:
            self.resyncs[RESYNC_CURSOR] += 1
            client.resyncs += 1
            client.reply(*self.snapshot(client.subscription, RESYNC))
            return
        start = bisect.bisect_right(self._ring, cursor, key=_cursor_of)
        subscription = client.subscription
        matched = [
            (at, raw) for at, meta, raw in itertools.islice(self._ring, start, None) if subscription.matches(meta)
        ]
        index = 0
        while index < len(matched):
            end = min(index + _REPLAY_CHUNK, len(matched))
            # A run of messages with one cursor (one bus entry's) never straddles two frames: a client
            # that drops between frames resumes after the last cursor it saw and misses none of them.
            while end < len(matched) and matched[end][0] == matched[end - 1][0]:
                end += 1
            client.reply(_frame([raw for _, raw in matched[index:end]]))
            index = end

    def _release_parked(self) -> None:
        """Serve the parked clients whose cursor this replica has reached, or who waited long enough."""
        now = time.monotonic()
        for client, (cursor, deadline) in list(self._parked.items()):
            if cursor <= self.cursor or now > deadline:
                del self._parked[client]
                self._join(client)
                self._replay(client, cursor)

    def replay_from_now(self) -> None:
        """Resumes from the current cursor on are served from the ring (a replica caught up with its bus)."""
        self._floor = self.cursor

    def resync_all(self) -> None:
        """Every client gets a resync, and no cursor from before now is replayed: the bus lost entries."""
        self._floor = self.cursor
        self.resyncs[RESYNC_BUS] = self.resyncs.get(RESYNC_BUS, 0)
        for client in self._clients.values():
            client.queue.clear()
            if not client.needs_resync:
                client.needs_resync = True
                client.resyncs += 1
            client.resync_cause = RESYNC_BUS
            client.wake.set()

    async def serve(self, client: FeedClient, send: Callable[[str], Awaitable[None]]) -> None:
        """Drain ``client``'s queue into ``send`` until cancelled."""
        queue = client.queue
        while True:
            await client.wake.wait()
            client.wake.clear()
            if client.needs_resync:
                client.needs_resync = False
                self.resyncs[client.resync_cause] += 1
                now = time.monotonic()
                queue.extendleft((now, frame, ()) for frame in reversed(self.snapshot(client.subscription, RESYNC)))
            while queue:
                _, frame, origins = queue.popleft()
                client.sending_since = time.monotonic()
                await send(frame)
                client.sending_since = None
                client.frames_sent += 1
                if origins:
                    now_ns = self.clock_ns()
                    for histogram, origin_ns in origins:
                        histogram.observe((now_ns - origin_ns) / 1e9)

    def _origins(self, entries: list[tuple[MessageMeta, bytes, int]]) -> Origins:
        oldest: dict[str, int] = {}
        for meta, _, origin in entries:
            known = oldest.get(meta.type)
            if known is None or origin < known:
                oldest[meta.type] = origin
        send_delay = self.send_delay
        origins = []
        for message_type, origin in oldest.items():
            histogram = send_delay.get(message_type)
            if histogram is None:
                histogram = send_delay[message_type] = Histogram()
            origins.append((histogram, origin))
        return tuple(origins)

    async def _watchdog_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.send_timeout_s / 2))
            self.drop_stalled()
            if self._parked:
                self._release_parked()

    def drop_stalled(self) -> list[FeedClient]:
        """Disconnect clients whose socket has not accepted a frame for ``send_timeout_s``."""
        now = time.monotonic()
        stalled = [
            client
            for client in self._clients.values()
            if client.sending_since is not None and now - client.sending_since > self.send_timeout_s
        ]
        for client in stalled:
            log.warning(
                "dropping feed client %s (%s): not reading for %.0f s",
                client.id,
                client.remote,
                now - (client.sending_since or now),
            )
            self.clients_dropped += 1
            self.disconnect(client)
            if client.abort is not None:
                client.abort()
        return stalled


def _cursor_of(entry: tuple[int, MessageMeta, bytes]) -> int:
    return entry[0]


def _throttle(
    group: _Group, matched: list[Published], catch_ups: dict[str, Published], now: float, period: float
) -> list[Published]:
    """What a group with a progress rate gets of this tick's messages: each job's progress when the job
    is due (skipped, and noted as held, when not), then the catch-ups of the jobs it holds."""
    due, held = group.due, group.held
    kept = []
    for entry in matched:
        meta = entry[0]
        if meta.type == JOB_PROGRESS:
            job_id = meta.job_id or ""
            if now < due.get(job_id, 0.0):
                held.setdefault(job_id, entry[2])
                continue
            due[job_id] = now + period
            held.pop(job_id, None)
        elif meta.type == JOB_STATUS_UPDATE and meta.status in TERMINAL_STATUSES:
            due.pop(meta.job_id or "", None)
            held.pop(meta.job_id or "", None)
        kept.append(entry)
    for job_id in [job_id for job_id in held if job_id in catch_ups and now >= due[job_id]]:
        kept.append(catch_ups[job_id])
        due[job_id] = now + period
        del held[job_id]
    return kept


def _frame(parts: list[bytes]) -> str:
    return (b"[" + b",".join(parts) + b"]").decode()


def _meta(message_type: str, state: JobState, level: int = 0) -> MessageMeta:
    return MessageMeta(message_type, state.id, state.job_type, state.status, state.previous_status, level)


def _moved(old: JobState, new: JobState) -> bool:
    return (
        old.processed != new.processed
        or old.failed != new.failed
        or old.total != new.total
        or old.step != new.step
        or old.resources is not new.resources
    )
