"""A wrapped command's output, turned into the job's log lines, progress and steps.

The command's output reaches this process's own stdout and stderr first, unchanged (`Passthrough`);
each chunk is then handed to the `OutputSink`, whose thread does the rest. So the command never
waits on the job side. Making a line into a record costs tens of microseconds, so a command can
write lines faster than that; the sink then keeps the newest output within a bound and skips the
oldest (the terminal still gets all of it). The newest is what matters at the end: the last lines,
and the stderr lines that say why the command failed. Lines also become log lines at a bounded rate
(a flood of them would cost the command CPU and the sidecar its history); progress and the stderr
tail are read from every line all the same, and the last lines held back are sent at the end. What
the job's log leaves out is said in it, at most once a second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from jobpulse.instrumentation.recorder import JobRecorder, Step

from .levels import recognise
from .lines import LineSplitter, Segment, plain
from .progress import OutputCounts, ProgressReader

CHUNK_BYTES = 64 * 1024
# Each read takes the interpreter lock back, which a busy thread may hold for a switch interval: a
# pipe larger than the default 64 KiB lets the command write on meanwhile. Linux lets an
# unprivileged process grow a pipe to 1 MiB (/proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1024 * 1024
# About half a second of lines to make into records: what the job's end may wait for.
MAX_BACKLOG_BYTES = 512 * 1024
ERROR_TAIL_LINES = 10
# Log lines per second, in bursts of as many as a job's delivery buffer keeps.
LINE_RATE = 1000
LINE_BURST = 10_000
LOSS_REPORT_INTERVAL_S = 1.0


@dataclass(frozen=True, eq=False)
class Source:
    """Where output comes from: the command's stdout or stderr, or a followed log file."""

    attributes: Mapping[str, str]
    # The level of its lines that state none.
    level: int
    # Whether its last lines say why the command failed (stderr).
    errors: bool = False
    # Compared by identity: a file followed again after a rotation is a source of its own.
    key: object = field(default_factory=object)


def stream_source(name: str) -> Source:
    """The command's ``stdout`` or ``stderr``: stderr lines are warnings unless they say otherwise."""
    stderr = name == "stderr"
    return Source({"log.iostream": name}, logging.WARNING if stderr else logging.INFO, errors=stderr)


