"""Winograd F(m x m, 3 x 3) convolution, compiled: the fast path of :mod:`minicnn.kernels.winograd`.

Used by :mod:`minicnn.kernels.numba.conv` for 2D 3x3 convolutions with stride
1, dilation 1 and padding 0-2 (forward, input gradient, and weight gradient
as the adjoint of the forward: :func:`conv_backward_weight`), where it is
faster (:func:`choose`).

How one call runs
-----------------
1. Filter transform, once per call: ``U[xi] = (G w G^T)[xi]``, stored as
   ``a*a`` contiguous ``(C_in, C_out)`` matrices (compiled, ranges of input
   channels on the worker threads).  Its parts go first in the same queue
   of work units as the blocks below; a block transforms its input tiles,
   then waits for U (no barrier between the two steps: 1-3 % faster on the
   two-thread layers of docs/performance.md).
   "auto" takes F(4x4) up to 128 input channels, F(3x3) above while the
   filters are few enough, else F(2x2) (:func:`choose`).
2. The output is cut into blocks of *tile rows* (a tile row is ``m`` output
   rows of one sample, ``tw = ceil(W'/m)`` tiles).  Blocks run on minicnn's
   worker threads (:func:`.threads.run_jobs`; BLAS held to one thread each):
   at least two per worker when there are enough tile rows, else as large as
   ``BLOCK_BYTES`` of transformed input and products allows (2 MiB, a core's
   L2 cache: on one thread 1-16 MiB ran within 5 % of each other once the
   transforms stopped being passes over memory; on two, 8 MiB blocks were
   20-35 % slower, both threads streaming from L3), and at least
   ``MIN_TILES`` tiles.  Per block:

   * input transform (compiled, :func:`.winograd_tiles.input_tiles`): one
     tile of 16 channels at a time (one register per cell, gathered from the
     channels-first input), ``V = BT d B`` in registers, stored as
     ``V (a*a, tiles, C_in)``;
   * ``a*a`` matrix products ``M[xi] = V[xi] @ U[xi]`` in one batched
     ``np.matmul`` (OpenBLAS): the sum over input channels (V and M each
     ``a*a`` matrices, ``CELL_PAD`` bytes apart, see :mod:`.winograd_tiles`);
   * output transform (:func:`.winograd_output.output_tiles`): ``Y = AT M A``
     plus the bias for 16 output channels at a time, scattered into ``y``;
     the last tile of a row or column may hang over the edge and its extra
     outputs are dropped.

   (Until issue 16 the transforms ran as many short loops over the tiles of
   a block, one per cell, and took as long as the products: 8,64,56x56 F(4x4),
   one thread, 8.2 ms input and 5.7 ms output transform, now 1.8 and 1.2.)

3. An ``inf`` or ``nan`` anywhere in the output (the transforms turn
   ``inf - inf`` into ``nan`` where the direct convolution keeps ``inf``) makes
   the call return ``None`` and the caller recompute it directly.  The check
   is a running ``v - v`` sum in the output pass, so it costs nothing extra.

Switch: ``MINICNN_WINOGRAD`` (environment) or :func:`set_mode`: ``"auto"``
(default: the measured rule of :func:`choose`), ``"off"``, ``"F2"``, ``"F3"``
or ``"F4"`` (that tile size wherever Winograd applies, for tests and timing).
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

from ..winograd import applies
from .scratch import empty_aligned, scratch
from .shared_products import SharedProducts, chunks
from .simd import lanes
from .threads import get_num_threads, run_jobs
from .winograd_filters import filter_tiles, grad_filter_tiles
from .winograd_output import output_tiles, unstage
from .winograd_tiles import input_tiles

__all__ = ["conv_forward", "conv_backward_input", "conv_backward_weight", "choose", "set_mode", "get_mode", "use_mode",
           "MODES", "warm_up"]

MODES = ("auto", "off", "F2", "F3", "F4")
_state = {"mode": os.environ.get("MINICNN_WINOGRAD", "auto")}
BLOCK_BYTES = 2 << 20  # transformed input + products of one block (measured 0.5-16 MiB: see _blocks) ...
MIN_CHANNELS = 32  # "auto" needs this many input and output channels (measured, see choose)
MIN_TILES = 96  # ... but at least this many tiles, or the a*a matrix products get too thin for BLAS
F4_MAX_CHANNELS = 128  # "auto": F(4x4) up to this many input channels (its float32 error grows with them)
F3_MAX_FILTERS = 256 * 256  # "auto" above that: F(3x3) up to this many filters (C_in * C_out), else F(2x2)
SHARED_TAIL = (6, 1)  # one block per worker: the last 6 cells of its products, one by one, may go to another thread
CELL_PAD = 64  # bytes between the a*a matrices of V and M beyond their own size (see .winograd_tiles)
U_MATRICES_BYTES = 8 << 20  # a filter transform up to this size is stored as contiguous matrices (filter_tiles)


def set_mode(mode):
    """``"auto"`` | ``"off"`` | ``"F2"`` | ``"F3"`` | ``"F4"`` (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"winograd mode must be one of {MODES}, got {mode!r}")
    _state["mode"] = mode


