"""``Tensor``: an array that remembers how it was computed.

A Tensor wraps a NumPy (or CuPy) array in ``.data``.  When it is the result
of an operation on tensors that require gradients, ``._ctx`` points to the
:class:`~minicnn.autograd.Function` that made it; following those links
backwards from a loss is what :meth:`Tensor.backward` does.

Conventions (as in PyTorch):

* ``.grad`` is a plain array of the tensor's backend (not a Tensor).  It is
  filled only for *leaf* tensors with ``requires_grad=True`` (parameters,
  inputs), and it **accumulates**: call :meth:`zero_grad` (or the optimizer's
  ``zero_grad``) between steps.
* Python lists and floats become float32, the default dtype of models; NumPy
  arrays keep their dtype, so float64 gradient checks stay float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import ops
from .autograd import backward as _run_backward
from .autograd import register_tensor
from .backend import device_of, get_array_module, is_cupy_array, to_numpy
from .hints import ArrayLike, DTypeLike

DEFAULT_DTYPE = np.float32


def _as_array(data, dtype):
    xp = get_array_module(data)
    if isinstance(data, (np.ndarray, np.generic)) or is_cupy_array(data):
        arr = data if dtype is None else data.astype(dtype, copy=False)
        return arr if isinstance(arr, xp.ndarray) else xp.asarray(arr)
    arr = np.asarray(data, dtype=dtype)
    if dtype is None and arr.dtype == np.float64:
        arr = arr.astype(DEFAULT_DTYPE)  # Python floats are float64; models are float32
    return arr


class Tensor:
    __array_priority__ = 200  # so that ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data: Tensor | ArrayLike, requires_grad: bool = False, dtype: DTypeLike | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        arr = _as_array(data, dtype)
        if arr.dtype.kind not in "biuf":
            what = "an object array" if arr.dtype == object else f"dtype {arr.dtype}"
            raise TypeError(f"Tensor: data must be numbers (bool, integer or float), got {what} "
                            f"of shape {arr.shape}")
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(
                f"Tensor: only floating-point tensors can require gradients, got dtype {arr.dtype} "
                f"(shape {arr.shape}); convert with .astype(np.float32)"
            )
        self.data = arr
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None
        self._retains_grad = False

    # ------------------------------------------------------------------ info
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)
    device = property(lambda self: device_of(self.data))
    is_leaf = property(lambda self: self._ctx is None)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.numpy(), precision=4, separator=", ", prefix="Tensor(")
        return f"Tensor({body}{grad})"

    # -------------------------------------------------------------- autograd
    def backward(self, grad=None, retain_graph=False):
        """Compute gradients of this tensor with respect to every leaf of its graph.

        ``grad`` (same shape as this tensor) is dL/d(self); it defaults to 1
        for a one-element tensor. The graph's saved arrays are freed afterwards
        unless ``retain_graph=True``.
        """
        _run_backward(self, grad, retain_graph)

    def _accumulate(self, g):
        g = g.astype(self.data.dtype, copy=False)
        self.grad = g.copy() if self.grad is None else self.grad + g

    def retain_grad(self):
        """Also keep ``.grad`` for this non-leaf tensor (useful when teaching)."""
        self._retains_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    def detach(self):
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor(self.data, requires_grad=False)

    def requires_grad_(self, flag=True):
        return self._set_requires_grad(flag)

    def _set_requires_grad(self, flag):
        if flag and self.dtype.kind != "f":
            raise TypeError(f"requires_grad_: dtype {self.dtype} cannot require gradients")
        self.requires_grad = bool(flag)
        return self

    # ------------------------------------------------------------ conversion
    def numpy(self):
        """The data as a NumPy array (copied to the host for a GPU tensor)."""
        return to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def astype(self, dtype):
        return ops.astype(self, dtype)

    def float(self):
        return ops.astype(self, np.float32)

    def double(self):
        return ops.astype(self, np.float64)

    def to(self, device):
        """A copy on ``"cpu"`` or ``"cuda"`` (a leaf keeps ``requires_grad``)."""
        if device not in ("cpu", "cuda"):
            raise ValueError(f"to: device must be 'cpu' or 'cuda', got {device!r}")
        if device == self.device:
            return self
        if device == "cuda":
            from .backend import _cupy

            if _cupy is None:
                raise RuntimeError("to('cuda'): CuPy is not installed; pip install 'minicnn[gpu]'")
            data = _cupy.asarray(self.data)
        else:
            data = to_numpy(self.data)
        return Tensor(data, requires_grad=self.requires_grad and self.is_leaf)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    # ------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __pow__(self, p):
        return ops.pow(self, p)

    def __rpow__(self, base):
        return ops.exp(ops.mul(self, float(np.log(base))))  # b**x = exp(x ln b)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    # Comparisons give plain boolean arrays: they have no gradient.
    def __lt__(self, other):
        return self.data < unwrap(other)

    def __le__(self, other):
        return self.data <= unwrap(other)

    def __gt__(self, other):
        return self.data > unwrap(other)

    def __ge__(self, other):
        return self.data >= unwrap(other)

    __hash__ = object.__hash__

    def __getitem__(self, index):
        if isinstance(index, tuple):  # the op takes raw arrays: a Tensor index is unwrapped here
            return ops.getitem(self, tuple(unwrap(i) for i in index))
        return ops.getitem(self, unwrap(index))

    # ------------------------------------------------------------ math
    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def clip(self, lo=None, hi=None):
        return ops.clip(self, lo, hi)

    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.sum(self, _pick(axis, dim), _pick(keepdims, keepdim))

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.mean(self, _pick(axis, dim), _pick(keepdims, keepdim))

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.max(self, _pick(axis, dim), _pick(keepdims, keepdim))

    def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.min(self, _pick(axis, dim), _pick(keepdims, keepdim))

    # ------------------------------------------------------------ shape
    def reshape(self, *shape):
        return ops.reshape(self, *shape)

    def view(self, *shape):
        return ops.reshape(self, *shape)

    def transpose(self, *axes):
        return ops.transpose(self, *axes)

    def permute(self, *axes):
        return ops.permute(self, *axes)

    @property
    def T(self):
        return ops.transpose(self)

    def flatten(self, start_dim=0, end_dim=-1):
        return ops.flatten(self, start_dim, end_dim)


def _pick(numpy_name, torch_name):
    """Accept both NumPy's (axis, keepdims) and PyTorch's (dim, keepdim) keywords."""
    return numpy_name if torch_name is None else torch_name


def as_tensor(x: Tensor | ArrayLike, like: Sequence = ()) -> Tensor:
    """Wrap ``x`` as a Tensor. Python scalars take the dtype and device of the
    first Tensor in ``like``, so that ``x * 2`` stays float32 on its device."""
    if isinstance(x, Tensor):
        return x
    ref = next((t for t in like if isinstance(t, Tensor)), None)
    if ref is not None and isinstance(x, (int, float, bool, np.generic)):
        xp = get_array_module(ref.data)
        dtype = ref.dtype if ref.dtype.kind == "f" else None
        return Tensor(xp.asarray(x, dtype=dtype))
    return Tensor(x)


def unwrap(a):
    """The raw array inside a :class:`Tensor`; anything else unchanged.

    Not ``getattr(a, "data", a)``: NumPy and CuPy arrays have a ``.data``
    attribute of their own (a memoryview; a device pointer), which must never
    be mistaken for the array.
    """
    return a.data if isinstance(a, Tensor) else a


register_tensor(Tensor, as_tensor)  # Function.__call__ wraps its results in this class
