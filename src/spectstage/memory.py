"""Keep freed memory in the process (glibc), instead of handing it back to the kernel.

glibc gives blocks above its mmap threshold (128 KB, raised as it goes, at most 32 MB) their
own mapping, unmapped on free, and trims the heap's free top: torch's convolution and
pooling buffers, allocated and freed every batch, then come back as fresh zero-filled pages.
A training fold of make demo took 4.1 M page faults, 10.9 of its 61.4 CPU s in the kernel;
with the threshold at its maximum and no trimming, 0.11 M and 1.2 s, byte-identical model
(benchmarks/make_demo.py). Where a freed block goes does not change any computed value (no
code here reads memory it did not write: a reused block is not zero-filled). The price: the
heap is trimmed only above 1 GB free, so a process keeps up to that much of its peak until it
exits (make demo's peak RSS per rule rose 0-9 %: ingest 433 -> 486 MB, augment 944 -> 1028 MB).
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's upper bound on 64-bit
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process; False where there is no
    glibc (macOS, musl): nothing changes there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
