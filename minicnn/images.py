"""Image files <-> float arrays ``(C, H, W)`` in ``[0, 1]`` (channels first).

Pillow decodes and encodes; everything a network sees is ``float32`` with
values in ``[0, 1]``. Real files come in many flavours, so :func:`load_image`
converts them in a fixed, documented way instead of failing deep inside a
model:

=====================  ==================================================
file's Pillow mode      what ``load_image`` does
=====================  ==================================================
``RGB``                 used as is
``L`` (grayscale)       ``mode="RGB"``: the gray plane copied to R, G and B
``1`` (bilevel)         as ``L`` (0 or 1)
``P`` (palette)         palette looked up -> RGB (or RGBA if it has a
                        transparent colour, then as RGBA)
``RGBA``, ``LA``,       composited on a **white** background:
``PA``, ``P`` + alpha   ``out = alpha * colour + (1 - alpha) * 1``
``CMYK``, ``YCbCr``,    converted to RGB by Pillow
``LAB``, ``HSV``
``I;16``, ``I``         16-bit grayscale: divided by 65535
``F``                   32-bit float grayscale: clipped to ``[0, 1]``
=====================  ==================================================

``mode="L"`` turns colour into luma with ITU-R 601-2 weights
(``0.299 R + 0.587 G + 0.114 B``, what Pillow's ``convert("L")`` uses).
The EXIF orientation tag of a photo is applied (a phone picture stored
sideways loads upright). Animated files give their first frame.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 16            # smaller images carry too little structure for a ConvNet
MAX_PIXELS = 40_000_000  # 40 megapixels: larger ones must be shrunk on load (size=)

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class ImageError(ValueError):
    """A file that exists but cannot be used as an image (unreadable, too small, too large)."""


# ----------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------
def load_image(path, mode="RGB", size=None, *, min_side=MIN_SIDE, max_pixels=MAX_PIXELS,
               resample=Image.Resampling.LANCZOS):
    """Read an image file as a ``float32`` array ``(C, H, W)`` with values in ``[0, 1]``.

    Parameters
    ----------
    path : str or Path of any format Pillow reads (PNG, JPEG, GIF, BMP, TIFF, WebP...).
    mode : ``"RGB"`` (C = 3) or ``"L"`` (C = 1, grayscale). Other file modes are
        converted as the module docstring's table says.
    size : ``None`` (keep the file's size), an ``int`` (the longer side becomes
        ``size`` pixels, aspect ratio kept) or ``(H, W)`` (exactly that size).
    min_side : the file, and the result, must be at least this many pixels on
        each side (``ImageError`` otherwise).
    max_pixels : a file with more pixels is refused unless ``size`` is given,
        in which case it is shrunk while decoding (JPEG draft mode), so huge
        photos never need gigabytes of float memory.

    Raises ``FileNotFoundError`` for a missing file and :class:`ImageError`
    (a ``ValueError``) for an unreadable, tiny or oversized one; the message
    names the file.
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"load_image: mode must be 'RGB' or 'L', got {mode!r}")
    target = _check_size(size, min_side)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_image: no such file: {path}")
    if path.is_dir():
        raise ImageError(f"load_image: {path} is a directory, not an image file")
    if not path.is_file():  # a FIFO or a device: reading it could block for ever
        raise ImageError(f"load_image: {path} is not a regular file (a FIFO or device?), not an image file")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError,
            OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"load_image: cannot read {path} as an image ({type(exc).__name__}: {exc})") from None

    with img:
        w, h = img.size
        if min(w, h) < min_side:
            raise ImageError(f"load_image: {path} is {w}x{h} pixels (W x H); each side must be at least "
                             f"{min_side} pixels")
        if w * h > max_pixels and target is None:
            raise ImageError(f"load_image: {path} is {w}x{h} = {w * h:,} pixels, more than max_pixels="
                             f"{max_pixels:,}; pass size= (e.g. size=1024) to shrink it while loading")
        try:
            out_hw = _output_hw(target, h, w)
            if out_hw is not None and img.format == "JPEG":
                img.draft("RGB" if img.mode != "L" else "L", (out_hw[1], out_hw[0]))
            img = ImageOps.exif_transpose(img)
            if out_hw is not None:  # exif_transpose may have swapped the sides
                out_hw = _output_hw(target, img.size[1], img.size[0])
            arr = _to_float(img, mode, out_hw, resample)
        except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
            raise ImageError(f"load_image: cannot decode {path} ({type(exc).__name__}: {exc})") from None

    if min(arr.shape[1:]) < min_side:
        raise ImageError(f"load_image: size={size!r} shrinks {path} to {arr.shape[2]}x{arr.shape[1]} "
                         f"pixels (W x H); each side must be at least {min_side}")
    return arr


def _check_size(size, min_side):
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        if size < min_side:
            raise ValueError(f"load_image: size must be at least {min_side} pixels, got {size}")
        return int(size)
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size):
        if min(size) < min_side:
            raise ValueError(f"load_image: size (H, W) must be at least {min_side} pixels each, got {tuple(size)}")
        return (int(size[0]), int(size[1]))
    raise TypeError(f"load_image: size must be None, an int (longer side) or (H, W), got {size!r}")


def _output_hw(target, h, w):
    """``(H, W)`` to resize to, or None to keep the file's size."""
    if target is None:
        return None
    if isinstance(target, tuple):
        return target
    scale = target / max(h, w)
    return (max(1, round(h * scale)), max(1, round(w * scale)))


