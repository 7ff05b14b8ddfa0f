"""Commands nobody instrumented, watched through ``jobpulse run`` on a real sidecar."""

from __future__ import annotations

import sys
from pathlib import Path

from jobpulse.client.jobs import JobError
from tests.run.wrapper import job_named, log_lines, run, script, start, unique
from tests.support.polling import wait_for

TQDM_JOB = """
    import pathlib, sys, time
    from tqdm import tqdm

    def wait_for_file(path):
        while not pathlib.Path(path).exists():
            time.sleep(0.01)

    print("loading orders", flush=True)
    with tqdm(total=1000, mininterval=0, miniters=1) as bar:
        bar.update(450)
        wait_for_file(sys.argv[1])
        for _ in range(350):
            bar.update(1)
        wait_for_file(sys.argv[2])
        bar.update(200)
    print("loaded", flush=True)
"""


def test_a_tqdm_bar_shows_moving_progress_and_its_final_count(shared_sidecar, tmp_path: Path) -> None:
    sidecar, name = shared_sidecar, unique("tqdm")
    first, second = tmp_path / "first", tmp_path / "second"
    wrapper = start(
        ["--name", name, "--", sys.executable, script(tmp_path, TQDM_JOB), str(first), str(second)], sidecar.url
    )
    try:
        job_id = job_named(sidecar, name).id
        # The bar stops at 450 without a line end: the redraw on screen is what counts.
        wait_for(lambda: ((found := sidecar.job(job_id)).processed, found.total) == (450, 1000))
        assert sidecar.job(job_id).progress_percent == 45.0
        first.touch()
        wait_for(lambda: sidecar.job(job_id).processed == 800)
        second.touch()
        out, err = wrapper.communicate(timeout=30)
    finally:
        wrapper.kill()
    assert wrapper.returncode == 0, err
    assert out == b"loading orders\nloaded\n"
    assert err.count(b"\r") > 350, "the terminal still sees every redraw"
    ended = sidecar.client.wait_for_end(job_id, timeout=10)
    assert (ended.status, ended.processed, ended.total, ended.progress_percent) == ("completed", 1000, 1000, 100.0)
    # Redraws are progress, never log lines.
    assert [line.message for line in log_lines(sidecar, job_id)] == ["loading orders", "loaded"]


def test_a_failing_command_fails_its_job_with_its_exit_code_and_last_stderr_lines(shared_sidecar) -> None:
    sidecar, name = shared_sidecar, unique("load")
    command = (
        "echo loading; echo 'a plain complaint' >&2; echo 'INFO:loader:3 rows skipped' >&2; "
        "echo 'psql: error: connection to server failed: Connection refused' >&2; exit 3"
    )
    done = run(["--name", name, "--type", "db_load", "--owner", "data-team", "--", "sh", "-c", command], sidecar.url)
    assert done.returncode == 3
    failed = job_named(sidecar, name, status="failed")
    assert (failed.job_type, failed.owner) == ("db_load", "data-team")
    assert failed.error == JobError(
        type="exit code 3",
        message="exited with code 3\na plain complaint\nINFO:loader:3 rows skipped\n"
        "psql: error: connection to server failed: Connection refused",
    )
    lines = [(line.level, line.message, line.attributes) for line in log_lines(sidecar, failed.id)]
    # Each stream keeps its order; how two pipes interleave is up to the scheduler.
    assert [line for line in lines if line[2]["log.iostream"] == "stdout"] == [
        ("info", "loading", {"log.iostream": "stdout"}),
    ]
    assert [line for line in lines if line[2]["log.iostream"] == "stderr"] == [
        ("warning", "a plain complaint", {"log.iostream": "stderr"}),  # stderr: a warning unless it says
        ("info", "INFO:loader:3 rows skipped", {"log.iostream": "stderr"}),
        ("warning", "psql: error: connection to server failed: Connection refused", {"log.iostream": "stderr"}),
    ]
    assert len(lines) == 4


