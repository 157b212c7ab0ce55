"""Weight initialisation, in place, drawing from ``minicnn.random.get_rng()``
(so ``minicnn.seed(s)`` makes a model's initial weights reproducible).

Why the scale matters: a layer computes sums of ``fan_in`` products, so with
weights of variance ``v`` the output variance is about ``fan_in * v`` times
the input's. Keeping it near 1 through many layers needs ``v ~ 1 / fan_in``.

* **He / Kaiming** (He et al. 2015), for ReLU networks: ReLU zeroes half of
  its inputs, halving the second moment, so ``v = 2 / fan_in``.
  ``std = gain / sqrt(fan)`` with ``gain = sqrt(2 / (1 + a^2))`` for a leaky
  ReLU of slope ``a`` (``sqrt(2)`` for ReLU).
* **Xavier / Glorot** (Glorot and Bengio 2010), for tanh/sigmoid: the
  compromise between the forward and backward passes,
  ``v = gain^2 * 2 / (fan_in + fan_out)``.

A uniform distribution on ``[-b, b]`` has variance ``b^2 / 3``, hence the
bounds ``b = sqrt(3) * std`` below.

Fans of a conv weight ``(C_out, C_in, *kernel)``: ``fan_in = C_in * prod(kernel)``
(the inputs one output element sees) and ``fan_out = C_out * prod(kernel)``.
A Linear weight ``(out, in)`` is the case of an empty kernel.
"""

from __future__ import annotations

import math

from ..backend import get_array_module
from ..random import get_rng
from ..tensor import Tensor

__all__ = ["calculate_gain", "compute_fans", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]


def _array(tensor, fn):
    if isinstance(tensor, Tensor):
        return tensor.data
    if hasattr(tensor, "shape") and hasattr(tensor, "dtype"):
        return tensor
    raise TypeError(f"{fn}: expected a Tensor or an array, got {type(tensor).__name__}")


def _fill(tensor, values):
    """Write host ``values`` into ``tensor`` in place, keeping its dtype and device."""
    a = _array(tensor, "init")
    a[...] = get_array_module(a).asarray(values).astype(a.dtype, copy=False)
    return tensor


def calculate_gain(nonlinearity, param=None):
    """The factor by which a nonlinearity changes the standard deviation to
    compensate (PyTorch's table): 1 for linear/conv/sigmoid, 5/3 for tanh,
    sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu."""
    linear = ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def compute_fans(shape):
    """``(fan_in, fan_out)`` of a weight of ``shape`` (out, in, *kernel)."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"compute_fans: need a weight with at least 2 dimensions (out, in, ...), got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b) in place; returns ``tensor``."""
    shape = _array(tensor, "uniform_").shape
    return _fill(tensor, get_rng().uniform(a, b, size=shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std^2) in place; returns ``tensor``."""
    shape = _array(tensor, "normal_").shape
    return _fill(tensor, get_rng().normal(mean, std, size=shape))


def constant_(tensor, val):
    a = _array(tensor, "constant_")
    a[...] = val
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def xavier_uniform_(tensor, gain=1.0):
    """Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = compute_fans(_array(tensor, "xavier_uniform_").shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = compute_fans(_array(tensor, "xavier_normal_").shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity, fn):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fn}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = compute_fans(_array(tensor, fn).shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He uniform: U(-b, b), b = sqrt(3) * gain / sqrt(fan). With the defaults
    (a = 0) the gain is sqrt(2), the ReLU case."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He normal: N(0, std^2), std = gain / sqrt(fan) (sqrt(2 / fan_in) for ReLU)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_"))
