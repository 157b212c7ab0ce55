"""Synthetic volumes (3D) and videos (2D + time) for the conv3d lessons.

``make_solid_shapes`` draws one solid per volume -- a sphere, a cube or a torus -- with a random size,
position, orientation and contrast, on a smooth textured background with white noise: a toy
stand-in for "what structure is in this CT scan". ``make_moving_shapes`` makes short clips of a
bright square moving in one of four directions; a single frame cannot tell the class, so the
third convolution axis has to be time.

Arrays are channels-first: volumes ``(N, 1, D, H, W)``, clips ``(N, 1, T, H, W)``, float32.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["SHAPE_CLASSES", "MOTION_CLASSES", "make_solid_shapes", "make_moving_shapes", "split"]

SHAPE_CLASSES = ("sphere", "cube", "torus")
MOTION_CLASSES = ("right", "left", "down", "up")


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _signed_distance(kind: str, p: np.ndarray, radius: float) -> np.ndarray:
    """Approximate signed distance (voxels, < 0 inside) of a shape centred at the origin.
    ``p`` has shape (3, ...) in the shape's own frame."""
    if kind == "sphere":
        return np.sqrt((p ** 2).sum(0)) - radius
    if kind == "cube":      # half-side chosen so the cube's volume is close to the sphere's
        return np.abs(p).max(0) - 0.9 * radius
    if kind == "torus":     # ring of major radius R in the x-y plane, tube radius ~R/2.6
        ring = np.sqrt(p[0] ** 2 + p[1] ** 2) - radius
        return np.sqrt(ring ** 2 + p[2] ** 2) - radius / 2.6
    raise ValueError(f"kind must be one of {SHAPE_CLASSES}, got {kind!r}")


def make_solid_shapes(n: int, size: int = 16, noise: float = 0.1, texture: float = 0.1,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy volumes with one shape each, classes balanced (cycled, then shuffled).

    Returns ``x`` of shape (n, 1, size, size, size) float32 and ``y`` of shape (n,) int64
    (index into ``SHAPE_CLASSES``)."""
    if n < 1 or size < 8:
        raise ValueError(f"n must be >= 1 and size >= 8, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(SHAPE_CLASSES)).astype(np.int64)
    grid = np.stack(np.meshgrid(*([np.arange(size, dtype=np.float64)] * 3), indexing="ij"))
    x = np.empty((n, 1, size, size, size), dtype=np.float32)
    for i, label in enumerate(y):
        radius = rng.uniform(0.28, 0.38) * size
        margin = 0.8 * radius
        centre = rng.uniform(margin, size - 1 - margin, size=3)
        rot = _random_rotation(rng)
        p = np.tensordot(rot.T, grid - centre[:, None, None, None], axes=1)
        d = _signed_distance(SHAPE_CLASSES[label], p, radius)
        occupancy = 1.0 / (1.0 + np.exp(np.clip(d / 0.5, -50, 50)))   # soft (anti-aliased) edge
        contrast = rng.uniform(0.7, 1.2) * 1.0
        background = gaussian_filter(rng.standard_normal((size,) * 3), sigma=2.0)
        background *= texture / (background.std() + 1e-8)
        vol = contrast * occupancy + background + noise * rng.standard_normal((size,) * 3)
        x[i, 0] = vol
    return x, y


def make_moving_shapes(n: int, frames: int = 8, size: int = 16, noise: float = 0.3,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clips of a bright square moving 1 pixel per frame (direction = class).

    Returns ``x`` of shape (n, 1, frames, size, size) float32 (time is the first spatial axis,
    so a 3D convolution sees it like depth) and ``y`` of shape (n,) int64 (``MOTION_CLASSES``)."""
    if n < 1 or frames < 2 or size < frames + 6:
        raise ValueError(f"need n >= 1, frames >= 2 and size >= frames + 6; got n={n}, "
                         f"frames={frames}, size={size}")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(MOTION_CLASSES)).astype(np.int64)
    steps = {0: (0, 1), 1: (0, -1), 2: (1, 0), 3: (-1, 0)}      # (row, col) per frame
    x = noise * rng.standard_normal((n, 1, frames, size, size)).astype(np.float32)
    for i, label in enumerate(y):
        side = int(rng.integers(3, 5))
        dr, dc = steps[int(label)]
        travel = frames - 1
        # start so that the whole path stays inside the frame
        r_lo, r_hi = (0, size - side) if dr == 0 else ((0, size - side - travel) if dr > 0 else (travel, size - side))
        c_lo, c_hi = (0, size - side) if dc == 0 else ((0, size - side - travel) if dc > 0 else (travel, size - side))
        r0, c0 = int(rng.integers(r_lo, r_hi + 1)), int(rng.integers(c_lo, c_hi + 1))
        bright = rng.uniform(0.8, 1.2)
        for f in range(frames):
            r, c = r0 + dr * f, c0 + dc * f
            x[i, 0, f, r:r + side, c:c + side] += bright
    return x, y


def split(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.25,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into (x_train, y_train, x_test, y_test); the test part is held out."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(round(test_fraction * len(x))))
    te, tr = order[:n_test], order[n_test:]
    return x[tr], y[tr], x[te], y[te]
