"""How this process's C allocator treats freed memory. No torch here: the CLI sets it before any import of it."""

from __future__ import annotations

import ctypes
import platform

# glibc mallopt(3) parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Make this process keep freed memory for reuse instead of returning it to the kernel (glibc only).

    glibc hands every block above 32 MiB back to the kernel when freed, so each big activation of a large
    frame is page-faulted in again, zeroed by the kernel (benchmarks/allocator.py measures what that costs).
    Process-wide, so the CLI calls it and library users opt in. Peak memory stays bounded (the heap is
    reused), but it is not given back before the process ends. Returns False where it does not apply."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        # no mmap'd blocks (they are unmapped on free), and never trim the heap top
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False