def test_a_command_killed_by_sigkill_fails_naming_the_signal(shared_sidecar) -> None:
    sidecar, name = shared_sidecar, unique("killed")
    done = run(["--name", name, "--", "sh", "-c", "echo started; kill -KILL $$"], sidecar.url)
    assert done.returncode == -9
    failed = job_named(sidecar, name, status="failed")
    assert failed.error == JobError(type="SIGKILL", message="killed by SIGKILL")


STEPS = """
    print("== extract", flush=True)
    print("[1/4] customers", flush=True)
    print("[2/4] orders", flush=True)
    print("== load", flush=True)
    print("[4/4] written", flush=True)
"""


def test_steps_and_counters_from_the_output(shared_sidecar, tmp_path: Path) -> None:
    sidecar, name = shared_sidecar, unique("steps")
    done = run(
        ["--name", name, "--step-regex", r"^== (?P<step>\w+)", "--", sys.executable, script(tmp_path, STEPS)],
        sidecar.url,
    )
    assert done.returncode == 0, done.stderr
    completed = sidecar.client.job(job_named(sidecar, name, status="completed").id)
    assert (completed.processed, completed.total) == (4, 4)
    assert [(step.name, step.state) for step in completed.steps] == [
        ("extract", "completed"),
        ("load", "completed"),
    ]


HOLDER = """
    import pathlib, sys, time
    held = bytearray(120 * 1024 * 1024)
    pathlib.Path(sys.argv[1]).touch()
    while not pathlib.Path(sys.argv[2]).exists():
        time.sleep(0.01)
"""


def test_resources_are_those_of_the_whole_process_tree(shared_sidecar, tmp_path: Path) -> None:
    sidecar, name = shared_sidecar, unique("tree")
    holding, release = tmp_path / "holding", tmp_path / "release"
    # A shell that starts the holder and waits for it: the holder is the wrapped command's child.
    holder = [sys.executable, script(tmp_path, HOLDER), str(holding), str(release)]
    command = ["sh", "-c", '"$@"; exit $?', "sh", *holder]
    wrapper = start(["--name", name, "--", *command], sidecar.url, JOBPULSE_RESOURCES_INTERVAL="0.2")
    try:
        wait_for(holding.exists, timeout=30)
        job_id = job_named(sidecar, name).id
        # The grandchild holds 120 MiB; the wrapped command itself, a few.
        sampled = wait_for(
            lambda: (found := sidecar.job(job_id).resources) and found.memory_rss_bytes > 120 * 1024 * 1024 and found
        )
        assert sampled.threads >= 2
        release.touch()
        assert wrapper.wait(30) == 0
    finally:
        wrapper.kill()


JOINER = """
    import os, sys
    from jobpulse.instrumentation import track_job

    print(os.environ["JOBPULSE_JOB_ID"], os.environ["TRACEPARENT"], flush=True)
    with track_job("inner-name", total=40, steps=["copy"]) as job:
        with job.step("copy"):
            for _ in job.iter(range(40)):
                pass
        job.log("copied from inside", "warning")
    print("in the wrapper's job:", job.id == sys.argv[1] if len(sys.argv) > 1 else job.id, flush=True)
    assert "JOBPULSE_JOB_ID" not in os.environ, "processes it starts from now on run jobs of their own"
"""


def test_a_command_that_tracks_itself_reports_into_the_wrappers_job(shared_sidecar, tmp_path: Path) -> None:
    sidecar, name = shared_sidecar, unique("joined")
    done = run(["--name", name, "--", sys.executable, script(tmp_path, JOINER)], sidecar.url)
    assert done.returncode == 0, done.stderr
    given, own = done.stdout.decode().splitlines()
    job_id, traceparent = given.split()
    assert own == f"in the wrapper's job: {job_id}"
    completed = sidecar.client.job(job_named(sidecar, name, status="completed").id)
    assert completed.id == job_id
    assert (completed.processed, completed.total) == (40, 40), "the command's own counts"
    assert [(step.name, step.state) for step in completed.steps] == [("copy", "completed")]
    assert completed.trace_id == traceparent.split("-")[1]
    assert "copied from inside" in [line.message for line in log_lines(sidecar, job_id)]
    assert sidecar.client.jobs(name="inner-name").items == [], "no second job"
