"""dlib's face chips: an upright, centred, fixed-size crop of a face from its 5 landmarks.

dlib's face encoder was trained on chips cut exactly this way, so its descriptors are only
as good as the chip matches (``get_face_chip_details`` and ``extract_image_chip`` in
``dlib/image_transforms/interpolation.h``):

1. **Where the face goes.** A template gives where the 5 landmarks of an average face sit
   in a unit square. ``padding`` widens the square by that fraction of the face on every
   side: a template point ``p`` lands at ``(padding + p) / (2 padding + 1) * size`` in the
   chip. The least-squares similarity transform (rotation, uniform scale, translation) from
   these chip positions to the detected landmarks says where the chip lies in the photo: a
   rectangle of ``size * scale`` pixels on a side, centred where the chip centre maps, turned
   by ``angle``.
2. **Sampling.** Every chip pixel is mapped into the photo and read with bilinear
   interpolation (0 where its 2x2 neighbourhood leaves the image); values are truncated to
   uint8, as dlib's pixel assignment does.
3. **Shrinking first.** When the face covers many more photo pixels than the chip has,
   bilinear sampling alone would skip pixels (aliasing). dlib then halves the photo region
   with its 5x5 binomial pyramid ([1 4 6 4 1] / 16 in each direction, keeping every second
   pixel) until one more halving would leave fewer pixels than the chip, and samples that
   level instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .shape_predictor import similarity_transform

#: Where dlib's 5-point model puts the landmarks of an average face, in a unit square:
#: outer and inner corner of the eye on the image's right, the same for the eye on the
#: image's left, and the base of the nose.
TEMPLATE_5 = np.array([
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
])


@dataclass(frozen=True)
class ChipDetails:
    """Where a chip lies in the photo.

    ``rect``: (left, top, right, bottom) of the unrotated chip rectangle in photo pixels,
    inclusive corners as in dlib (so its width is ``right - left + 1``); ``angle``: its
    rotation about its centre in radians; ``rows``, ``cols``: the chip's size in pixels.
    """
    rect: tuple
    angle: float
    rows: int
    cols: int


def _check_landmarks(landmarks) -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (5, 2):
        raise ValueError(f"landmarks must be the (5, 2) points of the 5-point model, got shape {pts.shape}")
    if not (np.abs(pts) < 1e7).all():   # also rejects NaN and inf
        raise ValueError("landmarks must be finite pixel coordinates (found NaN, inf or |v| >= 1e7)")
    return pts


def _check_size_padding(size, padding) -> tuple:
    if isinstance(size, bool) or not float(size).is_integer() or not 2 <= int(size) <= 4096:
        raise ValueError(f"size must be a whole number of pixels in 2..4096, got {size!r}")
    padding = float(padding)
    if not (math.isfinite(padding) and 0 <= padding <= 10):
        raise ValueError(f"padding must be a finite number in 0..10, got {padding!r}")
    return int(size), padding


def face_chip_details(landmarks, size: int = 150, padding: float = 0.25) -> ChipDetails:
    """The chip rectangle dlib's ``get_face_chip_details`` finds for 5 landmarks (5, 2)."""
    pts = _check_landmarks(landmarks)
    size, padding = _check_size_padding(size, padding)
    chip_pts = (padding + TEMPLATE_5) / (2 * padding + 1) * size
    A, b = similarity_transform(np.ascontiguousarray(chip_pts), np.ascontiguousarray(pts))
    # The transform's first column is scale * (cos, sin) of the rotation.
    px, py = A[0, 0], A[1, 0]
    angle = math.atan2(py, px)
    scale = math.sqrt(px * px + py * py)
    half = size / 2.0   # the chip centre, (size / 2, size / 2) as dlib takes it
    cx, cy = A @ np.array([half, half]) + b
    # dlib's centered_drect: a drectangle of width w spans w - 1 between its corners
    w = size * scale - 1
    return ChipDetails((cx - w / 2, cy - w / 2, cx + w / 2, cy + w / 2), angle, size, size)


