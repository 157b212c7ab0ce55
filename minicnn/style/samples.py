"""Images that need no download: the default content photo and a generated painting.

* content: the portrait of Grace Hopper that ships with matplotlib
  (``matplotlib.cbook.get_sample_data("grace_hopper.jpg")``, a US Navy photo in
  the public domain); if an install lacks it, :func:`procedural_scene` draws a
  simple landscape instead.
* style: :func:`swirl_painting`, bold brush strokes that follow a swirling
  flow field, in strong colours (a loose nod to van Gogh), made by
  line-integral convolution of noise along the field.

All return float32 ``(3, H, W)`` arrays in ``[0, 1]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from ..images import load_image

# Strong, saturated colours: night blues, cobalt, teal, golden yellow, orange, deep red.
PALETTE = np.array([
    [0.05, 0.09, 0.32], [0.10, 0.25, 0.65], [0.13, 0.50, 0.62], [0.95, 0.80, 0.15],
    [0.98, 0.52, 0.08], [0.70, 0.10, 0.12], [0.20, 0.35, 0.85], [0.92, 0.92, 0.55],
], dtype=np.float32)


def grace_hopper_path():
    """Path of matplotlib's sample photo, or None when this install lacks it."""
    try:
        import matplotlib.cbook as cbook

        path = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
        return path if path.is_file() else None
    except Exception:  # sample data stripped from the install
        return None


def default_content_image(size=256):
    """The default content image, longer side ``size``: Grace Hopper, or a drawn scene."""
    path = grace_hopper_path()
    if path is not None:
        return load_image(path, size=size)
    return procedural_scene(size)


def default_style_image(size=256, seed=0):
    """The default style image: a generated swirly painting of ``size x size`` pixels."""
    return swirl_painting(size, seed=seed)


def _grid(h, w):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return y / max(h - 1, 1), x / max(w - 1, 1)


def swirl_painting(size=256, seed=0, stroke_length=18):
    """Brush strokes along a swirling flow, in the palette's colours; ``(3, size, size)``.

    The flow is the sum of a few random vortices plus a gentle drift; the
    stroke texture is white noise smeared along the flow (line-integral
    convolution), and the colour is a smooth random field, also smeared, cut
    into bands of the palette.
    """
    rng = np.random.default_rng(seed)
    h = w = int(size)
    y, x = _grid(h, w)
    vy = np.full((h, w), 0.15, np.float32)  # drift
    vx = np.full((h, w), 0.35, np.float32)
    for _ in range(5):
        cy, cx = rng.uniform(0.1, 0.9, 2)
        strength = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.2)
        dy, dx = y - cy, x - cx
        falloff = np.exp(-(dx * dx + dy * dy) / 0.06)
        vy += strength * dx * falloff / 0.25  # rotate the radius vector by 90 degrees
        vx -= strength * dy * falloff / 0.25
    norm = np.sqrt(vy * vy + vx * vx) + 1e-6
    vy, vx = vy / norm, vx / norm

    def smear(field, steps):
        """Average ``field`` along the flow lines through every pixel (both directions)."""
        acc = field.copy()
        for direction in (1.0, -1.0):
            py, px = np.mgrid[0:h, 0:w].astype(np.float32)
            for _ in range(steps):
                iy = np.clip(py, 0, h - 1).astype(np.intp)
                ix = np.clip(px, 0, w - 1).astype(np.intp)
                py = py + direction * vy[iy, ix]
                px = px + direction * vx[iy, ix]
                acc += ndimage.map_coordinates(field, [py, px], order=1, mode="reflect")
        return acc / (2 * steps + 1)

    scale = size / 256.0
    noise = ndimage.zoom(rng.random((h // 2 + 1, w // 2 + 1)).astype(np.float32), 2, order=0)[:h, :w]
    strokes = smear(noise, max(4, int(stroke_length * scale)))
    strokes = (strokes - strokes.mean()) / (strokes.std() + 1e-6)

    hue = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), sigma=14 * scale)
    hue = smear(hue + 0.5 * (x - y) * hue.std() * 4, max(4, int(10 * scale)))
    ranks = np.argsort(np.argsort(hue.ravel())).reshape(h, w) / (h * w)  # uniform in [0, 1)
    band = ranks * len(PALETTE) + 0.35 * strokes  # strokes fray the band edges
    index = np.clip(band, 0, len(PALETTE) - 1e-3)
    order = rng.permutation(len(PALETTE))
    lo = PALETTE[order[index.astype(int)]]
    hi = PALETTE[order[np.minimum(index.astype(int) + 1, len(PALETTE) - 1)]]
    t = (index - np.floor(index))[..., None]
    t = np.clip((t - 0.7) / 0.3, 0, 1)  # mostly flat colour, short blends at the edges
    colour = (1 - t) * lo + t * hi
    shade = np.clip(1.0 + 0.22 * strokes, 0.55, 1.35)[..., None]
    img = np.clip(colour * shade, 0.0, 1.0)
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)


def procedural_scene(size=256):
    """A simple drawn landscape (sky, sun, hills, a house): the fallback content image."""
    h = w = int(size)
    y, x = _grid(h, w)
    sky = np.stack([0.55 + 0.3 * y, 0.75 + 0.15 * y, np.full_like(y, 0.95)], axis=-1)
    img = sky.copy()
    sun = (x - 0.75) ** 2 + (y - 0.22) ** 2 < 0.01
    img[sun] = [1.0, 0.85, 0.3]
    far = y > 0.55 - 0.08 * np.sin(6 * x) - 0.05 * np.sin(13 * x + 1)
    img[far] = [0.35, 0.45, 0.40]
    near = y > 0.70 - 0.06 * np.sin(4 * x + 2)
    img[near] = [0.30, 0.60, 0.25]
    wall = (x > 0.22) & (x < 0.48) & (y > 0.55) & (y < 0.80)
    img[wall] = [0.85, 0.75, 0.60]
    roof = (y <= 0.55) & (y > 0.40) & (np.abs(x - 0.35) < (y - 0.40) * 1.2)
    img[roof] = [0.65, 0.15, 0.10]
    door = (x > 0.32) & (x < 0.38) & (y > 0.67) & (y < 0.80)
    img[door] = [0.35, 0.20, 0.10]
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)
