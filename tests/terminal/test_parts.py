"""The parts of the terminal commands that need no sidecar: failures told in one line, keys, the watch
table's fold, and what its screen says."""

from __future__ import annotations

import errno
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from rich.console import Console

from jobpulse.client import (
    ConnectionFailed,
    ConnectionState,
    FieldError,
    Forbidden,
    JobProgress,
    JobStatusUpdate,
    JobSummary,
    NotFound,
    Progress,
    RateLimited,
    Resync,
    ServerError,
    Snapshot,
    Unauthorized,
    UnexpectedAnswer,
    ValidationFailed,
)
from jobpulse.client.messages import JobList
from jobpulse.sidecar.terminal.board import Board
from jobpulse.sidecar.terminal.keys import parse
from jobpulse.sidecar.terminal.remote import Remote, failure_line
from jobpulse.sidecar.terminal.screen import banner, render
from jobpulse.sidecar.terminal.views import job_table

URL = "http://sidecar:4318"
TOKEN = "jp_0123456789abcdef_c2VjcmV0LXNlY3JldC1zZWNyZXQ"
STARTED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


# ---- failures -------------------------------------------------------------------------------------


def refused_connection() -> ConnectionFailed:
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('10.0.0.1', 4318)")
        except OSError as error:
            raise OSError("All connection attempts failed") from error
    except OSError as error:
        try:
            raise ConnectionFailed(f"GET {URL}/api/jobs: ConnectError('All connection attempts failed')") from error
        except ConnectionFailed as failed:
            return failed


@pytest.mark.parametrize(
    ("error", "token", "line"),
    [
        (refused_connection(), None, f"cannot reach the sidecar at {URL}: Connection refused"),
        (NotFound(404, "job 'x' not found"), None, f"job 'nightly' not found at {URL} (404)"),
        (
            Unauthorized(401, "missing credentials: send Authorization: Bearer <token>"),
            None,
            f"the sidecar at {URL} requires a token (401): give yours with --token or JOBPULSE_TOKEN",
        ),
        (
            Unauthorized(401, "token 'ana' has been revoked"),
            TOKEN,
            f"the sidecar at {URL} refused token jp_0123456789abcdef_… from --token or JOBPULSE_TOKEN (401): "
            "token 'ana' has been revoked",
        ),
        (
            Unauthorized(401, "not a jobpulse token (they read jp_<id>_<secret>)"),
            "s3cret",
            f"the sidecar at {URL} refused a token not shaped jp_<id>_<secret> from --token or JOBPULSE_TOKEN (401): "
            "not a jobpulse token (they read jp_<id>_<secret>)",
        ),
        (
            Forbidden(403, "token 'ana' has the viewer role; this needs operator"),
            TOKEN,
            "pause of job 'nightly' refused to token jp_0123456789abcdef_… (403): "
            "token 'ana' has the viewer role; this needs operator",
        ),
        (
            RateLimited(429, "too many requests", retry_after=7.0),
            None,
            f"the sidecar at {URL} is limiting this client's requests (429): retry in 7 s",
        ),
        (
            RateLimited(429, "too many requests"),
            None,
            f"the sidecar at {URL} is limiting this client's requests (429): retry later",
        ),
        (
            ServerError(500, "Internal Server Error", request_id="r-42"),
            None,
            f"the sidecar at {URL} failed (500): Internal Server Error; request id r-42 finds it in the sidecar's log",
        ),
        (
            ValidationFailed(400, "bad", errors=[FieldError("too long", key="reason")]),
            None,
            "pause of job 'nightly' refused (400): reason: too long",
        ),
        (
            UnexpectedAnswer("GET /api/jobs/nightly: Expected `str`"),
            None,
            f"the sidecar at {URL} answered what this jobpulse cannot read (another version?): "
            "GET /api/jobs/nightly: Expected `str`",
        ),
    ],
)
def test_each_failure_is_one_line_naming_what_it_concerns(error: Exception, token: str | None, line: str) -> None:
    assert failure_line(error, Remote(URL, token), job_id="nightly", doing="pause of job 'nightly'") == line


def test_the_secret_of_a_token_is_never_told() -> None:
    line = failure_line(Unauthorized(401, "unknown token"), Remote(URL, TOKEN))
    assert TOKEN.split("_")[2] not in line


# ---- keys -----------------------------------------------------------------------------------------


def test_keys_are_read_from_what_the_terminal_sends() -> None:
    assert parse(b"\x1b[A\x1bOBkjPq") == ["up", "down", "up", "down", "p", "q"]
    assert parse(b"\x1b[1;5Cr\x1b[15~y\x1b") == ["r", "y"], "other sequences (ctrl+arrow, F5), a lone Esc"
    assert parse(b"\x03\x7f\n") == [], "control bytes are no keys"


# ---- the watch table ------------------------------------------------------------------------------


def summary(job_id: str, status: str = "running", **fields: Any) -> JobSummary:
    """A job as the feed describes it."""
    job = dict.fromkeys(JobSummary.__struct_fields__)
    job |= {"id": job_id, "name": job_id, "status": status, "processed": 0, "failed": 0, "successful": 0}
    job |= {"pause_requested": False, "resume_requested": False, "cancel_requested": False}
    job |= {"started_at": STARTED.isoformat()}
    return msgspec.convert(job | fields, JobSummary)


def message(kind: type, data: Any, cursor: int = 1) -> Any:
    return kind(timestamp=STARTED, cursor=cursor, data=data)


def listed(*jobs: JobSummary) -> JobList:
    return JobList(jobs=list(jobs))


