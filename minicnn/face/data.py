"""Face image folders -> arrays.

Two layouts are recognised:

* one sub-folder per identity (``people/alice/1.jpg``, ``people/bob/x.png``), the usual
  layout of a personal photo collection;
* a flat folder of files named ``<identity>.<anything>`` (``subject01.happy``,
  ``alice.2.jpg``), the layout of the Yale face database.

Files are recognised by their content (Pillow), not their extension, so a GIF called
``subject01.happy`` loads. Every image goes through :func:`fit_image` (centre-crop to the
model's aspect ratio, then an anti-aliased resize), the same function ``embed`` uses on
raw arrays, so a photo gives the same input whether it came from a folder or from memory.
"""
from __future__ import annotations

import hashlib
import os
import stat
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..hints import PathLike

#: Formats the loader is documented to read; any other format Pillow decodes also works.
KNOWN_FORMATS = ("PPM", "PNG", "JPEG", "GIF", "BMP")  # Pillow calls PGM/PBM "PPM"


class FaceDataWarning(UserWarning):
    """Issued for skipped files and identities that cannot give positive pairs."""


@dataclass
class FaceDataset:
    """Images of several identities.

    images: (N, C, H, W) float32 in [0, 1]; labels: (N,) int64 indices into ``names``;
    groups: (N,) int64, equal for pixel-identical images (a duplicate must never be used as
    the "other" image of a positive pair, or as gallery and probe of the same trial);
    paths: where each image came from ("" for generated images).
    """

    images: np.ndarray
    labels: np.ndarray
    names: list
    paths: list = field(default_factory=list)
    groups: np.ndarray | None = None
    skipped: list = field(default_factory=list)  # (path, reason)

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {self.images.shape}")
        if len(self.labels) != len(self.images):
            raise ValueError(f"labels has {len(self.labels)} entries but images has {len(self.images)}")
        if self.groups is None:
            self.groups = np.arange(len(self.images), dtype=np.int64)
        if not self.paths:
            self.paths = [""] * len(self.images)

    def __len__(self):
        return len(self.images)

    @property
    def n_identities(self) -> int:
        return len(np.unique(self.labels))

    def counts(self) -> dict:
        """Distinct (non-duplicate) images per identity name."""
        return {self.names[k]: len(np.unique(self.groups[self.labels == k])) for k in np.unique(self.labels)}

    def subset(self, index) -> FaceDataset:
        """The images at ``index`` (bool mask or int array); labels are re-numbered 0..K-1."""
        index = np.flatnonzero(index) if np.asarray(index).dtype == bool else np.asarray(index, dtype=np.int64)
        old = self.labels[index]
        kept, new = np.unique(old, return_inverse=True)
        return FaceDataset(self.images[index], new.astype(np.int64), [self.names[k] for k in kept],
                           [self.paths[i] for i in index], self.groups[index].copy(), list(self.skipped))

    def by_names(self, names) -> FaceDataset:
        """The images of the given identity names."""
        wanted = set(names)
        unknown = wanted - set(self.names)
        if unknown:
            raise ValueError(f"names: unknown identities {sorted(unknown)}")
        return self.subset(np.array([self.names[k] in wanted for k in self.labels], dtype=bool))


# --------------------------------------------------------------------------- pixels
def to_float_images(images) -> np.ndarray:
    """uint8 / integer / float images -> float32 (N, C, H, W) in [0, 1].

    Accepts (H, W), (N, H, W) [grayscale] or (N, C, H, W) with C in {1, 3}. Integer arrays are
    divided by 255; float arrays are taken as [0, 1] when their maximum is <= 1, else as 0..255.
    """
    a = np.asarray(images)
    if a.ndim == 2:
        a = a[None, None]
    elif a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, H, W) or (N, C, H, W) with C in (1, 3), got shape {np.shape(images)}")
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"images must be an integer or float array, got dtype {a.dtype}")
    a = a.astype(np.float32)
    if np.issubdtype(np.asarray(images).dtype, np.integer) or (a.size and a.max() > 1.0):
        a = a / 255.0
    return np.clip(a, 0.0, 1.0)


def match_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """(N, C, H, W) -> (N, channels, H, W): RGB->gray by ITU-R 601 luma, gray->RGB by copying."""
    c = images.shape[1]
    if c == channels:
        return images
    if channels == 1:
        w = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.tensordot(images, w, axes=([1], [0]))[:, None].astype(np.float32)
    return np.repeat(images, 3, axis=1)


