"""Stride-2 5x5 / 6x6 convolutions on the input's four phases (one stride-1 3x3 convolution, by Winograd):
the same numbers as the reference loops in all three passes, used only where it applies."""

import numpy as np
import pytest

from minicnn.kernels import numba as nb
from minicnn.kernels import reference as ref
from minicnn.kernels.numba import polyphase as pp
from minicnn.kernels.numba import winograd as wn

CASES = [  # x, w, padding
    ((2, 3, 11, 13), (4, 3, 5, 5), ((2, 2), (2, 2))),
    ((1, 2, 9, 8), (3, 2, 6, 5), ((1, 0), (3, 2))),
    ((2, 4, 10, 10), (5, 4, 5, 6), ((0, 1), (2, 0))),
    ((1, 1, 5, 5), (2, 1, 5, 5), ((0, 0), (0, 0))),  # one output cell
    ((1, 3, 16, 32), (4, 3, 5, 5), ((2, 1), (1, 2))),  # 4 KiB planes: the input gradient is staged
]


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("case", CASES)
def test_three_passes_match_the_reference_in_float64(case, m):
    xs, ws, pad = case
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    want = ref.conv_forward(x, w, (2, 2), pad, (1, 1)) + b[None, :, None, None]
    np.testing.assert_allclose(pp.conv_forward(x, w, pad, m, b), want, rtol=1e-11, atol=1e-11)
    gy = rng.standard_normal(want.shape)
    np.testing.assert_allclose(pp.conv_backward_input(gy, w, x.shape, pad, m),
                               ref.conv_backward_input(gy, w, x.shape, (2, 2), pad, (1, 1)), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(pp.conv_backward_weight(gy, x, w.shape, pad, m),
                               ref.conv_backward_weight(gy, x, w.shape, (2, 2), pad, (1, 1)), rtol=1e-11, atol=1e-10)


def test_float32_error_of_the_benchmark_layer_shape():
    """8 x fewer samples than the benchmark's 8,32,64x64 -> 64 k5 s2 layer; error relative to the largest
    value against float64, as for Winograd itself (tests/test_winograd.py: F(4x4) < 3e-5)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 32, 64, 64))
    w = rng.standard_normal((64, 32, 5, 5)) * np.sqrt(2 / (32 * 25))
    pad = ((2, 2), (2, 2))
    with wn.use_mode("F4"):
        y = nb.conv_forward(x.astype(np.float32), w.astype(np.float32), (2, 2), pad, (1, 1))
    want = ref.conv_forward(x, w, (2, 2), pad, (1, 1))
    assert np.abs(y - want).max() / np.abs(want).max() < 3e-5


def test_used_for_stride_2_five_by_five_with_enough_channels(monkeypatch):
    calls = []
    for name in ("conv_forward", "conv_backward_input", "conv_backward_weight"):
        real = getattr(pp, name)
        monkeypatch.setattr(pp, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 16, 32, 32)).astype(np.float32)
    w = rng.standard_normal((32, 16, 5, 5)).astype(np.float32)
    args = ((2, 2), ((2, 2), (2, 2)), (1, 1))
    y = nb.conv_forward(x, w, *args)
    nb.conv_backward_input(y, w, x.shape, *args)
    nb.conv_backward_weight(y, x, w.shape, *args)
    assert calls == ["conv_forward", "conv_backward_input", "conv_backward_weight"]
    calls.clear()
    nb.conv_forward(x, w[:, :, :3, :3], (2, 2), ((1, 1), (1, 1)), (1, 1))  # 3x3: sub-filters of 2: im2col
    nb.conv_forward(x, w, (1, 1), ((2, 2), (2, 2)), (1, 1))  # stride 1
    nb.conv_forward(x[:, :4], w[:, :4], *args)  # 4 * 4 phase channels: too few for Winograd
    with wn.use_mode("off"):
        nb.conv_forward(x, w, *args)
    assert calls == []
    assert pp.applies((1, 1, 9, 9), (1, 1, 6, 6), (2, 2), ((0, 0), (0, 0)), (1, 1))
    assert not pp.applies((1, 1, 9, 9), (1, 1, 5, 5), (2, 2), ((0, 0), (0, 0)), (2, 2))


def test_an_inf_input_is_redone_directly():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 20, 20)).astype(np.float32)
    w = rng.standard_normal((32, 16, 5, 5)).astype(np.float32)
    x[0, 3, 7, 8] = np.inf
    args = ((2, 2), ((2, 2), (2, 2)), (1, 1))
    assert pp.conv_forward(x, w, ((2, 2), (2, 2)), 4) is None
    y = nb.conv_forward(x, w, *args)
    with wn.use_mode("off"):
        want = nb.conv_forward(x, w, *args)
    np.testing.assert_array_equal(np.isinf(y), np.isinf(want))
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    assert np.isinf(y).any()


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (2, 5, 6, 6), (3, 2, 5, 6), (3, 2, 6, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_phase_filters_equal_the_reference_and_put_back_every_tap(shape, dtype):
    w = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    W = pp.phase_weights(w)
    np.testing.assert_array_equal(W, pp.phase_weights_reference(w))
    back = np.full(shape, np.nan, dtype)
    pp._phase_copy(back, W, False)  # the adjoint (the weight gradient's last step) writes every tap
    np.testing.assert_array_equal(back, w)


def test_every_input_cell_gets_its_gradient_though_the_array_starts_unset(monkeypatch):
    """The input gradient is written into an unzeroed array when ``_covered`` says every input
    cell lies in a computed phase cell (the benchmark layer: 0.24 ms of np.zeros saved).  Here
    np.empty hands out NaNs, so a cell left unset would show; x 10 wide with K 5, stride 2 and no
    padding has cells that no window reaches (their gradient is 0, and computed as 0)."""
    empty = np.empty  # floats come NaN-filled (raw bytes, as for aligned scratch arrays, stay as they are)
    monkeypatch.setattr(np, "empty", lambda shape, dtype=float, **k: np.full(shape, np.nan, dtype)
                        if np.dtype(dtype).kind == "f" else empty(shape, dtype, **k))
    rng = np.random.default_rng(4)
    for xs, ws, pad in CASES + [((1, 2, 10, 10), (3, 2, 5, 5), ((0, 0), (0, 0)))]:
        for k in (0, 1):
            cells = ref.conv_forward(np.zeros(xs), np.zeros(ws), (2, 2), pad, (1, 1)).shape[2 + k] + 2
            assert pp._covered(xs[2 + k], pad[k][0], cells, *pp._needed(xs[2 + k], pad[k][0], cells))
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        gy = rng.standard_normal(ref.conv_forward(x, w, (2, 2), pad, (1, 1)).shape)
        for m in (2, 3, 4):
            np.testing.assert_allclose(pp.conv_backward_input(gy, w, x.shape, pad, m),
                                       ref.conv_backward_input(gy, w, x.shape, (2, 2), pad, (1, 1)),
                                       rtol=1e-11, atol=1e-11)


def test_a_phase_cell_range_that_misses_input_cells_is_not_covered():
    assert not pp._covered(10, 0, 5, 1, 0)  # row 0 lies in phase cell 0, below the first computed one
    assert not pp._covered(10, 0, 5, 0, 1)  # row 9 lies in phase cell 4, past the last computed one
    assert pp._covered(10, 0, 5, 0, 0)
