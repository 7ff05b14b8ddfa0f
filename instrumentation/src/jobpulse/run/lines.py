"""Cutting a command's output into what a terminal shows: lines, and redraws that overwrite each other.

A carriage return brings the cursor back to the start of the line, so the text before it is
overwritten by what follows: progress bars (tqdm) redraw themselves this way. Such a *redraw* is
never a log line, only a reading of progress; a line ends with a newline (or CR LF).
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Longer lines are cut: memory stays bounded whatever a command writes without a newline.
MAX_LINE_BYTES = 64 * 1024

_BREAK = re.compile(rb"\r\n|\r|\n")
# Terminal control sequences (colours, cursor moves, window titles): they style the text, they are
# not part of it.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


class Segment(NamedTuple):
    """A piece of output: a line, or a redraw (text a carriage return sends to be overwritten)."""

    text: str
    redraw: bool


def plain(text: str) -> str:
    """`text` without terminal control sequences."""
    return _ESCAPE.sub("", text) if "\x1b" in text else text


class LineSplitter:
    """Cuts one stream of bytes into segments, however its writes are split into chunks."""

    def __init__(self) -> None:
        self._pending = b""
        self._skipping = False

    def skipping_to_line_end(self) -> LineSplitter:
        """Drop everything up to the first line end: the stream starts in the middle of a line."""
        self._skipping = True
        return self

    def feed(self, data: bytes) -> list[Segment]:
        """The segments that `data` completes."""
        buffer = self._pending + data
        if b"\r" not in buffer and not self._skipping:
            # The common case, at the speed of bytes.split.
            *lines, self._pending = buffer.split(b"\n")
            segments = [Segment(_decode(line), redraw=False) for line in lines]
            return self._cut_overlong(segments)
        segments: list[Segment] = []
        start = 0
        for match in _BREAK.finditer(buffer):
            if match.end() == len(buffer) and match.group() == b"\r":
                break  # a CR LF may be split between two chunks: wait for the next byte
            if not self._skipping:
                segments.append(Segment(_decode(buffer[start : match.start()]), redraw=match.group() == b"\r"))
            self._skipping = False
            start = match.end()
        self._pending = buffer[start:]
        return self._cut_overlong(segments)

    def _cut_overlong(self, segments: list[Segment]) -> list[Segment]:
        if len(self._pending) > MAX_LINE_BYTES:
            segments.append(Segment(_decode(self._pending), redraw=False))
            self._pending = b""
        return segments

    def current(self) -> str:
        """What is being written and not ended yet: the current state of a bar that redraws itself."""
        return _decode(self._pending.rstrip(b"\r"))

    def close(self) -> list[Segment]:
        """At the end of the stream: what is left, as a last line."""
        rest, self._pending = self._pending.rstrip(b"\r"), b""
        return [Segment(_decode(rest), redraw=False)] if rest else []


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
