"""dlib's 5-point face landmark predictor, read from dlib's own file and run without dlib.

The model is a *cascade of regression forests* (Kazemi & Sullivan, "One millisecond face
alignment with an ensemble of regression trees", CVPR 2014). A shape is a vector of
``2 * num_parts`` numbers, the landmark coordinates in a box-normalised frame where the
face box's top-left corner is (0, 0) and its bottom-right corner is (1, 1). Prediction
starts from the mean shape and runs the cascades in order; each cascade

1. places its few hundred *feature pixels* relative to the current shape: each feature
   pixel is stored as an anchor landmark plus an offset measured in the mean shape, and
   the offset is carried along by the similarity transform that maps the mean shape onto
   the current one;
2. reads the grey level of each feature pixel in the image (0 outside the image);
3. walks every tree of its forest: node ``i`` compares the difference of two feature
   pixels with a threshold (``> thresh`` goes to ``2i + 1``, otherwise ``2i + 2``) and
   the leaf reached holds an increment that is added to the shape.

The file (``dlib/image_processing/shape_predictor.h``) holds, after a version number 1:
the mean shape (a column matrix), the forests (a vector of cascades, each a vector of
trees, each tree a vector of splits ``(idx1, idx2, thresh)`` and a vector of leaf
matrices), the anchor landmark of every feature pixel, and its offset (x, y).

Everything numeric follows dlib's C++ types so that the points agree with
``dlib.shape_predictor`` pixel for pixel: the shape and the leaf values are float32,
the transform between shapes is computed in double and rounded to float32, feature pixel
positions and the final landmarks are rounded to whole pixels with ``floor(v + 0.5)``,
and an RGB pixel's grey level is dlib's integer mean ``(r + g + b) // 3``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numba import njit

from .serialize import DlibFormatError, Reader

# Status codes of the compiled forest reader (a failure also reports the byte offset).
_BAD_NUMBER, _BAD_COUNT, _BAD_LEAVES, _BAD_LEAF_SHAPE = -1, -2, -3, -4
_STATUS_TEXT = {
    _BAD_NUMBER: "malformed or truncated packed number",
    _BAD_COUNT: "implausible element count",
    _BAD_LEAVES: "a regression tree must have one leaf more than it has splits",
    _BAD_LEAF_SHAPE: "a leaf must be a column of 2 * num_parts values",
}


# ---------------------------------------------------------------------------------------
# reading the file
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def _packed_int(buf, pos):
    """One packed integer at ``buf[pos:]`` -> (value, end offset); end is -1 on error."""
    if pos >= buf.shape[0]:
        return 0, -1
    ctrl = buf[pos]
    nbytes = ctrl & 0x0F
    if ctrl & 0x70 or nbytes > 8 or pos + 1 + nbytes > buf.shape[0]:
        return 0, -1
    v = 0
    for j in range(nbytes - 1, -1, -1):
        v = (v << 8) | np.int64(buf[pos + 1 + j])
    return (-v if ctrl & 0x80 else v), pos + 1 + nbytes


@njit(cache=True)
def _packed_float(buf, pos):
    """One packed float (mantissa, exponent) -> (value, end offset); end is -1 on error.
    Only finite values are accepted: a model parameter is never inf or NaN."""
    m, pos = _packed_int(buf, pos)
    if pos < 0:
        return 0.0, -1
    e, pos = _packed_int(buf, pos)
    if pos < 0 or e >= 32000:   # 32000..32002 encode inf, -inf and NaN
        return 0.0, -1
    return np.ldexp(np.float64(m), e), pos


@njit(cache=True)
def _read_forests(buf, pos, n_dims, fill, cascade_start, split_start, split_idx, thresh, leaves):
    """Walk the ``forests`` field from ``buf[pos:]``.

    With ``fill`` False it only counts (the arrays may be empty) and returns
    ``(status, pos, n_cascades, n_trees, n_splits)``; with ``fill`` True it also writes

    * ``cascade_start`` (n_cascades + 1,): first tree of each cascade;
    * ``split_start`` (n_trees + 1,): first split of each tree; tree ``t``'s leaves start
      at row ``split_start[t] + t`` of ``leaves`` (a tree has one leaf more than splits);
    * ``split_idx`` (n_splits, 2) int64, ``thresh`` (n_splits,) float32;
    * ``leaves`` (n_splits + n_trees, n_dims) float32.

    ``status`` is 0 on success, else one of the negative codes and ``pos`` the offset of
    the value that was wrong.
    """
    size = buf.shape[0]
    n_cascades, p = _packed_int(buf, pos)
    if p < 0:
        return _BAD_NUMBER, pos, 0, 0, 0
    if n_cascades < 0 or n_cascades > size:
        return _BAD_COUNT, pos, 0, 0, 0
    pos = p
    t_total = 0
    s_total = 0
    for c in range(n_cascades):
        if fill:
            cascade_start[c] = t_total
        n_trees, p = _packed_int(buf, pos)
        if p < 0:
            return _BAD_NUMBER, pos, 0, 0, 0
        if n_trees < 0 or n_trees > size - p:
            return _BAD_COUNT, pos, 0, 0, 0
        pos = p
        for _ in range(n_trees):
            if fill:
                split_start[t_total] = s_total
            n_splits, p = _packed_int(buf, pos)
            if p < 0:
                return _BAD_NUMBER, pos, 0, 0, 0
            if n_splits < 0 or 3 * n_splits > size - p:
                return _BAD_COUNT, pos, 0, 0, 0
            pos = p
            for s in range(n_splits):
                i1, p = _packed_int(buf, pos)
                if p < 0:
                    return _BAD_NUMBER, pos, 0, 0, 0
                i2, p2 = _packed_int(buf, p)
                if p2 < 0:
                    return _BAD_NUMBER, p, 0, 0, 0
                th, p3 = _packed_float(buf, p2)
                if p3 < 0:
                    return _BAD_NUMBER, p2, 0, 0, 0
                pos = p3
                if fill:
                    split_idx[s_total + s, 0] = i1
                    split_idx[s_total + s, 1] = i2
                    thresh[s_total + s] = th
            n_leaves, p = _packed_int(buf, pos)
            if p < 0:
                return _BAD_NUMBER, pos, 0, 0, 0
            if n_leaves != n_splits + 1:
                return _BAD_LEAVES, pos, 0, 0, 0
            pos = p
            row = s_total + t_total
            for leaf in range(n_leaves):
                nr, p = _packed_int(buf, pos)
                if p < 0:
                    return _BAD_NUMBER, pos, 0, 0, 0
                nc, p2 = _packed_int(buf, p)
                if p2 < 0:
                    return _BAD_NUMBER, p, 0, 0, 0
                # dlib writes matrix sizes negated (its newer format); older files don't
                if abs(nr) != n_dims or abs(nc) != 1:
                    return _BAD_LEAF_SHAPE, pos, 0, 0, 0
                pos = p2
                for k in range(n_dims):
                    v, p = _packed_float(buf, pos)
                    if p < 0:
                        return _BAD_NUMBER, pos, 0, 0, 0
                    pos = p
                    if fill:
                        leaves[row + leaf, k] = v
            s_total += n_splits
            t_total += 1
    if fill:
        cascade_start[n_cascades] = t_total
        split_start[t_total] = s_total
    return 0, pos, n_cascades, t_total, s_total


def _check_forests(r: Reader, n_dims: int, start: int, fill: bool, arrays):
    status, pos, n_c, n_t, n_s = _read_forests(r.buf, start, n_dims, fill, *arrays)
    if status != 0:
        raise r.error(f"regression forests: {_STATUS_TEXT[status]}", at=int(pos))
    return int(pos), n_c, n_t, n_s


class ShapePredictorData:
    """The arrays of one shape predictor file (all read-only after loading).

    * ``initial_shape`` (2P,) float32: the mean shape, x0, y0, x1, y1, ... in box units;
    * ``cascade_start`` (C + 1,), ``split_start`` (T + 1,), ``split_idx`` (S, 2),
      ``thresh`` (S,), ``leaves`` (S + T, 2P): the forests (see :func:`_read_forests`);
    * ``anchor_start`` (C + 1,), ``anchor`` (F,), ``deltas`` (F, 2) float32: feature pixel
      ``i`` of cascade ``c`` (``anchor_start[c] <= i < anchor_start[c + 1]``) sits at
      landmark ``anchor[i]`` plus ``deltas[i]`` in the mean shape.
    """

    def __init__(self, path):
        path = Path(path)
        data = path.read_bytes()
        r = Reader(data, name=str(path))
        r.expect_int(1, what="shape_predictor version")
        start = r.pos
        try:
            initial = r.read_matrix()
        except DlibFormatError:
            raise r.error("expected the mean shape (a column matrix) of a shape predictor; "
                          "is this a shape predictor file?", at=start) from None
        if initial.shape[1] != 1 or initial.shape[0] == 0 or initial.shape[0] % 2:
            raise r.error(f"initial shape must be a column of 2 * num_parts values, found {initial.shape}",
                          at=start)
        self.initial_shape = initial[:, 0].astype(np.float32)
        n_dims = initial.shape[0]

        start = r.pos
        empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 2), np.int64),
                 np.empty(0, np.float32), np.empty((0, n_dims), np.float32))
        _, n_c, n_t, n_s = _check_forests(r, n_dims, start, False, empty)
        self.cascade_start = np.empty(n_c + 1, np.int64)
        self.split_start = np.empty(n_t + 1, np.int64)
        self.split_idx = np.empty((n_s, 2), np.int64)
        self.thresh = np.empty(n_s, np.float32)
        self.leaves = np.empty((n_s + n_t, n_dims), np.float32)
        r.pos, _, _, _ = _check_forests(r, n_dims, start, True,
                                        (self.cascade_start, self.split_start, self.split_idx,
                                         self.thresh, self.leaves))

        anchors = self._read_vectors(r, n_c, "anchor_idx", pairs=False)
        deltas = self._read_vectors(r, n_c, "deltas", pairs=True)
        if [len(a) for a in anchors] != [len(d) for d in deltas]:
            raise r.error("anchor_idx and deltas differ in length")
        if not r.at_end():
            raise r.error("unexpected bytes after the shape predictor (not a shape predictor file?)")
        self.anchor_start = np.concatenate([[0], np.cumsum([len(a) for a in anchors])]).astype(np.int64)
        self.anchor = np.concatenate(anchors).astype(np.int64) if n_c else np.empty(0, np.int64)
        self.deltas = (np.concatenate(deltas).astype(np.float32) if n_c
                       else np.empty((0, 2), np.float32))
        self._validate(r)

    @staticmethod
    def _read_vectors(r: Reader, n_cascades: int, what: str, pairs: bool) -> list:
        """A vector (one entry per cascade) of vectors of ints, or of float (x, y) pairs."""
        start = r.pos
        n = r.read_int()
        if n != n_cascades:
            raise r.error(f"{what} has {n} entries for {n_cascades} cascades", at=start)
        out = []
        for _ in range(n):
            start = r.pos
            m = r.read_int()
            if m < 0 or m > r.buf.shape[0]:
                raise r.error(f"{what}: implausible length {m}", at=start)
            out.append(r.read_floats(2 * m).reshape(m, 2) if pairs else r.read_ints(m))
        return out

    def _validate(self, r: Reader):
        """Indices must stay inside their arrays: a file that passes runs without checks."""
        n_parts = self.num_parts
        if self.anchor.size and (self.anchor.min() < 0 or self.anchor.max() >= n_parts):
            raise r.error(f"anchor_idx out of range for {n_parts} parts", at=0)
        n_feat = np.diff(self.anchor_start)
        tree_cascade = np.repeat(np.arange(len(n_feat)), np.diff(self.cascade_start))
        split_tree = np.repeat(np.arange(len(tree_cascade)), np.diff(self.split_start))
        limit = n_feat[tree_cascade[split_tree]] if split_tree.size else np.empty(0, np.int64)
        if self.split_idx.size and ((self.split_idx < 0).any() or (self.split_idx >= limit[:, None]).any()):
            raise r.error("a split refers to a feature pixel that its cascade does not have", at=0)
        if not (np.isfinite(self.initial_shape).all() and np.isfinite(self.deltas).all()):
            raise r.error("non-finite values in the initial shape or deltas", at=0)

    @property
    def num_parts(self) -> int:
        return self.initial_shape.size // 2

    @property
    def num_cascades(self) -> int:
        return self.cascade_start.size - 1


# ---------------------------------------------------------------------------------------
# running it
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def _similarity(src, dst):
    """Least-squares similarity transform (rotation, uniform scale, translation) taking
    points ``src`` (n, 2) onto ``dst`` (n, 2), in double: returns the 2x2 matrix ``A``
    (``dst ~ A @ src + b``; ``b`` is not needed here).

    For a 2-D similarity ``A = [[a, -b], [b, a]]`` the least-squares optimum has the
    closed form ``a = sum(s . d) / sum(|s|^2)``, ``b = sum(s x d) / sum(|s|^2)`` over the
    centred points; it is the same transform as Umeyama's SVD solution (the one dlib's
    ``find_similarity_transform`` uses) including its no-reflection rule.
    """
    n = src.shape[0]
    msx = 0.0
    msy = 0.0
    mdx = 0.0
    mdy = 0.0
    for i in range(n):
        msx += src[i, 0]
        msy += src[i, 1]
        mdx += dst[i, 0]
        mdy += dst[i, 1]
    msx /= n
    msy /= n
    mdx /= n
    mdy /= n
    dot = 0.0
    cross = 0.0
    norm = 0.0
    for i in range(n):
        sx = src[i, 0] - msx
        sy = src[i, 1] - msy
        dx = dst[i, 0] - mdx
        dy = dst[i, 1] - mdy
        dot += sx * dx + sy * dy
        cross += sx * dy - sy * dx
        norm += sx * sx + sy * sy
    A = np.empty((2, 2))
    if norm == 0.0:   # all source points coincide: dlib falls back to the identity
        A[0, 0] = 1.0
        A[0, 1] = 0.0
        A[1, 0] = 0.0
        A[1, 1] = 1.0
    else:
        a = dot / norm
        b = cross / norm
        A[0, 0] = a
        A[0, 1] = -b
        A[1, 0] = b
        A[1, 1] = a
    return A


@njit(cache=True)
def _predict(img, left, top, right, bottom, initial, cascade_start, split_start, split_idx,
             thresh, leaves, anchor_start, anchor, deltas):
    """dlib's test-time cascade on ``img`` (H, W, C) uint8 (C = 1 or 3) for the inclusive
    box; returns the final shape (2P,) float32 in box units."""
    H, W, C = img.shape
    n_dims = initial.shape[0]
    n_parts = n_dims // 2
    shape = initial.copy()
    init_pts = np.empty((n_parts, 2))
    cur_pts = np.empty((n_parts, 2))
    for j in range(n_parts):
        init_pts[j, 0] = initial[2 * j]
        init_pts[j, 1] = initial[2 * j + 1]
    # box units -> pixels: (0, 0) -> (left, top), (1, 1) -> (right, bottom)
    sx = np.float64(right - left)
    sy = np.float64(bottom - top)
    feats = np.empty(anchor.shape[0], np.float32)
    for c in range(cascade_start.shape[0] - 1):
        for j in range(n_parts):
            cur_pts[j, 0] = shape[2 * j]
            cur_pts[j, 1] = shape[2 * j + 1]
        A = _similarity(init_pts, cur_pts)
        a00 = np.float32(A[0, 0])
        a01 = np.float32(A[0, 1])
        a10 = np.float32(A[1, 0])
        a11 = np.float32(A[1, 1])
        f0 = anchor_start[c]
        for i in range(f0, anchor_start[c + 1]):
            dx = deltas[i, 0]
            dy = deltas[i, 1]
            k = anchor[i]
            # float32 arithmetic, as dlib does it (matrix<float,2,2> * vector<float,2>)
            px = (a00 * dx + a01 * dy) + shape[2 * k]
            py = (a10 * dx + a11 * dy) + shape[2 * k + 1]
            x = np.int64(np.floor(sx * np.float64(px) + left + 0.5))
            y = np.int64(np.floor(sy * np.float64(py) + top + 0.5))
            v = np.float32(0.0)
            if 0 <= x < W and 0 <= y < H:
                if C == 3:
                    v = np.float32((np.int64(img[y, x, 0]) + np.int64(img[y, x, 1])
                                    + np.int64(img[y, x, 2])) // 3)
                else:
                    v = np.float32(img[y, x, 0])
            feats[i - f0] = v
        for t in range(cascade_start[c], cascade_start[c + 1]):
            s0 = split_start[t]
            n_splits = split_start[t + 1] - s0
            node = 0
            while node < n_splits:
                s = s0 + node
                if feats[split_idx[s, 0]] - feats[split_idx[s, 1]] > thresh[s]:
                    node = 2 * node + 1
                else:
                    node = 2 * node + 2
            row = s0 + t + (node - n_splits)
            for k in range(n_dims):
                shape[k] += leaves[row, k]
    return shape


def _as_image(image) -> np.ndarray:
    """(H, W) or (H, W, 1|3) uint8-valued array -> contiguous (H, W, C) uint8."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"image must be (H, W) grey or (H, W, 3) RGB, got shape {np.shape(image)}")
    if a.dtype != np.uint8:
        if a.dtype.kind not in "biu":
            raise ValueError(f"image must hold uint8 pixel values (0..255), got dtype {a.dtype}; "
                             "convert it first, e.g. np.clip(img * 255, 0, 255).astype(np.uint8)")
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"image values must lie in 0..255, got {a.min()}..{a.max()}")
        a = a.astype(np.uint8)
    return np.ascontiguousarray(a)


