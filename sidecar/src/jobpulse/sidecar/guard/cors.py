"""LiveCors: CORS for the origins in force, changed while the sidecar runs.

Litestar builds its own CORS handling (``AppConfig.cors_config``) once, with the app. LiveCors takes
its place, in front of the app's whole request handling (``Litestar.asgi_handler``, where Litestar
puts its CORS middleware), so every answer is covered as before: refusals raised by middleware (401,
403, 429) and unknown paths (404) too. It holds Litestar's CORS middleware built for the origins in
force and builds it again when they change, so a change applies from the next request. With no
origins it passes requests straight on: no preflight answers and no CORS headers, as with CORS off.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Litestar
from litestar.config.cors import CORSConfig

# Litestar's CORS middleware is internal since 2.9 (the public alias warns that it is deprecated). It
# is what Litestar itself puts in front of the app for ``cors_config``, so requests are answered
# exactly as there.
from litestar.middleware._internal.cors import CORSMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from jobpulse.sidecar.guard.ratelimit import RETRY_AFTER

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
"""What the API is called with."""

HEADERS = ("Authorization", "Content-Type", "Content-Encoding")
"""What a page may send: a token, and a JSON or gzip body."""


class LiveCors:
    """``install`` as an ``on_startup`` hook; ``reconfigure`` with each new list of origins."""

    def __init__(self, origins: Sequence[str]) -> None:
        self.origins = tuple(origins)
        self.app: ASGIApp | None = None
        self.middleware: CORSMiddleware | None = None

    def install(self, app: Litestar) -> None:
        """Put CORS in front of ``app``'s request handling. Lifespan hooks run before the first request;
        a second lifespan of the same app finds it in place."""
        if app.asgi_handler is self:
            return
        self.app, app.asgi_handler = app.asgi_handler, self
        self.middleware = self._build(self.app)

    def reconfigure(self, origins: Sequence[str]) -> None:
        """Allow ``origins`` (``*``: any) from the next request; none turns CORS off."""
        if tuple(origins) == self.origins:
            return  # keep the middleware: its config compiles the origins and headers once, on first use
        self.origins = tuple(origins)
        if self.app is not None:
            self.middleware = self._build(self.app)

    def _build(self, app: ASGIApp) -> CORSMiddleware | None:
        if not self.origins:
            return None
        config = CORSConfig(
            allow_origins=list(self.origins),
            allow_methods=list(METHODS),  # type: ignore[arg-type]
            allow_headers=list(HEADERS),
            expose_headers=[RETRY_AFTER],
            max_age=600,
        )
        return CORSMiddleware(app=app, config=config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Installed before any request, so ``app`` is set whenever a request comes.
        handler = self.middleware or self.app
        assert handler is not None
        await handler(scope, receive, send)
