"""Shared tools of the exercise checks: the solutions switch, the refusal of shortcuts, comparisons."""

from __future__ import annotations

import os
import types

import numpy as np

import minicnn as mc

SWITCH = "MINICNN_SOLUTIONS"


def solutions_enabled() -> bool:
    """True when ``MINICNN_SOLUTIONS=1``: the notebooks then run on the published solutions."""
    return os.environ.get(SWITCH, "") == "1"


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _is_forbidden(obj) -> bool:
    name = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None) or ""
    return isinstance(name, str) and name.split(".")[0] in ("minicnn", "solutions")


def _own_work(fn, exercise):
    """Refuse ``fn`` when it is the published solution or calls minicnn / the solutions."""
    assert callable(fn), f"{exercise}: expected a function, got {type(fn).__name__}"
    home = (getattr(fn, "__module__", None) or "").split(".")[0]
    if home == "solutions":
        assert solutions_enabled(), f"{exercise}: that is the published solution -- write your own"
        return
    code = getattr(fn, "__code__", None)
    if code is None:
        return
    scope = dict(getattr(fn, "__globals__", {}))
    for cell, var in zip(fn.__closure__ or (), code.co_freevars):
        try:
            scope[var] = cell.cell_contents
        except ValueError:                         # an empty cell
            pass
    for c in _code_objects(code):
        for name in c.co_names + c.co_freevars:
            top = name.split(".")[0]
            if top in ("minicnn", "solutions") or (name in scope and _is_forbidden(scope[name])):
                raise AssertionError(f"{exercise}: your function uses {name!r}, which is minicnn or the "
                                     f"published solution; write the computation with NumPy")


def _close(got, want, what, atol=1e-8, rtol=1e-6):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"{what}: expected shape {want.shape}, got {got.shape}"
    assert np.allclose(got, want, atol=atol, rtol=rtol), f"{what}: expected\n{want}\ngot\n{got}"


def _numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (float64), one element at a time."""
    x = np.array(x, dtype=float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        hi = f(x)
        x[i] = old - eps
        lo = f(x)
        x[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


class _Wrapped(mc.Function):
    """A Function whose forward is written here and whose backward is the learner's."""

    def __init__(self, forward, backward):
        self._forward, self._backward = forward, backward

    def forward(self, *arrays):
        self.arrays = arrays
        return np.asarray(self._forward(*arrays), dtype=float)

    def backward(self, gy):
        return tuple(None if g is None else np.asarray(g, dtype=float) for g in self._backward(gy, *self.arrays))


def _gradcheck(forward, backward, arrays, check=None):
    """``mc.gradcheck`` of the learner's backward; ``check`` marks which arrays are differentiated."""
    check = check or [True] * len(arrays)
    tensors = [mc.Tensor(np.asarray(a, dtype=float), requires_grad=c) for a, c in zip(arrays, check)]
    mc.gradcheck(lambda *t: _Wrapped(forward, backward)(*t), tensors)
