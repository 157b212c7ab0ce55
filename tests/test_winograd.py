"""Winograd F(2x2, 3x3), F(3x3, 3x3) and F(4x4, 3x3): the NumPy reference and the Numba path against the direct loops.

Float64 agrees to rounding; the float32 error bounds asserted here are the
measured ones documented in docs/convolution.md.
"""

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn.kernels import numba as nb
from minicnn.kernels import reference as ref
from minicnn.kernels import winograd as wg
from minicnn.kernels.numba import winograd as wn

PADDINGS = [((1, 1), (1, 1)), ((0, 0), (0, 0)), ((2, 0), (1, 2))]
SHAPES = [(2, 3, 7, 9), (1, 2, 5, 5), (3, 4, 11, 6)]  # odd sizes: the last tiles hang over the edge


@pytest.mark.parametrize("m", [2, 3, 4])
def test_one_dimensional_f_m_3_is_the_correlation(m):
    AT, G, BT = wg.winograd_matrices(m)
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(m + 2), rng.standard_normal(3)
    direct = np.array([d[i:i + 3] @ g for i in range(m)])
    np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), direct, rtol=1e-13, atol=1e-14)
    assert AT.shape == (m, m + 2) and G.shape == (m + 2, 3) and BT.shape == (m + 2, m + 2)


def test_matrices_reject_other_tile_sizes():
    with pytest.raises(ValueError, match="m must be 2, 3 or 4"):
        wg.winograd_matrices(5)