class OutputSink:
    """Makes output into a job's records on a thread of its own, in the order it was fed."""

    def __init__(
        self,
        recorder: JobRecorder,
        counts: OutputCounts,
        progress: ProgressReader | None,
        step_pattern: re.Pattern[str] | None,
    ) -> None:
        self._recorder = recorder
        self._counts = counts
        self._progress = progress
        self._step_pattern = step_pattern
        self.step: Step | None = None
        self._errors: deque[str] = deque(maxlen=ERROR_TAIL_LINES)
        self._splitters: dict[Source, LineSplitter] = {}
        self._cond = threading.Condition()
        # Guarded by _cond.
        self._queue: deque[tuple[Source, bytes | None]] = deque()
        self._backlog = 0
        self._busy = False
        self._skipping: set[Source] = set()
        self._skipped = 0
        self._finished = False
        # Owned by the sink's thread (and by `finish`, once it is idle).
        self._budget = LineBudget(LINE_RATE, LINE_BURST)
        self._skipped_bytes = 0
        self._unrecorded = 0
        # The last lines beyond the rate: the job's last words, if no line comes after them.
        self._held: deque[tuple[Source, str]] = deque(maxlen=ERROR_TAIL_LINES)
        self._reported_at = 0.0
        self._thread = threading.Thread(target=self._run, name="jobpulse-run-output", daemon=True)
        self._thread.start()

    def feed(self, source: Source, data: bytes) -> None:
        """Hand on a chunk of output (any thread); it never waits."""
        with self._cond:
            self._queue.append((source, data))
            self._backlog += len(data)
            while self._backlog > MAX_BACKLOG_BYTES:
                skipped, chunk = self._queue.popleft()
                if chunk is None:  # the end of a source stays: it is small, and its last line is due
                    self._queue.appendleft((skipped, chunk))
                    break
                self._backlog -= len(chunk)
                self._skipped += len(chunk)
                self._skipping.add(skipped)
            self._cond.notify_all()

    def end(self, source: Source) -> None:
        """The source has no more output: its unfinished last line becomes a line."""
        with self._cond:
            self._queue.append((source, None))
            self._cond.notify_all()

    def finish(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) for what was fed to be made into records; say what was left out."""
        with self._cond:
            self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)
            # What is still queued is left out: the job ends now.
            self._finished = True
            self._skipped_bytes += self._skipped + self._backlog
            self._skipped = 0
            self._queue.clear()
        held, self._held = list(self._held), deque()
        self._unrecorded -= len(held)
        self._report_losses(force=True)
        for source, text in held:
            self._record(source, text)

    def error_tail(self) -> list[str]:
        """The last lines of the sources that say why the command failed (stderr)."""
        return list(self._errors)

    # -- the sink's thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                self._cond.wait_for(lambda: self._queue and not self._finished)
                source, data = self._queue.popleft()
                self._backlog -= len(data or b"")
                self._busy = True
                self._skipped_bytes += self._skipped
                self._skipped = 0
                # Output of this source was skipped right before this chunk: its first line is cut.
                after_gap = source in self._skipping
                self._skipping.discard(source)
            self._take(source, data, after_gap)
            self._report_losses(force=False)

    def _report_losses(self, *, force: bool) -> None:
        now = time.monotonic()
        if not (self._skipped_bytes or self._unrecorded) or (
            not force and now - self._reported_at < LOSS_REPORT_INTERVAL_S
        ):
            return
        left_out = []
        if self._unrecorded:
            left_out.append(f"{self._unrecorded} lines beyond {LINE_RATE} a second")
        if self._skipped_bytes:
            left_out.append(f"{self._skipped_bytes} bytes written faster than they could be read for log lines")
        self._recorder.line(
            f"jobpulse run: the job's log leaves out {' and '.join(left_out)} (they were passed through all the same)",
            logging.WARNING,
            {},
        )
        self._skipped_bytes = self._unrecorded = 0
        self._reported_at = now

    def _take(self, source: Source, data: bytes | None, after_gap: bool) -> None:
        if after_gap:
            self._splitters[source] = LineSplitter().skipping_to_line_end()
        splitter = self._splitters.setdefault(source, LineSplitter())
        segments = splitter.feed(data) if data is not None else splitter.close()
        if data is None:
            del self._splitters[source]
        for segment in segments:
            self._segment(source, segment)
        if data is not None and self._progress is not None:
            # A bar is redrawn after a CR, and stays unfinished until the next: read it as it is now.
            reading = self._progress.read_bar(plain(splitter.current()))
            if reading is not None:
                self._counts.apply(reading)

    def _segment(self, source: Source, segment: Segment) -> None:
        text = plain(segment.text).rstrip()
        if not text.strip():
            return
        reading = self._progress.read(text) if self._progress is not None else None
        if reading is not None:
            self._counts.apply(reading)
        if segment.redraw or (reading is not None and reading.bar):
            return
        if self._step_pattern is not None:
            self._follow_step(text)
        if source.errors:
            self._errors.append(text)
        if not self._budget.take():
            self._unrecorded += 1
            self._held.append((source, text))
            return
        self._held.clear()
        self._record(source, text)

    def _record(self, source: Source, text: str) -> None:
        level = recognise(text)
        self._recorder.line(text, source.level if level is None else level, source.attributes)

    def _follow_step(self, text: str) -> None:
        match = self._step_pattern.search(text)  # type: ignore[union-attr]
        if match is None:
            return
        groups = self._step_pattern.groupindex  # type: ignore[union-attr]
        name = match.group("step") if "step" in groups else match.group(1) if match.re.groups else match.group()
        name = (name or "").strip()
        if not name or (self.step is not None and self.step.name == name):
            return
        if self.step is not None:
            self._recorder.end_step(self.step, "completed", None)
        self.step = self._recorder.start_step(name, None, 0)


class LineBudget:
    """A token bucket: at most `rate` a second, in bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Passthrough:
    """Copies a pipe of the command's to one of this process's descriptors, byte for byte, on a thread.

    Each chunk then goes to the sink. When the reader of this process's output is gone (``| head``),
    the pipe is closed, so the command finds out as it would have without the wrapper (EPIPE, SIGPIPE).
    """

    def __init__(self, pipe: BinaryIO, out: int, source: Source, sink: OutputSink) -> None:
        self._pipe = pipe
        self._out = out
        self._source = source
        self._sink = sink
        self._thread = threading.Thread(target=self._run, name="jobpulse-run-passthrough", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait for the end of the command's output; False if something still holds the pipe open."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        fd = self._pipe.fileno()
        _grow_pipe(fd)
        while True:
            try:
                data = os.read(fd, CHUNK_BYTES)
            except OSError:
                break
            if not data:
                break
            delivered = _write_all(self._out, data)
            self._sink.feed(self._source, data)
            if not delivered:
                break
        with contextlib.suppress(OSError):
            self._pipe.close()
        self._sink.end(self._source)


def _grow_pipe(fd: int) -> None:
    try:
        import fcntl  # POSIX only
    except ImportError:
        return
    if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux only
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _write_all(fd: int, data: bytes) -> bool:
    """Write all of `data`; False when the descriptor cannot take it (closed, broken pipe)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])  # a descriptor left non-blocking by whoever opened it
            continue
        except OSError:
            return False
        view = view[written:]
    return True