@contextlib.contextmanager
def use_mode(mode):
    """``with use_mode("off"): ...``: :func:`set_mode` for a block, restored after."""
    saved = _state["mode"]
    set_mode(mode)
    try:
        yield
    finally:
        _state["mode"] = saved


def get_mode():
    """The current mode (``MINICNN_WINOGRAD`` until :func:`set_mode` is called)."""
    mode = _state["mode"]
    if mode not in MODES:
        raise ValueError(f"MINICNN_WINOGRAD must be one of {MODES}, got {mode!r}")
    return mode


def choose(n, c_in, c_out, oh, ow, workers=1):
    """The tile size ``m`` (2, 3 or 4) for a forward-shaped call, or ``None`` when the direct kernels are faster.

    Measured on the 2-core development machine (docs/performance.md,
    "Winograd"):

    * the transforms are memory passes over the input and the output, so
      Winograd pays only when the ``a*a`` matrix products dominate:
      ``C_in >= 32`` and ``C_out >= 32`` (8,16,32x32->16: 1.42 ms against
      1.22 direct; 32,64,8x8->64: 2.11 against 3.15);
    * a block needs about ``MIN_TILES`` tiles or its products are too thin
      for BLAS, so the call needs ``MIN_TILES`` tiles per worker thread (a
      batch-1 16x16 layer of 512 channels has only 64 F(2x2) tiles: direct);
    * "auto" takes F(4x4) when ``C_in <= F4_MAX_CHANNELS`` (128).  F(4x4)
      has 4x fewer multiplies against 2.25x, and since the transforms work
      on registers of 16 channels (:mod:`.winograd_tiles`) it is the faster
      one (one thread, issue 16: 8,64,56x56 forward 9.8 ms against 14.7 for
      F(2x2); 8,128,34x34 10.6 against 14.5).  Its float32 error grows with
      the number of channels summed (docs/convolution.md: about 5e-6 of the
      largest output at 64 channels, 9e-6 at 128, 1.5e-5 at 256, against
      3e-7 to 8e-7 for F(2x2) and 6e-7 to 1.3e-6 for the direct kernel);
    * wider layers take F(3x3) (2.78 multiplies per output against F(2x2)'s
      4; error 4-6e-6 at 256-512 channels, below F(4x4)'s at 128) when
      ``C_in * C_out <= F3_MAX_FILTERS`` and it has ``MIN_TILES`` tiles per
      worker, else F(2x2).  Two threads, alternating (docs/performance.md):
      8,256,14x14 forward 0.95, input gradient 0.93, weight gradient 0.92 of
      F(2x2)'s time; 1,256,56x56 0.92-0.94; 2,256,28x28 0.90-0.91.  Its 25
      filter matrices are 1.56x F(2x2)'s, and where they outgrow the caches
      the products lose what the multiplies save (8,512,14x14: 1.01-1.04).
    * ``"F2"`` or ``"off"`` give direct-kernel accuracy everywhere; ``"F3"``
      and ``"F4"`` force those tile sizes.
    """
    mode = get_mode()
    if mode == "off":
        return None
    if mode in ("F2", "F3", "F4"):
        return int(mode[1])
    if min(c_in, c_out) < MIN_CHANNELS or n * -(-oh // 2) * -(-ow // 2) < MIN_TILES * workers:
        return None
    if c_in <= F4_MAX_CHANNELS:
        return 4
    if c_in * c_out <= F3_MAX_FILTERS and n * -(-oh // 3) * -(-ow // 3) >= MIN_TILES * workers:
        return 3
    return 2


# ----------------------------------------------------------------------------
# Python side (the compiled transforms are in .winograd_tiles and .winograd_filters)
# ----------------------------------------------------------------------------
def _filter_transform(w, m, flipped=False, layout=None):
    """U (a*a, C, O) with ``U[i*a + j, c, o] = (G w[o, c] G^T)[i, j]`` (see
    :func:`.winograd_filters.filter_tiles` for the two layouts), ranges of input channels on
    minicnn's worker threads.
    ``flipped``: w is (C, O, 3, 3), and the filter its transpose turned by 180 degrees."""
    U, job, starts, work = _filter_plan(w, m, flipped, layout)
    run_jobs(job, starts, work)
    return U


def _filter_plan(w, m, flipped=False, layout=None, kept=False):
    """``(U, job, starts, work)``: U as :func:`_filter_transform` returns it, still unset, and
    ``job(start)`` for each of ``starts`` fills its part (``work`` multiply-adds in all).
    ``kept``: U is the calling thread's scratch array (valid until its next call)."""
    o, c = w.shape[1::-1] if flipped else w.shape[:2]
    a = m + 2
    pad = 64 // w.dtype.itemsize
    if layout is None:
        layout = "matrices" if a * a * c * o * w.dtype.itemsize <= U_MATRICES_BYTES else "channels"
    # conv_forward keeps U per calling thread between calls (scratch): the lines written by the last
    # call are still in the caches, so the stores need not fetch them from memory first
    # (8,256,14x14 forward on two threads: 0.97x)
    def new(shape):
        return scratch("winograd-U", shape, w.dtype) if kept else empty_aligned(shape, w.dtype)

    if layout == "matrices":
        U = new((a * a, c * o + pad))
        xs, cs = c * o + pad, o
    else:
        U = new((c, a * a, o))
        xs, cs = o, a * a * o
    wf, uf = np.ascontiguousarray(w).reshape(-1), U.reshape(-1)
    step = max(-(-c // (2 * get_num_threads())), 1)

    def job(c0):
        filter_tiles(wf, o, c, m, c0, min(c0 + step, c), uf, lanes(w.dtype), flipped, xs, cs)

    starts, work = list(range(0, c, step)), 9 * a * a * o * c
    if layout == "matrices":
        return U[:, :c * o].reshape(a * a, c, o), job, starts, work  # a view: the padding stays out of the products
    return U.transpose(1, 0, 2), job, starts, work


def _blocks(n_rows, tw, a, c_in, c_out, itemsize, workers):
    """Tile-row ranges ``(g0, g1)``: about BLOCK_BYTES of V and M each, at least 2 per worker when
    possible (one thread: as few as BLOCK_BYTES allows; 256 or more input channels: at least 1 per
    worker), a multiple of the workers, of equal size."""
    per_row = a * a * (c_in + c_out) * tw * itemsize
    # 256 or more input channels: twice the tiles, the products' (tiles x C_in) @ (C_in x C_out)
    # too short otherwise (two threads, 8,256,14x14: 7.06 -> 6.49 ms; 8,64,56x56 kept: 7.05 -> 7.28),
    # and one block per worker is enough: each block's products read all of U (4 MiB at 256x256, 16
    # at 512x512) again, and 2 blocks instead of 4 were faster on every such layer where the count
    # changed (8,256,14x14, 1,256,32x32, 8,512,14x14, two threads, alternating in one process: forward
    # 2-8 %, input gradient 2-9 %, weight gradient 14-19 %)
    wide = c_in >= 256
    least = MIN_TILES * (2 if wide else 1)
    rows = max(1, -(-least // tw), BLOCK_BYTES // max(per_row, 1))
    rows = max(1, min(rows, -(-n_rows // ((1 if wide else 2) * workers if workers > 1 else 1))))
    # as many blocks as that makes, rounded up to a multiple of the workers, and of equal size (+-1 row):
    # 64 rows in blocks of 12 gave one worker 36 rows and the other 28 (8,32,64x64 k5 s2, two threads:
    # forward 5.38 -> 5.24 ms, weight gradient 6.20 -> 5.75 with 6 blocks of 10-11)
    k = -(-n_rows // rows)
    if workers > 1:
        k = -(-k // workers) * workers
    k = min(k, n_rows)
    return [(i * n_rows // k, (i + 1) * n_rows // k) for i in range(k)]


def _product_chunks(a, n_blocks):
    """The cell ranges of one block's products (:func:`.shared_products.chunks`): with one block per
    worker the threads cannot even out by taking blocks, so the last ``SHARED_TAIL[0]`` cells may go
    to another thread (two threads, alternating: 8,256,14x14 forward 0.89-0.91x, input gradient
    0.90-0.97x, 8,512,14x14 forward 0.92-0.98x); with more blocks, one chunk per block."""
    tail = SHARED_TAIL[0] if n_blocks < 2 * get_num_threads() else 0
    return chunks(a * a, tail, SHARED_TAIL[1])


def _cells(buf, a, p, c, pad):
    """``(view, flat)``: the ``(a*a, p, c)`` matrices of a block in ``buf``, each ``p*c + pad`` cells
    after the one before (see CELL_PAD), and the flat array the compiled transforms index."""
    xs = p * c + pad
    flat = buf[:a * a * xs]
    return np.lib.stride_tricks.as_strided(flat, (a * a, p, c), (xs * buf.itemsize, c * buf.itemsize,
                                                                   buf.itemsize)), flat


def _input_layout(x_shape, c, x_phases):
    """``(H, W, ph)`` of the input that x (N, Cx, Hx, Wx) holds: itself, or with ``x_phases``
    the stack of its four phase images (``ph`` as :func:`.winograd_tiles.input_tiles` wants it)."""
    if x_phases is None:
        return x_shape[2], x_shape[3], (1, c) + tuple(x_shape[2:]) + (0, 0)
    h, wd, lo_h, lo_w = x_phases
    return h, wd, (2,) + tuple(x_shape[1:]) + (lo_h, lo_w)


def conv_forward(x, w, padding, m, bias=None, x_phases=None, y_phases=None, flipped=False):
    """Stride-1 3x3 correlation of x (N, C, H, W) with w (O, C, 3, 3) (+ bias) by F(m x m, 3 x 3).

    ``flipped``: w is given as (C, O, 3, 3), and the filter is its transpose with
    each 3x3 turned by 180 degrees (:func:`conv_backward_input`, without a copy).

    Returns y (N, O, H', W'), or ``None`` when an output is not finite (the
    caller then recomputes directly, which keeps inf/nan semantics).

    For :mod:`.polyphase` (the phase images are read and written in place):
    ``x_phases = (H, W, lo_h, lo_w)``: x is an ``(N, C/4, Hx, Wx)`` array and
    the input is the ``(N, C, H, W)`` stack of its four phase images (``lo``
    cells of padding before them); ``y_phases = (shape, lo_h, lo_w,
    covered)``: the output ``(N, O, H', W')`` is the phase stack of a new array
    of ``shape`` (``O = 4 shape[1]``), which is returned instead (cells in no
    phase cell: 0; ``covered``: there are none, so it is not zeroed first).
    """

    dtype = x.dtype
    a = m + 2
    (top, bottom), (left, right) = padding
    n = x.shape[0]
    o, c = w.shape[1::-1] if flipped else w.shape[:2]
    h, wd, xph = _input_layout(x.shape, c, x_phases)
    oh, ow = h + top + bottom - 2, wd + left + right - 2
    th, tw = -(-oh // m), -(-ow // m)
    U, filter_job, filter_starts, _ = _filter_plan(w.astype(dtype, copy=False), m, flipped, kept=True)
    b = np.zeros(o, dtype) if bias is None else np.ascontiguousarray(bias, dtype=dtype)
    if y_phases is None:
        y = np.empty((n, o, oh, ow), dtype)
        yph = (1, o, oh, ow, 0, 0)
    else:
        shape, lo_h, lo_w, covered = y_phases
        y = np.empty(shape, dtype) if covered else np.zeros(shape, dtype)
        yph = (2,) + tuple(shape[1:]) + (lo_h, lo_w)
    xf, yf = np.ascontiguousarray(x, dtype=dtype).reshape(-1), y.reshape(-1)

    blocks = _blocks(n * th, tw, a, c, o, x.itemsize, get_num_threads())
    most = max(g1 - g0 for g0, g1 in blocks) * tw
    lanes_ = lanes(dtype)
    pad = CELL_PAD // x.itemsize
    stage = (yph[2] * yph[3] * x.itemsize) % 4096 == 0  # planes in one cache set: see winograd_output.output_tiles
    no_stage = np.empty(0, dtype)

    # One queue of work units: the parts of the filter transform first, then the blocks.  A block
    # transforms its input tiles (which need no U), then waits until every part of U is written.
    # The workers take units in queue order, so each part a block waits for is already running on
    # another thread: no deadlock, and a thread that is done with its parts starts a block at once
    # instead of idling at a barrier.
    left_parts, lock, u_ready = [len(filter_starts)], threading.Lock(), threading.Event()
    cuts = _product_chunks(a, len(blocks))

    def product(operands, k):
        V, M = operands
        x0, x1 = cuts[k]
        # (cells, P, C) @ (cells, C, O) -> (cells, P, O): the channel sums, per tile position
        np.matmul(V[x0:x1], U[x0:x1], out=M[x0:x1])

    shared = SharedProducts(len(blocks), len(cuts), product)

    def job(unit):
        if unit[0] == "U":
            try:
                filter_job(unit[1])
            finally:  # even when it fails (the error reaches the caller), the blocks must not wait forever
                with lock:
                    left_parts[0] -= 1
                    if left_parts[0] == 0:
                        u_ready.set()
            return 0
        g0, g1 = blocks[unit[1]]
        pb = (g1 - g0) * tw
        V, vs = _cells(scratch("winograd-V", (a * a * (c * most + pad),), dtype), a, pb, c, pad)
        M, ms = _cells(scratch("winograd-M", (a * a * (o * most + pad),), dtype), a, pb, o, pad)
        input_tiles(xf, c, h, wd, m, 0, g0, g1, th, tw, top, left, vs, V.strides[0] // V.itemsize, lanes_, xph)
        u_ready.wait()
        if len(cuts) > 1:
            shared.run(unit[1], (V, M))
        else:  # enough blocks to even out: one product call, no sharing
            product((V, M), 0)
        if not stage:
            return output_tiles(ms, M.strides[0] // M.itemsize, o, m, g0, g1, th, tw, b, yf, oh, ow, lanes_,
                                no_stage, yph)
        Ys = scratch("winograd-Y", ((g1 - g0) * m * ow * o,), dtype)
        bad = output_tiles(ms, M.strides[0] // M.itemsize, o, m, g0, g1, th, tw, b, yf, oh, ow, lanes_, Ys, yph)
        unstage(Ys, yf, o, m, g0, g1, th, oh, ow, yph, lanes_)
        return bad

    bad = sum(run_jobs(job, [("U", s) for s in filter_starts] + [("block", i) for i in range(len(blocks))]))
    return None if bad != 0 else y


def conv_backward_input(gy, w, x_shape, padding, m, x_phases=None):
    """Input gradient: the stride-1 3x3 correlation of gy, padded by ``2 - p``, with the flipped,
    channel-swapped filter (see :func:`minicnn.kernels.winograd.conv2d_winograd_backward_input`).

    ``x_phases = (shape, lo_h, lo_w, covered)``: the input was the phase stack of an array of ``shape``
    (:func:`conv_forward`); the gradient of that array is returned."""
    (top, bottom), (left, right) = padding
    return conv_forward(gy, w, ((2 - top, 2 - bottom), (2 - left, 2 - right)), m, y_phases=x_phases, flipped=True)


def conv_backward_weight(gy, x, w_shape, padding, m, x_phases=None):
    """Weight gradient of :func:`conv_forward`: gw (O, C, 3, 3), or ``None`` when not finite
    (``x_phases`` as in :func:`conv_forward`).

    The adjoint of ``Y = AT [U * V] A`` with ``U = G g G^T``: per tile
    ``dM = A gY AT`` (the output gradient's m x m tile transformed to a x a),
    ``dU[xi] = sum over tiles dM[xi] V[xi]^T`` (16 or 36 matrix products
    ``(C_out x tiles) @ (tiles x C_in)``, summed over blocks), then
    ``gw = G^T dU G``.  The input tiles V are transformed exactly as in the
    forward pass.
    """

    dtype = gy.dtype
    a = m + 2
    (top, _), (left, _) = padding
    n, c = x.shape[0], w_shape[1]
    h, wd, xph = _input_layout(x.shape, c, x_phases)
    o, oh, ow = gy.shape[1:]
    th, tw = -(-oh // m), -(-ow // m)
    gph = (1, o, oh, ow, 0, 0)
    xf, gyf = np.ascontiguousarray(x, dtype=dtype).reshape(-1), np.ascontiguousarray(gy).reshape(-1)
    blocks = _blocks(n * th, tw, a, c, o, x.itemsize, get_num_threads())
    most = max(g1 - g0 for g0, g1 in blocks) * tw
    lanes_ = lanes(dtype)

    dUs = np.empty((len(blocks), a * a, o, c), dtype)  # one dU per block, summed in block order below
    pad = CELL_PAD // x.itemsize
    cuts = _product_chunks(a, len(blocks))

    def product(operands, k):
        D, V, dU = operands
        x0, x1 = cuts[k]
        with np.errstate(invalid="ignore", over="ignore"):  # inf/nan inputs: detected below, redone directly
            # (cells, O, P) @ (cells, P, C): the sum over tiles
            np.matmul(D[x0:x1].transpose(0, 2, 1), V[x0:x1], out=dU[x0:x1])

    shared = SharedProducts(len(blocks), len(cuts), product)

    def job(k):
        g0, g1 = blocks[k]
        pb = (g1 - g0) * tw
        V, vs = _cells(scratch("winograd-V", (a * a * (c * most + pad),), dtype), a, pb, c, pad)
        D, ds = _cells(scratch("winograd-M", (a * a * (o * most + pad),), dtype), a, pb, o, pad)
        input_tiles(xf, c, h, wd, m, 0, g0, g1, th, tw, top, left, vs, V.strides[0] // V.itemsize, lanes_, xph)
        input_tiles(gyf, o, oh, ow, m, 1, g0, g1, th, tw, 0, 0, ds, D.strides[0] // D.itemsize, lanes_,
                    gph)  # dM = A gY AT
        if len(cuts) > 1:
            shared.run(k, (D, V, dUs[k]))
        else:
            product((D, V, dUs[k]), 0)

    run_jobs(job, list(range(len(blocks))))
    # gw = G^T (sum of the parts) G, ranges of output channels on the workers; the parts are added in
    # block order, so the rounding (and the gradient) is the same in every run
    gw = np.empty(tuple(w_shape), dtype)
    step = max(-(-o // (2 * get_num_threads())), 1)
    dUf, gwf = dUs.reshape(-1), gw.reshape(-1)

    def finish(o0):
        grad_filter_tiles(dUf, len(blocks), o, c, m, o0, min(o0 + step, o), gwf, lanes_)

    run_jobs(finish, list(range(0, o, step)), 9 * a * a * o * c * len(blocks))
    return gw if np.isfinite(gw).all() else None


def forward_method(x_shape, w_shape, stride, padding, dilation):
    """``m`` when the numba backend should run this forward call by Winograd, else ``None``."""

    if len(x_shape) != 4 or not applies(w_shape, stride, padding, dilation):
        return None
    oh = x_shape[2] + padding[0][0] + padding[0][1] - 2
    ow = x_shape[3] + padding[1][0] + padding[1][1] - 2
    return choose(x_shape[0], x_shape[1], w_shape[0], oh, ow, get_num_threads())


def backward_input_method(x_shape, w_shape, stride, padding, dilation):
    """The same for the input gradient (a forward call from C_out to C_in channels, output x's size)."""

    if len(x_shape) != 4 or not applies(w_shape, stride, padding, dilation):
        return None
    return choose(x_shape[0], w_shape[0], w_shape[1], x_shape[2], x_shape[3], get_num_threads())


def warm_up(dtypes=(np.float32, np.float64)):
    """Compile (or load from the cache) the Winograd kernels for ``dtypes``
    (called by ``minicnn.kernels.numba.warm_up``)."""
    for dtype in dtypes:
        x, w = np.ones((1, 2, 5, 5), dtype), np.ones((2, 2, 3, 3), dtype)
        staged = np.ones((1, 2, 32, 32), dtype)  # 4 KiB planes: the staging copy too
        for m in (2, 3, 4):
            conv_forward(x, w, ((1, 1), (1, 1)), m)
            conv_forward(staged, w, ((1, 1), (1, 1)), m)
            conv_backward_weight(x, x, w.shape, ((1, 1), (1, 1)), m)
