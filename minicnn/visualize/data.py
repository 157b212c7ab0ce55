"""The embedded default data set: small procedurally drawn colour images.

Six classes drawn in a random colour on a random background, at a random
place, size and angle: three shapes (disc, square, cross) and three textures
(stripes, checkerboard, dots).  A ConvNet that tells them apart needs coloured edges (layer 1),
corners, curves and textures (deeper layers), which is exactly the story of
Zeiler & Fergus, so the sheets drawn on it are readable.  Everything is
generated from a seed: no files, no downloads.
"""

from __future__ import annotations

import numpy as np

from ..hints import PathLike

CLASSES = ("disc", "square", "cross", "stripes", "checker", "dots")


def _colour_pair(rng):
    """A foreground and a background colour that differ clearly (RGB in [0, 1])."""
    while True:
        fg, bg = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        if np.abs(fg - bg).sum() > 0.9:
            return fg, bg


def _mask(kind, yy, xx, rng):
    """Boolean (H, W) mask of one shape on the coordinate grid (centred, rotated)."""
    size = yy.shape[0]
    cy, cx = rng.uniform(0.3, 0.7, 2) * size
    radius = rng.uniform(0.22, 0.36) * size
    angle = rng.uniform(0, np.pi)
    # Rotate coordinates about the shape's centre.
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    if kind == "disc":
        return u ** 2 + v ** 2 <= radius ** 2
    if kind == "square":
        return (np.abs(u) <= radius * 0.8) & (np.abs(v) <= radius * 0.8)
    if kind == "cross":
        w = radius * 0.3
        return ((np.abs(u) <= w) & (np.abs(v) <= radius)) | ((np.abs(v) <= w) & (np.abs(u) <= radius))
    period = rng.uniform(4.0, 7.0)
    if kind == "stripes":
        return np.mod(u, period) < period / 2
    if kind == "checker":
        return (np.mod(u, period) < period / 2) ^ (np.mod(v, period) < period / 2)
    if kind == "dots":  # a lattice of small discs
        du, dv = np.mod(u, period) - period / 2, np.mod(v, period) - period / 2
        return du ** 2 + dv ** 2 <= (period * 0.3) ** 2
    raise ValueError(f"unknown shape kind {kind!r}; expected one of {CLASSES}")


def make_shape_images(n: int, size: int = 32, seed: int = 0, noise: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of the six shape classes, balanced and shuffled.

    Returns
    -------
    images : float32 (n, 3, size, size) in [0, 1]
    labels : int64 (n,) index into :data:`CLASSES`
    """
    if n < 1 or size < 8:
        raise ValueError(f"make_shape_images: need n >= 1 and size >= 8, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASSES))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    images = np.empty((n, 3, size, size), dtype=np.float32)
    for i, c in enumerate(labels):
        fg, bg = _colour_pair(rng)
        m = _mask(CLASSES[c], yy, xx, rng)
        img = np.where(m[None], fg[:, None, None], bg[:, None, None])
        img = img + rng.normal(0, noise, img.shape)
        images[i] = np.clip(img, 0, 1)
    return images, labels.astype(np.int64)


def load_images(path: PathLike, in_channels: int = 3, size: tuple[int, int] | None = None) -> np.ndarray:
    """A data set from disk: a folder of image files, or an ``.npy``/``.npz`` array file.

    Image files (any Pillow format, with or without an extension) are read in
    name order as RGB (``in_channels`` 3) or grey (1), resized to ``size``
    ``(H, W)`` (default: the first image's size).  An array file must hold
    ``(N, C, H, W)`` (``.npz``: the key ``images``, or its only array).
    Returns float32 ``(N, C, H, W)``.
    """
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--data: no such file or folder: {path}")
    if path.is_file() and path.suffix in (".npy", ".npz"):
        import zipfile

        try:
            arrays = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"--data {path}: not a readable array file ({type(exc).__name__}: {exc})") from None
        if path.suffix == ".npz":
            keys = list(arrays.keys())
            if "images" not in keys and len(keys) != 1:
                raise ValueError(f"--data {path}: expected an array 'images' (or exactly one array), found {keys}")
            arrays = arrays["images" if "images" in keys else keys[0]]
        try:
            x = np.asarray(arrays, dtype=np.float32)
        except (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"--data {path}: cannot read the images ({type(exc).__name__}: {exc})") from None
        if not np.isfinite(x).all():
            raise ValueError(f"--data {path}: the images hold NaN or Inf values")
        if x.ndim != 4 or x.shape[1] != in_channels:
            raise ValueError(f"--data {path}: expected images (N, {in_channels}, H, W), got shape {x.shape}")
        return x
    if not path.is_dir():
        raise ValueError(f"--data {path}: expected a folder of images or an .npy/.npz file")
    from minicnn.images import ImageError, load_image

    mode = {1: "L", 3: "RGB"}.get(in_channels)
    if mode is None:
        raise ValueError(f"--data {path}: image files give 1 or 3 channels; the model wants {in_channels}")
    images, skipped = [], []
    for f in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            img = load_image(f, mode=mode, size=size, min_side=4)
        except ImageError:
            skipped.append(f.name)
            continue
        if size is None:
            size = img.shape[1:]
        images.append(img)
    if not images:
        raise ValueError(f"--data {path}: no readable image files found (skipped: {skipped[:5]})")
    return np.stack(images).astype(np.float32)
