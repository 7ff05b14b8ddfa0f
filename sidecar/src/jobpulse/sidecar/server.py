"""Running the sidecar under uvicorn."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from types import FrameType

import uvicorn
from litestar import Litestar
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from jobpulse.sidecar.allocator import keep_large_buffers_in_mmap
from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.ingest.receiver import ARRIVED_AT
from jobpulse.sidecar.plugin import features_of
from jobpulse.sidecar.settings import Settings, SettingsError

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
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        http=ArrivalStampingProtocol,
        ws_max_size=_WS_MAX_MESSAGE_BYTES,
        # permessage-deflate costs about a third of the feed's throughput: opt-in only.
        ws_per_message_deflate=settings.feed_compression,
        lifespan="on",
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
    )


class SidecarServer(uvicorn.Server):
    """uvicorn's server, telling the features as soon as shutdown begins (control ends the jobs' long polls).

    uvicorn lets in-flight requests finish before it shuts the application down, and a long poll
    would otherwise hold a graceful stop for up to its whole wait.

    With ``handle_signals=False`` it leaves SIGINT and SIGTERM alone: whoever embeds it handles them
    and calls `begin_shutdown` when ready, e.g. once the processes that send to it have sent their
    last records.
    """

    def __init__(self, settings: Settings, *, handle_signals: bool = True) -> None:
        if error := settings.serving_error():
            raise SettingsError(error)
        keep_large_buffers_in_mmap()
        self.application = create_app(settings)
        self.handle_signals = handle_signals
        super().__init__(uvicorn_config(settings, self.application))

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self.handle_signals:
            yield
            return
        with super().capture_signals():
            yield

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


def serve(settings: Settings) -> None:
    """Serve until interrupted."""
    SidecarServer(settings).run()
