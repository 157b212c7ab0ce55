"""dlib's CNN face detector (``mmod_human_face_detector.dat``), run by minicnn.

The detector is a small fully convolutional network trained with the Max-Margin Object
Detection loss (MMOD, King 2015). It slides one 80 x 80 window over an image pyramid and
scores every position; a positive score is a face. What happens to a photo, step by step
(each step is dlib's own, so the boxes and scores agree with ``dlib``):

1. **Upsampling** (optional, ``upsample`` times): the photo is enlarged about 2x with
   :func:`.pyramid.pyramid_up` so that faces smaller than the window can be found.
2. **Tiled pyramid** (:mod:`.pyramid`): the photo and
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
from pathlib import Path

import numpy as np

from .dnn import MMODOptions, read_network
from .pyramid import pyramid_tensor, pyramid_up, rect_down_2, round_rect
from .serialize import DlibFormatError

__all__ = ["FaceDetector", "decode", "nms", "box_overlap"]


# ----------------------------------------------------------------------------------------
# Decoding and non-maximum suppression (dlib/dnn/loss.h, loss_mmod_::to_label)
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
    return round_rect(box[order]), s[order]


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
        from minicnn.functional import conv_output_shape

        try:
            for kernel, stride, padding in self.convs:
                size = conv_output_shape(tuple(size), kernel, stride, padding)
        except ValueError:  # the kernel does not fit
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
        boxes, scores = [], []
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
            boxes = rect_down_2(boxes, upsample)
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
