"""Winograd F(m x m, 3 x 3) convolution, compiled: the fast path of :mod:`minicnn.kernels.winograd`.

Used by :mod:`minicnn.kernels.numba.conv` for 2D 3x3 convolutions with stride
1, dilation 1 and padding 0-2 (forward, input gradient, and weight gradient
as the adjoint of the forward: :func:`conv_backward_weight`), where it is
faster (:func:`choose`).

How one call runs
-----------------
1. Filter transform, once per call: ``U[xi] = (G w G^T)[xi]``, stored as
   ``(a*a, C_out, C_in)`` (compiled, ranges of filters on the worker threads).
2. The output is cut into blocks of *tile rows* (a tile row is ``m`` output
   rows of one sample, ``tw = ceil(W'/m)`` tiles).  Blocks run on minicnn's
   worker threads (:func:`.threads.run_jobs`; BLAS held to one thread each),
   sized so that a block's transformed input and products stay near the L2
   cache (``BLOCK_BYTES``) but hold at least ``MIN_TILES`` tiles.  Per block:

   * input transform (compiled, ``_input_transform``): each input row is split
     once into its ``m`` phases, then ``V = BT d B`` is two passes (along the
     tiles' columns, then their rows) that run over the whole block in one
     contiguous loop each, so they vectorise, skipping the zeros of ``BT``;
   * ``a*a`` matrix products ``M[xi] = U[xi] @ V[xi]`` in one batched
     ``np.matmul`` (OpenBLAS): the sum over input channels;
   * output transform (compiled, ``_output_transform``): ``Y = AT M A`` plus
     the bias, written into ``y``; the last tile of a row or column may hang
     over the edge and its extra outputs are dropped.

3. An ``inf`` or ``nan`` anywhere in the output (the transforms turn
   ``inf - inf`` into ``nan`` where the direct convolution keeps ``inf``) makes
   the call return ``None`` and the caller recompute it directly.  The check
   is a running ``v - v`` sum in the output pass, so it costs nothing extra.

Switch: ``MINICNN_WINOGRAD`` (environment) or :func:`set_mode`: ``"auto"``
(default: the measured rule of :func:`choose`), ``"off"``, ``"F2"`` or
``"F4"`` (that tile size wherever Winograd applies, for tests and timing).
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np
from numba import njit, uint64

from ..winograd import applies, winograd_matrices
from .loops import FASTMATH
from .scratch import scratch
from .threads import get_num_threads, run_jobs

__all__ = ["conv_forward", "conv_backward_input", "conv_backward_weight", "choose", "set_mode", "get_mode", "use_mode",
           "MODES", "warm_up"]

MODES = ("auto", "off", "F2", "F4")
_state = {"mode": os.environ.get("MINICNN_WINOGRAD", "auto")}
BLOCK_BYTES = 1 << 20  # transformed input + products of one block, about a core's L2 cache ...
MIN_CHANNELS = 32  # "auto" needs this many input and output channels (measured, see choose)
MIN_TILES = 96  # ... but at least this many tiles, or the a*a matrix products get too thin for BLAS


def set_mode(mode):
    """``"auto"`` | ``"off"`` | ``"F2"`` | ``"F4"`` (see the module docstring)."""
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
    """The tile size ``m`` (2 or 4) for a forward-shaped call, or ``None`` when the direct kernels are faster.

    Measured on the 2-core development machine (docs/performance.md,
    "Winograd"):

    * the transforms are memory passes over the input and the output, so
      Winograd pays only when the ``a*a`` matrix products dominate:
      ``C_in >= 32`` and ``C_out >= 32`` (8,16,32x32->16: 1.42 ms against
      1.22 direct; 32,64,8x8->64: 2.11 against 3.15);
    * a block needs about ``MIN_TILES`` tiles or its products are too thin
      for BLAS, so the call needs ``MIN_TILES`` tiles per worker thread (a
      batch-1 16x16 layer of 512 channels has only 64 F(2x2) tiles: direct);
    * "auto" always takes F(2x2): F(4x4) has 4x fewer multiplies against
      2.25x, but its transforms cost more per output and its tiles hang
      further over the edge, and it measured no faster (56x56x64: 16.5 against
      16.4 ms on one thread; 14x14x256: 14.8 against 12.7 ms; it does win on
      large images, 1,64,128x128: 8.8 against 13.7 ms), while its float32
      error is 10-20x larger and fails the float32 test tolerance at 256
      channels (docs/convolution.md).  ``"F4"`` forces it.
    """
    mode = get_mode()
    if mode == "off":
        return None
    if mode in ("F2", "F4"):
        return int(mode[1])
    if min(c_in, c_out) < MIN_CHANNELS or n * -(-oh // 2) * -(-ow // 2) < MIN_TILES * workers:
        return None
    return 2


# ----------------------------------------------------------------------------
# Compiled transforms (serial, nogil: the blocks run on minicnn's worker threads)
# ----------------------------------------------------------------------------
# The kernels index flat arrays with unsigned offsets (as the im2col
# does): Numba then drops its negative-index wraparound, and the long loops
# along p compile to vector code.
#
# Tile layout of a block: tile t of tile row g is column p = (g - g0) * (tw + 1) + t.
# The extra "dummy" tile at t = tw of every row is computed and never written
# out; it makes every pass below ONE long contiguous loop over the whole
# block (the same trick as the wide rows of the flat kernels), at the
# price of 1/tw more work in the matrix products.
@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _input_transform(xf, C, H, W, BT, m, g0, g1, th, tw, top, left, R, Q, T, V):
    """``V[i, j, c, p] = (BT d B)[i, j]`` for the tiles ``p`` of tile rows ``g0..g1`` (``g = n * th + ty``).

    xf: x (N, C, H, W) flattened; BT (a, t): the tiles d are t x t, one every
    m cells (t = a for the input, t = m for the output gradient of the weight
    gradient, with BT = A).  Scratch: R ((tw + 1) * m), one zero-padded input
    row; Q and T (a * m * (pw + 1)).  V: (a, a, C, pw) flattened,
    ``pw = (g1 - g0) * (tw + 1)``.  Cells outside x read as zero.

    Tile t reads input columns ``t*m + l`` (l < a), i.e. phase ``l % m`` at
    position ``t + l // m``.  So each input row is split once into its ``m``
    phases (Q, the only strided pass: ``a * m * (tw + 1)`` copies per tile
    row, against ``a * a * tw`` for gathering whole tiles); then the column
    transform (along each tile's rows) and the row transform are contiguous
    passes over the whole block, skipping the zeros of ``BT``.
    """
    a, tx = BT.shape
    tp = tw + 1
    pw = (g1 - g0) * tp
    qs = pw + 1  # pitch of Q and T: one spare cell, read only by the last dummy tile
    ncopy = max(min(W, R.shape[0] - left), 0)
    for j in range(R.shape[0]):
        R[j] = 0  # only R[left:left + ncopy] is ever written: the rest stays padding
    for k in range(tx * m):
        Q[k * qs + pw] = 0
    for c in range(C):
        for g in range(g0, g1):
            n = g // th
            ty = g - n * th
            p0 = (g - g0) * tp
            for k in range(tx):
                yy = ty * m - top + k
                if 0 <= yy < H:
                    src = uint64(((n * C + c) * H + yy) * W)
                    for j in range(uint64(ncopy)):
                        R[uint64(left) + j] = xf[src + j]
                    for r in range(m):
                        dst = uint64((k * m + r) * qs + p0)
                        for u in range(uint64(tp)):
                            Q[dst + u] = R[u * uint64(m) + uint64(r)]
                else:
                    for r in range(m):
                        dst = uint64((k * m + r) * qs + p0)
                        for u in range(uint64(tp)):
                            Q[dst + u] = 0
        for i in range(a):  # T[i, r] = sum_k BT[i, k] Q[k, r]: along the rows of every tile
            for r in range(m):
                dst = uint64((i * m + r) * qs)
                for p in range(uint64(qs)):
                    T[dst + p] = 0
                for k in range(tx):
                    b = BT[i, k]
                    if b != 0:
                        src = uint64((k * m + r) * qs)
                        for p in range(uint64(qs)):
                            T[dst + p] += b * Q[src + p]
        for i in range(a):  # V[i, j, c, p] = sum_l BT[j, l] T[i, l % m, p + l // m]: then along the columns
            for j in range(a):
                dst = uint64(((i * a + j) * C + c) * pw)
                for p in range(uint64(pw)):
                    V[dst + p] = 0
                for l in range(tx):
                    b = BT[j, l]
                    if b != 0:
                        src = uint64((i * m + l % m) * qs + l // m)
                        for p in range(uint64(pw)):
                            V[dst + p] += b * T[src + p]


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _output_transform(M, O, AT, m, g0, g1, th, tw, bias, S, Yt, yf, OH, OW):
    """``y[n, o, ty*m + i, tx*m + j] = (AT M A)[i, j] + bias[o]`` for tile rows ``g0..g1``, clipped to y.

    M: (a, a, O, pb) flattened, ``pb = (g1 - g0) * (tw + 1)`` (the dummy tiles
    are skipped); S (m*a*pb) and Yt (m*m*pb) are scratch; yf is y (N, O, OH, OW)
    flattened.  Returns a sum that is nan when any output is inf or nan.
    """
    m_, a = AT.shape
    pb = (g1 - g0) * (tw + 1)
    bad = 0.0
    for o in range(O):
        b = bias[o]
        for i in range(m_):  # S[i, j] = sum_k AT[i, k] M[k, j, o]
            for j in range(a):
                dst = uint64((i * a + j) * pb)
                for p in range(uint64(pb)):
                    S[dst + p] = 0
                for k in range(a):
                    c = AT[i, k]
                    if c != 0:
                        src = uint64(((k * a + j) * O + o) * pb)
                        for p in range(uint64(pb)):
                            S[dst + p] += c * M[src + p]
        for i in range(m_):  # Yt[i, jj] = sum_j S[i, j] AT[jj, j] + b
            for jj in range(m_):
                dst = uint64((i * m_ + jj) * pb)
                for p in range(uint64(pb)):
                    Yt[dst + p] = b
                for j in range(a):
                    c = AT[jj, j]
                    if c != 0:
                        src = uint64((i * a + j) * pb)
                        for p in range(uint64(pb)):
                            Yt[dst + p] += c * S[src + p]
        for g in range(g0, g1):  # scatter the m x m tiles into y, dropping what hangs over the edge
            n = g // th
            ty = g - n * th
            p0 = (g - g0) * (tw + 1)
            for i in range(m_):
                oy = ty * m + i
                if oy < OH:
                    row = uint64(((n * O + o) * OH + oy) * OW)
                    for jj in range(m_):
                        src = uint64((i * m_ + jj) * pb + p0)
                        for t in range(uint64(min((OW - 1 - jj) // m + 1, tw))):
                            v = Yt[src + t]
                            yf[row + t * uint64(m) + uint64(jj)] = v
                            bad += v - v
    return bad


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _filter_kernel(wf, OC, q0, q1, G, T, U):
    """U[i*a + j, q] = sum_kl G[i, k] w[q, k, l] G[j, l] for the filters ``q0 <= q < q1`` of the O*C (flattened).

    Two passes along ``q`` (contiguous writes, so they vectorise): T[i, l] = G w
    (rows), then U = T G^T (columns).  T (a*3*(q1 - q0)) is scratch.
    """
    a = G.shape[0]
    nq = q1 - q0
    for i in range(a):
        for l in range(3):
            dst = uint64((i * 3 + l) * nq)
            g0, g1, g2 = G[i, 0], G[i, 1], G[i, 2]
            for q in range(uint64(nq)):
                src = (uint64(q0) + q) * uint64(9) + uint64(l)
                T[dst + q] = g0 * wf[src] + g1 * wf[src + uint64(3)] + g2 * wf[src + uint64(6)]
    for i in range(a):
        for j in range(a):
            dst = uint64((i * a + j) * OC + q0)
            src = uint64(i * 3 * nq)
            g0, g1, g2 = G[j, 0], G[j, 1], G[j, 2]
            for q in range(uint64(nq)):
                U[dst + q] = g0 * T[src + q] + g1 * T[src + uint64(nq) + q] + g2 * T[src + uint64(2 * nq) + q]


# ----------------------------------------------------------------------------
# Python side
# ----------------------------------------------------------------------------
def _filter_transform(w, G):
    """U (a*a, O, C) with ``U[i*a + j, o, c] = (G w[o, c] G^T)[i, j]``, on minicnn's worker threads."""

    a, oc = G.shape[0], w.shape[0] * w.shape[1]
    U = np.empty((a * a, w.shape[0], w.shape[1]), w.dtype)
    wf, uf = np.ascontiguousarray(w).reshape(-1), U.reshape(-1)
    step = max(-(-oc // (2 * get_num_threads())), 4096)  # ranges of filters; small layers stay on one thread

    def job(q0):
        q1 = min(q0 + step, oc)
        _filter_kernel(wf, oc, q0, q1, G, np.empty(a * 3 * (q1 - q0), w.dtype), uf)

    run_jobs(job, list(range(0, oc, step)))
    return U


def _blocks(n_rows, tw, a, c_in, c_out, itemsize, workers):
    """Tile-row ranges ``(g0, g1)``: about BLOCK_BYTES of V and M each, at least 2 per worker when possible."""
    per_row = a * a * (c_in + c_out) * tw * itemsize
    rows = max(1, -(-MIN_TILES // tw), BLOCK_BYTES // max(per_row, 1))
    rows = max(1, min(rows, -(-n_rows // (2 * workers))))
    return [(g, min(g + rows, n_rows)) for g in range(0, n_rows, rows)]


def conv_forward(x, w, padding, m, bias=None):
    """Stride-1 3x3 correlation of x (N, C, H, W) with w (O, C, 3, 3) (+ bias) by F(m x m, 3 x 3).

    Returns y (N, O, H', W'), or ``None`` when an output is not finite (the
    caller then recomputes directly, which keeps inf/nan semantics).
    """

    dtype = x.dtype
    AT, G, BT = (np.ascontiguousarray(M, dtype=dtype) for M in winograd_matrices(m))
    a = m + 2
    (top, bottom), (left, right) = padding
    n, c, h, wd = x.shape
    o = w.shape[0]
    oh, ow = h + top + bottom - 2, wd + left + right - 2
    th, tw = -(-oh // m), -(-ow // m)
    U = _filter_transform(w.astype(dtype, copy=False), G)
    b = np.zeros(o, dtype) if bias is None else np.ascontiguousarray(bias, dtype=dtype)
    y = np.empty((n, o, oh, ow), dtype)
    xf, yf = np.ascontiguousarray(x, dtype=dtype).reshape(-1), y.reshape(-1)

    blocks = _blocks(n * th, tw + 1, a, c, o, x.itemsize, get_num_threads())
    most = max(g1 - g0 for g0, g1 in blocks) * (tw + 1)
    buffers = {}  # thread id -> its scratch arrays (kept per thread across calls: fresh pages cost a pass)

    def job(block):
        g0, g1 = block
        pb = (g1 - g0) * (tw + 1)
        key = threading.get_ident()
        if key not in buffers:
            buffers[key] = [scratch(f"winograd{i}", (size,), dtype) for i, size in enumerate(
                (a * a * c * most, a * a * o * most, (tw + 1) * m, a * m * (most + 1), a * m * (most + 1),
                 m * a * most, m * m * most))]
        V, M, R, Q, T, S, Yt = buffers[key]
        V, M = V[:a * a * c * pb], M[:a * a * o * pb]
        _input_transform(xf, c, h, wd, BT, m, g0, g1, th, tw, top, left, R, Q, T, V)
        # (a*a, O, C) @ (a*a, C, pb) -> (a*a, O, pb): the channel sums, per tile position
        np.matmul(U, V.reshape(a * a, c, pb), out=M.reshape(a * a, o, pb))
        return _output_transform(M, o, AT, m, g0, g1, th, tw, b, S, Yt, yf, oh, ow)

    bad = sum(run_jobs(job, blocks))
    return None if bad != 0 else y


def conv_backward_input(gy, w, x_shape, padding, m):
    """Input gradient: the stride-1 3x3 correlation of gy, padded by ``2 - p``, with the flipped,
    channel-swapped filter (see :func:`minicnn.kernels.winograd.conv2d_winograd_backward_input`)."""
    (top, bottom), (left, right) = padding
    w_t = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    return conv_forward(gy, w_t, ((2 - top, 2 - bottom), (2 - left, 2 - right)), m)


def conv_backward_weight(gy, x, w_shape, padding, m):
    """Weight gradient of :func:`conv_forward`: gw (O, C, 3, 3), or ``None`` when not finite.

    The adjoint of ``Y = AT [U * V] A`` with ``U = G g G^T``: per tile
    ``dM = A gY AT`` (the output gradient's m x m tile transformed to a x a),
    ``dU[xi] = sum over tiles dM[xi] V[xi]^T`` (16 or 36 matrix products
    ``(C_out x tiles) @ (tiles x C_in)``, summed over blocks), then
    ``gw = G^T dU G``.  The input tiles V are transformed exactly as in the
    forward pass.
    """

    dtype = gy.dtype
    AT, G, BT = (np.ascontiguousarray(M, dtype=dtype) for M in winograd_matrices(m))
    A = np.ascontiguousarray(AT.T)
    a = m + 2
    (top, _), (left, _) = padding
    n, c, h, wd = x.shape
    o, oh, ow = gy.shape[1:]
    th, tw = -(-oh // m), -(-ow // m)
    xf, gyf = np.ascontiguousarray(x, dtype=dtype).reshape(-1), np.ascontiguousarray(gy).reshape(-1)
    blocks = _blocks(n * th, tw + 1, a, c, o, x.itemsize, get_num_threads())
    most = max(g1 - g0 for g0, g1 in blocks) * (tw + 1)
    buffers = {}

    def job(block):
        g0, g1 = block
        pb = (g1 - g0) * (tw + 1)
        key = threading.get_ident()
        if key not in buffers:
            buffers[key] = [scratch(f"winograd{i}", (size,), dtype) for i, size in enumerate(
                (a * a * c * most, a * a * o * most, (tw + 1) * m, a * m * (most + 1), a * m * (most + 1)))]
        V, D, R, Q, T = buffers[key]
        V, D = V[:a * a * c * pb], D[:a * a * o * pb]
        _input_transform(xf, c, h, wd, BT, m, g0, g1, th, tw, top, left, R, Q, T, V)
        _input_transform(gyf, o, oh, ow, A, m, g0, g1, th, tw, 0, 0, R, Q, T, D)  # dM = A gY AT (dummy tiles: 0)
        with np.errstate(invalid="ignore", over="ignore"):  # inf/nan inputs: detected below, redone directly
            return np.matmul(D.reshape(a * a, o, pb), V.reshape(a * a, c, pb).transpose(0, 2, 1))

    parts = run_jobs(job, blocks)  # one dU per block, added in block order: the same rounding every run
    with np.errstate(invalid="ignore", over="ignore"):
        dU = parts[0]
        for part in parts[1:]:
            dU += part
        dU = dU.reshape(a, a, o, c)
        gw = np.tensordot(np.tensordot(G, dU, axes=([0], [0])), G, axes=([1], [0]))  # (3, O, C, 3): G^T dU G
    gw = np.ascontiguousarray(gw.transpose(1, 2, 0, 3))
    assert gw.shape == tuple(w_shape)
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
        for m in (2, 4):
            conv_forward(x, w, ((1, 1), (1, 1)), m)
