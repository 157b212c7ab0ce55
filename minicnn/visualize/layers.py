"""Finding a layer by name and reading its output.

Layers are named the way ``Module.named_modules()`` names them: ``"0"``,
``"3"`` inside a ``Sequential``, ``"features.2"`` when nested, ``"conv1"`` for
an attribute.  A plain list of layers is named ``"0"``, ``"1"``, ...

To read a layer's output we run the model and catch that layer's result on
the way: its ``forward`` is shadowed for one call by an instance attribute,
which records the output and stops the forward pass (nothing after the layer
is computed).  This needs no hook API from the Module class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..nn import Module
from ..tensor import Tensor


class _Stop(Exception):
    """Raised inside the shadowed forward to end the pass early."""


def named_layers(model):
    """All sub-layers of ``model`` as ``[(name, layer), ...]`` (the model itself excluded)."""
    if isinstance(model, (list, tuple)):
        out = []
        for i, m in enumerate(model):
            out.append((str(i), m))
            out += [(f"{i}.{n}", c) for n, c in named_layers(m)]
        return out
    nm = getattr(model, "named_modules", None)
    if callable(nm):
        return [(n, m) for n, m in nm() if n != "" and m is not model]
    return []


def layer_names(model: Module | Sequence[Module]) -> list[str]:
    """Names of all layers that can be addressed (containers included)."""
    return [n for n, _ in named_layers(model)]


def get_layer(model: Module | Sequence[Module], name: str) -> Module:
    """The sub-layer called ``name``; a clear KeyError listing the names otherwise."""
    name = str(name)
    for n, m in named_layers(model):
        if n == name:
            return m
    described = ", ".join(f"{n} ({type(m).__name__})" for n, m in named_layers(model))
    raise KeyError(f"layer {name!r} not found; the model has: {described or 'no named layers'}")


def _run(model, x):
    if isinstance(model, (list, tuple)):
        for m in model:
            x = m(x)
        return x
    return model(x)


def forward_to(model: Module | Sequence[Module], x: Tensor | np.ndarray, layer: str | None) -> Tensor:
    """Run ``model`` on ``x`` and return the output of ``layer`` (a Tensor, graph intact).

    ``layer`` is a name or None (the model's final output).  The rest of the
    network after ``layer`` is not evaluated.
    """
    if layer is None or layer == "":
        return _run(model, x)
    target = get_layer(model, layer)
    caught = {}
    original = target.forward  # the bound method of the class

    def catching_forward(*args, **kwargs):
        caught["y"] = original(*args, **kwargs)
        raise _Stop

    # Shadow the class method with an instance attribute for this one call;
    # object.__setattr__ keeps Module.__setattr__ from registering anything.
    object.__setattr__(target, "forward", catching_forward)
    try:
        y = _run(model, x)
    except _Stop:
        y = caught["y"]
    finally:
        object.__delattr__(target, "forward")
    if "y" not in caught:
        raise RuntimeError(f"layer {layer!r} was not called during the forward pass of the model")
    return y


def model_input(model, array, requires_grad=False):
    """``array`` as a leaf Tensor on the device of the model's parameters (CPU or CUDA)."""
    import minicnn as mc

    t = mc.Tensor(array, requires_grad=requires_grad)
    params = model.parameters() if hasattr(model, "parameters") else ()
    first = next(iter(params), None)
    device = getattr(first, "device", "cpu")
    return t if device == "cpu" else t.to(device)


def to_array(t):
    """A minicnn Tensor, a PyTorch tensor or an array as a NumPy array (copied from the GPU if needed)."""
    from minicnn.backend import is_cupy_array, to_numpy

    if is_cupy_array(t) or isinstance(t, np.ndarray):  # cupy first: its test stand-in subclasses ndarray
        return to_numpy(t)
    numpy = getattr(t, "numpy", None)  # a minicnn or PyTorch tensor
    return np.asarray(numpy()) if callable(numpy) else to_numpy(t)


def check_units(units, n_units, layer):
    """``units`` as a list of ints, each in range ``[0, n_units)``; None means all."""
    if units is None:
        return list(range(n_units))
    if np.ndim(units) == 0:
        units = [units]
    units = [int(u) for u in units]
    bad = [u for u in units if not 0 <= u < n_units]
    if bad:
        raise ValueError(f"units {bad} out of range for layer {layer!r}, which has {n_units} "
                         f"units (channels) 0..{n_units - 1}")
    return units
