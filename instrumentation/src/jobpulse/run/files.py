"""Following the log files a command writes (``--log-file``), through rotation and truncation.

A poll of ``stat()`` every quarter second, rather than inotify and the like (the watchfiles library):
it costs next to nothing for a handful of files, needs no dependency, and behaves the same on every
system and on network file systems, where change notifications are not delivered. What it must get
right is what a rotation does to the file, and that it can tell:

- renamed away and replaced by a new file (logrotate's default, Python's RotatingFileHandler): the
  path names another file. The old one is read to its end and kept open, since a writer may still
  be appending to it until it reopens; the new one is read from its start.
- truncated in place (logrotate's ``copytruncate``): the file is shorter than what was read of it,
  so it is read again from its start. Lines written between the last poll and the truncation are
  only in the copy, which is not followed.
- not there yet: followed from its start once it appears. A file there when the run starts is
  followed from its end: only lines written during the run are the run's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import BinaryIO

from .output import OutputSink, Source

POLL_INTERVAL_S = 0.25
READ_BYTES = 1024 * 1024  # per file and poll: one busy file does not hold up the others
# Rotated files still read, per path: a writer may keep appending to a renamed file a while.
MAX_RETIRED = 4


class _Open:
    """A file being read, as the source of its lines."""

    def __init__(self, file: BinaryIO, identity: tuple[int, int], source: Source) -> None:
        self.file = file
        self.identity = identity
        self.source = source


class FollowedFile:
    """One ``--log-file`` path, and the files that have been at that path during the run."""

    def __init__(self, path: str, sink: OutputSink) -> None:
        self.path = path
        self._sink = sink
        self._current: _Open | None = None
        self._retired: list[_Open] = []
        self._open(from_end=True)

    def poll(self) -> None:
        """Hand the sink whatever was written since the last poll."""
        for retired in self._retired:
            self._read(retired)
        identity = _identity(self.path)
        current = self._current
        if current is not None and identity != current.identity:
            self._read(current)
            self._retire(current)
            self._current = current = None
        if current is None:
            if identity is not None:
                self._open(from_end=False)
            if self._current is not None:
                self._read(self._current)
            return
        with contextlib.suppress(OSError):
            if os.fstat(current.file.fileno()).st_size < current.file.tell():
                current.file.seek(0)
        self._read(current)

    def close(self) -> None:
        """A last read of everything, then the end of every source."""
        self.poll()
        for followed in [*self._retired, *([self._current] if self._current else [])]:
            self._finish(followed)
        self._retired.clear()
        self._current = None

    def _open(self, *, from_end: bool) -> None:
        try:
            file = open(self.path, "rb")  # noqa: SIM115 (kept open across polls)
        except OSError:
            return
        stat = os.fstat(file.fileno())
        if from_end:
            file.seek(stat.st_size)
        source = Source({"log.file.path": self.path}, logging.INFO)
        self._current = _Open(file, (stat.st_dev, stat.st_ino), source)

    def _read(self, followed: _Open) -> None:
        try:
            data = followed.file.read(READ_BYTES)
        except OSError:
            return
        if data:
            self._sink.feed(followed.source, data)

    def _retire(self, followed: _Open) -> None:
        self._retired.append(followed)
        while len(self._retired) > MAX_RETIRED:
            self._finish(self._retired.pop(0))

    def _finish(self, followed: _Open) -> None:
        with contextlib.suppress(OSError):
            while data := followed.file.read(READ_BYTES):
                self._sink.feed(followed.source, data)
        followed.file.close()
        self._sink.end(followed.source)


class FileFollower:
    """Polls the ``--log-file`` paths on a thread of its own until `stop`."""

    def __init__(self, paths: list[str], sink: OutputSink) -> None:
        # Opened now, before the command starts, so that none of its lines are written before the
        # position the file is followed from.
        self._files = [FollowedFile(path, sink) for path in paths]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobpulse-run-files", daemon=True)
        if self._files:
            self._thread.start()

    def stop(self) -> None:
        """Read what is left and end every file's lines (call once the command has ended)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(POLL_INTERVAL_S):
            for followed in self._files:
                followed.poll()
        for followed in self._files:
            followed.close()


def _identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)
