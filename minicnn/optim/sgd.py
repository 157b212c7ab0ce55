"""Stochastic gradient descent with momentum, Nesterov momentum and weight
decay, with exactly PyTorch's update rule (``torch.optim.SGD``)::

    g = grad + weight_decay * p                      (L2 penalty)
    b = g                          at the first step, then
    b = momentum * b + (1 - dampening) * g           (velocity)
    g = g + momentum * b   if nesterov  else  g = b
    p = p - lr * g

Note the velocity is of the *gradient* (not multiplied by ``lr`` as in some
textbooks); the two forms agree when ``lr`` is constant.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    def __init__(self, params: Iterable[Tensor | dict], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: momentum and weight_decay must be >= 0, got momentum={momentum}, "
                             f"weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def step(self):
        for group in self.param_groups:
            lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov = group["weight_decay"], group["nesterov"]
            for p in self._params_with_grad(group):
                g = p.grad
                if wd:
                    g = g + wd * p.data
                if mom:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = g.astype(p.dtype, copy=True)
                    else:
                        buf *= mom
                        buf += (1 - damp) * g
                    g = g + mom * buf if nesterov else buf
                p.data -= (lr * g).astype(p.dtype, copy=False)