def progress(job_id: str, processed: int, percent: float) -> Progress:
    moving = {name: getattr(summary(job_id), name) for name in Progress.__struct_fields__}
    return Progress(**moving | {"processed": processed, "progress_percent": percent})


def test_the_board_folds_snapshots_status_updates_and_progress() -> None:
    board = Board()
    board.apply(
        message(Snapshot, listed(summary("a"), summary("b", started_at=(STARTED + timedelta(1)).isoformat()))), 0
    )
    assert [job.id for job in board.rows()] == ["a", "b"] and board.selected == "a"

    board.apply(message(JobProgress, progress("b", 40, 12.5)), 1)
    assert (board.jobs["b"].processed, board.jobs["b"].progress_percent) == (40, 12.5)
    board.apply(message(JobProgress, progress("unknown", 1, 1.0)), 1)
    assert "unknown" not in board.jobs, "progress of a job never announced is left out"

    board.move(1)
    assert board.selected == "b"
    board.move(5)
    assert board.selected == "b", "the selection stays within the table"

    board.apply(message(JobStatusUpdate, summary("a", "completed")), 2)
    assert [job.id for job in board.rows()] == ["b", "a"], "an ended job goes below the active ones"
    board.prune(2 + board.linger_s)
    assert "a" in board.jobs
    board.prune(2.1 + board.linger_s)
    assert list(board.jobs) == ["b"], "and is dropped once it lingered"

    board.apply(message(Resync, listed(summary("c"))), 3)
    assert list(board.jobs) == ["c"] and board.selected == "c" and board.resynced_at == 3


def test_a_job_leaving_the_watched_statuses_leaves_the_board() -> None:
    board = Board(statuses=frozenset({"running"}))
    board.apply(message(Snapshot, listed(summary("a"))), 0)
    board.apply(message(JobStatusUpdate, summary("a", "paused", previous_status="running")), 1)
    assert board.jobs == {} and board.selected is None


def test_the_banner_says_when_the_table_may_be_stale_or_was_rebuilt() -> None:
    assert banner(ConnectionState("open"), opened=True, since_resync_s=None) is None
    assert (
        "connecting to the live feed" in banner(ConnectionState("connecting"), opened=False, since_resync_s=None).plain
    )
    away = banner(ConnectionState("backing_off", 2, 1.5, "connection closed: 1006"), opened=True, since_resync_s=None)
    assert away.plain.strip() == (
        "reconnecting to the live feed: 2 attempt(s) failed, next try in 1.5 s (connection closed: 1006)"
    )
    assert "resynced" in banner(ConnectionState("open"), opened=True, since_resync_s=3.0).plain
    assert banner(ConnectionState("open"), opened=True, since_resync_s=30.0) is None, "not for ever"


def test_the_screen_escapes_what_jobs_sent() -> None:
    board = Board()
    board.apply(message(Snapshot, listed(summary("a", name="evil\x1b[2J[bold]name", progress_percent=42.0))), 0)
    console = Console(record=True, width=160, color_system=None)
    console.print(render(board, title="jobpulse watch", top=None, note=None, interactive=True))
    text = console.export_text()
    assert "evil\\x1b[2J[bold]name" in text and "42.0%" in text and "▶" in text
    assert "\x1b" not in text


@pytest.mark.parametrize("width", [80, 100, 140, 200])
def test_the_watch_table_keeps_every_figure_whole_and_drops_columns_to_fit(width: int) -> None:
    board = Board()
    jobs = [
        summary(
            "c5791903ed4b4a7c9f1e",
            name="customer-field-mapping",
            job_type="field_mapping",
            processed=12_999,
            failed=323,
            total=20_000,
            progress_percent=65.0,
            rate_per_s=997.04,
            eta_s=7.0,
            step={"name": "validate", "index": 2, "count": 4},
        ),
        summary("bd72ba5e6dd", name="crm-api-upload", job_type="api", processed=3, total=6, progress_percent=50.0),
    ]
    board.apply(message(Snapshot, listed(*jobs)), 0)
    console = Console(record=True, width=width, color_system=None)
    console.print(render(board, title="jobpulse watch", top=None, note=None, interactive=True))
    lines = console.export_text().splitlines()
    assert all(len(line) <= width for line in lines)
    [row] = [line for line in lines if "65.0%" in line]
    assert "running" in row and "997.0/s" in row and "7.0s" in row, row
    assert "customer-field-mapping" in row
    # Whole columns give way, least useful first: the id, the type, the bar, the step, the records.
    assert ("c5791903ed4…" in row) == (width >= 200), row
    assert ("field_mapping" in row) == (width >= 140), row
    assert ("validate (3 of 4)" in row) == (width >= 120), row
    assert ("12,999/20,000 (323 failed)" in row) == (width >= 100), row


def test_jobs_ls_keeps_the_whole_id_on_a_narrow_terminal() -> None:
    job = summary(
        "06a85c1308964e69aaf8b2745991999d",
        name="customer-field-mapping",
        job_type="field_mapping",
        progress_percent=43.3,
        processed=5_200,
        total=12_000,
    )
    for width, whole in ((80, False), (200, True)):
        console = Console(record=True, width=width, color_system=None)
        console.print(job_table([job]))
        [_header, row] = console.export_text().splitlines()
        assert "06a85c1308964e69aaf8b2745991999d" in row and "running" in row and "43.3%" in row, row
        assert ("5,200/12,000" in row) == whole and ("field_mapping" in row) == whole, row
        assert len(row) <= width
