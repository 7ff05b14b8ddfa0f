"""Run the benchmarks, each as a subprocess, and print one summary table of their results.

    python -m bench                          # every benchmark at its target size (about 10 minutes)
    python -m bench --quick                  # smoke sizes, side by side, well under a minute
    python -m bench --only ingest,latency --json results.json

Each ``bench/bench_NAME.py`` runs with ``--json`` (and ``--quick``) and writes its summary rows. A full run
goes one script after the other, each one's output shown as it goes: a measurement needs the machine to
itself. A quick run starts them all side by side, since its figures are smoke figures anyway, and shows
each one's output when it ends. The exit status is non-zero when a script crashed: it exited non-zero or
wrote no valid rows (rows it did write are still shown). A missed target is reported in the table, not as
a failure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import msgspec

from bench import scripts
from bench._support import Progress, SummaryRow, print_table, write_summary

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    known = scripts()
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke sizes: the figures are not the targets' scenarios")
    parser.add_argument("--only", metavar="NAME,...", help=f"run only these, from: {', '.join(known)}")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every summary row to PATH as JSON")
    args = parser.parse_args(argv)
    args.names = list(known)
    if args.only:
        args.names = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in args.names if name not in known]
        if unknown:
            parser.error(f"--only: no benchmark named {', '.join(unknown)} (there are: {', '.join(known)})")
    return args


def run_script(
    name: str, path: Path, quick: bool, out: Path, output: IO[bytes] | None = None
) -> tuple[list[SummaryRow], str | None]:
    """Run one script, its output to ``output`` (ours when None); its rows, and why it counts as crashed
    (None when it did not)."""
    command = [sys.executable, str(path), "--json", str(out), *(["--quick"] if quick else [])]
    errors = subprocess.STDOUT if output else None
    returncode = subprocess.run(command, cwd=REPO, stdout=output, stderr=errors).returncode
    rows: list[SummaryRow] = []
    problem = None
    if out.exists():
        try:
            rows = msgspec.json.decode(out.read_bytes(), type=list[SummaryRow])
        except msgspec.ValidationError as error:
            problem = f"wrote invalid summary rows ({error})"
    foreign = sorted({row.bench for row in rows} - {name})
    if foreign:
        problem = f"wrote rows for {', '.join(foreign)}, not {name}"
    if returncode != 0:
        problem = f"exited with status {returncode}"
    elif problem is None and not rows:
        problem = "wrote no summary rows"
    return rows, problem


def verdict(row: SummaryRow) -> str:
    if row.meets is None:
        return ""
    return "meets" if row.meets else "MISSES"


def run_all(chosen: dict[str, Path], quick: bool, directory: Path) -> list[tuple[list[SummaryRow], str | None]]:
    """The rows and problem (`run_script`) of every script in ``chosen`` (by name), in its order: one after
    the other, or side by side when ``quick``, each one's output then held back and shown whole when it
    ends."""
    names = list(chosen)
    progress = Progress()
    showing = threading.Lock()

    def run(number: int, name: str) -> tuple[list[SummaryRow], str | None]:
        progress(f"== [{number}/{len(names)}] {name}: running bench/{chosen[name].name}")
        started = time.monotonic()
        with tempfile.TemporaryFile(dir=directory) as held:
            rows, problem = run_script(name, chosen[name], quick, directory / f"{name}.json", held if quick else None)
            held.seek(0)
            with showing:
                sys.stdout.flush()
                sys.stdout.buffer.write(held.read())
                outcome = f"CRASHED: {problem}" if problem else f"{len(rows)} summary rows"
                progress(f"== {name}: done in {time.monotonic() - started:.1f} s, {outcome}")
        return rows, problem

    with ThreadPoolExecutor(len(names) if quick else 1) as pool:
        return list(pool.map(run, range(1, len(names) + 1), names))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows: list[SummaryRow] = []
    crashed: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="jobpulse-bench-") as directory:
        known = scripts()
        results = run_all({name: known[name] for name in args.names}, args.quick, Path(directory))
    for name, (script_rows, problem) in zip(args.names, results, strict=True):
        rows += script_rows
        if problem:
            crashed.append((name, problem))
    write_summary(args.json, rows)
    print_table(
        ["bench", "metric", "value", "unit", "baseline", "ratio", "target", "verdict"],
        [
            (
                row.bench,
                row.metric,
                row.value,
                row.unit,
                "" if row.baseline is None else row.baseline,
                "" if row.ratio is None else f"{row.ratio:.2f}x",
                row.target or "",
                verdict(row),
            )
            for row in rows
        ],
        "Summary" + (" (--quick: smoke sizes, not the targets' scenarios)" if args.quick else ""),
        left=2,
    )
    for name, problem in crashed:
        print(f"{name}: CRASHED, {problem}")
    if crashed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