def _arrays(shape, dtype=np.float64, c_out=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = (rng.standard_normal((c_out, shape[1], 3, 3)) / np.sqrt(9 * shape[1])).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_reference_and_numba_equal_the_direct_loops_in_float64(m, padding, shape):
    x, w, b = _arrays(shape)
    y_ref = ref.conv_forward(x, w, (1, 1), padding, (1, 1))
    gy = np.random.default_rng(1).standard_normal(y_ref.shape)
    gx_ref = ref.conv_backward_input(gy, w, x.shape, (1, 1), padding, (1, 1))
    np.testing.assert_allclose(wg.conv2d_winograd(x, w, padding, m), y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wg.conv2d_winograd_backward_input(gy, w, x.shape, padding, m), gx_ref,
                               rtol=1e-12, atol=1e-12)
    y = wn.conv_forward(x, w, padding, m, bias=b)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, y_ref + b[None, :, None, None], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wn.conv_backward_input(gy, w, x.shape, padding, m), gx_ref, rtol=1e-12, atol=1e-12)
    gw_ref = ref.conv_backward_weight(gy, x, w.shape, (1, 1), padding, (1, 1))
    np.testing.assert_allclose(wn.conv_backward_weight(gy, x, w.shape, padding, m), gw_ref, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_many_blocks_and_threads_give_the_same_result(m, monkeypatch):
    x, w, b = _arrays((3, 4, 13, 10))
    want = ref.conv_forward(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1)) + b[None, :, None, None]
    gy = np.random.default_rng(2).standard_normal(want.shape)
    gw_want = ref.conv_backward_weight(gy, x, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1))
    monkeypatch.setattr(wn, "MIN_TILES", 1)
    monkeypatch.setattr(wn, "BLOCK_BYTES", 1)  # one tile row per block
    saved = nb.get_num_threads()
    try:
        for threads in (1, 2):
            nb.set_num_threads(threads)
            np.testing.assert_allclose(wn.conv_forward(x, w, ((1, 1), (1, 1)), m, bias=b), want, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(wn.conv_backward_weight(gy, x, w.shape, ((1, 1), (1, 1)), m), gw_want,
                                       rtol=1e-12, atol=1e-11)
    finally:
        nb.set_num_threads(saved)


@pytest.mark.parametrize("pad", [0, 64])
def test_the_cell_matrices_of_v_and_m_may_lie_apart(pad, monkeypatch):
    """V and M keep their a*a matrices CELL_PAD bytes apart (L1 sets, see winograd_tiles); the
    transforms and the products must read them at that distance, in all three passes."""
    monkeypatch.setattr(wn, "CELL_PAD", pad)
    monkeypatch.setattr(wn, "MIN_TILES", 1)
    x, w, b = _arrays((2, 6, 11, 9), c_out=7)
    pd = ((1, 1), (1, 1))
    want = ref.conv_forward(x, w, (1, 1), pd, (1, 1)) + b[None, :, None, None]
    gy = np.random.default_rng(8).standard_normal(want.shape)
    for m in (2, 3, 4):
        np.testing.assert_allclose(wn.conv_forward(x, w, pd, m, bias=b), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(wn.conv_backward_input(gy, w, x.shape, pd, m),
                                   ref.conv_backward_input(gy, w, x.shape, (1, 1), pd, (1, 1)), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(wn.conv_backward_weight(gy, x, w.shape, pd, m),
                                   ref.conv_backward_weight(gy, x, w.shape, (1, 1), pd, (1, 1)), rtol=1e-12, atol=1e-11)


def test_a_failing_filter_transform_raises_instead_of_leaving_the_blocks_waiting(monkeypatch):
    """The blocks wait for every part of U; a part that raises must still let them go, and the error
    must reach the caller (on one thread and on two)."""
    import threading

    def broken(*args):
        raise RuntimeError("filter part failed")

    real = wn.filter_tiles
    monkeypatch.setattr(wn, "MIN_TILES", 1)
    x, w, _ = _arrays((2, 8, 12, 12), c_out=8)
    saved, errors, results = nb.get_num_threads(), [], []

    def call():
        try:
            results.append(wn.conv_forward(x, w, ((1, 1), (1, 1)), 2))
        except RuntimeError as e:
            errors.append(str(e))

    def in_time(fn):
        t = threading.Thread(target=fn, daemon=True)
        t.start()
        t.join(timeout=30)
        assert not t.is_alive(), "conv_forward hung waiting for the filter transform"

    try:
        for threads in (1, 2):
            nb.set_num_threads(threads)
            monkeypatch.setattr(wn, "filter_tiles", broken)
            for _ in range(3):
                in_time(call)
            # a worker thread left waiting by a failed call would never take this call's units
            monkeypatch.setattr(wn, "filter_tiles", real)
            in_time(call)
    finally:
        nb.set_num_threads(saved)
    assert errors == ["filter part failed"] * 6 and len(results) == 2
    want = ref.conv_forward(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1))
    for y in results:
        np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("flipped", [False, True])
def test_filter_transform_layouts_hold_the_same_matrices(m, flipped):
    """U as contiguous matrices (small U: the products read them fastest) or channel-major (large U:
    one sequential stream for the transform); the values are the same, and so are the convolutions."""
    w = np.random.default_rng(5).standard_normal((7, 5, 3, 3))
    mats = wn._filter_transform(w, m, flipped, layout="matrices")
    chans = wn._filter_transform(w, m, flipped, layout="channels")
    assert mats.shape == chans.shape == ((m + 2) ** 2,) + ((7, 5) if flipped else (5, 7))  # (a*a, C, O)
    np.testing.assert_array_equal(mats, chans)
    assert all(mats[i].flags.c_contiguous for i in range(len(mats)))  # each U[xi] one block for BLAS
    G = wg.winograd_matrices(m)[1]
    filt = w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1] if flipped else w  # (O, C, 3, 3) as used
    want = np.einsum("ik,ockl,jl->ijco", G, filt, G).reshape((m + 2) ** 2, filt.shape[1], filt.shape[0])
    np.testing.assert_allclose(mats, want, rtol=1e-12, atol=1e-12)


def test_large_filter_transforms_are_channel_major_and_still_right(monkeypatch):
    monkeypatch.setattr(wn, "U_MATRICES_BYTES", 0)
    x, w, b = _arrays((2, 6, 9, 8))
    want = ref.conv_forward(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1)) + b[None, :, None, None]
    gy = np.random.default_rng(6).standard_normal(want.shape)
    for m in (2, 3, 4):
        np.testing.assert_allclose(wn.conv_forward(x, w, ((1, 1), (1, 1)), m, bias=b), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(wn.conv_backward_input(gy, w, x.shape, ((1, 1), (1, 1)), m),
                                   ref.conv_backward_input(gy, w, x.shape, (1, 1), ((1, 1), (1, 1)), (1, 1)),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_rows, tw, c, workers", [(64, 8, 128, 2), (112, 14, 64, 2), (56, 7, 256, 2), (32, 32, 64, 2),
                                                    (3, 5, 64, 2), (1, 5, 64, 2), (64, 8, 128, 1), (100, 9, 64, 3)])