def _as_box(box) -> tuple:
    """(left, top, right, bottom), inclusive pixel coordinates as dlib's ``rectangle``."""
    try:
        vals = [float(v) for v in box]
    except (TypeError, ValueError):
        raise ValueError(f"box must be (left, top, right, bottom), got {box!r}") from None
    if len(vals) != 4 or not all(np.isfinite(vals)):
        raise ValueError(f"box must be 4 finite numbers (left, top, right, bottom), got {box!r}")
    if any(v != round(v) for v in vals):
        raise ValueError(f"box corners must be whole pixels (dlib rectangles are integer), got {box!r}")
    l, t, r, b = (int(round(v)) for v in vals)
    if r < l or b < t:
        raise ValueError(f"box must have right >= left and bottom >= top, got {box!r}")
    return l, t, r, b


class ShapePredictor:
    """dlib's landmark predictor, loaded from its ``.dat`` file.

    ``predictor(image, box)`` -> (num_parts, 2) float64 array of (x, y) pixel positions,
    whole numbers exactly as ``dlib.shape_predictor`` returns them. ``image``: (H, W)
    grey or (H, W, 3) RGB, uint8 values. ``box``: the face box (left, top, right,
    bottom) in dlib's inclusive convention (``right = left + width - 1``).

    For the 5-point model the parts are: 0, 1 the outer and inner corner of the eye on
    the image's right; 2, 3 the outer and inner corner of the eye on the image's left;
    4 the base of the nose.
    """

    def __init__(self, path=None):
        if path is None:
            from .files import model_file

            path = model_file("landmarks")
        self.path = Path(path)
        self.data = ShapePredictorData(self.path)

    @property
    def num_parts(self) -> int:
        return self.data.num_parts

    def predict_normalized(self, image, box) -> np.ndarray:
        """The final shape (num_parts, 2) float32 in box units (before rounding)."""
        img = _as_image(image)
        l, t, r, b = _as_box(box)
        d = self.data
        shape = _predict(img, l, t, r, b, d.initial_shape, d.cascade_start, d.split_start,
                         d.split_idx, d.thresh, d.leaves, d.anchor_start, d.anchor, d.deltas)
        return shape.reshape(-1, 2)

    def __call__(self, image, box) -> np.ndarray:
        l, t, r, b = _as_box(box)
        shape = self.predict_normalized(image, (l, t, r, b)).astype(np.float64)
        x = np.floor((r - l) * shape[:, 0] + l + 0.5)
        y = np.floor((b - t) * shape[:, 1] + t + 0.5)
        return np.stack([x, y], axis=1)

    def __repr__(self) -> str:
        d = self.data
        return (f"ShapePredictor({os.fspath(self.path)!r}: {d.num_parts} parts, "
                f"{d.num_cascades} cascades, {d.cascade_start[-1]} trees)")
