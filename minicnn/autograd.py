"""Reverse-mode automatic differentiation: the ``Function`` base class and the
backward pass.

Every differentiable operation is a subclass of :class:`Function` with two
methods that work on **raw arrays** (NumPy or CuPy), never on Tensors::

    class Exp(Function):
        def forward(self, x):
            self.y = self.xp.exp(x)
            return self.y

        def backward(self, gy):
            return (gy * self.y,)          # d exp(x)/dx = exp(x)

Calling ``Exp()(t)`` unwraps the Tensors, runs ``forward``, wraps the result in
a new Tensor and, when gradients are being recorded, remembers the inputs so
that :func:`backward` can later apply the chain rule.

Keeping ``backward`` on raw arrays (like ``torch.autograd.Function``) means a
fast Numba or CuPy kernel can be dropped in as the body of ``backward``.

This module sits below :mod:`minicnn.tensor` (``Tensor.backward`` calls
:func:`backward` here), so it never imports it: ``tensor.py`` hands over the
``Tensor`` class and its ``as_tensor`` converter with :func:`register_tensor`
as soon as they are defined.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .backend import device_of, get_array_module
from .hints import ArrayLike

if TYPE_CHECKING:  # tensor.py imports this module
    from .tensor import Tensor

_grad_enabled = [True]
_tensor = {}  # "Tensor" and "as_tensor", set by minicnn/tensor.py through register_tensor


def register_tensor(tensor_class, as_tensor) -> None:
    """Called once by ``minicnn/tensor.py``: the class that wraps every result of a
    :class:`Function`, and the converter for its inputs (scalars, arrays, Tensors)."""
    _tensor["Tensor"] = tensor_class
    _tensor["as_tensor"] = as_tensor


def is_grad_enabled() -> bool:
    return _grad_enabled[0]


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Within this block operations are not recorded (inference, optimizer steps)."""
    previous = _grad_enabled[0]
    _grad_enabled[0] = False
    try:
        yield
    finally:
        _grad_enabled[0] = previous


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    previous = _grad_enabled[0]
    _grad_enabled[0] = True
    try:
        yield
    finally:
        _grad_enabled[0] = previous


class AutogradError(RuntimeError, ValueError):
    """A backward pass that cannot run (freed graph, missing gradient)."""


class Function:
    """Base class of every differentiable operation (see the module docstring)."""

    inputs: tuple = ()
    freed = False

    def __call__(self, *inputs: Tensor | ArrayLike) -> Tensor:
        as_tensor = _tensor["as_tensor"]
        tensors = tuple(as_tensor(x, like=inputs) for x in inputs)
        devices = {device_of(t.data) for t in tensors}
        if len(devices) > 1:
            shapes = ", ".join(f"{device_of(t.data)}:{t.shape}" for t in tensors)
            raise ValueError(
                f"{type(self).__name__}: inputs are on different devices ({shapes}); "
                "move them with .to('cpu') or .to('cuda') first"
            )
        self.xp = get_array_module(*(t.data for t in tensors))
        self.needs_input_grad = tuple(t.requires_grad for t in tensors)
        output = self.forward(*(t.data for t in tensors))
        record = is_grad_enabled() and any(self.needs_input_grad)
        result = _tensor["Tensor"](output, requires_grad=record)
        if record:
            self.inputs = tensors
            self._output_id = id(result)
            result._ctx = self
        return result

    def forward(self, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, gy):
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _topological_order(root):
    """Functions reachable from ``root``, each listed after every function that
    consumes its output, so a gradient is complete before it is propagated.

    Iterative depth-first search (a deep network would overflow Python's
    recursion limit); the order is deterministic because inputs are tuples.
    """
    order, visited = [], set()
    stack = [(root._ctx, False)]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if id(fn) in visited:
            continue
        visited.add(id(fn))
        stack.append((fn, True))
        for t in fn.inputs:
            if t._ctx is not None and id(t._ctx) not in visited:
                stack.append((t._ctx, False))
    return order[::-1]


def backward(root, grad=None, retain_graph=False):
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    ``grad`` is the upstream gradient dL/d(root); it may be omitted only when
    ``root`` holds a single element (then it is 1).
    """
    xp = get_array_module(root.data)
    if not root.requires_grad:
        raise AutogradError(
            "backward: this tensor does not require grad and has no graph "
            "(was it created under no_grad(), or from inputs with requires_grad=False?)"
        )
    if grad is None:
        if root.data.size != 1:
            raise AutogradError(
                f"backward: grad can be implicitly created only for a scalar output, "
                f"but the output has shape {root.shape}; pass grad= of that shape"
            )
        grad = xp.ones_like(root.data)
    else:
        grad = xp.asarray(grad.data if isinstance(grad, _tensor["Tensor"]) else grad, dtype=root.data.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"backward: grad has shape {grad.shape} but the output has shape {root.shape}")

    if root._ctx is None:  # a leaf: d(root)/d(root) = 1
        root._accumulate(grad)
        return

    grads = {id(root): grad}
    for fn in _topological_order(root):
        if fn.freed:
            raise AutogradError(
                f"backward: trying to backward through {type(fn).__name__} a second time; its "
                "saved arrays were freed after the first backward (use backward(retain_graph=True))"
            )
        out_id = fn._output_id
        gy = grads.pop(out_id, None)
        if gy is None:  # this branch does not influence root
            continue
        gxs = fn.backward(gy)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        for t, gx in zip(fn.inputs, gxs):
            if gx is None or not t.requires_grad:
                continue
            if gx.shape != t.shape:
                raise AutogradError(
                    f"{type(fn).__name__}.backward returned a gradient of shape {gx.shape} "
                    f"for an input of shape {t.shape}"
                )
            if t._ctx is None:
                t._accumulate(gx)
            else:
                if t._retains_grad:
                    t._accumulate(gx)
                key = id(t)
                grads[key] = grads[key] + gx if key in grads else gx
        if not retain_graph:
            _free(fn)


def _free(fn):
    """Drop the arrays a Function saved for backward, so memory is returned
    as soon as the pass is over; a second backward then raises clearly."""
    keep = {"inputs", "_output_id", "xp", "needs_input_grad"}
    for name in list(vars(fn)):
        if name not in keep:
            delattr(fn, name)
    fn.freed = True
