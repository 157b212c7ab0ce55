"""im2col + BLAS: the convolution for wide layers and every stride > 1.

A compiled im2col fills ``col[(c, k), position]`` for a tile of output
positions and ``W(C_out, F) @ col`` runs in OpenBLAS through NumPy's ``@``
(``F = C_in * prod(K)``, the length of one flattened filter).  The input
gradient is ``W.T @ gy`` then a compiled col2im that *scatter-adds* each column
back into its window (no ``np.add.at``).  The weight gradient is
``gy @ col.T`` summed over tiles.

A tile holds whole samples when one sample's ``col`` fits in ``TILE_BYTES``
(2 MiB, about a core's L2 cache), else a band of output rows, so the extra
memory stays bounded whatever the batch.  Tiles run on ``get_num_threads()``
Python threads (im2col/col2im release the GIL, BLAS is held to one thread per
call), pulled from a shared counter (:func:`.threads.run_jobs`).

All arrays here are 5-d (see :mod:`.shapes`); ``g`` is the tuple of
:func:`.shapes.conv_geometry`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from .loops import span
from .scratch import scratch
from .threads import get_num_threads, run_jobs

TILE_BYTES = 2 << 20  # budget for one im2col tile: about the L2 cache of a core (measured best of 0.25-8 MiB)
WHOLE_BYTES = 64 << 20  # at most this much im2col matrix for one sample on the whole_sample path
BIG_WEIGHTS_BYTES = 2 << 20  # weights larger than this: tiles of whole samples, never bands (see plan)


@njit(cache=True, nogil=True, inline="always")
def _im2col_planes(xf, cf, task, nr, r0, plane, kd, kh, off, a, b, st, dl, lo, oh_, ow_, D, H, W):
    """One row of col when stride is 1 in H and W and OW == W ("same"-style padding):
    the valid rows of one output plane come from consecutive input rows, so they
    are ONE contiguous copy; then the few cells that fell in the padding
    (``q < a`` or ``q >= b`` in each row) are set to zero."""
    shift = kh * dl[1] - lo[1]
    od, oh = r0 // oh_, r0 % oh_
    r = 0
    while r < nr:
        m = min(oh_ - oh, nr - r)  # rows of this output plane inside the tile
        iz = od * st[0] + kd * dl[0] - lo[0]
        db = (task * nr + r) * ow_
        v0 = max(oh, -shift)
        v1 = min(oh + m, H - shift)
        if iz < 0 or iz >= D or v1 <= v0:
            for q in range(uint64(db), uint64(db + m * ow_)):
                cf[q] = 0
        else:
            for q in range(uint64(db), uint64(db + (v0 - oh) * ow_)):  # rows above the input
                cf[q] = 0
            for q in range(uint64(db + (v1 - oh) * ow_), uint64(db + m * ow_)):  # rows below it
                cf[q] = 0
            d0 = db + (v0 - oh) * ow_
            s0 = ((plane + iz) * H + v0 + shift) * W + off
            for q in range(uint64(a), uint64((v1 - v0 - 1) * W + b)):  # first to last valid cell
                cf[uint64(d0) + q] = xf[uint64(s0) + q]
            for row in range(v1 - v0):  # the cells of each row that lie in the padding
                base = uint64(d0 + row * W)
                for q in range(uint64(a)):
                    cf[base + q] = 0
                for q in range(uint64(b), uint64(W)):
                    cf[base + q] = 0
        r += m
        od += 1
        oh = 0


@njit(cache=True, nogil=True, inline="always")
def _col2im_planes(cf, gf, row0, nr, r0, plane, kd, kh, off, a, b, st, dl, lo, oh_, ow_, D, H, W):
    """The inverse of :func:`_im2col_planes`: zero the padding cells of the (scratch)
    column rows, then add all valid rows of an output plane as one contiguous block."""
    shift = kh * dl[1] - lo[1]
    od, oh = r0 // oh_, r0 % oh_
    r = 0
    while r < nr:
        m = min(oh_ - oh, nr - r)
        iz = od * st[0] + kd * dl[0] - lo[0]
        v0 = max(oh, -shift)
        v1 = min(oh + m, H - shift)
        if 0 <= iz < D and v1 > v0:
            s0 = (row0 + r + v0 - oh) * ow_
            d0 = ((plane + iz) * H + v0 + shift) * W + off
            for row in range(v1 - v0):  # these cells would land in a neighbouring row
                base = uint64(s0 + row * W)
                for q in range(uint64(a)):
                    cf[base + q] = 0
                for q in range(uint64(b), uint64(W)):
                    cf[base + q] = 0
            for q in range(uint64(a), uint64((v1 - v0 - 1) * W + b)):
                gf[uint64(d0) + q] += cf[uint64(s0) + q]
        r += m
        od += 1
        oh = 0


# im2col/col2im run over many short rows, so they index flat arrays with
# unsigned offsets: Numba then skips its negative-index wraparound and the
# row loops compile to plain vector copies (3x faster than slicing per row).
# They are serial and release the GIL: the GEMM path runs one tile per worker
# thread (see _run_jobs), each thread doing im2col + a one-thread BLAS call.
@njit(cache=True, nogil=True)
def _im2col(x, n0, nt, r0, nr, kd_, kh_, kw_, st, dl, lo, oh_, ow_, col):
    """col[j, (c, kd, kh, kw), (r - r0) * OW + ow] = x_pad[n0 + j, c, window cell].

    Rows ``r = od * OH + oh`` in ``[r0, r0 + nr)`` of samples ``n0 .. n0 + nt``;
    one task per row of ``col`` (contiguous writes, the input plane stays in cache).
    """
    _, C, D, H, W = x.shape
    KK = kd_ * kh_ * kw_
    xf = x.reshape(-1)
    cf = col.reshape(-1)
    s2 = uint64(st[2])
    for task in range(nt * C * KK):
        c = (task // KK) % C
        k = task % KK
        kd = k // (kh_ * kw_)
        kh = (k // kw_) % kh_
        kw = k % kw_
        off = kw * dl[2] - lo[2]
        a, b = span(off, st[2], W, ow_)
        plane = ((n0 + task // (C * KK)) * C + c) * D
        if st[1] == 1 and s2 == 1 and ow_ == W:
            _im2col_planes(xf, cf, task, nr, r0, plane, kd, kh, off, a, b, st, dl, lo, oh_, ow_, D, H, W)
            continue
        od, oh = r0 // oh_, r0 % oh_  # walk the rows without dividing in the loop
        for r in range(nr):
            iz = od * st[0] + kd * dl[0] - lo[0]
            iy = oh * st[1] + kh * dl[1] - lo[1]
            oh += 1
            if oh == oh_:
                oh = 0
                od += 1
            db = uint64((task * nr + r) * ow_)
            if iz < 0 or iz >= D or iy < 0 or iy >= H:
                for q in range(uint64(ow_)):
                    cf[db + q] = 0
                continue
            for q in range(uint64(a)):
                cf[db + q] = 0
            for q in range(uint64(b), uint64(ow_)):
                cf[db + q] = 0
            sb = uint64(((plane + iz) * H + iy) * W + off)  # + q * stride >= 0 inside [a, b)
            if s2 == 1:
                for q in range(uint64(a), uint64(b)):
                    cf[db + q] = xf[sb + q]
            else:
                for q in range(uint64(a), uint64(b)):
                    cf[db + q] = xf[sb + q * s2]


@njit(cache=True, nogil=True)
def _col2im(col, n0, nt, r0, nr, kd_, kh_, kw_, st, dl, lo, oh_, ow_, gx):
    """gx[n0 + j, c, window cell] += col[j, (c, k), position]: the scatter-add inverse of im2col.

    One task per (sample, input channel): overlapping windows land in the same
    task, so additions never race.
    """
    _, C, D, H, W = gx.shape
    KK = kd_ * kh_ * kw_
    gf = gx.reshape(-1)
    cf = col.reshape(-1)
    s2 = uint64(st[2])
    for task in range(nt * C):
        c = task % C
        plane = ((n0 + task // C) * C + c) * D
        for k in range(KK):
            kd = k // (kh_ * kw_)
            kh = (k // kw_) % kh_
            kw = k % kw_
            off = kw * dl[2] - lo[2]
            a, b = span(off, st[2], W, ow_)
            if b == a:
                continue
            if st[1] == 1 and s2 == 1 and ow_ == W:
                _col2im_planes(cf, gf, (task * KK + k) * nr, nr, r0, plane, kd, kh, off, a, b, st, dl, lo,
                               oh_, ow_, D, H, W)
                continue
            od, oh = r0 // oh_, r0 % oh_
            for r in range(nr):
                iz = od * st[0] + kd * dl[0] - lo[0]
                iy = oh * st[1] + kh * dl[1] - lo[1]
                oh += 1
                if oh == oh_:
                    oh = 0
                    od += 1
                if iz < 0 or iz >= D or iy < 0 or iy >= H:
                    continue
                sb = uint64(((task * KK + k) * nr + r) * ow_)
                db = uint64(((plane + iz) * H + iy) * W + off)
                if s2 == 1:
                    for q in range(uint64(a), uint64(b)):
                        gf[db + q] += cf[sb + q]
                else:
                    for q in range(uint64(a), uint64(b)):
                        gf[db + q * s2] += cf[sb + q]



def plan(n, rows, ow, filt, itemsize, workers, c_out=0):
    """Cut the output positions into units of im2col tiles ``(n0, nt, r0, nr)``.

    A tile is several whole samples or a band of output rows of one sample,
    at most TILE_BYTES of im2col matrix -- unless the weight matrix
    ``(c_out, filt)`` is over BIG_WEIGHTS_BYTES (the L2 cache): then every band would stream
    it through the cache again, so a tile is one whole sample (up to
    WHOLE_BYTES; a 1,512,16x16 layer on one thread: 3 bands took 13.8 ms
    against 9 for one product).  Workers pull units from a shared
    counter as they finish, so a thread slowed by other load is simply given
    less.  Returns ``(units, shared)``:

    * ``n >= workers``: each unit holds whole samples (all bands of them), at
      least ``2 * workers`` units when the batch allows; ``shared=False``.
    * ``n < workers`` (e.g. one image): each unit is one band, at least
      ``2 * workers`` of them, and two units may cover the same sample
      (``shared=True``: their input-gradient windows overlap).
    """
    per_row = max(filt * ow * itemsize, 1)
    per_sample = per_row * rows
    if n >= workers:
        if per_sample <= TILE_BYTES:
            step = max(min(TILE_BYTES // per_sample, -(-n // (2 * workers))), 1)
            return [[(n0, min(step, n - n0), 0, rows)] for n0 in range(0, n, step)], False
        big_weights = c_out * filt * itemsize > BIG_WEIGHTS_BYTES and per_sample <= WHOLE_BYTES
        band = rows if big_weights else max(TILE_BYTES // per_row, 1)
        return [[(n0, 1, r0, min(band, rows - r0)) for r0 in range(0, rows, band)] for n0 in range(n)], False
    bands = max(-(-2 * workers // n), -(-per_sample // TILE_BYTES))
    band = -(-rows // bands)
    return [[(n0, 1, r0, min(band, rows - r0))] for n0 in range(n) for r0 in range(0, rows, band)], True




def _ranges(total, parts):
    """``parts`` (or fewer) consecutive ``(start, stop)`` ranges covering ``range(total)``."""
    parts = max(min(parts, total), 1)
    return [(total * i // parts, total * (i + 1) // parts) for i in range(parts)]


def whole_sample(n, filt, positions, itemsize, workers):
    """True when a batch too small to give every worker a sample (one image on two threads)
    runs one sample at a time, its matrix product split by rows across the workers.

    The alternative, bands of output rows, made every worker stream the whole weight matrix
    once per band through thin products: a 1,512,16x16 layer ran at 8.0 ms forward and
    7.5 ms input gradient on two threads against 9.7 / 9.9 on one (issue 16)."""
    return 1 < workers and n < workers and filt * positions * itemsize <= WHOLE_BYTES


def _forward_whole(x5, w2, geom, bias, y3, k_cells):
    """The forward of :func:`whole_sample` batches: per sample, im2col of channel ranges, then
    ``y[o0:o1] = W[o0:o1] @ col`` (+ bias) for ranges of output channels, both on the workers."""
    n, c = x5.shape[:2]
    o, filt = w2.shape
    p = y3.shape[2]
    workers = get_num_threads()
    col = np.empty((1, filt, p), x5.dtype)  # several MB, written once: not kept between calls
    for j in range(n):
        def fill(r, j=j):
            c0, c1 = r
            _im2col(x5[j:j + 1, c0:c1], 0, 1, 0, p // geom[7], *geom, col[:, c0 * k_cells:c1 * k_cells])

        def product(r, j=j):
            o0, o1 = r
            np.matmul(w2[o0:o1], col[0], out=y3[j, o0:o1])
            if bias is not None:
                y3[j, o0:o1] += bias[o0:o1, None]

        run_jobs(fill, _ranges(c, 2 * workers))
        run_jobs(product, _ranges(o, workers))


def forward(x5, w5, g, bias, y5):
    """y5 (N, C_out, *O) = conv(x5, w5) (+ bias), tile by tile."""
    _, st, dl, lo, _, _, k5, out = g
    n, c = x5.shape[:2]
    o = w5.shape[0]
    filt = c * k5[0] * k5[1] * k5[2]
    rows, ow = out[0] * out[1], out[2]
    w2 = w5.reshape(o, filt)
    y3 = y5.reshape(n, o, rows * ow)
    geom = (k5[0], k5[1], k5[2], st, dl, lo, out[1], ow)
    if whole_sample(n, filt, rows * ow, x5.itemsize, get_num_threads()):
        b = None if bias is None else np.asarray(bias, x5.dtype)
        _forward_whole(x5, w2, geom, b, y3, k5[0] * k5[1] * k5[2])
        return
    b3 = None if bias is None else np.asarray(bias, x5.dtype).reshape(1, o, 1)

    def job(tiles):
        col = None
        for n0, nt, r0, nr in tiles:
            if col is None or col.shape != (nt, filt, nr * ow):
                col = scratch("im2col", (nt, filt, nr * ow), x5.dtype)
            _im2col(x5, n0, nt, r0, nr, *geom, col)
            # (C_out, F) @ (nt, F, T) -> (nt, C_out, T), written straight into y
            tile = y3[n0:n0 + nt, :, r0 * ow:(r0 + nr) * ow]
            np.matmul(w2, col, out=tile)
            if b3 is not None:
                tile += b3  # while the tile is still in cache

    run_jobs(job, plan(n, rows, ow, filt, x5.itemsize, get_num_threads(), o)[0], n * o * filt * rows * ow)


def backward_input(gy5, w5, g, gx5):
    """gx5 (N, C_in, *S) = the input gradient of conv, col2im tile by tile."""
    _, st, dl, lo, _, _, k5, out = g
    n, c = gx5.shape[:2]
    o = w5.shape[0]
    dtype = gy5.dtype
    filt = c * k5[0] * k5[1] * k5[2]
    rows, ow = out[0] * out[1], out[2]
    w2t = w5.reshape(o, filt).T
    gy3 = gy5.reshape(n, o, rows * ow)
    geom = (k5[0], k5[1], k5[2], st, dl, lo, out[1], ow)
    workers = get_num_threads()
    gx5[...] = 0
    if whole_sample(n, filt, rows * ow, dtype.itemsize, workers):
        # per sample: each worker takes a range of input channels, computes their rows of
        # gcol = W^T @ gy and scatters them into its own channels of gx (no overlap, no sum)
        kk = k5[0] * k5[1] * k5[2]
        for j in range(n):
            def channels(r, j=j):
                c0, c1 = r
                gcol = scratch("col2im", (1, (c1 - c0) * kk, rows * ow), dtype)
                np.matmul(w2t[c0 * kk:c1 * kk], gy3[j], out=gcol[0])
                _col2im(gcol, 0, 1, 0, rows, *geom, gx5[j:j + 1, c0:c1])

            run_jobs(channels, _ranges(c, 2 * workers))
        return
    units, shared = plan(n, rows, ow, filt, dtype.itemsize, workers, o)

    def job(tiles, target=gx5):
        gcol = None
        for n0, nt, r0, nr in tiles:
            if gcol is None or gcol.shape != (nt, filt, nr * ow):
                gcol = scratch("col2im", (nt, filt, nr * ow), dtype)
            np.matmul(w2t, gy3[n0:n0 + nt, :, r0 * ow:(r0 + nr) * ow], out=gcol)
            _col2im(gcol, n0, nt, r0, nr, *geom, target)

    work = n * o * filt * rows * ow
    if not shared:  # units hold whole samples: no two write the same cell
        run_jobs(job, units, work)
        return

    # Bands of one sample overlap where their windows do, so each group of units adds into a gx of
    # its own.  The groups are fixed (every ``workers``-th unit) and summed in order, so the
    # rounding, and with it the gradient, is the same in every run.
    def group_job(k):
        target = gx5 if k == 0 else np.zeros_like(gx5)
        for tiles in units[k::workers]:
            job(tiles, target)
        return target

    parts = run_jobs(group_job, list(range(min(workers, len(units)))), work)
    for part in parts[1:]:
        gx5 += part


def backward_weight(gy5, x5, g, o):
    """The weight gradient (C_out, C_in * prod(K)), summed over the tiles."""
    _, st, dl, lo, _, _, k5, out = g
    n, c = x5.shape[:2]
    dtype = gy5.dtype
    filt = c * k5[0] * k5[1] * k5[2]
    rows, ow = out[0] * out[1], out[2]
    gy3 = gy5.reshape(n, o, rows * ow)
    geom = (k5[0], k5[1], k5[2], st, dl, lo, out[1], ow)

    def job(tiles):
        gw2 = np.zeros((o, filt), dtype=dtype)
        col = None
        for n0, nt, r0, nr in tiles:
            if col is None or col.shape != (nt, filt, nr * ow):
                col = scratch("im2col", (nt, filt, nr * ow), dtype)
            _im2col(x5, n0, nt, r0, nr, *geom, col)
            gyt = gy3[n0:n0 + nt, :, r0 * ow:(r0 + nr) * ow]
            if 1 < nt and nt * o * filt * dtype.itemsize <= TILE_BYTES:
                # many small samples (e.g. 64 short 1D signals): one batched product and a sum
                # instead of nt Python-level products, each with its temporary
                gw2 += np.matmul(gyt, col.transpose(0, 2, 1)).sum(axis=0)
                continue
            for j in range(nt):
                # (C_out, T) @ (T, F): the sum over positions of gy * window
                gw2 += gyt[j] @ col[j].T
        return gw2

    parts = run_jobs(job, plan(n, rows, ow, filt, dtype.itemsize, get_num_threads(), o)[0],
                     n * o * filt * rows * ow)
    gw2 = parts[0]
    for part in parts[1:]:
        gw2 += part
    return gw2
