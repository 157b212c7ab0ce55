"""Explicit SIMD vectors for the compiled kernels: a register tile that LLVM cannot miss.

Numba hands loops to LLVM, whose vectoriser only ever vectorises the innermost
loop and keeps an accumulator in a register only when it is a plain local
value.  A convolution micro-kernel needs the opposite shape: a block of
accumulators (several output channels x a few vectors of positions) that
stays in registers across the whole loop over filter taps, so every input
load feeds many multiply-adds.  Written as loops over arrays, LLVM keeps those
accumulators in memory (a load and a store per multiply-add) or gives up on
vectorising (docs/performance.md, "thin layers").

So this module adds one Numba type, :class:`Vector`, an LLVM vector value
(``<lanes x float>``), and the few operations a micro-kernel needs, each a
Numba ``@intrinsic`` that emits a few LLVM instructions:

* :func:`load_rows` -- ``NV`` runs of ``L`` consecutive cells, each from its own
  start, as one vector of ``NV * L`` lanes; lanes past each run's count read
  nothing (a masked load) and are 0, so a run may end anywhere, even at the end
  of the array;
* :func:`store_rows` -- the inverse (a masked store: lanes past a count are
  not written);
* :func:`fma` -- ``acc + w * x`` with the scalar ``w`` broadcast to every lane,
  one rounding (``llvm.fma``);
* :func:`splat_like` -- a vector of one value, shaped like another.

``L`` is one hardware register: 64 bytes (16 float32 or 8 float64) on CPUs
with AVX-512, else 32 bytes.  A vector of ``NV * L`` lanes is ``NV`` registers;
LLVM splits it by itself (on any CPU, so the code stays correct everywhere).
``NV`` must be a power of two: LLVM turned a 3-register vector into scalar
moves (1.2 GMAC/s instead of 67).

Numba's cache is keyed on the source file of each compiled function: after
editing this file, delete the cache (``NUMBA_CACHE_DIR``) or the kernels that
use it keep their old machine code.
"""

from __future__ import annotations

import llvmlite.binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model


def _register_bytes():
    """Bytes of one SIMD register of the CPU Numba compiles for: 64 with AVX-512, else 32.

    Numba compiles for the host unless ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``
    name another CPU (a portable cache); then only features it lists count.
    """
    import numba

    if numba.config.CPU_FEATURES:
        return 64 if "+avx512f" in numba.config.CPU_FEATURES else 32
    if numba.config.CPU_NAME and numba.config.CPU_NAME != "host":
        return 32  # a named CPU without a feature list: assume no AVX-512 (e.g. "generic", "haswell")
    try:
        features = llvm_binding.get_host_cpu_features()
    except RuntimeError:  # not an x86 host, or features unknown: LLVM splits wider vectors anyway
        return 32
    return 64 if features.get("avx512f", False) else 32


REGISTER_BYTES = _register_bytes()


def lanes(dtype):
    """Lanes ``L`` of one register for a NumPy dtype (16 float32 with AVX-512)."""
    return REGISTER_BYTES // dtype.itemsize


class Vector(types.Type):
    """``lanes`` values of ``dtype`` (a Numba float type) held as one LLVM vector."""

    def __init__(self, dtype, lanes):
        self.dtype, self.lanes = dtype, lanes
        super().__init__(name=f"Vector({dtype} x {lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), fe_type.lanes))


_I32 = ir.IntType(32)


def _mask(builder, count, n):
    """<n x i1>: lane k is on when k < count (``count`` an i64; <= 0 gives no lane)."""
    iota = ir.Constant(ir.VectorType(count.type, n), [ir.Constant(count.type, k) for k in range(n)])
    splat = builder.insert_element(ir.Constant(ir.VectorType(count.type, n), None), count, ir.Constant(_I32, 0))
    splat = builder.shuffle_vector(splat, splat, ir.Constant(ir.VectorType(_I32, n), [0] * n))
    return builder.icmp_signed("<", iota, splat)


def _concat(builder, parts):
    """One vector of the parts (each ``<L x T>``) side by side."""
    while len(parts) > 1:
        joined = []
        for a, b in zip(parts[::2], parts[1::2]):
            na, nb = a.type.count, b.type.count
            if na != nb:  # shufflevector takes two vectors of one type: widen the shorter one
                b = builder.shuffle_vector(b, b, ir.Constant(ir.VectorType(_I32, na),
                                                             list(range(nb)) + [nb - 1] * (na - nb)))
            joined.append(builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(_I32, na + nb),
                                                                   list(range(na)) + [na + k for k in range(nb)])))
        if len(parts) % 2:
            joined.append(parts[-1])
        parts = joined
    return parts[0]


def _part(builder, v, k, n):
    """Lanes ``[k * n, (k + 1) * n)`` of v."""
    return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, n), list(range(k * n, (k + 1) * n))))


_OPAQUE_POINTERS = llvm_binding.llvm_version_info[0] >= 15  # LLVM 15 on: one pointer type, "ptr"


