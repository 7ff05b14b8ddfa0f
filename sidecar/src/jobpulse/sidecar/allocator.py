"""How the sidecar's process gets large buffers from the C library.

A live-feed snapshot is one frame of several MB per connecting client (7.9 MB at 10,000 jobs), which
the WebSocket layer copies as it encodes and frames it. glibc serves allocations that large with
mmap and gives them back to the system on free, but after the first such free it raises its mmap
threshold (up to 32 MB) and serves the next ones from the heap, where a storm of connecting clients
leaves it fragmented and the RSS high long after they have gone. Fixing the threshold turns that
dynamic raise off (docs/benchmarks.md, memory: 257 -> 232 MB settled with 1,000 clients).
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt's parameter number for the mmap threshold, from glibc's malloc.h.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1024 * 1024


def keep_large_buffers_in_mmap(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; False where it does not apply.

    Left alone when the operator set ``MALLOC_MMAP_THRESHOLD_`` (glibc has already applied it).
    """
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return mallopt(_M_MMAP_THRESHOLD, threshold) == 1
