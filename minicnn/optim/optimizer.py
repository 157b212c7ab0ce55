"""``Optimizer``: the base class of SGD and Adam.

An optimizer holds *parameter groups*: lists of Parameters that share
hyper-parameters (``lr``, ``momentum``...). ``Optimizer(model.parameters(), lr=...)``
makes one group; a list of dicts makes several, e.g. a smaller learning rate
for a pretrained backbone::

    optim.SGD([{"params": backbone.parameters(), "lr": 1e-4},
               {"params": head.parameters()}], lr=1e-2, momentum=0.9)

``step()`` updates every parameter that has a gradient, in place on
``param.data`` (raw array arithmetic, so nothing is recorded by autograd and
the same code runs on CuPy arrays); per-parameter buffers (momentum, Adam's
moments) live in ``self.state[param]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    def __init__(self, params: Iterable[Tensor | dict], defaults: dict) -> None:
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Parameters "
                            "(e.g. model.parameters()), got a single Tensor")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict ``{"params": [...], **hyper-parameters}``; missing ones take the defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{type(self).__name__}: a parameter group must be a dict with a 'params' key")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: parameter {i} (shape {p.shape}) is not a leaf "
                                 "tensor; optimize the Parameters themselves")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & {id(p) for p in params} or len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one group "
                             "(or twice in one)")
        full = {**self.defaults, **group, "params": params}
        self._check_hyper(full)
        full.setdefault("initial_lr", full["lr"])
        self.param_groups.append(full)

    def _check_hyper(self, group):
        """Every numeric hyper-parameter must be a finite number; lr must be >= 0."""
        name = type(self).__name__
        for key, value in group.items():
            if key == "params":
                continue
            for v in (value if isinstance(value, (tuple, list)) else (value,)):
                if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                    if key in ("lr", "momentum", "dampening", "weight_decay", "eps", "betas"):
                        raise TypeError(f"{name}: {key} must be a number, got {value!r}")
                elif not math.isfinite(v):
                    raise ValueError(f"{name}: {key} must be a finite number, got {value!r}")
        if group["lr"] < 0:
            raise ValueError(f"{name}: lr must be >= 0, got {group['lr']}")

    def zero_grad(self):
        """Forget the accumulated gradients (``grad = None``) of every parameter."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self):
        """Update every parameter that has a gradient (see the subclass)."""
        raise NotImplementedError

    def _params_with_grad(self, group):
        for p in group["params"]:
            if p.grad is not None:
                if p.grad.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}: gradient shape {p.grad.shape} does not match "
                                     f"parameter shape {p.shape}")
                yield p

    # ----------------------------------------------------------- state
    def state_dict(self):
        """Hyper-parameters and per-parameter buffers, with parameters
        referred to by their position in the groups (as PyTorch)."""
        index, i = {}, 0
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index[id(p)] = i
                ids.append(i)
                i += 1
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: {k: (v.copy() if hasattr(v, "copy") else v) for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved parameter groups do not "
                             "match this optimizer's")
        params = [p for g in self.param_groups for p in g["params"]]
        for saved, group in zip(groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {k: (v.copy() if hasattr(v, "copy") else v) for k, v in s.items()}

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k not in ("params", "initial_lr"):
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines + [")"])
