"""``Module``: the base class of every layer and model.

A Module owns three ordered registries, filled by plain attribute
assignment (as in PyTorch)::

    self.conv = Conv2d(1, 8, 3)                   # a submodule -> _modules
    self.scale = Parameter(np.ones(8))            # a learned tensor -> _parameters
    self.register_buffer("running_mean", zeros)   # saved state, not learned -> _buffers

From them follow ``parameters()`` (what the optimizer updates),
``state_dict()`` (what is saved: parameters and buffers under dotted names
such as ``"features.0.weight"``), ``train()/eval()`` (switching Dropout and
BatchNorm everywhere below) and ``zero_grad()``.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any

import numpy as np

from .. import io
from ..backend import get_array_module, to_numpy
from ..tensor import Tensor
from .parameter import Parameter

__all__ = ["Module", "IncompatibleKeys"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class _HookHandle:
    def __init__(self, hooks, key):
        self.hooks, self.key = hooks, key

    def remove(self):
        self.hooks.pop(self.key, None)


class Module:
    """Base class: subclasses set layers/parameters in ``__init__`` (after
    ``super().__init__()``) and define ``forward``; call the module itself."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # --------------------------------------------------------- registration
    def _registries(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() was called: "
                                 f"call super().__init__() first in {type(self).__name__}.__init__")
        return self._parameters, self._buffers, self._modules

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Module)):
            params, buffers, modules = self._registries(name)
            for registry in (params, buffers, modules):
                registry.pop(name, None)
            self.__dict__.pop(name, None)
            (params if isinstance(value, Parameter) else modules)[name] = value
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} of "
                                f"{type(self).__name__} (a Parameter or None is expected)")
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            self._buffers[name] = _as_buffer(value, name)
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                "(a Module or None is expected)")
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(registry, {}):
                del self.__dict__[registry][name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=False``)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        params, buffers, modules = self._registries(name)
        if name in buffers or name in modules or (name in self.__dict__):
            raise KeyError(f"register_parameter: attribute {name!r} already exists")
        params[name] = param

    def register_buffer(self, name, value):
        """Register state that is saved in ``state_dict`` but not learned
        (e.g. BatchNorm's running mean). ``value``: array, Tensor or None."""
        params, buffers, modules = self._registries(name)
        if name in params or name in modules or (name in self.__dict__):
            raise KeyError(f"register_buffer: attribute {name!r} already exists")
        buffers[name] = _as_buffer(value, name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self._registries(name)[2][name] = module

    # ------------------------------------------------------------- forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every forward (to record
        activations, e.g. for visualisation); a non-None return replaces the
        output. Returns a handle whose ``remove()`` unregisters the hook."""
        key = object()
        self._forward_hooks[key] = hook
        return _HookHandle(self._forward_hooks, key)

    # ----------------------------------------------------------- traversal
    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix="", _seen=None):
        """(name, module) for this module and every descendant, depth first,
        with dotted names ("" for this module, then "features", "features.0", ...)."""
        seen = set() if _seen is None else _seen
        if id(self) in seen:
            return
        seen.add(id(self))
        yield prefix, self
        for name, m in self.named_children():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name, seen)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def _named_tensors(self, registry, recurse=True):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for prefix, m in modules:
            for name, t in getattr(m, registry).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))  # a shared (tied) tensor is listed once
                yield (f"{prefix}.{name}" if prefix else name), t

    def named_parameters(self, recurse=True):
        """(dotted name, Parameter) pairs, in registration order, each Parameter once."""
        yield from self._named_tensors("_parameters", recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse):
            yield p

    def named_buffers(self, recurse=True):
        yield from self._named_tensors("_buffers", recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(m)`` for every submodule (children first) and this module; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # --------------------------------------------------------------- modes
    def train(self, mode=True):
        """Set training mode here and below (Dropout drops, BatchNorm uses batch stats)."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter, e.g. a pretrained feature extractor."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self):
        """Forget the accumulated gradients of all parameters (``grad = None``)."""
        for p in self.parameters():
            p.grad = None

    # -------------------------------------------------------------- state
    def state_dict(self):
        """Ordered dict ``dotted name -> array`` of every parameter and buffer.

        The arrays are copies, so a saved snapshot is not changed by later
        training steps. A submodule used twice (shared) is saved once, under
        its first name.
        """
        state = OrderedDict()
        for prefix, m in self.named_modules():
            for registry in ("_parameters", "_buffers"):
                for name, t in getattr(m, registry).items():
                    if t is not None:
                        state[f"{prefix}.{name}" if prefix else name] = t.data.copy()
        return state

    def _state_tensors(self):
        out = OrderedDict()
        for prefix, m in self.named_modules():
            for registry in ("_parameters", "_buffers"):
                for name, t in getattr(m, registry).items():
                    if t is not None:
                        out[f"{prefix}.{name}" if prefix else name] = t
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` (name -> array or Tensor) into this
        model's parameters and buffers, in place.

        Every key's shape must match (a ValueError names the key and both
        shapes). With ``strict`` (default) the keys must match exactly: a
        missing or unexpected key raises a KeyError naming it. Nothing is
        changed unless everything is valid. Returns ``(missing_keys, unexpected_keys)``.
        """
        own = self._state_tensors()
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict: expected a dict of name -> array, got {type(state_dict).__name__}")
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing key(s) {missing}")
            if unexpected:
                parts.append(f"unexpected key(s) {unexpected}")
            raise KeyError(f"load_state_dict into {type(self).__name__}: " + "; ".join(parts))
        updates = []
        for key, t in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value.data if isinstance(value, Tensor) else value
            shape = tuple(np.shape(value)) if not hasattr(value, "shape") else tuple(value.shape)
            if shape != t.shape:
                raise ValueError(f"load_state_dict: shape mismatch for {key!r}: the checkpoint has "
                                 f"{shape}, the model has {t.shape}")
            dtype = getattr(value, "dtype", None)
            if dtype is not None and dtype.kind not in "biuf":
                raise TypeError(f"load_state_dict: {key!r} holds non-numeric data of dtype {dtype}")
            updates.append((t, value))
        for t, value in updates:
            xp = get_array_module(t.data)
            value = xp.asarray(to_numpy(value) if xp is np else value)
            t.data[...] = value.astype(t.dtype, copy=False)
        return IncompatibleKeys(missing, unexpected)

    def save(self, path, meta=None):
        """Write ``state_dict()`` and ``meta`` (a JSON-able dict) to ``path``
        (``.npz``, atomically). Returns the path written."""
        return io.save(self, path, meta=meta)

    def load(self, path, strict=True):
        """Load weights written by :meth:`save` (or :func:`minicnn.save`) into
        this model, validating keys and shapes. Returns the stored ``meta`` dict."""
        state, meta = io.load(path)
        self.load_state_dict(state, strict=strict)
        return meta

    # ------------------------------------------------------------- devices
    def _convert(self, fn):
        for t in list(self.parameters()) + list(self.buffers()):
            t.data = fn(t.data)
            if t.grad is not None:
                t.grad = fn(t.grad)
        return self

    def to(self, device):
        """Move every parameter and buffer to ``"cpu"`` or ``"cuda"`` in place
        (Parameters stay the same objects, so an optimizer built before still works)."""
        if device not in ("cpu", "cuda"):
            raise ValueError(f"to: device must be 'cpu' or 'cuda', got {device!r}")
        return self._convert(lambda a: Tensor(a).to(device).data)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def double(self):
        """Cast floating-point parameters and buffers to float64 (for gradient checks)."""
        return self._convert(lambda a: a.astype(np.float64) if a.dtype.kind == "f" else a)

    def float(self):
        """Cast floating-point parameters and buffers to float32."""
        return self._convert(lambda a: a.astype(np.float32) if a.dtype.kind == "f" else a)

    # ---------------------------------------------------------------- repr
    def extra_repr(self):
        """One-line description of this layer's settings, shown by ``repr``."""
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _as_buffer(value, name):
    if value is None or isinstance(value, Tensor):
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return Tensor(value)
    raise TypeError(f"buffer {name!r} must be an array, a Tensor or None, got {type(value).__name__}")