def _masked(builder, name, vty, ptr, args):
    """Call ``llvm.masked.load`` / ``llvm.masked.store`` of vty at ``ptr`` (an element pointer).

    The intrinsic's name carries its types: ``.v16f32.p0`` with opaque pointers,
    ``.v16f32.p0v16f32`` with the typed pointers of older LLVM.
    """
    vptr = builder.bitcast(ptr, vty.as_pointer())
    vname = f"v{vty.count}{'f32' if isinstance(vty.element, ir.FloatType) else 'f64'}"
    pname = "p0" if _OPAQUE_POINTERS else "p0" + vname
    args = [vptr] + args if name == "load" else args[:1] + [vptr] + args[1:]
    fnty = ir.FunctionType(vty if name == "load" else ir.VoidType(), [a.type for a in args])
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.{name}.{vname}.{pname}")
    return builder.call(fn, args)


def _check(arr, starts, counts):
    ok = (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"
          and arr.dtype in (types.float32, types.float64) and isinstance(starts, types.UniTuple)
          and isinstance(counts, types.UniTuple) and starts.count == counts.count
          and isinstance(starts.dtype, types.Integer) and isinstance(counts.dtype, types.Integer))
    if not ok:
        raise TypeError("load_rows/store_rows: a 1-d C-contiguous float array and two int tuples of one length")
    return arr.dtype.bitwidth // 8


@intrinsic
def load_rows(typingctx, arr, starts, offset, counts):
    """Vector of ``NV * L`` lanes: run k is ``arr[starts[k] + offset : ... + counts[k]]``, zeros after.

    arr (S,) C-contiguous; starts, counts (NV,) int tuples; ``counts[k] <= L``.
    """
    itemsize = _check(arr, starts, counts)
    nv, width = starts.count, REGISTER_BYTES // itemsize
    if nv & (nv - 1):
        raise TypeError(f"load_rows: {nv} runs; the count must be a power of two (see the module docstring)")
    vt = Vector(arr.dtype, nv * width)

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        eltype = context.get_value_type(arr.dtype)
        rty = ir.VectorType(eltype, width)
        zero = ir.Constant(rty, None)
        offset = context.cast(builder, args[2], sig.args[2], types.intp)
        parts = []
        for k in range(nv):
            start = context.cast(builder, builder.extract_value(args[1], k), starts.dtype, types.intp)
            count = context.cast(builder, builder.extract_value(args[3], k), counts.dtype, types.intp)
            ptr = builder.gep(a.data, [builder.add(start, offset)])
            parts.append(_masked(builder, "load", rty, ptr, [ir.Constant(_I32, itemsize),
                                                             _mask(builder, count, width), zero]))
        return _concat(builder, parts)

    return vt(arr, starts, offset, counts), codegen


@intrinsic
def store_rows(typingctx, arr, starts, counts, v):
    """``arr[starts[k] : starts[k] + counts[k]] = `` run k of v (lanes ``[k L, k L + counts[k])``).

    arr (S,) C-contiguous; starts, counts (NV,) int tuples; v a Vector of ``NV * L`` lanes.
    """
    itemsize = _check(arr, starts, counts)
    width = REGISTER_BYTES // itemsize
    if not isinstance(v, Vector) or v.lanes != starts.count * width or v.dtype != arr.dtype:
        raise TypeError("store_rows: the vector must hold len(starts) registers of the array's dtype")
    nv = starts.count

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        for k in range(nv):
            start = context.cast(builder, builder.extract_value(args[1], k), starts.dtype, types.intp)
            count = context.cast(builder, builder.extract_value(args[2], k), counts.dtype, types.intp)
            ptr = builder.gep(a.data, [start])
            part = _part(builder, args[3], k, width)
            _masked(builder, "store", part.type, ptr, [part, ir.Constant(_I32, itemsize), _mask(builder, count, width)])
        return context.get_dummy_value()

    return types.none(arr, starts, counts, v), codegen


def _splat(builder, value, n):
    vec = builder.insert_element(ir.Constant(ir.VectorType(value.type, n), None), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(vec, vec, ir.Constant(ir.VectorType(_I32, n), [0] * n))


@intrinsic
def fma(typingctx, w, x, acc):
    """``acc + w * x`` lane by lane, rounded once; ``w`` a scalar, ``x`` and ``acc`` Vectors of one type."""
    if not (isinstance(x, Vector) and x == acc and isinstance(w, types.Float)):
        raise TypeError("fma: a float and two vectors of one type")

    def codegen(context, builder, sig, args):
        wv = _splat(builder, context.cast(builder, args[0], w, x.dtype), x.lanes)
        vty = args[1].type
        suffix = f"v{x.lanes}{'f32' if x.dtype == types.float32 else 'f64'}"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.{suffix}")
        return builder.call(fn, [wv, args[1], args[2]])

    return acc(w, x, acc), codegen


@intrinsic
def splat_like(typingctx, value, v):
    """A vector shaped like ``v`` with ``value`` in every lane."""
    if not (isinstance(v, Vector) and isinstance(value, (types.Float, types.Integer))):
        raise TypeError("splat_like: a number and a vector")

    def codegen(context, builder, sig, args):
        return _splat(builder, context.cast(builder, args[0], value, v.dtype), v.lanes)

    return v(value, v), codegen
