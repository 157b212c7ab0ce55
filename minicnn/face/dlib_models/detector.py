"""dlib's CNN face detector (``mmod_human_face_detector.dat``), run by minicnn.

The detector is a small fully convolutional network trained with the Max-Margin Object
Detection loss (MMOD, King 2015). It slides one 80 x 80 window over an image pyramid and
scores every position; a positive score is a face. What happens to a photo, step by step
(each step is dlib's own, so the boxes and scores agree with ``dlib``):

1. **Upsampling** (optional, ``upsample`` times): the photo is enlarged about 2x with
   :func:`pyramid_up` so that faces smaller than the window can be found.
2. **Tiled pyramid** (:func:`tiled_pyramid_layout`, :func:`pyramid_tensor`): the photo and
   its successive 5/6 reductions (``pyramid_down<6>``) are packed into ONE picture: the
   large levels stacked down the left column, the small ones climbing back up on the right,
   10 pixels apart, 11 pixels of border. The network then runs once on that picture rather
   than once per level. Pixels are scaled ``(value - channel mean) / 256``; each level is a
   bilinear resize of the level before it, in that scaled form.
3. **The network** (read from the file by :mod:`.dnn`): three 5x5 stride-2 convolutions
   (each followed by a per-channel affine map and a ReLU), three 5x5 stride-1 ones with 45
   channels, and a final 9x9 convolution to one score map.
4. **Decoding** (:func:`decode`): every output cell above the threshold becomes a window
   centred on the input cell it maps to (each convolution maps output ``p`` to input
   ``p * stride - padding + kernel // 2``), then that window is carried from the tiled
   picture back to the photo through the pyramid level it lies in.
5. **Non-maximum suppression** (:func:`nms`): strongest first, a box is dropped when it
   overlaps a kept one more than the file's ``overlaps_nms`` allows.

Rectangles follow dlib: ``(left, top, right, bottom)`` with right/bottom *inclusive*, so a
box's width is ``right - left + 1``; real-valued boxes become integer ones by rounding each
side (``floor(v + 0.5)``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from .serialize import DlibFormatError, Reader

__all__ = ["MMODOptions", "read_mmod_options", "FaceDetector", "tiled_pyramid_layout",
           "pyramid_tensor", "pyramid_up", "decode", "nms", "box_overlap"]


# ----------------------------------------------------------------------------------------
# 1. The loss layer's options (dlib/dnn/loss.h, mmod_options)
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MMODOptions:
    """The ``loss_mmod_`` settings stored in a detector file.

    ``windows``: one ``(width, height, label)`` per output channel (the sliding windows);
    ``overlaps_nms`` / ``overlaps_ignore``: ``(iou_thresh, percent_covered_thresh)`` of
    dlib's ``test_box_overlap``. The training-only fields are kept for completeness.
    """

    windows: tuple
    loss_per_false_alarm: float
    loss_per_missed_target: float
    truth_match_iou_threshold: float
    overlaps_nms: tuple
    overlaps_ignore: tuple
    assume_image_pyramid: bool = True
    use_bounding_box_regression: bool = False
    bbr_lambda: float = 100.0


def _read_window(r: Reader):
    version = r.expect_int(1, 2, what="detector window version")
    width, height = r.read_int(), r.read_int()
    label = r.read_string() if version == 2 else ""
    return (width, height, label)


def read_mmod_options(r: Reader) -> MMODOptions:
    """Read ``mmod_options`` (versions 1-4) at the cursor.

    v1: one window as width, height. v2+: a packed count and that many windows (each
    version, width, height and, from window version 2, a label). All: loss per false
    alarm, loss per missed target, truth-match IoU (doubles), then the two overlap testers
    (two doubles each). v3+: ``assume_image_pyramid`` as one raw byte. v4+: the bounding
    box regression flag (bool) and its lambda (double).
    """
    start = r.pos
    version = r.expect_int(1, 2, 3, 4, what="mmod_options version")
    if version == 1:
        windows = ((r.read_int(), r.read_int(), ""),)
    else:
        n = r.read_int()
        if not 1 <= n <= 1000:
            raise r.error(f"mmod_options: implausible number of detector windows {n}", start)
        windows = tuple(_read_window(r) for _ in range(n))
    fa, miss, iou = (float(v) for v in r.read_floats(3))
    nms_ = tuple(float(v) for v in r.read_floats(2))
    ignore = tuple(float(v) for v in r.read_floats(2))
    pyramid, bbr, bbr_lambda = True, False, 100.0
    if version >= 3:
        pyramid = r.read_bytes(1)[0] != 0
    if version >= 4:
        bbr, bbr_lambda = r.read_bool(), r.read_float()
    for w, h, _ in windows:
        if not (1 <= w <= 10000 and 1 <= h <= 10000):
            raise r.error(f"mmod_options: detector window {w}x{h} is not a valid size", start)
    for name, (a, b) in (("overlaps_nms", nms_), ("overlaps_ignore", ignore)):
        if not (0 <= a <= 1 and 0 <= b <= 1):
            raise r.error(f"mmod_options: {name} thresholds {(a, b)} are outside [0, 1]", start)
    return MMODOptions(windows, fa, miss, iou, nms_, ignore, pyramid, bbr, bbr_lambda)


# ----------------------------------------------------------------------------------------
# 2. Geometry: rectangles, the pyramid, the tiled picture (dlib/image_transforms/image_pyramid.h)
# ----------------------------------------------------------------------------------------
def _round(v):
    """dlib's drectangle -> rectangle conversion, per side: floor(v + 0.5)."""
    return np.floor(np.asarray(v, np.float64) + 0.5).astype(np.int64)


