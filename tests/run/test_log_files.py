"""``--log-file``: the lines of files a command writes, through rotation and truncation."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.run.wrapper import job_named, log_lines, script, start, unique
from tests.support.polling import wait_for

# Writes its log as an application does, and turns it over as logrotate does: first renamed away
# and replaced (it keeps writing to the renamed file a moment, as a writer does until it reopens),
# then truncated in place (copytruncate). Between the steps it waits for the test's go-ahead.
WRITER = """
    import os, pathlib, sys, time
    log, rotated = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[1] + ".1")

    def go(step):
        while not pathlib.Path(f"{sys.argv[2]}.{step}").exists():
            time.sleep(0.01)

    def write(file, first, last):
        for n in range(first, last + 1):
            file.write(f"line {n}\\n")
            file.flush()

    old = open(log, "a")
    write(old, 1, 5)
    go(1)
    os.rename(log, rotated)
    new = open(log, "a")
    write(old, 6, 6)
    old.close()
    write(new, 7, 10)
    go(2)
    new.truncate(0)
    new.seek(0)
    write(new, 11, 11)
    go(3)
    write(new, 12, 15)
    new.write("line 16 has no line end")
    new.close()
"""


def test_a_followed_file_loses_no_line_through_rotation_and_truncation(shared_sidecar, tmp_path: Path) -> None:
    sidecar, name = shared_sidecar, unique("logfile")
    log, go = tmp_path / "app.log", tmp_path / "go"
    log.write_text("an old line, from before the run\n")
    command = [sys.executable, script(tmp_path, WRITER), str(log), str(go)]
    wrapper = start(["--name", name, "--log-file", str(log), "--", *command], sidecar.url)
    try:
        job_id = job_named(sidecar, name).id

        def messages() -> list[str]:
            return [line.message for line in log_lines(sidecar, job_id)]

        for step, seen in ((1, "line 5"), (2, "line 10"), (3, "line 11")):
            wait_for(lambda seen=seen: seen in messages())
            (tmp_path / f"go.{step}").touch()
        assert wrapper.wait(30) == 0
    finally:
        wrapper.kill()
    job_named(sidecar, name, status="completed")
    lines = log_lines(sidecar, job_id)
    assert [line.message for line in lines] == [f"line {n}" for n in range(1, 16)] + ["line 16 has no line end"]
    assert {(line.level, line.attributes["log.file.path"]) for line in lines} == {("info", str(log))}
