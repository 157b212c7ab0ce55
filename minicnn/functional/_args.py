"""Argument checks shared by every functional op (and by the ``nn`` layers).

One home for them, so that every op turns a bad argument into the same kind of
one-line error: the function's name, the argument's name, and what it got.
Private: the public API is the ops themselves.
"""

from __future__ import annotations

import numbers

from ..tensor import Tensor, as_tensor


def is_int(v) -> bool:
    """A Python or NumPy integer, but not a bool (``True`` is no kernel size)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def ntuple(value, d, name, fn, minimum=1):
    """``3 -> (3, 3)`` for ``d = 2``; a tuple must have ``d`` entries, each an
    int ``>= minimum``.  Raises TypeError/ValueError naming ``fn`` and ``name``."""
    if is_int(value):
        values = (int(value),) * d
    elif isinstance(value, (tuple, list)) and all(is_int(v) for v in value):
        if len(value) != d:
            raise ValueError(f"{fn}: {name} must be an int or a tuple of {d} ints, got {tuple(value)!r}")
        values = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{fn}: {name} must be an int or a tuple of {d} ints, got {value!r}")
    if any(v < minimum for v in values):
        what = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{fn}: {name} must be {what}, got {values}")
    return values


def resolve_padding(padding, kernel, stride, dilation, fn="conv"):
    """Padding as one ``(lo, hi)`` pair per spatial axis.

    Accepts ``"valid"``, ``"same"``, an int, or a tuple whose entries are ints
    (both sides) or ``(lo, hi)`` pairs.  ``kernel``, ``stride`` and
    ``dilation`` are already tuples of ``d`` ints.
    """
    d = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * d
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"{fn}: padding='same' needs stride 1 (the output could not keep the input size), "
                    f"got stride {stride}"
                )
            totals = [dl * (k - 1) for k, dl in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"{fn}: padding must be 'valid', 'same', an int or a tuple, got {padding!r}")
    if isinstance(padding, (tuple, list)) and len(padding) == d and any(isinstance(p, (tuple, list)) for p in padding):
        pairs = []
        for p in padding:  # (lo, hi), or one int for both sides
            if isinstance(p, (tuple, list)):
                pairs.append(ntuple(p, 2, "padding", fn, minimum=0))
            else:
                pairs.append(ntuple(p, 1, "padding", fn, minimum=0) * 2)
        return tuple(pairs)
    return tuple((p, p) for p in ntuple(padding, d, "padding", fn, minimum=0))


def spatial_names(d) -> str:
    """How the docs name ``d`` spatial axes: ``"L"``, ``"H, W"``, ``"D, H, W"``."""
    return {1: "L", 2: "H, W", 3: "D, H, W"}.get(d, ", ".join(f"S{i}" for i in range(d)))


def to_tensor(value, name, fn) -> Tensor:
    """``as_tensor`` with an error message that names the argument."""
    try:
        return as_tensor(value)
    except TypeError as exc:
        raise TypeError(f"{fn}: {name} must be a floating-point array or Tensor ({exc})") from None


def check_float(t, name, fn) -> None:
    """Gradients need floating-point numbers: reject an integer or object array."""
    if t.dtype.kind != "f":
        raise TypeError(
            f"{fn}: {name} must be a floating-point array, got dtype {t.dtype} (shape {t.shape}); "
            "convert with .astype(np.float32)"
        )


def float_input(fn, x, name="input") -> Tensor:
    """``x`` as a Tensor, checked to hold floating-point numbers."""
    t = to_tensor(x, name, fn)
    check_float(t, name, fn)
    return t


def check_dim(fn, dim, ndim) -> int:
    """``dim`` in ``[-ndim, ndim)`` as a non-negative axis index."""
    if ndim == 0 or not -ndim <= dim < ndim:
        raise ValueError(f"{fn}: dim={dim} is out of range for a tensor with {ndim} dimensions")
    return dim % ndim
