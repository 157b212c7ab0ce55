"""Operations that move numbers around without changing them: reshape,
transpose, indexing, concatenation, padding, dtype casts.

Their backward passes move the gradient back the same way (reshape back,
transpose with the inverse permutation, scatter into the indexed positions,
split, crop).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..autograd import Function
from ..hints import ArrayLike

if TYPE_CHECKING:  # tensor.py imports ops
    from ..tensor import Tensor


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} into {self.shape}") from None

    def backward(self, gy):
        return (gy.reshape(self.in_shape),)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        if self.axes is None:
            self.axes = tuple(reversed(range(x.ndim)))
        if sorted(a % x.ndim for a in self.axes) != list(range(x.ndim)):
            raise ValueError(f"permute: axes {self.axes} are not a permutation of the {x.ndim} axes of {x.shape}")
        return x.transpose(self.axes)

    def backward(self, gy):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a % len(self.axes)] = i
        return (gy.transpose(inverse),)


def _is_basic(index):
    """Basic indexing (ints, slices, None, Ellipsis) never selects an element twice."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class GetItem(Function):
    """``x[index]``; ``index`` holds ints, slices, None, Ellipsis or raw arrays
    (``Tensor.__getitem__`` unwraps Tensors in it first)."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        gx = self.xp.zeros(self.in_shape, dtype=self.dtype)
        if _is_basic(self.index):
            gx[self.index] = gy
        else:  # fancy indexing may pick an element twice: gradients must add up
            self.xp.add.at(gx, self.index, gy)
        return (gx,)


class Stack(Function):
    """Join equal-shaped inputs along a new axis; backward takes each slice back."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.axis %= xs[0].ndim + 1
        return self.xp.stack(xs, axis=self.axis)

    def backward(self, gy):
        return tuple(self.xp.take(gy, i, axis=self.axis) for i in range(gy.shape[self.axis]))


class Concatenate(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        try:
            return self.xp.concatenate(xs, axis=self.axis)
        except ValueError:
            shapes = [x.shape for x in xs]
            raise ValueError(f"concatenate: shapes {shapes} do not match except along axis {self.axis}") from None

    def backward(self, gy):
        bounds, total = [], 0
        for n in self.sizes[:-1]:
            total += n
            bounds.append(total)
        return tuple(self.xp.split(gy, bounds, axis=self.axis))


class Pad(Function):
    """Constant padding; ``pad_width`` as in ``numpy.pad``: one (before, after) pair per axis."""

    def __init__(self, pad_width, value):
        self.pad_width, self.value = pad_width, value

    def forward(self, x):
        if len(self.pad_width) != x.ndim:
            raise ValueError(f"pad: pad_width has {len(self.pad_width)} pairs but the tensor has shape {x.shape}")
        return self.xp.pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, gy):
        crop = tuple(slice(lo, gy.shape[i] - hi) for i, (lo, hi) in enumerate(self.pad_width))
        return (gy[crop],)


class AsType(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return (gy.astype(self.in_dtype),)


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape(tuple(shape))(x)


def transpose(x, *axes):
    """Reverse the axes, or permute them as given (NumPy's ``transpose``)."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return Transpose(tuple(axes) if axes else None)(x)


def permute(x, *axes):
    return transpose(x, *axes)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes ``start_dim..end_dim`` into one (PyTorch's ``flatten``)."""
    shape = x.shape
    start, end = start_dim % max(len(shape), 1), end_dim % max(len(shape), 1)
    merged = 1
    for n in shape[start:end + 1]:
        merged *= n
    return reshape(x, tuple(shape[:start]) + (merged,) + tuple(shape[end + 1:]))


def getitem(x, index):
    return GetItem(index)(x)


def concatenate(tensors: Iterable[Tensor | ArrayLike], axis: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    return Concatenate(axis)(*tensors)


def stack(tensors: Iterable[Tensor | ArrayLike], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    shapes = {tuple(getattr(t, "shape", ())) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    ndim = len(shapes.pop()) + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"stack: axis {axis} is out of range for {ndim - 1}-dimensional tensors")
    return Stack(axis)(*tensors)


def pad(x: Tensor, pad_width: int | Sequence[int | tuple[int, int]], value: float = 0.0) -> Tensor:
    """Pad with a constant. ``pad_width`` as in ``numpy.pad``: an int, one
    (before, after) pair for all axes, or one pair per axis."""
    ndim = x.ndim
    if isinstance(pad_width, int):
        pad_width = ((pad_width, pad_width),) * ndim
    else:
        pad_width = tuple(tuple(p) if isinstance(p, (tuple, list)) else (p, p) for p in pad_width)
        if len(pad_width) == 1:
            pad_width = pad_width * ndim
    if any(lo < 0 or hi < 0 for lo, hi in pad_width):
        raise ValueError(f"pad: pad_width must be non-negative, got {pad_width}")
    return Pad(pad_width, value)(x)


def astype(x, dtype):
    return AsType(dtype)(x)
