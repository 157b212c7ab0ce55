"""Differentiable array operations on Tensors (elementwise math, reductions,
shape changes).  Each is a :class:`minicnn.autograd.Function` pair of
``forward``/``backward`` on raw arrays plus a lowercase wrapper."""

from .arith import abs, add, clip, div, exp, log, matmul, maximum, minimum, mul, neg, pow, sqrt, sub, where
from .reduce import max, mean, min, sum
from .shape import astype, concatenate, flatten, getitem, pad, permute, reshape, stack, transpose

__all__ = [
    "abs", "add", "clip", "div", "exp", "log", "matmul", "maximum", "minimum", "mul", "neg", "pow",
    "sqrt", "sub", "where", "max", "mean", "min", "sum", "astype", "concatenate", "flatten",
    "getitem", "pad", "permute", "reshape", "stack", "transpose",
]
