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

    crop: (min, max) side of a random square crop as a fraction of the image, placed anywhere
    inside it and resized back (a shift plus a zoom of up to 1/min); rotate: max degrees;
    flip: probability of a mirror; gain: (min, max) factor on the intensities; offset: max
    added brightness; side_light: max strength of a left/right illumination ramp
    ``1 + a * x`` (x from -1 to 1), applied with probability ``side_light_p``.

    The defaults were chosen by identity cross-validation on real faces (docs/face.md): a
    random crop, mirror, gain/offset and a side-light ramp; rotation did not help.
    """

    crop: tuple = (0.85, 1.0)
    rotate: float = 0.0
    flip: float = 0.5
    gain: tuple = (0.6, 1.4)
    offset: float = 0.2
    side_light: float = 0.8
    side_light_p: float = 0.5
    erase_p: float = 0.0
    erase_area: tuple = (0.02, 0.2)

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32)
        if x.ndim != 4:
            raise ValueError(f"Augment: images must be (N, C, H, W), got shape {x.shape}")
        n, _, h, w = x.shape
        side = rng.uniform(self.crop[0], self.crop[1], n)
        # crop centre in [-1, 1] coordinates: anywhere that keeps the crop inside the image
        tx, ty = rng.uniform(-1, 1, n) * (1 - side), rng.uniform(-1, 1, n) * (1 - side)
        ang = np.deg2rad(rng.uniform(-self.rotate, self.rotate, n))
        x = warp(x, ang, side, tx, ty)
        mirror = rng.random(n) < self.flip
        x[mirror] = x[mirror][..., ::-1]
        x = x * rng.uniform(self.gain[0], self.gain[1], (n, 1, 1, 1)) + \
            rng.uniform(-self.offset, self.offset, (n, 1, 1, 1))
        if self.side_light > 0:
            ramp = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, None, None, :]
            amp = rng.uniform(-self.side_light, self.side_light, (n, 1, 1, 1))
            amp = amp * (rng.random((n, 1, 1, 1)) < self.side_light_p)
            x = x * np.clip(1.0 + amp * ramp, 0.1, None)
        x = np.clip(x, 0.0, 1.0).astype(np.float32)
        # Random erasing (Zhong et al. 2017): a rectangle of noise hides part of the face, as
        # glasses, a hand or a scarf would, so no single region can carry the identity.
        for i in np.flatnonzero(rng.random(n) < self.erase_p):
            area = rng.uniform(*self.erase_area) * h * w
            aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
            eh, ew = min(h, int(round(np.sqrt(area * aspect)))), min(w, int(round(np.sqrt(area / aspect))))
            top, left = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
            x[i, :, top:top + eh, left:left + ew] = rng.random((x.shape[1], eh, ew))
        return x


def random_affine(x: np.ndarray, rng: np.random.Generator, shift: float = 0.06, scale=(1.0, 1.15),
                  rotate: float = 8.0) -> np.ndarray:
    """Random shift (fraction of the size), zoom and rotation (degrees) of each image."""
    n = len(x)
    return warp(x, np.deg2rad(rng.uniform(-rotate, rotate, n)), 1.0 / rng.uniform(scale[0], scale[1], n),
                rng.uniform(-shift, shift, n) * 2, rng.uniform(-shift, shift, n) * 2)


def warp(x: np.ndarray, angle, side, tx, ty) -> np.ndarray:
    """Resample each image of (N, C, H, W) from a rotated square window, bilinear.

    Output pixel at (u, v) in [-1, 1]^2 reads the input at ``side * R(angle) (u, v) + (tx, ty)``:
    ``side`` < 1 zooms in on a window of that fractional size centred at (tx, ty).
    Edge pixels are replicated where the window leaves the image.
    """
    n, c, h, w = x.shape
    ys, xs = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    cos = (np.cos(angle) * side)[:, None, None]
    sin = (np.sin(angle) * side)[:, None, None]
    u = cos * xs + sin * ys + np.asarray(tx)[:, None, None]
    v = -sin * xs + cos * ys + np.asarray(ty)[:, None, None]
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
