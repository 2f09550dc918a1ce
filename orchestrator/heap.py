"""Keep the memory a sampler frees for its next sample.

Each sample reads the whole task map as text (13 MB at 10,000 rows) and
builds tables of every row, then frees them.  glibc gives such blocks back to
the kernel (large ones are mmap'ed apart; the top of the heap is trimmed), and
the next sample faults every page in again: at 10,000 rows, 4,000 page
faults and 9 ms of system time a sample, against 38 ms of lottery's own CPU
time in all.  Asked to keep what it frees,
glibc reuses it.  The process then stays at the size of its largest sample,
which it reaches every sample anyway.

This is the C library's allocator, not BPF: mallopt(3) through ctypes, where
glibc has it; elsewhere nothing changes."""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1  # malloc.h: free memory at the heap's top kept up to this
_M_MMAP_THRESHOLD = -3  # malloc.h: blocks below this come from the heap
_TRIM_BYTES = 1 << 30
_MMAP_BYTES = 32 << 20  # glibc's largest allowed on 64-bit

_kept = False


def keep_freed_memory() -> bool:
    """Ask the C library to keep freed memory for reuse; True when it agreed
    (or already had).  Safe to call more than once."""
    global _kept
    if _kept:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False  # not glibc (musl, macOS): its allocator as it is
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    _kept = bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES)) and \
        bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_BYTES))
    return _kept
