"""Handing freed heap memory back to the system after a large request (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        # ctypes.CDLL releases the GIL around the call: the event loop keeps running while it trims.
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


_TRIM = _malloc_trim()


def give_back_memory() -> None:
    """Return the free pages of the C heap to the system; run it in a thread, after the answer.

    glibc keeps what a request freed for the process's next allocations: after 3 million JSON rows
    were predicted, the server held 100 MB more than before, for good. Trimming returns it.
    """
    if _TRIM is not None:
        _TRIM(0)
