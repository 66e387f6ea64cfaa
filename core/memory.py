"""Handing freed heap back to the operating system after a burst of writes."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    # glibc keeps freed chunks in its arenas; after a burst of large requests that is tens of MiB
    # of resident memory nothing uses (measured: 183 -> 133 MiB after 64 writers). Other C
    # libraries have no malloc_trim; there the call is skipped.
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim  # type: ignore[no-any-return]


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Return free heap pages to the OS where the C library can; True when it could."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
