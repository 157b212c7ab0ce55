"""minicnn.kernels.numba.shared_products: the Winograd blocks' products shared between threads."""

import threading
import time

import numpy as np
import pytest

from minicnn.kernels import numba as nb
from minicnn.kernels import reference as ref
from minicnn.kernels.numba import winograd as wn
from minicnn.kernels.numba.shared_products import SharedProducts, chunks


@pytest.mark.parametrize("cells, tail, size", [(16, 6, 1), (25, 6, 1), (36, 8, 2), (25, 7, 3), (16, 0, 1), (4, 9, 1)])
def test_chunks_cover_every_cell_once_one_large_chunk_first(cells, tail, size):
    cuts = chunks(cells, tail, size)
    assert cuts[0][0] == 0 and cuts[-1][1] == cells
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(cuts, cuts[1:]))
    assert all(x1 - x0 <= size for x0, x1 in cuts[1:])
    assert cuts[0][1] == cells - min(tail, cells - 1)  # the owner's large chunk: never empty
    if tail == 0:
        assert cuts == [(0, cells)]


def _run_two(shared, late_block, delay):
    """Two threads, one block each; block ``late_block``'s owner starts ``delay`` seconds late."""
    errors = []

    def owner(blk):
        try:
            if blk == late_block:
                time.sleep(delay)
            shared.run(blk, blk)
        except RuntimeError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=owner, args=(b,), daemon=True) for b in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread is still waiting"
    return errors


def test_a_slow_owner_gets_its_tail_taken_and_every_chunk_runs_once():
    """Block 1's owner is held in its large chunk, so the other thread, done with block 0, computes
    all of block 1's small chunks (last first), and both return."""
    log, lock, tail_done = [], threading.Lock(), threading.Event()

    def product(blk, k):
        with lock:
            log.append((blk, k, threading.get_ident()))
        if (blk, k) == (1, 0):  # block 1's owner is held in its large chunk until the tail is done
            assert tail_done.wait(timeout=20)
        if (blk, k) == (1, 1):
            tail_done.set()

    shared = SharedProducts(2, 5, product)
    assert _run_two(shared, late_block=0, delay=0.05) == []  # block 1 is published first
    assert sorted((b, k) for b, k, _ in log) == [(b, k) for b in (0, 1) for k in range(5)]
    owner_of = {b: {t for bb, k, t in log if bb == b and k == 0} for b in (0, 1)}
    # the thread of block 0 was done early and took block 1's tail, from the back
    stolen = [k for b, k, t in log if b == 1 and t in owner_of[0]]
    assert stolen == [4, 3, 2, 1]
    assert shared.done == [5, 5]


def test_a_failing_chunk_reaches_its_thread_and_nobody_waits_forever():
    """The thread of block 0 takes block 1's last chunk, which raises: it gets the error; block 1's
    owner, which waits for all its chunks, still counts that one as done and returns."""
    attempted, ran = threading.Event(), []

    def product(blk, k):
        if (blk, k) == (1, 0):  # the owner of block 1 is busy until the other thread tried chunk 4
            assert attempted.wait(timeout=20)
        if (blk, k) == (1, 4):
            attempted.set()
            raise RuntimeError("chunk failed")
        ran.append((blk, k))

    shared = SharedProducts(2, 5, product)
    errors = _run_two(shared, late_block=0, delay=0.05)
    assert errors == ["chunk failed"] and shared.done == [5, 5]
    assert sorted(ran) == [(b, k) for b in (0, 1) for k in range(5) if (b, k) != (1, 4)]


def test_winograd_with_shared_tails_equals_the_direct_loops(monkeypatch):
    """One block per worker (256 input channels): the tails of the products go to whichever thread
    is free; forward, input gradient (256 output channels) and weight gradient stay exact."""
    made = []
    real = wn.SharedProducts
    monkeypatch.setattr(wn, "SharedProducts", lambda n, k, f: made.append((n, k)) or real(n, k, f))
    monkeypatch.setattr(wn, "SHARED_TAIL", (9, 1))
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 256, 7, 9)), rng.standard_normal((256, 256, 3, 3)) / 48
    pad = ((1, 1), (1, 1))
    y_want = ref.conv_forward(x, w, (1, 1), pad, (1, 1))
    gy = rng.standard_normal(y_want.shape)
    saved = nb.get_num_threads()
    try:
        nb.set_num_threads(2)
        for m in (2, 3, 4):
            made.clear()
            np.testing.assert_allclose(wn.conv_forward(x, w, pad, m), y_want, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(wn.conv_backward_input(gy, w, x.shape, pad, m),
                                       ref.conv_backward_input(gy, w, x.shape, (1, 1), pad, (1, 1)),
                                       rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(wn.conv_backward_weight(gy, x, w.shape, pad, m),
                                       ref.conv_backward_weight(gy, x, w.shape, (1, 1), pad, (1, 1)),
                                       rtol=1e-12, atol=1e-10)
            assert made == [(2, 10)] * 3  # two blocks, one large chunk and a tail of 9
    finally:
        nb.set_num_threads(saved)
