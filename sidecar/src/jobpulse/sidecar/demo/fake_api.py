"""A small loopback HTTP API that the demo upload job posts batches to.

It answers 503 to a share of requests, as a busy real API would, so the upload job's retries and
warnings are real.
"""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server: FakeApi

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        if self.server.rng.random() < self.server.failure_rate:
            self._answer(503, {"error": "service busy, retry later"})
            return
        try:
            records = json.loads(body)
        except ValueError:
            self._answer(400, {"error": "body is not JSON"})
            return
        self._answer(201, {"accepted": len(records)})

    def _answer(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo prints its own summary."""


class FakeApi(ThreadingHTTPServer):
    """``POST /records`` accepts a JSON array; ``failure_rate`` of requests get a 503."""

    daemon_threads = True

    def __init__(self, failure_rate: float = 0.08, seed: int | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failure_rate = failure_rate
        self.rng = random.Random(seed)
        self._thread = threading.Thread(target=self.serve_forever, name="demo-fake-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/records"

    def start(self) -> FakeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