def _level_size(nr: int, nc: int, n: int = 6):
    """Size of the next level of ``pyramid_down<n>`` (n > 3): floor(rate * size), rate (n-1)/n."""
    rate = (n - 1.0) / n
    return math.floor(rate * nr), math.floor(rate * nc)


def tiled_pyramid_layout(nr: int, nc: int, padding: int = 10, outer_padding: int = 11, n: int = 6):
    """Where each pyramid level of an ``nr x nc`` image goes in the tiled picture.

    Returns ``(rects, (height, width))``: ``rects[k] = (left, top, right, bottom)``
    (inclusive) of level ``k`` (0 = the image itself), and the tiled picture's size.
    Levels go down the left column until the rest would fit beside them, then the smaller
    ones climb back up along the right edge; levels shorter than 5 rows are not made, and
    any level that would overlap level 0 in the climb is dropped.
    """
    if nr * nc == 0:
        return [], (0, 0)
    sizes = [(nr, nc)]                               # (height, width) per level
    while True:
        nr, nc = _level_size(nr, nc, n)
        if nr * nc == 0 or nr < 5:
            break
        sizes.append((nr, nc))
    h0, w0 = sizes[0]
    total = sum(h + padding for h, _ in sizes) - 2 * padding
    height, prev_w = 0, 0
    for h, w in sizes:                               # how far the first column goes
        if w <= w0 - prev_w - padding and (height - h0) * 2 >= total - h0:
            break
        height += h + padding
        prev_w = w
    height -= padding
    out_h, out_w = height + 2 * outer_padding, w0 + 2 * outer_padding

    rects, y, i = [], outer_padding, 0
    while y < height + outer_padding and i < len(sizes):   # down the left column
        h, w = sizes[i]
        rects.append((outer_padding, y, outer_padding + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    l0, t0, r0, b0 = rects[0]
    while i < len(sizes):                            # back up along the right edge
        h, w = sizes[i]
        right, bottom = outer_padding + w0 - 1, y - 1
        rect = (right - (w - 1), bottom - (h - 1), right, bottom)
        if max(l0, rect[0]) <= min(r0, rect[2]) and max(t0, rect[1]) <= min(b0, rect[3]):
            break
        rects.append(rect)
        y -= h + padding
        i += 1
    return rects, (out_h, out_w)


@njit(cache=True)
def _resize_plane(src, dst):
    """Bilinear resize of a float32 plane into another (dlib's ``resize_image``): output
    cell (r, c) samples the input at (r * sy, c * sx), sy = (in_rows - 1) / (out_rows - 1),
    so the corners map onto the corners."""
    snr, snc = src.shape
    dnr, dnc = dst.shape
    sx = (snc - 1) / max(dnc - 1, 1)
    sy = (snr - 1) / max(dnr - 1, 1)
    for r in range(dnr):
        y = r * sy
        top = int(math.floor(y))
        bot = min(top + 1, snr - 1)
        fy = np.float32(y - top)
        for c in range(dnc):
            x = c * sx
            left = int(math.floor(x))
            right = min(left + 1, snc - 1)
            fx = np.float32(x - left)
            t = (np.float32(1) - fx) * src[top, left] + fx * src[top, right]
            b = (np.float32(1) - fx) * src[bot, left] + fx * src[bot, right]
            dst[r, c] = (np.float32(1) - fy) * t + fy * b


@njit(cache=True)
def _fill_pyramid(x, rects):
    """Levels 1.. of the tiled picture ``x`` (C, H, W), each resized from the one before."""
    for k in range(1, rects.shape[0]):
        l0, t0, r0, b0 = rects[k - 1]
        l1, t1, r1, b1 = rects[k]
        for ch in range(x.shape[0]):
            _resize_plane(x[ch, t0:b0 + 1, l0:r0 + 1], x[ch, t1:b1 + 1, l1:r1 + 1])


def pyramid_tensor(image: np.ndarray, mean, padding: int = 10, outer_padding: int = 11):
    """The network input for an (H, W, 3) uint8 image -> ``(x (1, 3, Ht, Wt) float32, rects)``.

    Level 0 holds ``(pixel - mean[c]) / 256`` (the subtraction in float32, as dlib), the
    rest of the tiled picture is zero except the smaller levels.
    """
    rects, (th, tw) = tiled_pyramid_layout(image.shape[0], image.shape[1], padding, outer_padding)
    x = np.zeros((3, th, tw), np.float32)
    l, t, r, b = rects[0]
    scaled = (image.astype(np.float32) - np.asarray(mean, np.float32)) / np.float32(256)
    x[:, t:b + 1, l:r + 1] = scaled.transpose(2, 0, 1)
    _fill_pyramid(x, np.asarray(rects, np.int64))
    return x[None], rects


@njit(cache=True)
def _pyramid_up_kernel(src, R, C):
    """dlib's bilinear ``resize_image`` for RGB uint8, reproduced to the bit: four columns
    at a time in float32 (positions accumulated in float32, weights in float32, the result
    truncated), the last columns in double precision, also truncated."""
    nr, nc = src.shape[0], src.shape[1]
    out = np.zeros((R, C, 3), np.uint8)
    sx = (nc - 1) / max(C - 1, 1)
    sy = (nr - 1) / max(R - 1, 1)
    xs = np.empty(4, np.float32)
    step = np.float32(4 * sx)
    y = -sy
    for r in range(R):
        y += sy
        top = int(math.floor(y))
        bot = min(top + 1, nr - 1)
        fy = y - top
        fy32, gy32 = np.float32(fy), np.float32(1 - fy)
        x0 = -4 * sx
        for k in range(4):
            xs[k] = np.float32(x0 + k * sx)
        c = 0
        while True:
            for k in range(4):
                xs[k] = xs[k] + step
            if int(xs[3]) + 1 >= nc:
                break
            for k in range(4):
                left = int(xs[k])
                fx = xs[k] - np.float32(left)
                gx = np.float32(1) - fx
                w_tl, w_tr, w_bl, w_br = gy32 * gx, gy32 * fx, fy32 * gx, fy32 * fx
                for ch in range(3):
                    v = (w_tl * np.float32(src[top, left, ch]) + w_tr * np.float32(src[top, left + 1, ch])
                         + w_bl * np.float32(src[bot, left, ch]) + w_br * np.float32(src[bot, left + 1, ch]))
                    out[r, c + k, ch] = np.uint8(int(v))
            c += 4
        x = -sx + c * sx
        while c < C:
            x += sx
            left = int(math.floor(x))
            right = min(left + 1, nc - 1)
            fx = x - left
            for ch in range(3):
                v = ((1 - fy) * ((1 - fx) * float(src[top, left, ch]) + fx * float(src[top, right, ch]))
                     + fy * ((1 - fx) * float(src[bot, left, ch]) + fx * float(src[bot, right, ch])))
                out[r, c, ch] = np.uint8(int(v))
            c += 1
    return out


def pyramid_up(image: np.ndarray) -> np.ndarray:
    """Enlarge an (H, W, 3) uint8 image as dlib's ``pyramid_up(img, pyramid_down<2>)``:
    to (2H + 1, 2W + 2), the size ``pyramid_down<2>.rect_up`` gives the image's rectangle."""
    nr, nc = image.shape[:2]
    return _pyramid_up_kernel(np.ascontiguousarray(image), 2 * nr + 1, 2 * nc + 2)


def _rect_down_2(boxes: np.ndarray, levels: int) -> np.ndarray:
    """``pyramid_down<2>.rect_down(rect, levels)`` on integer boxes, then rounded."""
    b = boxes.astype(np.float64)
    for _ in range(levels):
        b = b / 2.0 - np.array([1.25, 0.75, 1.25, 0.75])
    return _round(b)


# ----------------------------------------------------------------------------------------
# 3-5. Decoding and non-maximum suppression (dlib/dnn/loss.h, loss_mmod_::to_label)
# ----------------------------------------------------------------------------------------
def _nearest_rect(rects: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """dlib's ``nearest_rect``: the first rect containing the point, else the first of the
    nearest ones (Euclidean distance to the rect)."""
    l, t, r, b = (rects[:, i][None, :] for i in range(4))
    x, y = px[:, None], py[:, None]
    dx = np.maximum(np.maximum(l - x, x - r), 0)
    dy = np.maximum(np.maximum(t - y, y - b), 0)
    return np.argmin(np.sqrt(dx * dx + dy * dy), axis=1)  # 0 when inside; argmin takes the first


def decode(scores: np.ndarray, convs, rects, window, threshold: float = 0.0, n: int = 6):
    """Score map -> candidate boxes in image coordinates, strongest first.

    ``scores``: (OH, OW) output of one window channel; ``convs``: (kernel, stride,
    padding) per convolution, input first; ``rects``: the tiled pyramid layout;
    ``window``: (width, height). Returns ``(boxes (k, 4) int64, scores (k,))``.
    """
    rows, cols = np.nonzero(scores > threshold)
    s = scores[rows, cols].astype(np.float64)
    px, py = cols.astype(np.float64), rows.astype(np.float64)
    for (kh, kw), (sh, sw), (ph, pw) in reversed(convs):   # output -> input, layer by layer
        px = px * sw - pw + kw // 2
        py = py * sh - ph + kh // 2
    w, h = window
    half_w, half_h = (w - 1) / 2, (h - 1) / 2                 # dlib's centered_drect
    box = np.stack([px - half_w, py - half_h, px + half_w, py + half_h], axis=1)
    # tensor space -> image space: the level whose rect is nearest the box's centre
    cx, cy = (box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2
    r = np.asarray(rects, np.float64).reshape(-1, 4)
    level = _nearest_rect(r, np.floor(cx + 0.5), np.floor(cy + 0.5))
    box = box - r[level][:, [0, 1, 0, 1]]
    ratio = n / (n - 1.0)
    for k in range(1, int(level.max(initial=0)) + 1):        # point_up, once per level
        up = level >= k
        box[up] = box[up] * ratio + 0.3
    order = np.argsort(-s, kind="stable")
    return _round(box[order]), s[order]


def box_overlap(a, b, iou_thresh: float, covered_thresh: float) -> bool:
    """dlib's ``test_box_overlap`` on inclusive integer boxes. Note its "IoU": the
    intersection over the area of the smallest box holding both (``(a + b).area()``)."""
    il, it, ir, ib = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    if il > ir or it > ib:
        return False
    inner = float((ir - il + 1) * (ib - it + 1))
    outer = float((max(a[2], b[2]) - min(a[0], b[0]) + 1) * (max(a[3], b[3]) - min(a[1], b[1]) + 1))
    area_a = float((a[2] - a[0] + 1) * (a[3] - a[1] + 1))
    area_b = float((b[2] - b[0] + 1) * (b[3] - b[1] + 1))
    return inner / outer > iou_thresh or inner / area_a > covered_thresh or inner / area_b > covered_thresh


def nms(boxes: np.ndarray, overlaps) -> np.ndarray:
    """Indices kept by greedy suppression (``boxes`` sorted strongest first)."""
    kept = []
    for i in range(len(boxes)):
        if not any(box_overlap(boxes[j], boxes[i], *overlaps) for j in kept):
            kept.append(i)
    return np.asarray(kept, np.int64)


# ----------------------------------------------------------------------------------------
# The public detector
# ----------------------------------------------------------------------------------------
def _as_rgb_uint8(image) -> np.ndarray:
    """(H, W, 3) or (H, W) -> (H, W, 3) uint8. Integer images hold 0-255; float images
    follow minicnn's convention, 0-1 (``read_image``), and are rounded to 0-255."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"detect_faces: image must have shape (H, W, 3) or (H, W), got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"detect_faces: image is empty, shape {a.shape}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ValueError(f"detect_faces: image (shape {a.shape}) contains NaN or infinite values")
        if a.min() < 0 or a.max() > 1:
            raise ValueError(f"detect_faces: a float image must lie in [0, 1], got [{a.min():g}, {a.max():g}]")
        return np.ascontiguousarray(np.floor(a * 255 + 0.5).astype(np.uint8))
    if a.dtype.kind in "iu":
        if a.min() < 0 or a.max() > 255:
            raise ValueError(f"detect_faces: an integer image must lie in [0, 255], got [{a.min()}, {a.max()}]")
        return np.ascontiguousarray(a.astype(np.uint8))
    raise TypeError(f"detect_faces: image must be uint8 (0-255) or float (0-1), got dtype {a.dtype}")


class FaceDetector:
    """dlib's MMOD CNN face detector, read from its file, run with minicnn's convolutions.

    ``FaceDetector()(image, upsample=0) -> (boxes, scores)``: ``image`` (H, W, 3) or (H, W),
    uint8 0-255 or float 0-1; ``boxes`` (n, 4) int64 ``[left, top, right, bottom]`` (inclusive, may reach
    outside the image, as dlib's); ``scores`` (n,) float64, strongest first. ``threshold``
    is dlib's ``adjust_threshold`` (0: the trained operating point; lower finds more).
    """

    def __init__(self, path=None):
        from .dnn import read_network
        from .files import model_file

        self.path = Path(path) if path is not None else model_file("detector")
        net = read_network(self.path)
        loss, inp = net["loss"], net["input"]
        if loss["type"] != "loss_mmod" or inp["type"] != "input_rgb_image_pyramid":
            raise DlibFormatError(f"{self.path}: not an MMOD detector (loss {loss['type']}, input {inp['type']})")
        self.options: MMODOptions = loss["options"]
        if self.options.use_bounding_box_regression:
            raise DlibFormatError(f"{self.path}: bounding box regression is not supported")
        self.mean = np.asarray(inp["mean"], np.float32)
        self.padding = inp.get("pyramid_padding", 10)
        self.outer_padding = inp.get("pyramid_outer_padding", 11)
        self.layers = _fuse(net["layers"], self.path)
        self.convs = [(L[0].shape[2:], L[2], L[3]) for L in self.layers]
        if self.layers[-1][0].shape[0] != len(self.options.windows):
            raise DlibFormatError(f"{self.path}: the network has {self.layers[-1][0].shape[0]} outputs "
                                  f"for {len(self.options.windows)} detector windows")

    def scores(self, x: np.ndarray) -> np.ndarray:
        """The network on a (1, 3, H, W) float32 input -> (1, windows, OH, OW) score maps."""
        import minicnn as mc
        import minicnn.functional as F

        with mc.no_grad():
            for w, b, stride, padding, relu in self.layers:
                x = F.conv2d(x, w, b, stride=stride, padding=padding).data
                if relu:
                    np.maximum(x, 0, out=x)
        return x

    def _fits(self, size) -> bool:
        """Whether an input of ``size`` (H, W) leaves at least one output cell."""
        for (kh, kw), (sh, sw), (ph, pw) in self.convs:
            size = ((size[0] + 2 * ph - kh) // sh + 1, (size[1] + 2 * pw - kw) // sw + 1)
            if min(size) < 1:
                return False
        return True

    def __call__(self, image, upsample: int = 0, threshold: float = 0.0):
        """Detect faces: ``(boxes (n, 4) int64, scores (n,))``, strongest first (class doc)."""
        if isinstance(upsample, bool) or not isinstance(upsample, (int, np.integer)) or not 0 <= upsample <= 4:
            raise ValueError(f"detect_faces: upsample must be an int in 0..4, got {upsample!r}")
        if not math.isfinite(threshold):
            raise ValueError(f"detect_faces: threshold must be a finite number, got {threshold!r}")
        img = _as_rgb_uint8(image)
        for _ in range(upsample):
            img = pyramid_up(img)
        x, rects = pyramid_tensor(img, self.mean, self.padding, self.outer_padding)
        if not self._fits(x.shape[2:]):                  # too small for one output cell
            return np.zeros((0, 4), np.int64), np.zeros(0)
        out = self.scores(x)[0]
        boxes, scores, labels = [], [], []
        for k, (w, h, _) in enumerate(self.options.windows):
            b, s = decode(out[k], self.convs, rects, (w, h), threshold)
            boxes.append(b)
            scores.append(s)
        boxes, scores = np.concatenate(boxes), np.concatenate(scores)
        order = np.argsort(-scores, kind="stable")
        boxes, scores = boxes[order], scores[order]
        keep = nms(boxes, self.options.overlaps_nms)
        boxes, scores = boxes[keep].reshape(-1, 4), scores[keep]
        if upsample:
            boxes = _rect_down_2(boxes, upsample)
        return boxes, scores


def _fuse(records, path):
    """The detector's layers as ``(weight, bias, stride, padding, relu)`` per convolution,
    each following ``affine`` folded into the convolution (``g * (w * x + b) + beta`` is a
    convolution with weights ``g * w`` and bias ``g * b + beta``)."""
    layers = []
    for rec in records:
        kind = rec["type"]
        if kind == "con":
            layers.append([rec["weight"].astype(np.float32), rec["bias"].astype(np.float32),
                           tuple(rec["stride"]), tuple(rec["padding"]), False])
        elif kind == "affine" and layers and not layers[-1][4]:
            g, beta = rec["gamma"].astype(np.float32), rec["beta"].astype(np.float32)
            layers[-1][0] = layers[-1][0] * g[:, None, None, None]
            layers[-1][1] = layers[-1][1] * g + beta
        elif kind == "relu" and layers and not layers[-1][4]:
            layers[-1][4] = True
        else:
            raise DlibFormatError(f"{path}: byte {rec['offset']}: a {kind!r} layer where the detector "
                                  "expects convolutions, each followed by affine and relu")
    return [tuple(L) for L in layers]