def test_blocks_cover_the_rows_once_in_equal_parts_a_multiple_of_the_workers(n_rows, tw, c, workers):
    blocks = wn._blocks(n_rows, tw, 6, c, c, 4, workers)
    assert blocks[0][0] == 0 and blocks[-1][1] == n_rows
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))  # contiguous, no overlap
    sizes = [g1 - g0 for g0, g1 in blocks]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1  # one worker never gets a block more of work
    assert len(blocks) % workers == 0 or len(blocks) == n_rows  # (3 rows: 3 blocks of one)


def test_wide_layers_take_one_block_per_worker_narrow_ones_at_least_two():
    """256+ input channels: every block's products read all of U again, so one block per worker
    (8,256,14x14 F(2x2) on two threads: 2 blocks); narrower layers keep two or more per worker so a
    slowed thread is given less (8,64,56x56 F(4x4): 14 blocks of 8 tile rows)."""
    assert len(wn._blocks(56, 7, 4, 256, 256, 4, 2)) == 2
    assert len(wn._blocks(112, 14, 6, 64, 64, 4, 2)) == 14
    assert len(wn._blocks(16, 4, 6, 128, 128, 4, 2)) >= 4


def _rel_error(got, want):
    return float(np.abs(got.astype(np.float64) - want).max() / np.abs(want).max())


def test_float32_error_bounds_next_to_the_direct_kernel():
    """The float32 error, relative to the largest output, of each method against a float64
    direct result (64 channels, ResNet-like scale).  Measured: direct ~5e-7, F(2x2) ~3e-7,
    F(3x3) ~2e-6, F(4x4) ~5e-6 (docs/convolution.md); the bounds leave room for other data."""
    x, w, _ = _arrays((2, 64, 20, 20), c_out=16)
    pad = ((1, 1), (1, 1))
    want = ref.conv_forward(x, w, (1, 1), pad, (1, 1))
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    with wn.use_mode("off"):
        direct = _rel_error(nb.conv_forward(x32, w32, (1, 1), pad, (1, 1)), want)
    f2 = _rel_error(wn.conv_forward(x32, w32, pad, 2), want)
    f3 = _rel_error(wn.conv_forward(x32, w32, pad, 3), want)
    f4 = _rel_error(wn.conv_forward(x32, w32, pad, 4), want)
    assert direct < 3e-6 and f2 < 3e-6 and f3 < 1.5e-5 and f4 < 3e-5
    assert f4 > f3 > f2  # larger coefficients do cost accuracy (the test can see a difference)
    gy = np.random.default_rng(3).standard_normal(want.shape)
    gx_want = ref.conv_backward_input(gy, w, x.shape, (1, 1), pad, (1, 1))
    assert _rel_error(wn.conv_backward_input(gy.astype(np.float32), w32, x.shape, pad, 3), gx_want) < 1.5e-5
    assert _rel_error(wn.conv_backward_input(gy.astype(np.float32), w32, x.shape, pad, 4), gx_want) < 3e-5
    gw_want = ref.conv_backward_weight(gy, x, w.shape, (1, 1), pad, (1, 1))
    gy32 = gy.astype(np.float32)
    assert _rel_error(wn.conv_backward_weight(gy32, x32, w.shape, pad, 2), gw_want) < 3e-6
    assert _rel_error(wn.conv_backward_weight(gy32, x32, w.shape, pad, 3), gw_want) < 1.5e-5
    assert _rel_error(wn.conv_backward_weight(gy32, x32, w.shape, pad, 4), gw_want) < 3e-5


@pytest.mark.parametrize("m", [2, 3, 4])
def test_inf_and_nan_inputs_fall_back_to_the_direct_result(m):
    x, w, _ = _arrays((1, 16, 8, 8), c_out=16)
    x[0, 3, 4, 4] = np.inf
    assert wn.conv_forward(x, w, ((1, 1), (1, 1)), m) is None  # the transforms made a nan: refused
    with wn.use_mode(f"F{m}"):
        y = nb.conv_forward(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1))
    with wn.use_mode("off"):
        want = nb.conv_forward(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1))
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(want))
    assert np.isinf(y).any()
    gy = np.ones_like(want)
    assert wn.conv_backward_weight(gy, x, w.shape, ((1, 1), (1, 1)), m) is None
    with wn.use_mode(f"F{m}"):
        gw = nb.conv_backward_weight(gy, x, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1))
    with wn.use_mode("off"):
        gw_want = nb.conv_backward_weight(gy, x, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1))
    np.testing.assert_array_equal(np.isinf(gw), np.isinf(gw_want))
    np.testing.assert_array_equal(np.isnan(gw), np.isnan(gw_want))


