"""The C heap's free pages given back to the kernel after a burst of allocations (glibc ``malloc_trim``).

A ``/metrics`` or REST answer over a few hundred containers allocates and frees megabytes of pieces. glibc
keeps what is freed in its heap for reuse and returns only a free top of the heap beyond
``M_TRIM_THRESHOLD`` (glibc ``malloc/malloc.c`` ``systrim``): the pages freed in the middle stay in the
process's RSS until reused. ``malloc_trim(0)`` also releases every whole free page inside the heap
(``mtrim``: ``madvise(MADV_DONTNEED)``); it costs about 30 µs on the daemon's heap. The API's gate of heavy
responses calls it once the last of them is done (``api/limits.py`` ``HeavyGate``).

Other C libraries (musl) have no ``malloc_trim``: then nothing is trimmed.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


class MallocTrim:
    """``malloc_trim(0)`` of the C library the process runs on, when it has one."""

    def __init__(self, library: str | None = None) -> None:
        fn: Callable[[int], int] | None
        try:
            fn = ctypes.CDLL(library).malloc_trim  # None: the symbols the process has loaded (its libc)
        except (OSError, AttributeError):
            fn = None
        else:
            fn.argtypes = [ctypes.c_size_t]
            fn.restype = ctypes.c_int
        self._fn = fn

    @property
    def available(self) -> bool:
        return self._fn is not None

    def __call__(self) -> bool:
        """Trim; True when memory was given back to the kernel."""
        return self._fn is not None and self._fn(0) == 1