# ---------------------------------------------------------------------------------------
# dlib's geometry helpers, on (left, top, right, bottom) float tuples
# ---------------------------------------------------------------------------------------

def _area(rect) -> float:
    l, t, r, b = rect
    if l > r or t > b:
        return 0.0
    return (r - l + 1) * (b - t + 1)


def _rect_down(rect) -> tuple:
    """A rectangle's corners one level down dlib's 2:1 pyramid: p / 2 - (1.25, 0.75)."""
    l, t, r, b = rect
    return (l / 2.0 - 1.25, t / 2.0 - 0.75, r / 2.0 - 1.25, b / 2.0 - 0.75)


def _rotate(center, p, angle):
    ca, sa = math.cos(angle), math.sin(angle)
    dx, dy = p[0] - center[0], p[1] - center[1]
    return (ca * dx - sa * dy + center[0], sa * dx + ca * dy + center[1])


def _rotated_corners(rect, angle) -> list:
    """tl, tr, bl, br of ``rect`` turned by ``angle`` about its centre."""
    l, t, r, b = rect
    c = ((l + r) / 2.0, (t + b) / 2.0)
    return [_rotate(c, p, angle) for p in ((l, t), (r, t), (l, b), (r, b))]


def _round(v: float) -> int:
    return int(math.floor(v + 0.5))


@njit(cache=True)
def _pyramid_down(img):
    H, W, C = img.shape
    h_out, w_out = (H - 3) // 2, (W - 3) // 2
    rows = np.empty((H, w_out, C), np.uint32)       # the horizontal pass, every 2nd column
    for y in range(H):
        for j in range(w_out):
            for k in range(C):
                x = 2 * j
                rows[y, j, k] = (np.uint32(img[y, x, k]) + 4 * np.uint32(img[y, x + 1, k])
                                 + 6 * np.uint32(img[y, x + 2, k]) + 4 * np.uint32(img[y, x + 3, k])
                                 + np.uint32(img[y, x + 4, k]))
    out = np.empty((h_out, w_out, C), np.uint8)
    for i in range(h_out):
        y = 2 * i
        for j in range(w_out):
            for k in range(C):
                v = (rows[y, j, k] + 4 * rows[y + 1, j, k] + 6 * rows[y + 2, j, k]
                     + 4 * rows[y + 3, j, k] + rows[y + 4, j, k])
                out[i, j, k] = np.uint8(v // 256)
    return out


def pyramid_down(img: np.ndarray) -> np.ndarray:
    """One level of dlib's ``pyramid_down<2>`` on (H, W, C) uint8 -> ((H-3)//2, (W-3)//2, C).

    Output pixel (i, j) is the [1 4 6 4 1] x [1 4 6 4 1] weighted sum of the 5x5 block whose
    top-left pixel is (2i, 2j), divided by 256 and truncated (integer arithmetic). Images of
    8 pixels or fewer on a side give an empty image, as in dlib.
    """
    H, W = img.shape[:2]
    if H <= 8 or W <= 8:
        return np.zeros((0, 0) + img.shape[2:], np.uint8)
    return _pyramid_down(np.ascontiguousarray(img))


@njit(cache=True)
def _sample_bilinear(src, m00, m01, m10, m11, b0, b1, rows, cols):
    """Chip (rows, cols, C) uint8: pixel (r, c) reads ``src`` at A @ (c, r) + b."""
    H, W, C = src.shape
    out = np.zeros((rows, cols, C), np.uint8)
    for r in range(rows):
        for c in range(cols):
            x = m00 * c + m01 * r + b0
            y = m10 * c + m11 * r + b1
            left = np.int64(np.floor(x))
            top = np.int64(np.floor(y))
            if not (left >= 0 and top >= 0 and left + 1 < W and top + 1 < H):
                continue   # dlib leaves these black
            fx = x - left
            fy = y - top
            for k in range(C):
                v = ((1 - fy) * ((1 - fx) * src[top, left, k] + fx * src[top, left + 1, k])
                     + fy * ((1 - fx) * src[top + 1, left, k] + fx * src[top + 1, left + 1, k]))
                out[r, c, k] = np.uint8(min(max(v, 0.0), 255.0))   # truncation, as dlib
    return out


def _as_rgb(image) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.stack([a, a, a], axis=-1)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"image must be (H, W) grey or (H, W, 3) RGB, got shape {np.shape(image)}")
    if a.dtype != np.uint8:
        if a.dtype.kind not in "biu":
            raise ValueError(f"image must hold uint8 pixel values (0..255), got dtype {a.dtype}")
        if a.min() < 0 or a.max() > 255:
            raise ValueError(f"image values must lie in 0..255, got {a.min()}..{a.max()}")
        a = a.astype(np.uint8)
    return np.ascontiguousarray(a)