def test_dispatch_rule_and_switch():
    assert wn.choose(8, 64, 64, 56, 56) == 4  # F(4x4) up to 128 input channels
    assert wn.choose(8, 128, 256, 28, 28) == 4 and wn.choose(8, 129, 64, 28, 28) == 3  # F(3x3) above
    assert wn.choose(8, 256, 256, 14, 14, workers=2) == 3  # 200 F(3x3) tiles: 100 per worker
    assert wn.choose(1, 256, 256, 32, 32, workers=2) == 2  # 121 F(3x3) tiles: too thin for two workers
    assert wn.choose(8, 512, 512, 14, 14) == 2 and wn.choose(8, 256, 512, 28, 28) == 2  # U too large
    assert wn.choose(8, 256, 256, 14, 14, workers=3) == 2
    assert wn.choose(8, 3, 16, 32, 32) is None  # thin: the flat direct kernel
    assert wn.choose(8, 16, 16, 32, 32) is None and wn.choose(32, 32, 64, 16, 16) == 4
    assert wn.choose(1, 512, 512, 16, 16, workers=2) is None  # 64 tiles: products too thin
    with wn.use_mode("off"):
        assert wn.choose(8, 64, 64, 56, 56) is None
    with wn.use_mode("F2"):
        assert wn.choose(1, 1, 1, 3, 3) == 2
    assert wn.get_mode() == "auto"
    with pytest.raises(ValueError, match="winograd mode must be one of"):
        wn.set_mode("on")
    assert wn.forward_method((8, 64, 56, 56), (64, 64, 3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)) is None  # stride 2
    assert wn.forward_method((8, 64, 56, 56), (64, 64, 3, 3), (1, 1), ((3, 3), (1, 1)), (1, 1)) is None  # padding 3
    assert wn.forward_method((8, 64, 56, 56), (64, 64, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)) == 4


def test_the_numba_backend_uses_winograd_where_chosen(monkeypatch):
    calls = []
    real, real_w = wn.conv_forward, wn.conv_backward_weight
    monkeypatch.setattr(wn, "conv_forward", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    monkeypatch.setattr(wn, "conv_backward_weight", lambda *a: calls.append(("w", a[4])) or real_w(*a))
    x, w, b = _arrays((2, 16, 12, 12), np.float32, c_out=16)
    with wn.use_mode("F4"):
        nb.conv_forward(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1), bias=b)
        nb.conv_backward_input(x, w, x.shape, (1, 1), ((1, 1), (1, 1)), (1, 1))
        nb.conv_backward_weight(x, x, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1))
    with wn.use_mode("off"):
        nb.conv_forward(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1))
        nb.conv_backward_weight(x, x, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1))
    assert calls == [4, 4, ("w", 4)]


@pytest.mark.parametrize("mode", ["F2", "F3", "F4"])
def test_gradients_through_the_public_api(mode):
    rng = np.random.default_rng(4)
    x = mc.Tensor(rng.standard_normal((2, 3, 6, 7)), requires_grad=True)
    w = mc.Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = mc.Tensor(rng.standard_normal(4), requires_grad=True)
    with mc.use_backend("numba"), wn.use_mode(mode):
        mc.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), [x, w, b])


@pytest.mark.parametrize("m", [2, 3, 4])
def test_planes_of_a_multiple_of_4_kib_go_through_the_staging_rows(m, monkeypatch):
    """32x32 float64 planes (8 KiB): the output tiles are staged channels-last, then copied into y."""
    calls = []
    real = wn.unstage
    monkeypatch.setattr(wn, "unstage", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(wn, "MIN_TILES", 1)
    monkeypatch.setattr(wn, "BLOCK_BYTES", 1)  # one tile row per block: many blocks, a ragged last row
    x, w, b = _arrays((2, 17, 32, 32), c_out=19)
    want = ref.conv_forward(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1)) + b[None, :, None, None]
    np.testing.assert_allclose(wn.conv_forward(x, w, ((1, 1), (1, 1)), m, bias=b), want, rtol=1e-12, atol=1e-12)
    assert len(calls) > 1
    calls.clear()
    x, w, b = _arrays((2, 17, 31, 33), c_out=19)  # 31x33 planes: scattered straight into y
    wn.conv_forward(x, w, ((1, 1), (1, 1)), m, bias=b)
    assert calls == []
