"""Progress read from a command's output: tqdm bars, ``N/M`` counters, percentages, or a user's regex.

Recognised, first match wins:

- a tqdm bar: ``45%|####      | 450/1000 [00:03<00:04, 150.5it/s]`` (``4.50k/10.0k`` with unit_scale);
- a tqdm counter without a total: ``450it [00:03, 150.5it/s]``;
- a counter ``N/M``, not part of a date, a path or a fraction (``1/2/2024``, ``a/1/2``, ``1.5/2``),
  with N at most M;
- a percentage ``NN%`` or ``NN.N%``, at most 100.

A user regex (``--progress-regex``) replaces these; its named groups ``done``, ``total`` and
``percent`` say what it reads. A tqdm bar or counter is progress and nothing else; other lines that
carry progress are log lines too.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_NUMBER = r"\d+(?:\.\d+)?[kMGTPEZY]?"
_SCALE = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "Z": 1e21, "Y": 1e24}

TQDM_BAR = re.compile(rf"(?P<percent>\d{{1,3}})%\|[^|]*\|\s*(?P<done>{_NUMBER})/(?P<total>{_NUMBER})\s+\[")
TQDM_COUNTER = re.compile(rf"(?P<done>{_NUMBER})[A-Za-z/]*\s+\[\d+:\d\d(?::\d\d)?,\s")
COUNTER = re.compile(r"(?<![\w/.:-])(?P<done>\d+)\s*/\s*(?P<total>\d+)(?![\w/:-]|\.\d)")
PERCENT = re.compile(r"(?<![\w.])(?P<percent>\d{1,3}(?:\.\d+)?)\s?%")

# Every built-in pattern needs one of these.
_MAY_SHOW_PROGRESS = re.compile(r"[/%\[]")
_REDRAWN = (TQDM_BAR, TQDM_COUNTER)
_BUILT_IN = (*_REDRAWN, COUNTER, PERCENT)


class Reading(NamedTuple):
    """What one piece of output says about progress; None where it says nothing."""

    done: int | None
    total: int | None
    percent: float | None
    # A tqdm bar or counter: a display of progress, never a log line.
    bar: bool


class ProgressReader:
    """Finds progress in text, with the built-in patterns or the user's."""

    def __init__(self, pattern: re.Pattern[str] | None = None) -> None:
        self._patterns = (pattern,) if pattern is not None else _BUILT_IN
        self._built_in = pattern is None

    def read(self, text: str) -> Reading | None:
        """The first reading in `text` that makes sense, or None."""
        if self._built_in and not _MAY_SHOW_PROGRESS.search(text):
            return None  # most lines: one scan instead of four
        for pattern in self._patterns:
            for match in pattern.finditer(text):
                reading = _reading(match, bar=pattern in _REDRAWN)
                if reading is not None:
                    return reading
        return None

    def read_bar(self, text: str) -> Reading | None:
        """A tqdm bar or counter in `text` (a line still being written: nothing else is trusted there)."""
        for pattern in _REDRAWN:
            match = pattern.search(text)
            if match is not None and (reading := _reading(match, bar=True)) is not None:
                return reading
        return None


def _reading(match: re.Match[str], *, bar: bool) -> Reading | None:
    groups = match.groupdict()
    done = _count(groups.get("done"))
    total = _count(groups.get("total"))
    percent = _percent(groups.get("percent"))
    if done is None and percent is None:
        return None
    if done is not None and total is not None and done > total and not bar:
        return None  # 24/7, 1920/1080: not progress (tqdm itself may overshoot its total)
    return Reading(done, total, percent, bar)


def _count(text: str | None) -> int | None:
    if not text:
        return None
    scale = _SCALE.get(text[-1], 1)
    try:
        return round(float(text.rstrip("".join(_SCALE))) * scale)
    except ValueError:
        return None


def _percent(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value <= 100 else None


class OutputCounts:
    """A wrapped command's counts, as its output tells them (the recorder reads them as a job's counts)."""

    def __init__(self, total: int | None) -> None:
        self.processed = 0
        self.failed = 0
        self.total = total
        # Whether the output said anything: only then does the job's end carry these counts.
        self.reported = False

    def apply(self, reading: Reading) -> None:
        if reading.done is not None:
            if reading.total is not None:
                self.total = reading.total
            self.processed = reading.done
        else:
            # A bare percentage: of the known total, else of a total of 100.
            if self.total is None:
                self.total = 100
            self.processed = int(self.total * reading.percent / 100)  # type: ignore[operator]
        self.reported = True
