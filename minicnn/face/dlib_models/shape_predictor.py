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

from .serialize import DlibFormatError, Reader, _decode_ints

# ---------------------------------------------------------------------------------------
# reading the file
# ---------------------------------------------------------------------------------------
#
# Every field of a tree is a packed integer or a packed float (two packed integers), so a
# cascade of equally deep trees is one run of packed integers with a fixed period: for a
# tree of S splits and 2P-value leaves,
#
#     S | (idx1, idx2, thresh_mantissa, thresh_exponent) x S | S + 1 |
#     (rows, cols, (mantissa, exponent) x 2P) x (S + 1)
#
# which is 2 + 4S + (S + 1)(2 + 4P) integers. One compiled call decodes the whole run and
# NumPy slices it into splits and leaves (dlib's trainer makes all trees of a model equally
# deep; a file where they are not is rejected).


def _int_offset(r: Reader, start: int, k: int) -> int:
    """Byte offset of the ``k``-th packed integer of the run that begins at ``start``."""
    if k == 0:
        return start
    return int(_decode_ints(r.buf, start, k, np.empty(k, np.int64)))


def _first_bad_int(r: Reader, start: int) -> int:
    """Byte offset of the first malformed or truncated packed integer from ``start`` on."""
    one = np.empty(1, np.int64)
    pos = start
    while True:
        nxt = _decode_ints(r.buf, pos, 1, one)
        if nxt < 0:
            return pos
        pos = nxt


def _read_cascade(r: Reader, n_dims: int):
    """One cascade's forest -> (split_idx (T, S, 2), thresh (T, S), leaves (T, S + 1, 2P))."""
    start = r.pos
    n_trees = r.read_int()
    if not 0 <= n_trees <= r.buf.shape[0] - r.pos:
        raise r.error(f"implausible number of trees {n_trees}", at=start)
    if n_trees == 0:
        return (np.empty((0, 0, 2), np.int64), np.empty((0, 0), np.float32),
                np.empty((0, 1, n_dims), np.float32))
    run = r.pos
    n_splits = r.read_int()
    r.pos = run
    if not 0 <= n_splits <= 1 << 16:
        raise r.error(f"implausible number of splits {n_splits}", at=run)
    S, L = n_splits, n_splits + 1
    period = 2 + 4 * S + L * (2 + 2 * n_dims)
    n = n_trees * period
    ints = np.empty(n, np.int64)
    end = _decode_ints(r.buf, run, n, ints)
    if end < 0:
        raise r.error("regression trees: malformed or truncated packed number",
                      at=_first_bad_int(r, run))
    trees = ints.reshape(n_trees, period)
    splits = trees[:, 1:1 + 4 * S].reshape(n_trees, S, 4)
    blocks = trees[:, 2 + 4 * S:].reshape(n_trees, L, 2 + 2 * n_dims)
    pairs = blocks[:, :, 2:].reshape(n_trees, L, n_dims, 2)

    def fail(bad, col_of, what):
        t, j = np.argwhere(bad)[0][:2] if bad.ndim > 1 else (np.argmax(bad), 0)
        raise r.error(what, at=_int_offset(r, run, int(t) * period + col_of(int(j))))

    # dlib writes matrix sizes negated (its current format); older files wrote them plain
    checks = [
        (trees[:, 0] != S, lambda j: 0, "trees of one cascade must be equally deep"),
        (trees[:, 1 + 4 * S] != L, lambda j: 1 + 4 * S,
         "a regression tree must have one leaf more than it has splits"),
        ((np.abs(blocks[:, :, 0]) != n_dims) | (np.abs(blocks[:, :, 1]) != 1),
         lambda j: 2 + 4 * S + j * (2 + 2 * n_dims), "a leaf must be a column of 2 * num_parts values"),
        (splits[:, :, 3] >= 32000, lambda j: 1 + 4 * j + 3, "a split threshold is inf or NaN"),
        ((pairs[:, :, :, 1] >= 32000).any(axis=2), lambda j: 2 + 4 * S + j * (2 + 2 * n_dims),
         "a leaf holds inf or NaN"),
    ]
    for bad, col_of, what in checks:
        if bad.any():
            fail(bad, col_of, what)
    r.pos = int(end)
    thresh = np.ldexp(splits[:, :, 2].astype(np.float64), splits[:, :, 3]).astype(np.float32)
    leaves = np.ldexp(pairs[..., 0].astype(np.float64), pairs[..., 1]).astype(np.float32)
    return splits[:, :, :2].copy(), thresh, leaves


