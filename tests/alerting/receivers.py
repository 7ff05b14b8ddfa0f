"""Real notification receivers on loopback: an HTTP server for Apprise's json:// and form:// and an
SMTP server (aiosmtpd) for mailto://. They record what arrives, when, and can be told to fail."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller

from tests.support.polling import wait_for
from tests.support.ports import free_port


@dataclass
class Received:
    """One request (or mail) as the receiver saw it."""

    path: str
    at: float
    status: int
    title: str
    body: str
    type: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class HttpReceiver:
    """Answers POSTs with 200, or 500 for the first ``fail(path, times)`` requests to a path."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._failures: dict[str, int | None] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-type", "").startswith("application/json"):
                    fields = json.loads(raw)
                else:
                    fields = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
                status = receiver._status(self.path)
                with receiver._lock:
                    receiver.received.append(
                        Received(
                            path=self.path,
                            at=time.monotonic(),
                            status=status,
                            title=fields.get("title", ""),
                            body=fields.get("message", ""),
                            type=fields.get("type"),
                            fields=fields,
                            headers=dict(self.headers.items()),
                        )
                    )
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, scheme: str, path: str, credentials: str = "") -> str:
        """An Apprise URL to ``path`` on this receiver, e.g. ``url("json", "/hook")``."""
        return f"{scheme}://{credentials}127.0.0.1:{self.port}{path}"

    def fail(self, path: str, times: int | None = None) -> None:
        """Answer 500 to the next ``times`` requests to ``path`` (every one when None)."""
        self._failures[path] = times

    def _status(self, path: str) -> int:
        with self._lock:
            if path not in self._failures:
                return 200
            left = self._failures[path]
            if left is None:
                return 500
            if left > 0:
                self._failures[path] = left - 1
                return 500
            return 200

    def at(self, path: str, predicate: Callable[[Received], bool] = lambda r: True) -> list[Received]:
        with self._lock:
            return [item for item in self.received if item.path == path and predicate(item)]

    def wait(
        self,
        path: str,
        predicate: Callable[[Received], bool] = lambda r: True,
        *,
        count: int = 1,
        timeout: float = 15.0,
    ) -> list[Received]:
        """The first ``count`` requests to ``path`` matching ``predicate``, waiting up to ``timeout``."""
        return wait_for(lambda: (found := self.at(path, predicate)) and len(found) >= count and found, timeout=timeout)


class SmtpReceiver:
    """An SMTP server on loopback (no TLS, no auth) that keeps every mail."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                body = message.get_body(("plain", "html"))
                receiver.received.append(
                    Received(
                        path=",".join(envelope.rcpt_tos),
                        at=time.monotonic(),
                        status=250,
                        title=str(message["subject"]),
                        body=body.get_content() if body is not None else "",
                        fields={"from": envelope.mail_from},
                    )
                )
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def url(self, to: str) -> str:
        """An Apprise mailto:// URL that sends through this server in plain SMTP."""
        return f"mailto://jobpulse@example.com?smtp=127.0.0.1&port={self.port}&mode=insecure&to={to}"

    def wait(self, predicate: Callable[[Received], bool], timeout: float = 15.0) -> Received:
        return wait_for(lambda: next((mail for mail in self.received if predicate(mail)), None), timeout=timeout)
