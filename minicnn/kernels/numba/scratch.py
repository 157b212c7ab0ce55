"""Reusable per-thread scratch arrays for the compiled kernels (im2col tiles, Winograd blocks).

Why: a kernel call used to allocate its tiles with ``np.empty`` each time.
Arrays of a few hundred KiB come from ``mmap`` in glibc's allocator, so every
call paid for fresh, zero-filled pages from the kernel.  On the development
machine that page-fault work was more than half of a small convolution's time
(8,3,32x32 -> 16, im2col + BLAS: 0.43-0.55 ms with fresh tiles, 0.21 ms with
reused ones; docs/performance.md).  A scratch array is therefore kept per
thread and per *purpose* and handed out again at the next call.

Rules that keep this safe:

* one buffer per ``(thread, purpose, dtype)``: a job may hold several
  purposes at once, never the same purpose twice;
* the contents are undefined (like ``np.empty``): callers overwrite them;
* buffers larger than ``MAX_KEPT_BYTES`` are not kept (allocated per call), so
  the memory kept is bounded by a few tiles per thread.
"""

from __future__ import annotations

import threading

import numpy as np

MAX_KEPT_BYTES = 8 << 20  # larger requests are allocated per call and not kept
ALIGN = 64  # bytes: one cache line, and one AVX-512 register
_local = threading.local()


def empty_aligned(shape, dtype, offset=0):
    """``np.empty(shape, dtype)`` whose first cell starts on a cache line (``ALIGN`` bytes), plus
    ``offset`` bytes (tests and timings use an offset to get the misaligned case on purpose).

    Why: NumPy aligns its arrays to 16 bytes only.  The compiled kernels store and load a
    register of 16 float32 (64 bytes) at a time; from a misaligned base every such access
    spans two cache lines, and two threads' partial writes of one line fight over it.
    """
    dtype = np.dtype(dtype)
    size = 1
    for s in shape:
        size *= int(s)
    raw = np.empty(size * dtype.itemsize + ALIGN + offset, np.uint8)
    start = (-raw.ctypes.data) % ALIGN + offset
    return raw[start:start + size * dtype.itemsize].view(dtype).reshape(shape)


def scratch(purpose, shape, dtype):
    """An uninitialised array of ``shape`` and ``dtype``, reused by later calls of this thread
    with the same ``purpose`` (a short string naming the caller's use)."""
    dtype = np.dtype(dtype)
    size = 1
    for s in shape:
        size *= int(s)
    if size * dtype.itemsize > MAX_KEPT_BYTES:
        return empty_aligned(shape, dtype)
    kept = getattr(_local, "buffers", None)
    if kept is None:
        kept = _local.buffers = {}
    key = (purpose, dtype.str)
    buf = kept.get(key)
    if buf is None or buf.size < size:
        buf = kept[key] = empty_aligned((max(size, 1),), dtype)
    return buf[:size].reshape(shape)


def release():
    """Drop this thread's kept buffers (tests use it; memory is also freed when the thread ends)."""
    _local.buffers = {}
