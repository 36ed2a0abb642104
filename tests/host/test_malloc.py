"""``malloc_trim``: the C heap's free pages go back to the kernel (glibc on these hosts; nothing elsewhere)."""

from __future__ import annotations

import ctypes

from pycadvisor.host.malloc import MallocTrim


def test_free_pages_inside_the_heap_are_given_back() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    trim = MallocTrim()
    assert trim.available
    trim()  # start from a trimmed heap
    # 64 KiB blocks stay below glibc's mmap threshold (128 KiB): they are carved from the heap. The last one
    # stays allocated, so the free pages are inside the heap, where free() alone never releases them.
    blocks = [libc.malloc(64 << 10) for _ in range(64)]
    for b in blocks:
        ctypes.memset(b, 1, 64 << 10)  # touched: resident
    for b in blocks[:-1]:
        libc.free(b)
    try:
        assert trim() is True
    finally:
        libc.free(blocks[-1])


def test_without_a_malloc_trim_nothing_is_trimmed() -> None:
    trim = MallocTrim("libpycadvisor-no-such-libc.so")  # no such library, as no such symbol in musl's libc
    assert not trim.available
    assert trim() is False
