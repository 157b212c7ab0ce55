"""The compiled ReLU (minicnn.kernels.numba.activation) against NumPy, PyTorch's rules and F.relu."""

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn.backend import use_backend
from minicnn.kernels import numba as nb
from minicnn.kernels import numpy_im2col as npk
from minicnn.kernels.numba import activation


def _values(dtype, n):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(dtype)
    x[:6] = [np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-30]
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [7, activation.CHUNK + 3])  # one task, and a partial last chunk
def test_relu_matches_the_numpy_rules(dtype, n):
    x = _values(dtype, n)
    y = nb.relu(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, npk.relu(x))  # equal_nan: NaN stays NaN
    assert not np.signbit(y[1]) and y[3] == np.inf and y[4] == 0  # -0.0 -> +0.0
    gy = _values(dtype, n)[::-1].copy()
    gx = nb.relu_backward(gy, y)
    np.testing.assert_array_equal(gx, npk.relu_backward(gy, y))
    # the gradient flows where x > 0 or x is NaN, and is exactly 0 elsewhere (even for a NaN gy)
    flows = (x > 0) | np.isnan(x)
    np.testing.assert_array_equal(gx[flows], gy[flows])
    assert np.all(gx[~flows] == 0)


def test_relu_in_place():
    x = _values(np.float32, 100)
    want = npk.relu(x.copy())
    out = nb.relu(x, out=x)
    assert out is x
    np.testing.assert_array_equal(x, want)


def test_functional_relu_uses_the_compiled_kernels_and_matches_pytorch(monkeypatch):
    torch = pytest.importorskip("torch")
    calls = []
    real_fwd, real_bwd = nb.relu, nb.relu_backward
    monkeypatch.setattr(nb, "relu", lambda *a, **k: calls.append("f") or real_fwd(*a, **k))
    monkeypatch.setattr(nb, "relu_backward", lambda *a: calls.append("b") or real_bwd(*a))
    x = _values(np.float64, 50).reshape(5, 10)
    with use_backend("numba"):
        t = mc.Tensor(x, requires_grad=True)
        y = F.relu(t)
        gy = np.linspace(-1, 1, 50).reshape(5, 10)
        y.backward(gy)
    assert calls == ["f", "b"]
    tt = torch.tensor(x, requires_grad=True)
    ty = torch.relu(tt)
    ty.backward(torch.tensor(gy))
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())

