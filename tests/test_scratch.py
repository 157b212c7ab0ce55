"""minicnn.kernels.numba.scratch: per-thread reusable buffers for the kernels' tiles."""

import threading

import numpy as np

from minicnn.kernels.numba import scratch as sc


def test_same_purpose_reuses_memory_and_purposes_are_separate():
    sc.release()
    a = sc.scratch("im2col", (3, 4), np.float32)
    a[...] = 1
    b = sc.scratch("im2col", (2, 5), np.float32)  # smaller: the same memory, new shape
    assert b.shape == (2, 5) and b.dtype == np.float32 and np.shares_memory(a, b)
    c = sc.scratch("col2im", (3, 4), np.float32)
    assert not np.shares_memory(a, c)
    d = sc.scratch("im2col", (3, 4), np.float64)  # another dtype: another buffer
    assert d.dtype == np.float64 and not np.shares_memory(a, d)
    e = sc.scratch("im2col", (10, 10), np.float32)  # larger: grows (a new buffer)
    assert e.shape == (10, 10) and not np.shares_memory(a, e)


def test_threads_never_share_a_buffer():
    sc.release()
    mine = sc.scratch("im2col", (64,), np.float32)
    theirs = []
    t = threading.Thread(target=lambda: theirs.append(sc.scratch("im2col", (64,), np.float32)))
    t.start()
    t.join()
    assert not np.shares_memory(mine, theirs[0])


def test_large_requests_are_not_kept():
    sc.release()
    n = sc.MAX_KEPT_BYTES // 4 + 1
    a = sc.scratch("big", (n,), np.float32)
    b = sc.scratch("big", (n,), np.float32)
    assert not np.shares_memory(a, b)


def test_buffers_start_on_a_cache_line():
    """NumPy aligns to 16 bytes only; a 64-byte register store from such a base spans two lines."""
    sc.release()
    for n in (1, 3, 17, 1000, sc.MAX_KEPT_BYTES // 4 + 1):  # kept and per-call buffers alike
        for dtype in (np.float32, np.float64):
            a = sc.scratch(f"align-{n}", (n,), dtype)
            assert a.ctypes.data % sc.ALIGN == 0 and a.shape == (n,) and a.dtype == dtype
    for offset in (0, 16, 48):
        b = sc.empty_aligned((5, 7), np.float32, offset)
        assert b.shape == (5, 7) and b.flags.c_contiguous and b.ctypes.data % sc.ALIGN == offset
        b[...] = 1.0  # all of it is the array's own memory
        assert b.sum() == 35
