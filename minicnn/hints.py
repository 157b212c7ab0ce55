"""Type aliases shared by the public API's hints (CONTRIBUTING.md, "Type hints").

Only what several modules would otherwise spell out again; shapes are not types and stay in
the docstrings. Where ``np.ndarray`` is written, a CuPy array is accepted as well on the GPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

#: Numbers ``np.asarray`` accepts: an array, a Python or NumPy scalar, or nested sequences.
#: Functions that also take a Tensor write ``Tensor | ArrayLike``.
ArrayLike = np.ndarray | np.generic | float | int | Sequence

#: A file name: a string or a path object.
PathLike = str | os.PathLike

#: A size per spatial axis, or one int for every axis (kernel_size, stride, padding, ...).
Size = int | tuple[int, ...]

#: A NumPy dtype or anything ``np.dtype`` accepts (``np.float32``, ``"float64"``).
DTypeLike = np.dtype | type | str

#: Convolution padding: a ``Size``, per-axis ``(lo, hi)`` pairs, ``"same"`` or ``"valid"``.
Padding = int | tuple[int | tuple[int, int], ...] | str
