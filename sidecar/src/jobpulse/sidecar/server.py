"""Running the sidecar under uvicorn."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from types import FrameType

import uvicorn
from litestar import Litestar
from uvicorn.config import LOG_LEVELS
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from jobpulse.sidecar.allocator import keep_large_buffers_in_mmap
from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.collector import collect_rarely, freeze_what_start_up_made
from jobpulse.sidecar.config.secrets import mask_value
from jobpulse.sidecar.ingest.receiver import ARRIVED_AT
from jobpulse.sidecar.plugin import Core, features_of
from jobpulse.sidecar.settings import Settings, SettingsError, Sources
from jobpulse.sidecar.workers import shared_socket

# Client messages are small filter updates; nothing legitimate comes near this.
_WS_MAX_MESSAGE_BYTES = 64 * 1024
# uvicorn waits for in-flight requests before shutting down; past this it stops waiting.
_GRACEFUL_SHUTDOWN_S = 10


class ArrivalStampingProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol (httptools, or h11 without it), stamping each request with when its
    bytes were read.

    A request's task starts, and its body is read, only when the event loop gets to them; the stamp
    is where ingest's queue time (``jobpulse_sidecar_ingest_queue_seconds``) starts.
    """

    def data_received(self, data: bytes) -> None:
        arrived = time.perf_counter()
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle and self.cycle is not None:
            self.cycle.scope[ARRIVED_AT] = arrived


def uvicorn_config(settings: Settings, app: Litestar) -> uvicorn.Config:
    """The uvicorn configuration serving ``app`` as ``settings`` say."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Always set up, and switched with the logger's ``disabled`` flag: that is what can change
        # while connections are open (uvicorn decides per connection whether the logger has handlers).
        access_log=True,
        http=ArrivalStampingProtocol,
        ws_max_size=_WS_MAX_MESSAGE_BYTES,
        lifespan="on",
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
    )
    apply_server_settings(config, settings)
    return config


def apply_server_settings(config: uvicorn.Config, settings: Settings) -> None:
    """Settings that uvicorn reads at use: the log level and access log at once, compression and
    pings for the WebSocket connections opened from now on (uvicorn reads them per connection)."""
    level = LOG_LEVELS[settings.log_level]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "jobpulse"):
        logging.getLogger(name).setLevel(level)
    logging.getLogger("uvicorn.access").disabled = not settings.access_log
    # permessage-deflate costs about a third of the feed's throughput: opt-in only.
    config.ws_per_message_deflate = settings.feed_compression
    # A client that does not answer a ping within the interval is disconnected.
    config.ws_ping_interval = config.ws_ping_timeout = settings.feed_ping_interval_s or None


class SidecarServer(uvicorn.Server):
    """uvicorn's server, telling the features as soon as shutdown begins (control ends the jobs' long polls).

    uvicorn lets in-flight requests finish before it shuts the application down, and a long poll
    would otherwise hold a graceful stop for up to its whole wait.

    With ``handle_signals=False`` it leaves SIGINT and SIGTERM alone: whoever embeds it handles them
    and calls `begin_shutdown` when ready, e.g. once the processes that send to it have sent their
    last records.
    """

    def __init__(self, settings: Settings | Sources, *, handle_signals: bool = True) -> None:
        given = settings.settings if isinstance(settings, Sources) else settings
        if problem := given.serving_problem():
            raise SettingsError([problem])
        keep_large_buffers_in_mmap()
        collect_rarely()
        self.application = create_app(settings)
        self.handle_signals = handle_signals
        live = self.application.plugins.get(Core).live
        super().__init__(uvicorn_config(live.current, self.application))
        live.subscribe(lambda new: apply_server_settings(self.config, new))
        logging.getLogger("uvicorn.error").info(
            "History database: %s", mask_value("database_url", live.current.database_url)
        )

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self.handle_signals:
            yield
            return
        with super().capture_signals():
            yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        freeze_what_start_up_made()

    def begin_shutdown(self) -> None:
        """Stop serving (as SIGTERM would, without a signal for uvicorn to re-raise at exit)."""
        self._shutting_down()
        self.should_exit = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._shutting_down()
        super().handle_exit(sig, frame)

    def _shutting_down(self) -> None:
        for feature in features_of(self.application):
            feature.shutting_down()


def serve(settings: Settings | Sources, *, shared_port: bool = False) -> None:
    """Serve until interrupted; with ``shared_port``, as one of several workers on the port (workers.py)."""
    server = SidecarServer(settings)
    config = server.config
    server.run(sockets=[shared_socket(config.host, config.port)] if shared_port else None)
