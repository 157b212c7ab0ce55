"""nn.init: fans of conv and linear weights, gains (PyTorch's table), the
spread of each initialiser, reproducibility with minicnn.seed, errors."""

import math

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.nn import init


def test_fans_for_linear_and_conv_weights():
    assert init.compute_fans((10, 20)) == (20, 10)
    assert init.compute_fans((16, 3, 5, 5)) == (75, 400)
    assert init.compute_fans((32, 16, 3, 3, 3)) == (432, 864)
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(5,\)"):
        init.compute_fans((5,))


@pytest.mark.parametrize("name,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2)])
def test_gains_match_torch(name, param):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


@pytest.mark.parametrize("fn,expected_std", [
    (lambda w: init.kaiming_normal_(w, nonlinearity="relu"), math.sqrt(2 / 400)),
    (lambda w: init.kaiming_uniform_(w, nonlinearity="relu"), math.sqrt(2 / 400)),
    (lambda w: init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / 1600)),
    (init.xavier_uniform_, math.sqrt(2 / (400 + 1600))),
    (init.xavier_normal_, math.sqrt(2 / (400 + 1600))),
    (lambda w: init.normal_(w, 0.0, 0.3), 0.3),
    (lambda w: init.uniform_(w, -1.0, 1.0), 1 / math.sqrt(3)),
])
def test_initialisers_have_the_documented_spread(fn, expected_std):
    mc.seed(0)
    w = mc.Tensor(np.empty((64, 16, 5, 5), dtype=np.float32))  # fan_in 400, fan_out 1600
    assert fn(w) is w
    assert w.dtype == np.float32
    assert abs(w.data.std() - expected_std) < 0.03 * expected_std
    assert abs(w.data.mean()) < 0.05 * expected_std


def test_uniform_bounds_and_constants():
    mc.seed(1)
    w = nn.Parameter(np.empty((50, 40), dtype=np.float32))
    init.kaiming_uniform_(w, nonlinearity="relu")
    assert np.abs(w.data).max() <= math.sqrt(6 / 40)
    init.xavier_uniform_(w, gain=2.0)
    assert np.abs(w.data).max() <= 2.0 * math.sqrt(6 / 90)
    assert not init.zeros_(w).data.any()
    assert (init.ones_(w).data == 1).all()
    assert (init.constant_(w, 0.25).data == 0.25).all()
    raw = np.empty((3, 4))
    init.normal_(raw)  # raw arrays are accepted too
    assert np.isfinite(raw).all()


def test_same_seed_same_weights():
    mc.seed(42)
    a = init.kaiming_normal_(mc.Tensor(np.empty((8, 3, 3, 3), dtype=np.float32))).data.copy()
    mc.seed(42)
    b = init.kaiming_normal_(mc.Tensor(np.empty((8, 3, 3, 3), dtype=np.float32))).data
    np.testing.assert_array_equal(a, b)


def test_errors():
    w = mc.Tensor(np.empty((3, 4)))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal_(w, mode="fan_avg")
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.kaiming_normal_(w, nonlinearity="gelu")
    with pytest.raises(TypeError, match="expected a Tensor or an array, got list"):
        init.normal_([1.0, 2.0])
