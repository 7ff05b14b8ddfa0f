"""Unhandled exceptions: logged with their traceback under a request id, counted, answered in JSON.

Litestar logs an unhandled exception only in debug mode and answers a bare 500. Here each one gets a
request id that appears in the log line, in the JSON answer and in its ``X-Request-Id`` header, so an
operator can find what a client saw; ``/metrics`` counts them by route template and method (both
bounded: the template of the route that failed, never the path a client sent).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, WebSocketException
from litestar.types import Scope

from jobpulse.sidecar.printable import printable

log = logging.getLogger("jobpulse.sidecar.errors")

REQUEST_ID_HEADER = "X-Request-Id"

UNMATCHED = "unmatched"
"""Route label of a failure before routing picked a route."""

WEBSOCKET = "WEBSOCKET"
"""Method label of a failure in a WebSocket handler."""

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ServerErrors:
    """Records unhandled exceptions of request and WebSocket handlers."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        """Unhandled exceptions by (route template, method)."""

    def record(self, scope: Scope, error: BaseException, what: str = "unhandled error") -> str:
        """Log ``error`` with its traceback and count it; return the request id the log line names."""
        request_id = uuid.uuid4().hex
        route = scope.get("path_template") or UNMATCHED
        if scope["type"] == "websocket":
            method = WEBSOCKET
        else:
            method = scope.get("method", "")
            method = method if method in _METHODS else "OTHER"
        key = (route, method)
        self.counts[key] = self.counts.get(key, 0) + 1
        log.error(
            "%s in %s %s (route %s), request id %s: %s: %s",
            what,
            method,
            printable(scope.get("path", "")),
            route,
            request_id,
            type(error).__name__,
            printable(str(error)),
            exc_info=error,
        )
        return request_id

    def http_handler(self, request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
        """The exception handler for every exception that is not an HTTP error of its own."""
        request_id = self.record(request.scope, error)
        content = {
            "status_code": 500,
            "detail": f"internal error; the sidecar's log has the details under request id {request_id}",
            "request_id": request_id,
        }
        return Response(content, status_code=500, headers={REQUEST_ID_HEADER: request_id})

    async def after_exception(self, error: Exception, scope: Scope) -> None:
        """Litestar's after-exception hook: records what a WebSocket handler let escape.

        Litestar closes such a connection with code 4500; request handlers are recorded by
        :meth:`http_handler`, which also writes the answer.
        """
        if scope["type"] == "websocket" and not isinstance(error, HTTPException | WebSocketException):
            self.record(scope, error)