def fit_image(image: np.ndarray, size) -> np.ndarray:
    """(C, H, W) float32 -> (C, h, w): centre-crop to the aspect ratio h/w, then resize.

    Cropping (rather than squashing) keeps the face's proportions; Pillow's bilinear resize
    widens its kernel when shrinking, so large photos are averaged rather than aliased.
    """
    h, w = size
    c, H, W = image.shape
    if H * w > W * h:  # too tall: crop rows
        ch = max(1, round(W * h / w))
        top = (H - ch) // 2
        image = image[:, top:top + ch]
    elif H * w < W * h:  # too wide: crop columns
        cw = max(1, round(H * w / h))
        left = (W - cw) // 2
        image = image[:, :, left:left + cw]
    if image.shape[1:] == (h, w):
        return np.ascontiguousarray(image, dtype=np.float32)
    out = np.empty((c, h, w), dtype=np.float32)
    for k in range(c):
        pil = Image.fromarray(np.ascontiguousarray(image[k], dtype=np.float32), mode="F")
        out[k] = np.asarray(pil.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def prepare_images(images: np.ndarray | Sequence[np.ndarray], size: tuple[int, int], channels: int) -> np.ndarray:
    """Any-size uint8/float images -> model input (N, channels, h, w) float32 in [0, 1]."""
    a = match_channels(to_float_images(images), channels)
    if a.shape[2:] == tuple(size):
        return a
    return np.stack([fit_image(x, size) for x in a]) if len(a) else np.zeros((0, channels, *size), np.float32)


# --------------------------------------------------------------------------- files
def read_image(path: str, channels: int = 1) -> np.ndarray:
    """Decode one image file (any Pillow format, extension ignored) -> (C, H, W) float32 in [0, 1].

    Raises ValueError naming the file when it is not a decodable image, not a regular file
    (a FIFO or a device would block or never end), or larger than Pillow's decompression-bomb
    limit (about 179 megapixels).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: not a regular file (a folder, FIFO or device); give an image file")
    try:
        with Image.open(path) as im:
            im.seek(0)  # first frame of an animated GIF
            im.load()   # Image.open is lazy: force decoding so truncated files fail here
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I", "I;16", "I;16B", "F"):  # 16-bit PGM/PNG: rescale by the max
                a = np.asarray(im, dtype=np.float32)
                a = a / max(float(a.max()), 1.0)
                arr = a[None] if channels == 1 else np.repeat(a[None], 3, axis=0)
                return arr.astype(np.float32)
            im = im.convert("L" if channels == 1 else "RGB")
            a = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path}: not a readable image ({type(exc).__name__}: {exc})") from None
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return a.astype(np.float32) / 255.0


def _entries(folder: str, root_real: str, want_dirs: bool) -> list:
    """Visible regular files (or folders) of ``folder``, skipping with a warning what cannot be
    followed: symbolic-link loops, dangling links, and linked folders outside the data folder
    (a link to ``/`` would otherwise be crawled)."""
    out = []
    for e in os.scandir(folder):
        if e.name.startswith("."):
            continue
        try:
            st = os.stat(e.path)  # follows links; a loop raises ELOOP
        except OSError as exc:
            warnings.warn(f"skipped {e.path}: cannot follow it ({exc.strerror})", FaceDataWarning, stacklevel=3)
            continue
        if want_dirs and e.is_symlink():
            real = os.path.realpath(e.path)
            if os.path.commonpath([real, root_real]) != root_real:
                warnings.warn(f"skipped {e.path}: a link to {real}, outside the data folder", FaceDataWarning,
                              stacklevel=3)
                continue
        if (stat.S_ISDIR(st.st_mode) if want_dirs else stat.S_ISREG(st.st_mode)):
            out.append(e)
    return sorted(out, key=lambda e: e.name)


def _list_files(folder: str, root_real: str | None = None) -> list:
    return [e.path for e in _entries(folder, root_real or os.path.realpath(folder), False)]


def scan_folder(root: str) -> list:
    """[(identity, path), ...] for either layout (see module docstring), sorted.

    Only regular files are listed (no FIFOs or devices); linked folders are followed when they
    stay inside ``root`` and skipped with a :class:`FaceDataWarning` otherwise; loops are skipped too.
    """
    if not os.path.isdir(root):
        raise ValueError(f"data folder {root!r} does not exist or is not a folder")
    root_real = os.path.realpath(root)
    subdirs = _entries(root, root_real, True)
    items = [(d.name, p) for d in subdirs for p in _list_files(d.path, root_real)]
    if not items:  # flat layout: identity = file name up to the first dot
        items = [(os.path.basename(p).split(".", 1)[0], p) for p in _list_files(root, root_real)]
    if not items:
        raise ValueError(f"data folder {root!r} is empty: expected one sub-folder of images per "
                         f"identity, or files named <identity>.<anything>")
    return items


def load_folder(root: PathLike, size: tuple[int, int] = (64, 64), channels: int = 1, min_identities: int = 2,
                transform: Callable[[np.ndarray], np.ndarray] | None = None) -> FaceDataset:
    """Load a face folder (either layout) into a :class:`FaceDataset`.

    Each photo is centre-cropped and resized to ``size``; a ``transform`` (one (C, H, W)
    photo -> (C, h, w) image of a fixed size) replaces that step, e.g. the pretrained
    model's detect-and-align (``load_folder(root, transform=model.align_photo)``).

    Unreadable files are skipped with one FaceDataWarning naming each file and a total count;
    identities with fewer than 2 distinct images are reported (they stay in the dataset, where
    they can still act as negatives or distractors). Raises ValueError if the folder is empty
    or has fewer than ``min_identities`` identities with at least 2 distinct images.
    """
    from tqdm import tqdm

    items = scan_folder(root)
    names = sorted({n for n, _ in items})
    index = {n: k for k, n in enumerate(names)}
    images, labels, paths, digests, skipped = [], [], [], [], []
    for name, path in tqdm(items, desc="loading faces", unit="img", leave=False):
        try:
            raw = read_image(path, channels)
        except ValueError as exc:
            skipped.append((path, str(exc)))
            continue
        # Pixel-identical files (Yale ships 9 such pairs) share a group so that evaluation
        # never treats an image and its copy as two photos of a person.
        digests.append(hashlib.sha1(np.ascontiguousarray(raw).tobytes()).hexdigest())
        images.append(fit_image(raw, size) if transform is None else transform(raw))
        labels.append(index[name])
        paths.append(path)
    if skipped:
        lines = "\n".join(f"  {p}: {why}" for p, why in skipped)
        warnings.warn(f"skipped {len(skipped)} unreadable file(s) in {root}:\n{lines}", FaceDataWarning, stacklevel=2)
    if not images:
        raise ValueError(f"data folder {root!r} has no readable images ({len(skipped)} file(s) skipped)")
    _, groups = np.unique(np.array(digests), return_inverse=True)
    used = sorted(set(labels))
    remap = {old: new for new, old in enumerate(used)}
    ds = FaceDataset(np.stack(images), np.array([remap[k] for k in labels]), [names[k] for k in used],
                     paths, groups.astype(np.int64), skipped)
    counts = ds.counts()
    few = sorted(n for n, c in counts.items() if c < 2)
    if few:
        warnings.warn(f"{len(few)} identit{'y has' if len(few) == 1 else 'ies have'} fewer than 2 distinct "
                      f"images and cannot give positive pairs: {', '.join(few)}", FaceDataWarning, stacklevel=2)
    usable = len(counts) - len(few)
    if usable < min_identities:
        raise ValueError(f"data folder {root!r}: need at least {min_identities} identities with >= 2 distinct "
                         f"images, found {usable} (identities: {counts})")
    return ds


def split_identities(ds: FaceDataset, n_test: int, seed: int = 0) -> tuple[FaceDataset, FaceDataset]:
    """Disjoint identity split -> (train, test) datasets; ``n_test`` identities go to test."""
    k = ds.n_identities
    if not 1 <= n_test < k:
        raise ValueError(f"n_test must be in [1, {k - 1}] for {k} identities, got {n_test}")
    order = np.random.default_rng(seed).permutation(k)
    test = np.isin(ds.labels, order[:n_test])
    return ds.subset(~test), ds.subset(test)


def identity_folds(n_identities: int, n_folds: int, seed: int = 0) -> list:
    """Partition identity indices 0..K-1 into ``n_folds`` disjoint test folds (cross-validation)."""
    if not 2 <= n_folds <= n_identities:
        raise ValueError(f"n_folds must be in [2, {n_identities}], got {n_folds}")
    order = np.random.default_rng(seed).permutation(n_identities)
    return [np.sort(f) for f in np.array_split(order, n_folds)]
