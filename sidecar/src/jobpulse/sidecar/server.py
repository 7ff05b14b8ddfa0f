"""Running the sidecar under uvicorn."""

from __future__ import annotations

import uvicorn

from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.settings import Settings

# Client messages are small filter updates; nothing legitimate comes near this.
_WS_MAX_MESSAGE_BYTES = 64 * 1024


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    """The uvicorn configuration for ``settings``."""
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        ws_max_size=_WS_MAX_MESSAGE_BYTES,
        # permessage-deflate costs about a third of the feed's throughput: opt-in only.
        ws_per_message_deflate=settings.feed_compression,
        lifespan="on",
    )


def serve(settings: Settings) -> None:
    """Serve until interrupted."""
    uvicorn.Server(uvicorn_config(settings)).run()
