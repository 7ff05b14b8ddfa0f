"""The ``/ws`` endpoint: one reader and one writer per connection around a FeedHub client."""

from __future__ import annotations

import asyncio
import contextlib

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.handlers import WebsocketRouteHandler

from jobpulse.sidecar.api.failures import ServerErrors
from jobpulse.sidecar.auth.roles import VIEWER, access
from jobpulse.sidecar.feed.hub import (
    HANDSHAKE_CAPACITY,
    HANDSHAKE_ERROR,
    HANDSHAKE_GONE,
    HANDSHAKE_INVALID,
    FeedClient,
    FeedHub,
)
from jobpulse.sidecar.feed.protocol import (
    ERROR,
    PONG,
    Ping,
    ProtocolError,
    Resume,
    Subscribe,
    Subscription,
    decode_client_message,
    subscription_from_query,
)
from jobpulse.sidecar.guard.connections import FeedAdmission
from jobpulse.sidecar.guard.identity import client_key

# Close codes (RFC 6455): 1008 policy violation for a bad connect request, 1011 for an internal
# error (logged under the request id the close reason names), 1013 "try again later" for a client
# dropped because it stopped reading.
_CLOSE_BAD_REQUEST = 1008
_CLOSE_INTERNAL_ERROR = 1011
_CLOSE_TOO_SLOW = 1013
# 1013 too for a handshake past a connection cap; the reason names the setting.
_CLOSE_AT_CAPACITY = 1013


def _connect_params(socket: WebSocket) -> tuple[Subscription, int | None]:
    params = {key: socket.query_params.getall(key) for key in socket.query_params}
    subscription = subscription_from_query(params)
    cursor = params.get("cursor")
    if not cursor:
        return subscription, None
    try:
        return subscription, int(cursor[-1])
    except ValueError:
        raise ProtocolError(f"cursor: expected an integer, got {cursor[-1]!r}") from None


def handle_client_message(hub: FeedHub, client: FeedClient, text: str | bytes) -> None:
    """Act on one client message; an invalid one gets an ``error`` reply, never a disconnect."""
    try:
        message = decode_client_message(text)
    except ProtocolError as error:
        client.reply(hub.direct(ERROR, {"detail": str(error)}))
        return
    if isinstance(message, Ping):
        try:
            client.reply(hub.direct(PONG, message.data))
        except RecursionError:
            client.reply(hub.direct(ERROR, {"detail": "ping: data nested too deeply to send back"}))
    elif isinstance(message, Resume):
        hub.resume(client, message.cursor)
    else:
        if isinstance(message, Subscribe):
            subscription = client.subscription.subscribe(message)
        else:
            subscription = client.subscription.unsubscribe(message)
        hub.set_subscription(client, subscription)
        client.reply(*hub.snapshot(subscription))


def _unexpected(task: asyncio.Task[None]) -> BaseException | None:
    """What ended ``task`` if it was a fault of the sidecar's (a client going away is not)."""
    if task.cancelled():
        return None
    error = task.exception()
    return None if isinstance(error, OSError | WebSocketDisconnect) else error


async def _read(socket: WebSocket, hub: FeedHub, client: FeedClient) -> None:
    while True:
        event = await socket.receive()
        if event["type"] == "websocket.disconnect":
            return
        handle_client_message(hub, client, event.get("text") or event.get("bytes") or "")


def live_feed_route(hub: FeedHub, errors: ServerErrors, admission: FeedAdmission) -> WebsocketRouteHandler:
    """The ``/ws`` route, serving ``hub``'s feed to clients ``admission`` lets in; a fault of a
    connection is recorded in ``errors``."""

    @websocket("/ws", name="live_feed", opt=access(VIEWER))
    async def live_feed(socket: WebSocket) -> None:
        """The live feed. Connect parameters: job_id, job_type, status, message_type (repeatable),
        min_log_level, and cursor to resume after a reconnect instead of receiving a snapshot."""
        key = client_key(socket.scope)
        refused = admission.enter(key)
        if refused is not None:
            hub.handshake_failed(HANDSHAKE_CAPACITY)
            # Accepted only to be closed: a browser sees a close code and reason, never an HTTP status.
            await socket.accept()
            await socket.close(code=_CLOSE_AT_CAPACITY, reason=refused)
            return
        try:
            await _serve(socket, hub, errors)
        finally:
            admission.leave(key)

    return live_feed


async def _serve(socket: WebSocket, hub: FeedHub, errors: ServerErrors) -> None:
    try:
        await socket.accept()
    except (OSError, WebSocketDisconnect):
        hub.handshake_failed(HANDSHAKE_GONE)
        return
    try:
        subscription, cursor = _connect_params(socket)
    except ProtocolError as error:
        hub.handshake_failed(HANDSHAKE_INVALID)
        await socket.send_text(hub.direct(ERROR, {"detail": str(error)}))
        await socket.close(code=_CLOSE_BAD_REQUEST, reason="invalid connect parameters")
        return

    client_address = socket.client
    remote = f"{client_address.host}:{client_address.port}" if client_address else "unknown"
    client = hub.connect(remote, subscription)
    if cursor is None:
        client.reply(*hub.snapshot(subscription))
    else:
        hub.resume(client, cursor)

    async def send(frame: str) -> None:
        await socket.send({"type": "websocket.send", "text": frame})

    writer = asyncio.create_task(hub.serve(client, send))
    reader = asyncio.create_task(_read(socket, hub, client))
    dropped = False

    def abort() -> None:
        nonlocal dropped
        dropped = True
        writer.cancel()
        reader.cancel()

    client.abort = abort
    failure: BaseException | None = None
    try:
        done, _ = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        failure = next(filter(None, map(_unexpected, done)), None)
    finally:
        writer.cancel()
        reader.cancel()
        hub.disconnect(client)
        # A new connection's handshake ends with its snapshot written; one that resumes has none.
        if cursor is None and not client.frames_sent and not dropped:
            hub.handshake_failed(HANDSHAKE_GONE if failure is None else HANDSHAKE_ERROR)
        for task in (writer, reader):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if dropped:
            with contextlib.suppress(Exception):
                await socket.close(code=_CLOSE_TOO_SLOW, reason="client too slow")
    if failure is not None:
        request_id = errors.record(socket.scope, failure, "live feed connection failed")
        with contextlib.suppress(Exception):
            await socket.close(code=_CLOSE_INTERNAL_ERROR, reason=f"internal error, request id {request_id}")
