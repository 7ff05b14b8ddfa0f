"""Real servers on loopback that answer what a test tells them to: for the answers a sidecar gives
only in situations a test cannot easily bring about (a refused token, a rate limit, a broken proxy)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response


@dataclass
class Answer:
    """What the server answers: a status, headers and a body."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    """A request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]


class AnsweringServer:
    """An HTTP server answering every request with ``answer`` (changeable), recording the requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                server.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
                answer = server.answer
                self.send_response(answer.status)
                for name, value in {"content-type": "application/json", **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[AnsweringServer]:
        thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


class RefusingFeed:
    """A WebSocket server that refuses every handshake with ``answer``, recording each attempt."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[Seen] = []
        self.url = ""

    def _refuse(self, connection: ServerConnection, request: Request) -> Response:
        self.seen.append(Seen("GET", request.path, dict(request.headers.raw_items())))
        status = HTTPStatus(self.answer.status)
        headers = Headers({"content-type": "application/json", **self.answer.headers})
        return Response(status.value, status.phrase, headers, self.answer.body)

    @asynccontextmanager
    async def running(self):  # type: ignore[no-untyped-def]
        async def never(connection: ServerConnection) -> None:
            await asyncio.sleep(0)

        async with serve(never, "127.0.0.1", 0, process_request=self._refuse) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            yield self
