"""minicnn: a from-scratch convolutional-network library that teaches, and
really runs, the special applications of ConvNets.

Layers of the design, each using only itself and those before it (docs/architecture.md has
the full table; tests/test_layers.py checks it)::

    backend (NumPy / Numba / CuPy arrays and kernels)
      -> Tensor and autograd (minicnn.autograd, minicnn.ops, minicnn.tensor)
        -> minicnn.functional
          -> minicnn.nn, minicnn.optim
            -> minicnn.images, minicnn.cli_args (shared by the applications)
              -> applications: minicnn.face, minicnn.style, minicnn.visualize, minicnn.ecg, minicnn.volume
                -> command lines and python -m minicnn.demo
"""

from . import cuda, functional, nn, optim, random  # noqa: E402  (they build on the names above)
from .autograd import Function, enable_grad, is_grad_enabled, no_grad
from .backend import get_array_module, get_backend, set_backend, use_backend
from .gradcheck import GradcheckError, gradcheck
from .io import load, save
from .ops import abs, clip, concatenate, exp, log, matmul, maximum, mean, minimum, pad, sqrt, stack, where
from .random import seed
from .tensor import Tensor, as_tensor


def _version() -> str:
    """The installed distribution's version: written once, in pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("minicnn")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__version__ = _version()


def set_num_threads(n: int) -> None:
    """Threads used by the Numba kernels and by BLAS (see docs/performance.md)."""
    from .kernels import numba as numba_kernels

    numba_kernels.set_num_threads(n)


def get_num_threads() -> int:
    from .kernels import numba as numba_kernels

    return numba_kernels.get_num_threads()

__all__ = [
    "Tensor", "as_tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "gradcheck",
    "GradcheckError", "get_backend", "set_backend", "use_backend", "get_array_module", "save", "load",
    "seed", "random", "abs", "clip", "concatenate", "exp", "log", "matmul", "maximum", "mean",
    "minimum", "pad", "sqrt", "stack", "where", "cuda", "functional", "nn", "optim", "set_num_threads",
    "get_num_threads",
]