class ShapePredictorData:
    """The arrays of one shape predictor file (all read-only after loading).

    * ``initial_shape`` (2P,) float32: the mean shape, x0, y0, x1, y1, ... in box units;
    * ``cascade_start`` (C + 1,): first tree of each cascade; ``split_start`` (T + 1,):
      first split of each tree; tree ``t``'s leaves are rows ``split_start[t] + t`` on of
      ``leaves`` (a tree has one leaf more than splits);
    * ``split_idx`` (S, 2) int64 feature pixel pairs, ``thresh`` (S,) float32,
      ``leaves`` (S + T, 2P) float32 shape increments;
    * ``anchor_start`` (C + 1,), ``anchor`` (F,), ``deltas`` (F, 2) float32: feature pixel
      ``i`` of cascade ``c`` (``anchor_start[c] <= i < anchor_start[c + 1]``) sits at
      landmark ``anchor[i]`` plus ``deltas[i]`` in the mean shape.
    """

    def __init__(self, path):
        path = Path(path)
        r = Reader(path.read_bytes(), name=str(path))
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
        n_cascades = r.read_int()
        if not 0 <= n_cascades <= 10_000:
            raise r.error(f"implausible number of cascades {n_cascades}", at=start)
        forests = [_read_cascade(r, n_dims) for _ in range(n_cascades)]
        n_trees = [f[1].shape[0] for f in forests]
        n_splits = np.concatenate([np.full(f[1].shape[0], f[1].shape[1]) for f in forests]
                                  + [np.empty(0, np.int64)]).astype(np.int64)
        self.cascade_start = np.concatenate([[0], np.cumsum(n_trees)]).astype(np.int64)
        self.split_start = np.concatenate([[0], np.cumsum(n_splits)]).astype(np.int64)
        self.split_idx = np.concatenate([f[0].reshape(-1, 2) for f in forests] + [np.empty((0, 2), np.int64)])
        self.thresh = np.concatenate([f[1].ravel() for f in forests] + [np.empty(0, np.float32)])
        self.leaves = np.concatenate([f[2].reshape(-1, n_dims) for f in forests]
                                     + [np.empty((0, n_dims), np.float32)])

        anchors = self._read_vectors(r, n_cascades, "anchor_idx", pairs=False)
        deltas = self._read_vectors(r, n_cascades, "deltas", pairs=True)
        if [len(a) for a in anchors] != [len(d) for d in deltas]:
            raise r.error("anchor_idx and deltas differ in length")
        if not r.at_end():
            raise r.error("unexpected bytes after the shape predictor (not a shape predictor file?)")
        self.anchor_start = np.concatenate([[0], np.cumsum([len(a) for a in anchors])]).astype(np.int64)
        self.anchor = np.concatenate(anchors + [np.empty(0, np.int64)]).astype(np.int64)
        self.deltas = np.concatenate(deltas + [np.empty((0, 2))]).astype(np.float32)
        self._validate(r)
        for a in (self.initial_shape, self.cascade_start, self.split_start, self.split_idx,
                  self.thresh, self.leaves, self.anchor_start, self.anchor, self.deltas):
            a.flags.writeable = False

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
def similarity_transform(src, dst):
    """Least-squares similarity (rotation, uniform scale, translation) taking points
    ``src`` (n, 2) onto ``dst`` (n, 2), in double -> (A (2, 2), b (2,)), ``dst ~ A @ src + b``.

    In 2-D, ``A = [[a, -c], [c, a]]`` and over the centred points the optimum is
    ``a = sum(s . d) / sum(|s|^2)``, ``c = sum(s x d) / sum(|s|^2)``: the same transform as
    Umeyama's SVD solution that dlib's ``find_similarity_transform`` computes, including its
    rule against reflections. Sums run in point order, as in dlib.
    """
    n = src.shape[0]
    ms = np.zeros(2)
    md = np.zeros(2)
    for i in range(n):
        ms += src[i]
        md += dst[i]
    ms /= n
    md /= n
    dot = 0.0
    cross = 0.0
    norm = 0.0
    for i in range(n):
        sx, sy = src[i, 0] - ms[0], src[i, 1] - ms[1]
        dx, dy = dst[i, 0] - md[0], dst[i, 1] - md[1]
        dot += sx * dx + sy * dy
        cross += sx * dy - sy * dx
        norm += sx * sx + sy * sy
    A = np.eye(2)        # all source points coincide: dlib's answer is the identity
    if norm != 0.0:
        A[0, 0] = A[1, 1] = dot / norm
        A[1, 0] = cross / norm
        A[0, 1] = -A[1, 0]
    return A, md - A @ ms


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
        A, _ = similarity_transform(init_pts, cur_pts)
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
    if len(vals) != 4 or not all(abs(v) < 2 ** 31 for v in vals):   # also rejects NaN
        raise ValueError(f"box must be 4 finite pixel coordinates (left, top, right, bottom), got {box!r}")
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