def _to_float(img, mode, out_hw, resample):
    """Pillow image -> float32 (C, H, W) following the conversion table."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode == "PA":
        img = img.convert("RGBA")
    elif img.mode == "1":
        img = img.convert("L")
    elif img.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    elif img.mode in ("RGBa", "La"):  # premultiplied alpha
        img = img.convert("RGBA" if img.mode == "RGBa" else "LA")

    if img.mode.startswith("I") or img.mode == "F":
        raw = np.asarray(img, dtype=np.float32)
        gray = np.clip(raw, 0.0, 1.0) if img.mode == "F" else raw / 65535.0
        planes = [gray]
        alpha = None
        if out_hw is not None:
            planes = [_resize_plane(gray, out_hw, resample)]
    else:
        if img.mode not in ("L", "LA", "RGB", "RGBA"):
            img = img.convert("RGBA")
        if out_hw is not None and img.size != (out_hw[1], out_hw[0]):
            # Pillow resizes RGBA/LA with premultiplied alpha, so transparent
            # pixels do not bleed their (meaningless) colour into neighbours.
            img = img.resize((out_hw[1], out_hw[0]), resample=resample, reducing_gap=3.0)
        arr = np.asarray(img, dtype=np.float32) / 255.0
        if arr.ndim == 2:
            arr = arr[:, :, None]
        alpha = arr[:, :, -1] if img.mode in ("LA", "RGBA") else None
        colour = arr[:, :, :-1] if alpha is not None else arr
        planes = [colour[:, :, c] for c in range(colour.shape[2])]

    stack = np.stack(planes, axis=0)  # (C, H, W), C = 1 or 3
    if alpha is not None:
        stack = alpha[None] * stack + (1.0 - alpha[None])  # composite on white
    if mode == "RGB" and stack.shape[0] == 1:
        stack = np.repeat(stack, 3, axis=0)
    elif mode == "L" and stack.shape[0] == 3:
        stack = np.tensordot(_LUMA, stack, axes=(0, 0))[None]
    return np.ascontiguousarray(np.clip(stack, 0.0, 1.0), dtype=np.float32)


def _resize_plane(plane, out_hw, resample):
    img = Image.fromarray(plane.astype(np.float32), mode="F")
    return np.asarray(img.resize((out_hw[1], out_hw[0]), resample=resample), dtype=np.float32)


# ----------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------
def to_uint8(array):
    """Float image in ``[0, 1]`` (any shape) -> ``uint8`` in ``[0, 255]``, rounded.

    Values outside ``[0, 1]`` are clipped; ``uint8`` input is returned
    unchanged; NaN raises ``ValueError``.
    """
    from .backend import to_numpy
    from .tensor import unwrap

    arr = to_numpy(unwrap(array))
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"to_uint8: expected a numeric array, got dtype {arr.dtype} (shape {arr.shape})")
    arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"to_uint8: the image (shape {arr.shape}) contains NaN")
    return np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


def save_image(array, path):
    """Write an image atomically; returns the path.

    ``array`` is ``(H, W)``, ``(C, H, W)`` with C in {1, 3, 4} (gray, RGB, RGBA)
    or a batch of one ``(1, C, H, W)``, either floats in ``[0, 1]`` (clipped)
    or ``uint8``; a :class:`minicnn.Tensor` works too. The format follows the
    suffix (``.png`` when there is none); PNG is lossless, so saving and
    loading again returns the same ``uint8`` values.
    """
    from .backend import to_numpy
    from .io import atomic_write
    from .tensor import unwrap

    arr = to_numpy(unwrap(array))
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3:
        if arr.shape[0] not in (1, 3, 4):
            raise ValueError(f"save_image: a 3-D array must be (C, H, W) with C in 1, 3 or 4, got shape {arr.shape}")
        arr = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, -1)
    elif arr.ndim != 2:
        raise ValueError(f"save_image: expected (H, W), (C, H, W) or (1, C, H, W), got shape {arr.shape}")
    pixels = to_uint8(arr)

    path = Path(path)
    suffix = path.suffix.lower()
    fmt = "PNG" if not suffix else Image.registered_extensions().get(suffix)
    if fmt is None:
        raise ValueError(f"save_image: unknown image suffix {suffix!r} in {path} (use .png)")
    img = Image.fromarray(pixels)
    if fmt == "JPEG" and img.mode == "RGBA":
        raise ValueError(f"save_image: JPEG cannot store alpha; save {path} as .png instead")

    def write(tmp):
        options = {"quality": 95} if fmt == "JPEG" else {}
        if fmt == "PNG":  # lets a command line tell its own earlier output from a user's file
            from PIL import PngImagePlugin

            info = PngImagePlugin.PngInfo()
            info.add_text("Software", "minicnn")
            options["pnginfo"] = info
        img.save(tmp, format=fmt, **options)

    return atomic_write(os.fspath(path), write)


def conversion_note(path):
    """A one-line description of the conversion :func:`load_image` applies to
    ``path`` for ``mode="RGB"`` (alpha, palette, grayscale...), or None for a
    plain RGB file. Raises like :func:`load_image` for a missing/unreadable file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_image: no such file: {path}")
    if not path.is_file():
        raise ImageError(f"load_image: {path} is not a regular file, not an image file")
    try:
        with Image.open(path) as img:
            mode, info = img.mode, dict(img.info)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"load_image: cannot read {path} as an image ({type(exc).__name__}: {exc})") from None
    if mode == "RGB":
        return None
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in info):
        return f"{path.name} has an alpha channel (mode {mode}); composited on a white background"
    if mode == "P":
        return f"{path.name} is a palette image (mode P); converted to RGB"
    if mode in ("L", "1", "I", "I;16", "I;16B", "I;16L", "F"):
        return f"{path.name} is grayscale (mode {mode}); copied to the R, G and B channels"
    return f"{path.name} has mode {mode}; converted to RGB"
