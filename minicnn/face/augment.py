"""Training-time augmentation for face crops (N, C, H, W) float32 in [0, 1].

Each transform simulates a nuisance that does not change who the person is: where the face
sits in the crop (shift, zoom, small rotation), which way it looks (horizontal mirror), and
how it was lit (brightness, contrast, a light coming from one side). Seeing these variations
during training lets an encoder trained on few photos per person ignore them on new people.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Augment:
    """Random augmentation; call ``aug(images, rng)`` -> new array of the same shape.

    shift: max translation as a fraction of the size; scale: (min, max) zoom factor (> 1 zooms in,
    i.e. a crop); rotate: max degrees; flip: probability of a mirror; brightness: max added
    offset; contrast: max relative change; side_light: max strength of a left/right (or
    top/bottom) illumination ramp, applied with probability ``side_light_p``.
    """

    shift: float = 0.06
    scale: tuple = (1.0, 1.15)
    rotate: float = 8.0
    flip: float = 0.5
    brightness: float = 0.15
    contrast: float = 0.3
    side_light: float = 0.6
    side_light_p: float = 0.4

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32)
        if x.ndim != 4:
            raise ValueError(f"Augment: images must be (N, C, H, W), got shape {x.shape}")
        x = random_affine(x, rng, self.shift, self.scale, self.rotate)
        n, _, h, w = x.shape
        mirror = rng.random(n) < self.flip
        x[mirror] = x[mirror][..., ::-1]
        # Photometric changes, all per image: gain about the image mean (contrast), offset
        # (brightness), and a linear ramp across the face (light from one side).
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        gain = 1.0 + rng.uniform(-self.contrast, self.contrast, (n, 1, 1, 1))
        x = (x - mean) * gain + mean + rng.uniform(-self.brightness, self.brightness, (n, 1, 1, 1))
        if self.side_light > 0:
            ramp = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, None, None, :]
            ramp_v = np.linspace(-1.0, 1.0, h, dtype=np.float32)[None, None, :, None]
            theta = rng.uniform(0, 2 * np.pi, (n, 1, 1, 1))
            amp = rng.uniform(0, self.side_light, (n, 1, 1, 1)) * (rng.random((n, 1, 1, 1)) < self.side_light_p)
            x = x * np.clip(1.0 + amp * (np.cos(theta) * ramp + np.sin(theta) * ramp_v), 0.05, None)
        return np.clip(x, 0.0, 1.0).astype(np.float32)


def random_affine(x: np.ndarray, rng: np.random.Generator, shift: float = 0.06, scale=(1.0, 1.15),
                  rotate: float = 8.0) -> np.ndarray:
    """Random shift/zoom/rotation of each image of (N, C, H, W), bilinear, edges replicated."""
    n, c, h, w = x.shape
    ang = np.deg2rad(rng.uniform(-rotate, rotate, n))
    s = rng.uniform(scale[0], scale[1], n)
    tx, ty = rng.uniform(-shift, shift, n) * 2, rng.uniform(-shift, shift, n) * 2
    # Output pixel (in [-1, 1] coordinates) -> input coordinate: inverse rotation and zoom.
    ys, xs = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    cos, sin = (np.cos(ang) / s)[:, None, None], (np.sin(ang) / s)[:, None, None]
    u = cos * xs + sin * ys + tx[:, None, None]
    v = -sin * xs + cos * ys + ty[:, None, None]
    fx = np.clip((u + 1) * (w - 1) / 2, 0, w - 1)
    fy = np.clip((v + 1) * (h - 1) / 2, 0, h - 1)
    x0, y0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    ax, ay = (fx - x0)[:, None].astype(np.float32), (fy - y0)[:, None].astype(np.float32)
    idx = np.arange(n)[:, None, None, None]
    ch = np.arange(c)[None, :, None, None]

    def at(yy, xx):
        return x[idx, ch, yy[:, None], xx[:, None]]

    top = at(y0, x0) * (1 - ax) + at(y0, x1) * ax
    bot = at(y1, x0) * (1 - ax) + at(y1, x1) * ax
    return (top * (1 - ay) + bot * ay).astype(np.float32)