def extract_image_chip(image, details: ChipDetails) -> np.ndarray:
    """Cut the chip ``details`` out of ``image`` (H, W) or (H, W, 3) uint8, as dlib's
    ``extract_image_chip`` does -> (rows, cols, 3) uint8."""
    img = _as_rgb(image)
    H, W = img.shape[:2]
    rect, angle, rows, cols = details.rect, float(details.angle), int(details.rows), int(details.cols)
    n_out = rows * cols
    l, t, r, b = rect

    if angle == 0 and rows == b - t + 1 and cols == r - l + 1:
        # no rotation, no scaling: a plain copy of the (rounded) rectangle, black outside
        L, T = _round(l), _round(t)
        out = np.zeros((rows, cols, 3), np.uint8)
        y0, y1 = max(T, 0), min(T + rows, H)
        x0, x1 = max(L, 0), min(L + cols, W)
        if y0 < y1 and x0 < x1:
            out[y0 - T:y1 - T, x0 - L:x1 - L] = img[y0:y1, x0:x1]
        return out

    # How many pyramid levels, and the photo region they need (with a margin that grows
    # with the depth so that the blur at the region's edge does not reach the chip).
    down, depth, grow = _rect_down(rect), 0, 2.0
    while _area(down) > n_out:
        down, depth, grow = _rect_down(down), depth + 1, grow * 2 + 2
    corners = _rotated_corners(rect, angle)
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    box = (max(min(xs) - grow, 0.0), max(min(ys) - grow, 0.0),
           min(max(xs) + grow, W - 1.0), min(max(ys) + grow, H - 1.0))
    bl, bt, br, bb = (_round(v) for v in box)
    if bl > br or bt > bb:          # the chip lies wholly outside the photo
        return np.zeros((rows, cols, 3), np.uint8)
    src = img[bt:bb + 1, bl:br + 1]
    for _ in range(depth):
        src = pyramid_down(src)

    # the chip rectangle in the coordinates of the level that is sampled
    level_rect = (l - bl, t - bt, r - bl, b - bt)
    for _ in range(depth):
        level_rect = _rect_down(level_rect)
    tl, tr, blc, _ = _rotated_corners(level_rect, angle)
    # affine map chip (0,0) -> tl, (cols-1, 0) -> tr, (0, rows-1) -> bl
    m00, m10 = (tr[0] - tl[0]) / (cols - 1), (tr[1] - tl[1]) / (cols - 1)
    m01, m11 = (blc[0] - tl[0]) / (rows - 1), (blc[1] - tl[1]) / (rows - 1)
    if src.shape[0] == 0 or src.shape[1] == 0:
        return np.zeros((rows, cols, 3), np.uint8)
    return _sample_bilinear(np.ascontiguousarray(src), m00, m01, m10, m11, tl[0], tl[1], rows, cols)


def face_chip(image, landmarks, size: int = 150, padding: float = 0.25) -> np.ndarray:
    """dlib's aligned face chip -> (size, size, 3) uint8, as ``dlib.get_face_chip``.

    ``image``: (H, W) grey or (H, W, 3) RGB, uint8 values; ``landmarks``: (5, 2) points of
    the 5-point model (x, y); ``padding``: extra margin around the face as a fraction of it.
    dlib's landmarks are whole pixels (as ``ShapePredictor`` returns them); sub-pixel
    landmarks are used as given.
    """
    return extract_image_chip(image, face_chip_details(landmarks, size, padding))
