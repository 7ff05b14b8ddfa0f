"""The benchmarks: ``bench/bench_NAME.py`` scripts, run one by one or all together with ``python -m bench``.

Every script accepts ``--quick`` (a smoke run) and ``--json PATH`` (its summary rows, `_support.SummaryRow`).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts() -> dict[str, Path]:
    """The benchmark scripts by name (``bench_ingest.py`` is ``ingest``), in name order."""
    return {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}
