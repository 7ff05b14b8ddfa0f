"""The live feed's wire protocol spoken directly, with websockets' sync client, for the tests of the
protocol itself: they send what a client library never would (malformed frames, subscription
changes, explicit resumes, floods of pings), see the raw messages and read close codes. Everything
else watches the feed through ``jobpulse.client`` (tests/support/feed_watch.py)."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

Message = dict[str, Any]


class WireFeed:
    """Connects to ``/ws`` and keeps every message received, in order."""

    def __init__(self, ws_url: str, **params: Any) -> None:
        query = "&".join(
            f"{key}={item}"
            for key, value in params.items()
            for item in (value if isinstance(value, list | tuple) else [value])
        )
        self.url = ws_url + (f"?{query}" if query else "")
        self._exit = ExitStack()
        self.connection: ClientConnection = self._exit.enter_context(
            connect(self.url, open_timeout=10, compression=None)
        )
        self.messages: list[Message] = []

    def __enter__(self) -> WireFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._exit.close()

    def send(self, message: Message | str) -> None:
        self.connection.send(message if isinstance(message, str) else json.dumps(message))

    def receive_frame(self, timeout: float) -> list[Message]:
        frame = json.loads(self.connection.recv(timeout=timeout))
        assert isinstance(frame, list) and frame, f"a frame is a non-empty JSON array, got {frame!r}"
        self.messages.extend(frame)
        return frame

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float = 10.0) -> Message:
        """The first message (already received or arriving before ``timeout``) matching ``predicate``."""
        for message in self.messages:
            if predicate(message):
                return message
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching message within {timeout} s; got types {self.types()}")
            try:
                frame = self.receive_frame(remaining)
            except TimeoutError:
                continue
            for message in frame:
                if predicate(message):
                    return message

    def snapshot(self, message_type: str = "snapshot", timeout: float = 10.0) -> tuple[list[Message], list[Message]]:
        """The parts of the first snapshot (or resync) received, all of them (``data.part`` 1 to
        ``data.parts``), and the jobs they list together."""
        parts = [self.wait_for(lambda m: m["type"] == message_type and m["data"].get("part", 1) == 1, timeout)]
        while parts[-1]["data"].get("part", 1) < parts[-1]["data"].get("parts", 1):
            number = parts[-1]["data"]["part"] + 1
            parts.append(
                self.wait_for(lambda m, n=number: m["type"] == message_type and m["data"].get("part") == n, timeout)
            )
        return parts, [job for part in parts for job in part["data"]["jobs"]]

    def drain(self, quiet: float = 0.3) -> list[Message]:
        """Receive until nothing arrives for ``quiet`` seconds; return everything received."""
        while True:
            try:
                self.receive_frame(quiet)
            except TimeoutError:
                return self.messages
            except ConnectionClosed:
                return self.messages

    def types(self) -> list[str]:
        return [message["type"] for message in self.messages]


def job_id_of(message: Message) -> str | None:
    data = message.get("data")
    if not isinstance(data, dict):
        return None
    return data.get("job_id") or data.get("id")


class StalledClient:
    """A WebSocket client that completes the handshake and then never reads: the slowest client.

    A tiny receive buffer makes the server's socket back up after a few hundred kilobytes.
    """

    def __init__(self, host: str, port: int, path: str = "/ws") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(1)
        assert response.startswith(b"HTTP/1.1 101"), response

    def read_some(self, size: int = 65536) -> bytes:
        """Read whatever has arrived (used only to check the connection state)."""
        return self.sock.recv(size)

    def close(self) -> None:
        self.sock.close()
