"""The README's "Instrument a job" example, run as written against a real sidecar."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from tests.support.job_scripts import run_script
from tests.support.polling import wait_for

README = Path(__file__).resolve().parents[2] / "README.md"

# What the example leaves to its reader: the rows, and what parse and load do. Two of the ten rows
# have an amount that is not a number, which load rejects with ValueError.
STAND_INS = """
from dataclasses import dataclass

@dataclass
class Record:
    id: str
    amount: str

rows = [f"ORD-{n},{'n/a' if n % 4 == 0 else n * 1.5}" for n in range(1, 11)]

def parse(row):
    return Record(*row.split(","))

def load(record):
    float(record.amount)
"""


def readme_example(section: str) -> str:
    """The first Python code block of the README section titled ``section``."""
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    block = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL).search(text, start)
    assert block is not None, f"no Python example under '## {section}'"
    return block.group(1)


def test_the_instrument_a_job_example_counts_each_record_once(sidecar):
    script = textwrap.dedent(STAND_INS) + readme_example("Instrument a job")
    result = run_script(script, sidecar.url)
    assert result.returncode == 0, result.stderr

    [job] = wait_for(lambda: sidecar.client.jobs(name="orders-import", status=["completed"]).items)
    assert (job.processed, job.failed, job.total) == (10, 2, 10)
    lines = sidecar.client.logs(job.id).items
    assert [(line.level, line.message) for line in lines] == [
        ("warning", "rejected ORD-4: could not convert string to float: 'n/a'"),
        ("warning", "rejected ORD-8: could not convert string to float: 'n/a'"),
    ]
