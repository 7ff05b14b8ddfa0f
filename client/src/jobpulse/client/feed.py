"""``Feed``: the live feed as an async iterator that reconnects, resumes, and never hides a gap.

The feed remembers the cursor of the last message it got. When the connection drops it waits
(:class:`~jobpulse.client.backoff.Backoff`), connects again with ``?cursor=``, and the sidecar
replays what was missed, or, when it cannot (it restarted, or the gap is older than its replay
window), sends a :class:`~jobpulse.client.messages.Resync` with a fresh snapshot, which the iterator
yields like any other message. Errors that waiting will not cure (a refused token, invalid filters)
end the iteration with their exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import random as random_module
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from jobpulse.client.backoff import Backoff, ConnectionState
from jobpulse.client.endpoints import headers_with_token
from jobpulse.client.errors import (
    ApiError,
    ConnectionFailed,
    Forbidden,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    error_for,
)
from jobpulse.client.jobs import JobSummary, LogLevel
from jobpulse.client.messages import (
    ErrorMessage,
    FeedMessage,
    JobList,
    Pong,
    Resync,
    Snapshot,
    UnknownMessage,
    decode_frame,
)

# The feed's own policy-violation close code: invalid connect parameters (docs/live-feed.md).
_CLOSE_INVALID = 1008
# How the sidecar refuses credentials once the handshake is done (docs/live-feed.md): no, or a revoked,
# token (4401), or one without the viewer role (4403). Reconnecting with them cannot help.
_CLOSE_REFUSED: dict[int, tuple[type[ApiError], int]] = {4401: (Unauthorized, 401), 4403: (Forbidden, 403)}
# The first message on every connection: its pong shows the feed serves the connection, which is
# when the count of failed attempts starts again from zero.
_PING = msgspec.json.encode({"type": "ping", "data": "jobpulse.client"}).decode()


class Filters(msgspec.Struct, frozen=True, kw_only=True):
    """What the feed delivers: a message passes when it matches every dimension given (within one,
    any listed value), as the protocol's ``subscribe`` has it. Snapshots and resyncs always arrive.
    ``progress_hz`` caps job_progress messages per job per second (0: every change; None: the
    sidecar's default, every change when ``job_ids`` are given)."""

    job_ids: list[str] | None = None
    job_types: list[str] | None = None
    statuses: list[str] | None = None
    message_types: list[str] | None = None
    min_log_level: LogLevel | None = None
    progress_hz: float | None = None

    def params(self) -> list[tuple[str, str]]:
        """The connect parameters for these filters."""
        params = [
            (name, value)
            for name, values in (
                ("job_id", self.job_ids),
                ("job_type", self.job_types),
                ("status", self.statuses),
                ("message_type", self.message_types),
            )
            for value in values or ()
        ]
        if self.min_log_level is not None:
            params.append(("min_log_level", self.min_log_level))
        if self.progress_hz is not None:
            params.append(("progress_hz", repr(float(self.progress_hz))))
        return params


def feed_url(url: str) -> str:
    """The WebSocket URL of the feed of the sidecar at ``url`` (``http://host:4318`` or a ``ws://`` URL)."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"url: {url!r} is not an http(s):// or ws(s):// URL")
    path = parts.path.rstrip("/")
    if parts.scheme in ("http", "https") or not path:
        path += "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def _retryable(error: ApiError) -> bool:
    return error.status_code >= 500 or error.status_code in (408, 429)


class Feed:
    """The live feed of the sidecar at ``url``, as an async iterator of messages.

    Iterating connects (with ``token`` as ``Authorization: Bearer`` on the handshake), yields a
    :class:`~jobpulse.client.messages.Snapshot` first (or, given a ``cursor`` saved earlier, what came
    after it), then every message matching ``filters``. Connection losses are handled inside: the
    iterator waits and reconnects (``backoff``), resumes from its last cursor, and yields a
    :class:`~jobpulse.client.messages.Resync` when the sidecar could not replay what was missed.
    ``state`` says where the connection stands; ``on_state`` is called with each new state.

    ``random`` and ``sleep`` are what the backoff draws jitter from and waits with.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        filters: Filters | None = None,
        cursor: int | None = None,
        backoff: Backoff | None = None,
        open_timeout_s: float = 10.0,
        on_state: Callable[[ConnectionState], None] | None = None,
        random: Callable[[], float] = random_module.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = feed_url(url)
        self.filters = filters or Filters()
        self.cursor = cursor
        """The cursor of the last message received: where a reconnect resumes."""
        self.backoff = backoff or Backoff()
        self.open_timeout_s = open_timeout_s
        self.on_state = on_state
        self.state = ConnectionState("connecting")
        self._headers = headers_with_token(token, headers)
        self._random = random
        self._sleep = sleep
        self._socket: ClientConnection | None = None
        # Whether the sidecar has sent a frame on the current connection: it serves it.
        self._served = False
        self._buffer: deque[FeedMessage | UnknownMessage] = deque()
        # The jobs of the parts of a snapshot (or resync) received so far on this connection.
        self._parts: list[JobSummary] = []
        self._failures = 0
        self._retry_after = 0.0
        self._closed = False
        self._closing = asyncio.Event()

    def connect_url(self) -> str:
        """The URL the next connection attempt uses: the filters, and the cursor to resume from."""
        params = self.filters.params()
        if self.cursor is not None:
            params.append(("cursor", str(self.cursor)))
        return self.url + (f"?{urlencode(params)}" if params else "")

    async def __aenter__(self) -> Feed:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Feed:
        return self

    async def __anext__(self) -> FeedMessage | UnknownMessage:
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            await self._advance()
        return self._buffer.popleft()

    async def connect(self) -> None:
        """Connect now, rather than when the first message is asked for, and return once the sidecar
        serves the connection: everything it publishes from then on arrives. Call it before iterating,
        to be listening before starting what you want to watch. ConnectionFailed if the feed is closed
        (or its attempts ran out); the errors of iteration otherwise."""
        while not self._served:
            if self._closed:
                raise ConnectionFailed(f"live feed {self.url} is closed")
            await self._advance()

    async def _advance(self) -> None:
        """One step: connect (after the backoff's wait), or take the next frame."""
        socket = self._socket
        if socket is None:
            await self._connect()
            return
        try:
            frame = await socket.recv()
        except ConnectionClosed as closed:
            await self._dropped(closed)
            return
        await self._take(frame)

    async def close(self) -> None:
        """Close the connection and end the iteration (a wait between attempts ends at once)."""
        self._closed = True
        self._closing.set()
        socket, self._socket = self._socket, None
        if socket is not None:
            # A connection the sidecar closed first (with 1008, say) reports that close again here.
            with contextlib.suppress(ConnectionClosed):
                await socket.close()
        self._set("closed")

    # ---- the connection ---------------------------------------------------------------------------

    def _set(self, phase: str, next_delay_s: float | None = None) -> None:
        self.state = ConnectionState(phase, self._failures, next_delay_s, self.state.last_error)  # type: ignore[arg-type]
        if self.on_state is not None:
            self.on_state(self.state)

    def _failed(self, error: str, retry_after: float = 0.0) -> None:
        self._failures += 1
        self._retry_after = retry_after
        self.state = ConnectionState(self.state.phase, self._failures, None, error)

    async def _give_up(self, error: Exception) -> None:
        await self.close()
        raise error

    async def _connect(self) -> None:
        if self._failures:
            limit = self.backoff.max_attempts
            if limit is not None and self._failures >= limit:
                await self._give_up(
                    ConnectionFailed(
                        f"live feed {self.url}: {self._failures} attempts failed; last: {self.state.last_error}"
                    )
                )
            delay = max(self.backoff.delay(self._failures, self._random), self._retry_after)
            self._set("backing_off", delay)
            await self._pause(delay)
            if self._closed:
                return
        self._set("connecting")
        try:
            socket = await connect(
                self.connect_url(),
                additional_headers=self._headers,
                open_timeout=self.open_timeout_s,
                # A snapshot of thousands of jobs is one message of megabytes; the sidecar is trusted.
                max_size=None,
            )
        except InvalidStatus as refused:
            response = refused.response
            error = error_for(response.status_code, response.headers, bytes(response.body or b""))
            if not _retryable(error):
                await self._give_up(error)
            retry_after = error.retry_after if isinstance(error, RateLimited) else None
            self._failed(str(error), retry_after or 0.0)
            return
        except (OSError, TimeoutError, InvalidHandshake) as error:
            self._failed(f"{type(error).__name__}: {error}")
            return
        if self._closed:
            await socket.close()
            return
        self._socket = socket
        self._served = False
        self._set("open")
        # A connection the sidecar refuses is closed by now; reading it gives the reason.
        with contextlib.suppress(ConnectionClosed):
            await socket.send(_PING)

    async def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds, or until the feed is closed."""
        sleeper = asyncio.ensure_future(self._sleep(delay))
        closer = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({sleeper, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            closer.cancel()

    async def _dropped(self, closed: ConnectionClosed) -> None:
        self._socket = None
        self._served = False
        self._parts = []
        if self._closed:
            return
        received = closed.rcvd
        code, reason = (received.code, received.reason) if received is not None else (1006, "no close frame")
        if code == _CLOSE_INVALID:
            await self._give_up(ValidationFailed(400, f"live feed refused the connection: {reason}"))
        if code in _CLOSE_REFUSED:
            error, status = _CLOSE_REFUSED[code]
            await self._give_up(error(status, f"live feed refused the credentials: {reason}"))
        self._failed(f"connection closed: {code} {reason}".strip())

    async def _take(self, frame: str | bytes) -> None:
        messages = decode_frame(frame)
        self._served = True
        if self._failures:
            self._failures = 0
            self._retry_after = 0.0
            self._set("open")
        for message in messages:
            if isinstance(message, Snapshot | Resync) and message.data.parts > 1:
                whole = self._assemble(message)
                if whole is None:
                    continue
                message = whole
            # Every message carries a cursor after which everything still arrives (docs/live-feed.md);
            # a snapshot's only once all its parts have.
            self.cursor = message.cursor
            if isinstance(message, ErrorMessage):
                await self._give_up(ValidationFailed(400, f"live feed: {message.data.detail}"))
            if not isinstance(message, Pong):
                self._buffer.append(message)

    def _assemble(self, message: Snapshot | Resync) -> Snapshot | Resync | None:
        """The whole snapshot once its last part is in, else None."""
        if message.data.part == 1:
            self._parts = []
        self._parts.extend(message.data.jobs)
        if message.data.part < message.data.parts:
            return None
        jobs, self._parts = self._parts, []
        return msgspec.structs.replace(message, data=JobList(jobs))
