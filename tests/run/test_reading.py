"""Reading a command's output: where lines end, which level a line states, what progress it shows."""

from __future__ import annotations

import logging

import pytest

from jobpulse.run.levels import TRACE, recognise
from jobpulse.run.lines import MAX_LINE_BYTES, LineSplitter, Segment, plain
from jobpulse.run.progress import OutputCounts, ProgressReader, Reading


def split(*chunks: bytes) -> list[Segment]:
    splitter = LineSplitter()
    segments = [segment for chunk in chunks for segment in splitter.feed(chunk)]
    return segments + splitter.close()


def test_lines_end_at_newlines_and_redraws_at_carriage_returns() -> None:
    assert split(b"one\ntwo\r\nthree") == [Segment("one", False), Segment("two", False), Segment("three", False)]
    assert split(b"\r 10%\r 20%\r 30%\n") == [
        Segment("", True),
        Segment(" 10%", True),
        Segment(" 20%", True),
        Segment(" 30%", False),
    ]


def test_a_cr_lf_split_between_two_chunks_is_still_one_line_end() -> None:
    assert split(b"windows line\r", b"\nnext\n") == [Segment("windows line", False), Segment("next", False)]
    assert split(b"redraw\r", b"over\n") == [Segment("redraw", True), Segment("over", False)]


def test_a_character_split_between_chunks_is_decoded_whole() -> None:
    encoded = "café ✓\n".encode()
    assert split(encoded[:4], encoded[4:8], encoded[8:]) == [Segment("café ✓", False)]


def test_what_is_being_redrawn_is_readable_before_its_line_ends() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"\r 45%|####  | 450/1000 [00:03<00:04, 150.5it/s]") == [Segment("", True)]
    assert splitter.current() == " 45%|####  | 450/1000 [00:03<00:04, 150.5it/s]"


def test_a_line_without_an_end_is_cut_rather_than_held_for_ever() -> None:
    segments = LineSplitter().feed(b"x" * (MAX_LINE_BYTES + 1))
    assert [len(segment.text) for segment in segments] == [MAX_LINE_BYTES + 1]


def test_terminal_colours_are_not_part_of_the_text() -> None:
    assert plain("\x1b[31mERROR\x1b[0m: disk full \x1b]0;title\x07") == "ERROR: disk full "


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("WARNING:root:disk almost full", logging.WARNING),  # Python logging's basicConfig format
        ("ERROR:etl.load:row 7 rejected", logging.ERROR),
        ("2024-05-01 12:00:00,123 - etl - WARNING - slow query", logging.WARNING),
        ("2024-05-01 12:00:00,123 INFO etl: started", logging.INFO),
        ("2024-05-01T12:00:00Z [debug] cache miss", logging.DEBUG),
        ("[ERROR] connection refused", logging.ERROR),
        ("error: pathspec 'x' did not match", logging.ERROR),
        ("fatal: not a git repository", logging.CRITICAL),
        ("ERROR 1045 (28000): Access denied", logging.ERROR),
        ("TRACE entering", TRACE),
        ('{"level": "warn", "msg": "retrying"}', logging.WARNING),
        ('{"levelname": "ERROR", "message": "x"}', logging.ERROR),
        ('{"severity": "CRITICAL"}', logging.CRITICAL),
        ('{"level": 50, "msg": "pino error"}', logging.ERROR),
        ('{"level": 30}', logging.INFO),
        ("Errors were found in 3 rows", None),
        ("information only", None),
        ("loaded 300 rows", None),
        ('{"msg": "no level"}', None),
        ("{not json", None),
    ],
)
def test_the_level_a_line_states(line: str, level: int | None) -> None:
    assert recognise(line) == level


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        (" 45%|####      | 450/1000 [00:03<00:04, 150.5it/s]", Reading(450, 1000, 45.0, True)),
        ("load:  45%|####      | 4.50k/10.0k [00:03<00:04, 1.50kit/s]", Reading(4500, 10000, 45.0, True)),
        ("100%|██████████| 1000/1000 [00:06<00:00, 150.50it/s]", Reading(1000, 1000, 100.0, True)),
        ("450it [00:03, 150.50it/s]", Reading(450, None, None, True)),
        ("[3/10] loading customers", Reading(3, 10, None, False)),
        ("processed 120 / 500 rows.", Reading(120, 500, None, False)),
        ("upload 45.5% done", Reading(None, None, 45.5, False)),
        ("2024/05/01 12:00 started", None),  # a date
        ("05/01/2024", None),
        ("open 24/7", None),  # more done than in all: not progress
        ("GET /api/v1/2 200", None),  # a path
        ("ratio 1.5/2", None),
        ("load 250%", None),
    ],
)
def test_progress_in_a_line(text: str, reading: Reading | None) -> None:
    assert ProgressReader().read(text) == reading


def test_a_users_pattern_replaces_the_built_in_ones() -> None:
    import re

    reader = ProgressReader(re.compile(r"batch (?P<done>\d+) of (?P<total>\d+)"))
    assert reader.read("batch 7 of 9 (12%)") == Reading(7, 9, None, False)
    assert reader.read("[3/10] 45%") is None


def test_a_bare_percentage_counts_out_of_the_known_total_else_out_of_100() -> None:
    counts = OutputCounts(total=2000)
    counts.apply(Reading(None, None, 45.5, False))
    assert (counts.processed, counts.total, counts.reported) == (910, 2000, True)
    counts = OutputCounts(total=None)
    counts.apply(Reading(None, None, 45.5, False))
    assert (counts.processed, counts.total) == (45, 100)
    counts.apply(Reading(450, 1000, 45.0, True))
    assert (counts.processed, counts.total) == (450, 1000)
