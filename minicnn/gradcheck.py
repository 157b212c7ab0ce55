"""Check analytic gradients against central finite differences.

For a function ``fn`` of tensors, pick a fixed random direction ``r`` in the
output space and compare, for every input element ``x_i``,

    analytic  d(sum(r * fn(x)))/dx_i          (one backward pass)
    numeric   [L(x_i + eps) - L(x_i - eps)] / (2 eps)   with L = sum(r * fn(x))

Projecting on ``r`` checks every output at once (a random ``r`` catches a
wrong Jacobian entry with probability 1) at two function evaluations per
input element. Run it in float64: with float32 the rounding error of the
difference quotient is larger than the tolerances.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .autograd import no_grad
from .backend import get_array_module, to_numpy
from .hints import ArrayLike
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor | ArrayLike], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Raise :class:`GradcheckError` unless the gradients of ``fn`` are right.

    Parameters
    ----------
    fn : callable taking the tensors of ``inputs`` and returning a Tensor.
    inputs : sequence of Tensors (or arrays). Float tensors with
        ``requires_grad=True`` are checked; others are held constant.
        float32 inputs are promoted to float64 first.
    Returns ``True`` when every checked element agrees:
    ``|analytic - numeric| <= atol + rtol * |numeric|``. A NaN or Inf in the output or
    in either gradient is a failure.
    """
    tensors = []
    for x in inputs:
        t = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
        if t.dtype == np.float32:
            t = Tensor(t.data.astype(np.float64), requires_grad=t.requires_grad)
        xp = get_array_module(t.data)
        t.data = xp.ascontiguousarray(t.data)  # so that reshape(-1) below is a view
        tensors.append(t)
    checked = [i for i, t in enumerate(tensors) if t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, nothing to check")

    out = fn(*tensors)
    if not np.isfinite(to_numpy(out.data)).all():
        raise GradcheckError(f"gradcheck: the output (shape {out.shape}) holds NaN or Inf; nothing can be compared")
    xp = get_array_module(out.data)
    r = xp.asarray(np.random.default_rng(seed).standard_normal(out.shape), dtype=out.dtype)

    def projected():
        with no_grad():
            return float((fn(*tensors).data * r).sum())

    for t in tensors:
        t.grad = None
    (out * Tensor(r)).sum().backward()

    for i in checked:
        t = tensors[i]
        analytic = np.zeros(t.shape) if t.grad is None else to_numpy(t.grad).astype(np.float64)
        numeric = np.zeros(t.shape)
        flat = t.data.reshape(-1)  # a view: perturbing it perturbs t
        for j in range(flat.size):
            old = float(flat[j])
            flat[j] = old + eps
            up = projected()
            flat[j] = old - eps
            down = projected()
            flat[j] = old
            numeric.flat[j] = (up - down) / (2 * eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        err[np.isnan(err)] = np.inf  # NaN anywhere (analytic or numeric) is a failure, never a pass
        if (err > 0).any():
            k = np.unravel_index(int(np.argmax(err)), t.shape)
            bad = int((err > 0).sum())
            raise GradcheckError(
                f"gradcheck: gradient of input {i} (shape {t.shape}) is wrong at index {tuple(map(int, k))}: "
                f"analytic {analytic[k]:.8g}, numerical {numeric[k]:.8g} "
                f"({bad} of {t.size} elements outside atol={atol}, rtol={rtol})"
            )
    return True
