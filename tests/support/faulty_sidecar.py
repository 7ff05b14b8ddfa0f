"""A real sidecar with faults built in, for tests of what the sidecar does with its own errors.

``python -m tests.support.faulty_sidecar`` serves ``create_app`` (settings from JOBPULSE_* variables,
under the sidecar's own uvicorn configuration) with three faults no real input triggers any more:

- ``GET /test/fail``: a request handler that raises;
- ``/test/ws-fail``: a WebSocket handler that raises after accepting;
- on ``/ws``, a ``resume`` to cursor :data:`FAULTY_CURSOR`: the live feed's hub raises while serving it.

Run it with :class:`tests.support.sidecar.SidecarProcess` (``argv=faulty_sidecar.ARGV``).
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from litestar import Litestar, WebSocket, get, websocket

from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.auth.roles import OPEN, access
from jobpulse.sidecar.feed.hub import FeedClient, FeedHub
from jobpulse.sidecar.feed.plugin import FeedFeature
from jobpulse.sidecar.server import uvicorn_config
from jobpulse.sidecar.settings import load_settings

ARGV = [sys.executable, "-m", "tests.support.faulty_sidecar"]
FAULTY_CURSOR = 4242
FAULT_MESSAGE = "built-in fault of the test sidecar"


# Open: every route declares who may call it, and these are for the tests alone.
@get("/test/fail", sync_to_thread=False, opt=access(OPEN))
def failing_route() -> dict[str, Any]:
    raise RuntimeError(FAULT_MESSAGE)


@websocket("/test/ws-fail", opt=access(OPEN))
async def failing_socket(socket: WebSocket) -> None:
    await socket.accept()
    raise RuntimeError(FAULT_MESSAGE)


def _break_resume(hub: FeedHub) -> None:
    resume = hub.resume

    def faulty_resume(client: FeedClient, cursor: int) -> None:
        if cursor == FAULTY_CURSOR:
            raise RuntimeError(FAULT_MESSAGE)
        resume(client, cursor)

    hub.resume = faulty_resume  # type: ignore[method-assign]


def faulty_app() -> Litestar:
    app = create_app(load_settings())
    app.register(failing_route)
    app.register(failing_socket)
    _break_resume(app.plugins.get(FeedFeature).hub)
    return app


def main() -> None:
    uvicorn.Server(uvicorn_config(load_settings(), faulty_app())).run()


if __name__ == "__main__":
    main()
