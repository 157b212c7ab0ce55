"""Containers: ``Sequential`` (layers applied in order) and ``ModuleList``
(a registered list of modules, for models that loop over their layers)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, NoReturn

from .. import functional as F
from ..tensor import Tensor
from .module import Module

__all__ = ["Sequential", "ModuleList"]


class Sequential(Module):
    """``Sequential(l0, l1, ...)`` or ``Sequential(OrderedDict(name=layer, ...))``:
    ``forward(x) = ... l1(l0(x))``. Indexable (``seq[0]``, ``seq[-1]``,
    ``seq[1:3]`` gives a Sequential), iterable, with ``len`` and ``append``.
    Children are named "0", "1", ... so parameters are named "0.weight", ...
    """

    def __init__(self, *layers: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            for name, layer in layers[0].items():
                self.add_module(name, _check_module(layer, name))
        else:
            for i, layer in enumerate(layers):
                self.add_module(str(i), _check_module(layer, i))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[_index(index, len(items), "Sequential")][1]

    def append(self, layer):
        self.add_module(str(len(self)), _check_module(layer, len(self)))
        return self

    def forward(self, x: Tensor) -> Tensor:
        layers = list(self._modules.values())
        i = 0
        while i < len(layers):
            if i + 1 < len(layers) and _fusable(layers[i], layers[i + 1]):
                # Conv then ReLU: one fused operation (same values and gradients, one array fewer)
                conv = layers[i]
                x = F.conv_relu(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation)
                i += 2
                continue
            x = layers[i](x)
            i += 1
        return x


def _fusable(layer, nxt):
    """A plain Conv1d/2d/3d followed by a plain ReLU: neither with forward hooks (a hook must see
    each module's own output), nor a subclass with its own forward, nor a ``forward`` replaced
    on the instance (minicnn.visualize catches a layer's output that way)."""
    from .activation import ReLU
    from .conv import _ConvNd

    return (isinstance(layer, _ConvNd) and type(layer).forward is _ConvNd.forward and type(nxt) is ReLU
            and not layer._forward_hooks and not nxt._forward_hooks
            and "forward" not in vars(layer) and "forward" not in vars(nxt))


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain Python list
    would hide them from ``parameters()`` and ``state_dict()``)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        for m in modules or ():
            self.append(m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(items[index])
        return items[_index(index, len(items), "ModuleList")]

    def __setitem__(self, index, module):
        i = _index(index, len(self), "ModuleList")
        self._modules[str(i)] = _check_module(module, i)

    def append(self, module):
        self.add_module(str(len(self)), _check_module(module, len(self)))
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("ModuleList has no forward(); iterate over it in your model's forward")


def _check_module(m, name):
    if not isinstance(m, Module):
        raise TypeError(f"layer {name!r} must be a Module, got {type(m).__name__}")
    return m


def _index(i, n, what):
    if not isinstance(i, int):
        raise TypeError(f"{what} indices must be ints or slices, got {type(i).__name__}")
    if not -n <= i < n:
        raise IndexError(f"{what} index {i} is out of range for length {n}")
    return i % n
