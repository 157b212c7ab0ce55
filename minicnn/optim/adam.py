"""Adam (Kingma and Ba, 2015) and AdamW (Loshchilov and Hutter, 2019), with
PyTorch's update rule. At step ``t`` (from 1), with gradient ``g``::

    g = g + weight_decay * p                     (Adam only: L2 penalty in the gradient)
    m = beta1 * m + (1 - beta1) * g              (first moment, mean)
    v = beta2 * v + (1 - beta2) * g^2            (second moment, uncentred variance)
    m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)    (bias correction: m, v start at 0)
    p = p - lr * m_hat / (sqrt(v_hat) + eps)

AdamW instead shrinks the weights directly, ``p = p - lr * weight_decay * p``,
before the same step without the penalty in ``g`` (decoupled weight decay).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..backend import get_array_module
from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    decoupled = False

    def __init__(self, params: Iterable[Tensor | dict], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        name = type(self).__name__
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"{name}: betas must be in [0, 1), got {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"{name}: eps and weight_decay must be >= 0, got eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def step(self):
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in self._params_with_grad(group):
                xp = get_array_module(p.data)
                g = p.grad
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = xp.zeros_like(p.data)
                    state["exp_avg_sq"] = xp.zeros_like(p.data)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                if wd and self.decoupled:
                    p.data *= 1 - lr * wd
                elif wd:
                    g = g + wd * p.data
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                bias1, bias2 = 1 - b1 ** t, 1 - b2 ** t
                # lr * m_hat / (sqrt(v_hat) + eps), arranged as PyTorch does for equal rounding
                denom = xp.sqrt(v) / math.sqrt(bias2) + eps
                p.data -= ((lr / bias1) * m / denom).astype(p.dtype, copy=False)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01)."""

    decoupled = True

    def __init__(self, params: Iterable[Tensor | dict], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
