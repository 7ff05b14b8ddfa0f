"""``jobpulse watch``: the active jobs in a live table, driven by the live feed, steered by keys.

Everything runs on one event loop: the feed (which reconnects and resumes by itself), the keys (read
when the terminal has some, see :mod:`.keys`), the control requests, and a redraw at most every
tenth of a second while messages come, at least once a second otherwise.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from jobpulse.client import AsyncClient, ConnectionState, Filters, JobpulseError
from jobpulse.sidecar.printable import printable
from jobpulse.sidecar.terminal.board import Board
from jobpulse.sidecar.terminal.keys import reading_keys
from jobpulse.sidecar.terminal.remote import Remote, failure_line, reporting
from jobpulse.sidecar.terminal.screen import banner, render

REDRAW_S = 0.1
IDLE_REDRAW_S = 1.0
ACTIONS = {"p": "pause", "r": "resume", "c": "cancel"}
MOVES = {"up": -1, "down": 1}


class Watch:
    """One ``jobpulse watch`` session. ``interactive``: keys are read from standard input."""

    def __init__(
        self,
        remote: Remote,
        statuses: list[str] | None,
        job_types: list[str] | None,
        *,
        interactive: bool,
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remote = remote
        self.statuses = statuses
        self.job_types = job_types
        self.interactive = interactive
        self.console = console or Console()
        self.clock = clock
        self.board = Board(statuses=frozenset(statuses) if statuses else None)
        self.feed = remote.feed(
            Filters(job_types=job_types, statuses=statuses, message_types=["job_status_update", "job_progress"]),
            on_state=self._state_changed,
        )
        self.opened = False
        self.note: Text | None = None
        self.confirming: str | None = None
        self.dirty = True
        self.requests: set[asyncio.Task[None]] = set()
        self.live: Live | None = None
        self.client: AsyncClient | None = None
        self.done: asyncio.Future[int] | None = None

    # ---- the screen -------------------------------------------------------------------------------

    def title(self) -> str:
        filters = [f"status={','.join(self.statuses)}"] if self.statuses else []
        filters += [f"type={','.join(self.job_types)}"] if self.job_types else []
        where = printable(" ".join([self.remote.url, *filters]))
        return f"jobpulse watch  {where}  {len(self.board.jobs)} job(s)"

    def screen(self) -> RenderableType:
        now = self.clock()
        self.board.prune(now)
        since_resync = None if self.board.resynced_at is None else now - self.board.resynced_at
        top = banner(self.feed.state, self.opened, since_resync)
        return render(self.board, title=self.title(), top=top, note=self.note, interactive=self.interactive)

    def redraw(self) -> None:
        self.dirty = False
        if self.live is not None:
            self.live.refresh()

    def _state_changed(self, state: ConnectionState) -> None:
        if state.phase == "open":
            self.opened = True
        self.redraw()

    # ---- keys and control -------------------------------------------------------------------------

    def _label(self, job_id: str) -> str:
        job = self.board.jobs.get(job_id)
        name = job.name if job is not None and job.name else None
        return printable(f"{name} ({job_id})" if name else job_id)

    def on_key(self, key: str) -> None:
        if self.confirming is not None:
            job_id, self.confirming = self.confirming, None
            if key == "y":
                self._request("cancel", job_id)
            else:
                self.note = Text(f"{self._label(job_id)} not cancelled")
        elif key == "q":
            self.quit(0)
        elif key in MOVES:
            self.board.move(MOVES[key])
        elif key in ACTIONS:
            job = self.board.selected_job()
            if job is None:
                self.note = Text("no job selected")
            elif key == "c":
                self.confirming = job.id
                self.note = Text(f"cancel {self._label(job.id)}? y cancels it, any other key keeps it", style="bold")
            else:
                self._request(ACTIONS[key], job.id)
        self.redraw()

    def _request(self, action: str, job_id: str) -> None:
        self.note = Text(f"{action} of {self._label(job_id)} sent…")
        task = asyncio.create_task(self._send(action, job_id))
        self.requests.add(task)
        task.add_done_callback(self.requests.discard)

    async def _send(self, action: str, job_id: str) -> None:
        assert self.client is not None
        try:
            command = await getattr(self.client, action)(job_id)
        except JobpulseError as error:
            line = failure_line(error, self.remote, job_id, doing=f"{action} of job '{job_id}'")
            self.note = Text(printable(line), style="red")
        else:
            self.note = Text(
                f"{action} of {self._label(job_id)} requested (command {command.id}); "
                "the job obeys at its next checkpoint"
            )
        self.redraw()

    def quit(self, code: int) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(code)

    # ---- the loop ---------------------------------------------------------------------------------

    async def _consume(self) -> None:
        async for message in self.feed:
            self.board.apply(message, self.clock())
            self.dirty = True

    async def _tick(self) -> None:
        last = self.clock()
        while True:
            await asyncio.sleep(REDRAW_S)
            if self.dirty or self.clock() - last >= IDLE_REDRAW_S:
                last = self.clock()
                self.redraw()

    async def run(self) -> int:
        """Watch until q (0), SIGTERM (143) or an error the feed cannot recover from (raised)."""
        loop = asyncio.get_running_loop()
        self.done = loop.create_future()
        async with self.remote.async_client() as client:
            self.client = client
            # Fails at once, before the screen is taken, when the sidecar cannot be reached or
            # refuses the token; the feed alone would keep trying.
            single_type = self.job_types[0] if self.job_types and len(self.job_types) == 1 else None
            await client.active_jobs(status=self.statuses, job_type=single_type)
            live = Live(get_renderable=self.screen, console=self.console, screen=True, auto_refresh=False)
            with live, ExitStack() as stack:
                self.live = live
                if self.interactive:
                    stack.enter_context(reading_keys(sys.stdin.fileno(), self.on_key))
                loop.add_signal_handler(signal.SIGTERM, self.quit, 128 + signal.SIGTERM)
                stack.callback(loop.remove_signal_handler, signal.SIGTERM)
                feeding = asyncio.create_task(self._consume())
                ticking = asyncio.create_task(self._tick())
                try:
                    await asyncio.wait({feeding, self.done}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ticking.cancel()
                    await self.feed.close()
                    await asyncio.gather(feeding, *self.requests, return_exceptions=True)
                    self.live = None
                if feeding.done() and not feeding.cancelled() and feeding.exception() is not None:
                    raise feeding.exception()  # type: ignore[misc]
        return self.done.result() if self.done.done() else 0


def run_watch(remote: Remote, statuses: list[str] | None, job_types: list[str] | None) -> int:
    """Run ``jobpulse watch``; its exit code (failures: one line on stderr and 1; Ctrl+C: 130)."""
    interactive = sys.stdin.isatty() and sys.platform != "win32"
    with reporting(remote):
        return asyncio.run(Watch(remote, statuses, job_types, interactive=interactive).run())
