"""dlib's image pyramids, as the CNN face detector uses them (``dlib/image_transforms/image_pyramid.h``,
``dlib/dnn/input.h``, ``interpolation.h``).

* :func:`tiled_pyramid_layout` and :func:`pyramid_tensor`: the photo and its successive 5/6
  reductions (``pyramid_down<6>``) packed into ONE picture, so the network runs once: the
  large levels stacked down the left column, the small ones climbing back up the right
  edge, 10 pixels apart, inside an 11-pixel border. Each level is a bilinear resize of the
  level before it, already in the network's scaled form ``(pixel - mean) / 256``.
* :func:`pyramid_up`: the ~2x enlargement of ``upsample_num_times`` (``pyramid_down<2>``'s
  inverse), bit-exact with dlib's SIMD resize; :func:`rect_down_2` maps boxes back.
* :func:`round_rect`: dlib's real -> integer rectangle rule.

Rectangles are ``(left, top, right, bottom)`` with right/bottom inclusive, as dlib's.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["tiled_pyramid_layout", "pyramid_tensor", "pyramid_up", "rect_down_2", "round_rect"]


def round_rect(v):
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
    rest of the tiled picture is zero except the smaller levels. Note that only the level
    *sizes* come from ``pyramid_down<6>``: dlib's input layer fills each level with a plain
    bilinear resize of the previous one (``tt::resize_bilinear``), not with that pyramid's
    own filter, and so does this function.
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


def rect_down_2(boxes: np.ndarray, levels: int) -> np.ndarray:
    """``pyramid_down<2>.rect_down(rect, levels)`` on integer boxes, then rounded."""
    b = boxes.astype(np.float64)
    for _ in range(levels):
        b = b / 2.0 - np.array([1.25, 0.75, 1.25, 0.75])
    return round_rect(b)
