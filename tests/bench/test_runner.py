"""The pieces of the benchmark suite that decide what counts as a result and as a crash."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bench import _support
from bench.__main__ import run_all, run_script


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "bench_fake.py"
    path.write_text(
        "import json, sys\nout = sys.argv[sys.argv.index('--json') + 1]\n" + textwrap.dedent(body), encoding="utf-8"
    )
    return path


ROW = {"bench": "fake", "metric": "m", "value": 1.5, "unit": "ms", "baseline": 3.0, "ratio": 0.5, "target": None}


def test_rows_written_before_a_crash_are_kept_and_the_crash_reported(tmp_path: Path) -> None:
    path = script(tmp_path, f"json.dump([{ROW!r}], open(out, 'w'))\nsys.exit('one case failed')\n")
    rows, problem = run_script("fake", path, quick=True, out=tmp_path / "rows.json")
    assert [(row.metric, row.value, row.ratio, row.meets) for row in rows] == [("m", 1.5, 0.5, None)]
    assert problem == "exited with status 1"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("pass\n", "wrote no summary rows"),
        ("json.dump([], open(out, 'w'))\n", "wrote no summary rows"),
        ("json.dump([{'bench': 'fake', 'metric': 'm'}], open(out, 'w'))\n", "wrote invalid summary rows"),
        (f"json.dump([{dict(ROW, bench='other')!r}], open(out, 'w'))\n", "wrote rows for other, not fake"),
    ],
    ids=["no file", "no rows", "invalid rows", "another bench's rows"],
)
def test_a_script_that_exits_cleanly_without_valid_rows_counts_as_crashed(
    tmp_path: Path, body: str, problem: str
) -> None:
    _, reported = run_script("fake", script(tmp_path, body), quick=False, out=tmp_path / "rows.json")
    assert reported is not None and reported.startswith(problem), reported


def test_the_script_gets_quick_and_json(tmp_path: Path) -> None:
    body = f"row = dict({ROW!r}, metric=' '.join(sys.argv[1:]))\njson.dump([row], open(out, 'w'))\n"
    rows, problem = run_script("fake", script(tmp_path, body), quick=True, out=tmp_path / "rows.json")
    assert problem is None
    assert rows[0].metric == f"--json {tmp_path / 'rows.json'} --quick"


def test_ratio_is_value_over_baseline_and_a_nan_baseline_is_none() -> None:
    assert _support.SummaryRow(bench="b", metric="m", value=3.0, unit="ms", baseline=2.0).ratio == 1.5
    row = _support.SummaryRow(bench="b", metric="m", value=3.0, unit="ms", baseline=float("nan"))
    assert row.baseline is None and row.ratio is None


def test_a_server_gets_a_directory_of_its_own_when_a_free_port_comes_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated case used to crash with FileExistsError when the port it was given had been used before."""
    monkeypatch.setattr(_support, "free_port", lambda: 40_000)
    first = _support.sidecar_process(tmp_path)
    second = _support.sidecar_process(tmp_path)
    assert first.port == second.port
    assert first.workdir != second.workdir
    assert first.workdir.is_dir() and second.workdir.is_dir()


def test_one_failing_case_leaves_the_others_and_ends_the_script_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    failures = _support.Failures(_support.Progress())

    def case(value: int) -> int:
        if value == 2:
            raise RuntimeError("boom")
        return value

    assert [failures.run(f"case {n}", case, n) for n in (1, 2, 3)] == [1, None, 3]
    assert "RuntimeError: boom" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="1 case\\(s\\) failed: case 2"):
        failures.exit_if_any()


# Writes its name's row once the other script has started too: run one after the other, neither would.
MEETING = """
import json, sys, time
from pathlib import Path
name, other = {name!r}, {other!r}
out = sys.argv[sys.argv.index("--json") + 1]
print(name, "started", flush=True)
Path(out).with_name(name + ".started").touch()
deadline = time.monotonic() + 30
while not Path(out).with_name(other + ".started").exists():
    assert time.monotonic() < deadline, "the other script never started"
    time.sleep(0.01)
print(name, "met", other, flush=True)
json.dump([dict({row!r}, bench=name)], open(out, "w"))
"""


def test_a_quick_run_starts_the_scripts_side_by_side_and_shows_each_ones_output_whole(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    chosen = {}
    for name, other in (("first", "second"), ("second", "first")):
        chosen[name] = tmp_path / f"bench_{name}.py"
        chosen[name].write_text(MEETING.format(name=name, other=other, row=ROW), encoding="utf-8")
    results = run_all(chosen, quick=True, directory=tmp_path)
    assert [(rows[0].bench, problem) for rows, problem in results] == [("first", None), ("second", None)]
    lines = capfd.readouterr().out.splitlines()
    for name, other in (("first", "second"), ("second", "first")):
        started = lines.index(f"{name} started")
        assert lines[started + 1] == f"{name} met {other}", "the script's output is not cut by the other's"
