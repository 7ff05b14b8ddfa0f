"""Large buffers go back to the system when freed, even after glibc has seen one freed before."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""
    import sys
    import psutil
    from jobpulse.sidecar.allocator import keep_large_buffers_in_mmap

    if sys.argv[1] == "fixed":
        assert keep_large_buffers_in_mmap()
    first = bytearray(8 << 20)  # freeing one mmapped buffer is what makes glibc raise its threshold
    del first
    # Snapshot-sized buffers with small long-lived allocations between them, as in a connection storm.
    large, small = [], []
    for _ in range(40):
        large.append(bytearray(4 << 20))
        small.append(bytearray(100_000))
    held = psutil.Process().memory_info().rss
    large.clear()
    print(held, psutil.Process().memory_info().rss)
""")


def rss_held_and_after_free(mode: str) -> tuple[int, int]:
    output = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    held, after = map(int, output.split())
    return held, after


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_freed_snapshot_buffers_leave_the_process():
    held, after = rss_held_and_after_free("fixed")
    assert held - after > 100 * 2**20, f"RSS went from {held >> 20} MB to {after >> 20} MB after freeing 160 MB"
    held, after = rss_held_and_after_free("dynamic")
    assert held - after < 50 * 2**20, "without the fixed threshold glibc keeps them (the probe shows the problem)"


def test_an_operators_own_threshold_is_left_alone(monkeypatch):
    from jobpulse.sidecar.allocator import keep_large_buffers_in_mmap

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert keep_large_buffers_in_mmap() is False
