"""Vectors across channels: strided loads and stores, and ``+``, ``-``, ``*`` on :class:`.simd.Vector`.

The Winograd transforms (:mod:`.winograd`) work on one tile of ``L`` channels
at a time (``L`` = one register, 16 float32 with AVX-512): lane ``k`` holds
channel ``c0 + k``.  In the channels-first layout the same cell of ``L``
channels lies ``H * W`` cells apart, so a tile's cells are read with one
*gather* each (lanes ``start + k * stride``) and an output tile is written
with one *scatter* each.  Written as loops over cells, those transforms were
many short loops over 10-30 tiles, each paying its own loop overhead and
LLVM's run-time alias checks (a fused tile transform has 16-36 loads and
stores, more than LLVM checks before it gives up vectorising); here every
value of a tile stays in a register from the gather to the store.

``a + b``, ``a - b`` and ``s * a`` (``s`` a number, ``a`` and ``b`` Vectors of
one type) are defined for Vectors, so one transform function such as
``_bt4(d0, ..., d5)`` serves scalars and vectors alike.

Lanes at or past ``count`` are not read (they are 0) and not written, so a
partial group of channels at the end needs no special case.
"""

from __future__ import annotations

import operator

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .simd import _OPAQUE_POINTERS, REGISTER_BYTES, Vector, _mask, _splat

_I32, _I64 = ir.IntType(32), ir.IntType(64)


def _lanes_of(arr):
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"
            and arr.dtype in (types.float32, types.float64)):
        raise TypeError("gather/scatter: a 1-d C-contiguous float32 or float64 array")
    return REGISTER_BYTES // (arr.dtype.bitwidth // 8)


def _pointers(context, builder, sig, args, lanes):
    """<lanes x ptr>: the addresses of ``arr[start + k * stride]`` (args: arr, start, stride)."""
    a = context.make_array(sig.args[0])(context, builder, args[0])
    start = context.cast(builder, args[1], sig.args[1], types.int64)
    stride = context.cast(builder, args[2], sig.args[2], types.int64)
    iota = ir.Constant(ir.VectorType(_I64, lanes), [ir.Constant(_I64, k) for k in range(lanes)])
    index = builder.add(_splat(builder, start, lanes), builder.mul(iota, _splat(builder, stride, lanes)))
    itemsize = context.get_abi_sizeof(context.get_value_type(sig.args[0].dtype))
    base = builder.ptrtoint(a.data, _I64)
    addr = builder.add(_splat(builder, base, lanes), builder.mul(index, _splat(builder, ir.Constant(_I64, itemsize),
                                                                                  lanes)))
    return builder.inttoptr(addr, ir.VectorType(a.data.type, lanes))


def _name(op, vty):
    """``llvm.masked.gather.v16f32.v16p0`` (opaque pointers, LLVM 15 on), ``...v16p0f32`` before."""
    element = "f32" if vty.element == ir.FloatType() else "f64"
    pointers = f"v{vty.count}p0" if _OPAQUE_POINTERS else f"v{vty.count}p0{element}"
    return f"llvm.masked.{op}.v{vty.count}{element}.{pointers}"


@intrinsic
def gather(typingctx, arr, start, stride, count):
    """Vector: lane ``k`` is ``arr[start + k * stride]`` for ``k < count``, else 0.  arr (S,) C-contiguous."""
    lanes = _lanes_of(arr)
    vt = Vector(arr.dtype, lanes)

    def codegen(context, builder, sig, args):
        ptrs = _pointers(context, builder, sig, args, lanes)
        vty = ir.VectorType(context.get_value_type(arr.dtype), lanes)
        count = context.cast(builder, args[3], sig.args[3], types.int64)
        fnty = ir.FunctionType(vty, [ptrs.type, _I32, ir.VectorType(ir.IntType(1), lanes), vty])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _name("gather", vty))
        return builder.call(fn, [ptrs, ir.Constant(_I32, arr.dtype.bitwidth // 8), _mask(builder, count, lanes),
                                 ir.Constant(vty, None)])

    return vt(arr, start, stride, count), codegen


@intrinsic
def scatter(typingctx, arr, start, stride, count, v):
    """``arr[start + k * stride] = v[k]`` for the lanes ``k < count``.  arr (S,) C-contiguous."""
    lanes = _lanes_of(arr)
    if not (isinstance(v, Vector) and v.dtype == arr.dtype and v.lanes == lanes):
        raise TypeError("scatter: a Vector of the array's dtype, one register wide")

    def codegen(context, builder, sig, args):
        ptrs = _pointers(context, builder, sig, args, lanes)
        count = context.cast(builder, args[3], sig.args[3], types.int64)
        vty = args[4].type
        fnty = ir.FunctionType(ir.VoidType(), [vty, ptrs.type, _I32, ir.VectorType(ir.IntType(1), lanes)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _name("scatter", vty))
        builder.call(fn, [args[4], ptrs, ir.Constant(_I32, arr.dtype.bitwidth // 8), _mask(builder, count, lanes)])
        return context.get_dummy_value()

    return types.none(arr, start, stride, count, v), codegen


@intrinsic
def zeros_like(typingctx, v):
    """A Vector of zeros shaped like ``v``."""
    if not isinstance(v, Vector):
        raise TypeError("zeros_like: a Vector")

    def codegen(context, builder, sig, args):
        return ir.Constant(args[0].type, None)

    return v(v), codegen


def _binary(name):
    @intrinsic
    def op(typingctx, a, b):
        if not (isinstance(a, Vector) and a == b):
            raise TypeError(f"{name}: two Vectors of one type")

        def codegen(context, builder, sig, args):
            return getattr(builder, name)(args[0], args[1])

        return a(a, b), codegen

    return op


_add, _sub, _mul = _binary("fadd"), _binary("fsub"), _binary("fmul")


@intrinsic
def _broadcast(typingctx, value, v):
    def codegen(context, builder, sig, args):
        return _splat(builder, context.cast(builder, args[0], value, v.dtype), v.lanes)

    return v(value, v), codegen


@overload(operator.add)
def _vector_add(a, b):
    if isinstance(a, Vector) and isinstance(b, Vector):
        return lambda a, b: _add(a, b)


@overload(operator.sub)
def _vector_sub(a, b):
    if isinstance(a, Vector) and isinstance(b, Vector):
        return lambda a, b: _sub(a, b)


@overload(operator.neg)
def _vector_neg(a):
    if isinstance(a, Vector):
        return lambda a: _sub(zeros_like(a), a)


@overload(operator.mul)
def _vector_scale(s, a):
    if isinstance(a, Vector) and isinstance(s, (types.Float, types.Integer)):
        return lambda s, a: _mul(_broadcast(s, a), a)


@intrinsic
def lane_sum(typingctx, v):
    """The sum of the lanes of a Vector (a float)."""
    if not isinstance(v, Vector):
        raise TypeError("lane_sum: a Vector")

    def codegen(context, builder, sig, args):
        vty = args[0].type
        suffix = f"v{v.lanes}{'f32' if v.dtype == types.float32 else 'f64'}"
        fnty = ir.FunctionType(vty.element, [vty.element, vty])
        fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.vector.reduce.fadd.{suffix}")
        return builder.call(fn, [ir.Constant(vty.element, 0.0), args[0]])

    return v.dtype(v), codegen
