"""``jobpulse jobs ls|show|logs`` against a real sidecar and real jobs, run as a script or a person
would run them, and what each says when it cannot do its work."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.auth.conftest import bearer, start_auth_sidecar
from tests.client.scripts import TALKING_JOB, Job
from tests.support import loopback
from tests.support.polling import wait_for
from tests.support.ports import free_port
from tests.terminal.console import command_env, jobpulse, jobpulse_each


def job_type() -> str:
    return f"terminal_{uuid.uuid4().hex[:8]}"


def seen(sidecar, job_id: str, **fields) -> bool:
    answer = sidecar.get(f"/api/jobs/{job_id}")
    return answer.status_code == 200 and all(answer.json()[name] == value for name, value in fields.items())


@pytest.fixture
def talking(shared_sidecar):
    """A running job that logs what the test tells it to, with a name holding an ANSI escape."""
    job = Job(TALKING_JOB, shared_sidecar.url, name="orders \x1b[31mimport[/red]", job_type=job_type())
    job.say("info first line", "warning second line")
    wait_for(lambda: seen(shared_sidecar, job.id, processed=2), timeout=20)
    yield job
    job.kill()


def test_ls_and_show_print_the_sidecars_json(shared_sidecar, talking) -> None:
    url = shared_sidecar.url
    listed = jobpulse("jobs", "ls", "--type", talking.job_type, "--json", "--url", url)
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert [(job["id"], job["status"], job["processed"]) for job in page["items"]] == [(talking.id, "running", 2)]
    assert page["total"] == 1 and page["next_cursor"] is None

    none = jobpulse(
        "jobs",
        "ls",
        "--type",
        talking.job_type,
        "--status",
        "completed",
        "--status",
        "failed",
        "--json",
        JOBPULSE_URL=url,
    )
    assert none.returncode == 0 and json.loads(none.stdout)["items"] == [], "filters, and the URL from JOBPULSE_URL"

    shown = jobpulse("jobs", "show", talking.id, "--json", "--url", url)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert (detail["id"], detail["name"], detail["status"]) == (talking.id, talking.name, "running")
    assert [line["message"] for line in detail["recent_logs"]] == ["first line", "second line"]
    assert detail.keys() == shared_sidecar.get(f"/api/jobs/{talking.id}").json().keys(), "every field the sidecar sent"


def test_ls_and_show_for_people_escape_what_jobs_sent(shared_sidecar, talking) -> None:
    listed = jobpulse("jobs", "ls", "--type", talking.job_type, "--url", shared_sidecar.url)
    assert listed.returncode == 0, listed.stderr
    assert talking.id in listed.stdout and "running" in listed.stdout
    assert "orders \\x1b[31mimport[/red]" in listed.stdout, "escaped, and not taken as rich markup"
    assert "\x1b" not in listed.stdout

    shown = jobpulse("jobs", "show", talking.id, "--url", shared_sidecar.url)
    assert shown.returncode == 0, shown.stderr
    assert "orders \\x1b[31mimport[/red]" in shown.stdout and "\x1b" not in shown.stdout
    assert "WARNING  second line" in shown.stdout


def test_logs_prints_the_lines_at_a_level(shared_sidecar, talking) -> None:
    every = jobpulse("jobs", "logs", talking.id, "--url", shared_sidecar.url)
    assert every.returncode == 0, every.stderr
    assert [line.split(maxsplit=3)[2:] for line in every.stdout.splitlines()] == [
        ["INFO", "first line"],
        ["WARNING", "second line"],
    ]
    warnings = jobpulse("jobs", "logs", talking.id, "--level", "warning", "--json", "--url", shared_sidecar.url)
    assert warnings.returncode == 0, warnings.stderr
    [line] = [json.loads(text) for text in warnings.stdout.splitlines()]
    assert (line["level"], line["message"]) == ("warning", "second line") and set(line) == {
        "seq",
        "time",
        "level",
        "message",
        "logger",
        "attributes",
    }


class Lines:
    """The lines a running command writes to its stdout, read with deadlines."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.process = process
        self.fd = process.stdout.fileno()
        self.buffer = b""

    def next(self, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, f"no line within {timeout} s (so far {self.buffer!r})"
            if select.select([self.fd], [], [], left)[0]:
                chunk = os.read(self.fd, 1 << 16)
                assert chunk, f"the command ended: {self.process.wait()}, {self.process.stderr.read()!r}"
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


def test_logs_follow_prints_each_line_as_it_comes_and_exits_0_when_the_job_ends(shared_sidecar, talking) -> None:
    follow = subprocess.Popen(
        [sys.executable, "-m", "jobpulse.sidecar", "jobs", "logs", talking.id, "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=command_env(JOBPULSE_URL=shared_sidecar.url),
    )
    try:
        lines = Lines(follow)
        assert [json.loads(lines.next())["message"] for _ in range(2)] == ["first line", "second line"]
        talking.say("error third line")
        assert json.loads(lines.next())["message"] == "third line", "a line logged while following"
        assert follow.poll() is None, "still following a running job"
        talking.say("fail the disk is full")
        assert follow.wait(20) == 0, "the job ended (it failed): the command is done"
        assert lines.buffer == b""
    finally:
        follow.kill()
        follow.wait()


def test_an_unknown_job_is_named(shared_sidecar) -> None:
    job_id = f"no-such-job-{uuid.uuid4().hex[:8]}"
    commands = [["show", job_id], ["logs", job_id], ["logs", job_id, "--follow"], ["pause", job_id]]
    results = jobpulse_each(*(["jobs", *args, "--url", shared_sidecar.url] for args in commands))
    for args, result in zip(commands, results, strict=True):
        assert result.returncode == 1, args
        assert result.stderr.strip() == f"jobpulse: job '{job_id}' not found at {shared_sidecar.url} (404)", args
        assert result.stdout == ""


def test_without_a_sidecar_the_url_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    commands = [["jobs", "ls"], ["jobs", "show", "some-job"], ["jobs", "logs", "some-job", "--follow"], ["watch"]]
    results = jobpulse_each(*([*args, "--url", url] for args in commands))
    for args, result in zip(commands, results, strict=True):
        assert result.returncode == 1, args
        [line] = result.stderr.splitlines()
        assert line.startswith(f"jobpulse: cannot reach the sidecar at {url}: ") and "refused" in line, args


def test_with_authentication_on_the_token_decides(tmp_path) -> None:
    sidecar = start_auth_sidecar(tmp_path)
    try:
        viewer = sidecar.tokens["viewer"]
        gone = sidecar.token("gone", "viewer")
        sidecar.revoke("gone")
        commands = [["jobs", "ls"], ["jobs", "show", "some-job"], ["watch"]]
        # The commands do not depend on each other: side by side, they take about the time of one per core.
        with ThreadPoolExecutor() as pool:
            missing_runs = [pool.submit(jobpulse, *args, "--url", sidecar.url) for args in commands]
            allowed_run = pool.submit(jobpulse, "jobs", "ls", "--json", "--url", sidecar.url, JOBPULSE_TOKEN=viewer)
            revoked_run = pool.submit(jobpulse, "jobs", "ls", "--url", sidecar.url, "--token", gone)
        for args, missing in zip(commands, (run.result() for run in missing_runs), strict=True):
            assert missing.returncode == 1, args
            assert missing.stderr.strip() == (
                f"jobpulse: the sidecar at {sidecar.url} requires a token (401): "
                "give yours with --token or JOBPULSE_TOKEN"
            ), args

        allowed = allowed_run.result()
        assert allowed.returncode == 0 and json.loads(allowed.stdout)["items"] == [], allowed.stderr

        revoked = revoked_run.result()
        assert revoked.returncode == 1
        assert f"refused token jp_{gone.split('_')[1]}_… from --token or JOBPULSE_TOKEN (401)" in revoked.stderr
        assert "has been revoked" in revoked.stderr and gone.split("_")[2] not in revoked.stderr, "never the secret"

        job = Job(
            TALKING_JOB, sidecar.url, OTEL_EXPORTER_OTLP_HEADERS=f"Authorization=Bearer%20{sidecar.tokens['ingest']}"
        )
        try:
            job.say("info hello")
            admin = sidecar.tokens["admin"]
            wait_for(
                lambda: loopback.get(f"{sidecar.url}/api/jobs/{job.id}", headers=bearer(admin)).status_code == 200,
                timeout=20,
                interval=0.05,
            )
            eve = sidecar.token("eve", "viewer")
            with ThreadPoolExecutor() as pool:
                shown = pool.submit(jobpulse, "jobs", "show", job.id, "--url", sidecar.url, JOBPULSE_TOKEN=admin)
                refused = pool.submit(jobpulse, "jobs", "pause", job.id, "--url", sidecar.url, JOBPULSE_TOKEN=eve)
            assert shown.result().returncode == 0, shown.result().stderr
            refused = refused.result()
            assert refused.returncode == 1
            assert f"pause of job '{job.id}' refused to token jp_" in refused.stderr
            assert "(403): eve may not pause job" in refused.stderr and "needs the operator role" in refused.stderr
        finally:
            job.kill()
    finally:
        sidecar.process.stop_soon()
