"""Knowledge distillation: the small encoder learns the pretrained network's geometry.

A from-scratch encoder trained on a few hundred photos of a few dozen people learns what
separates *those* people; it generalises poorly to new ones (docs/face.md, "A teacher for the
small encoder"). dlib's pretrained face network (the *teacher*, trained on millions of faces)
already knows a geometry that works on everyone. Distillation adds to the triplet loss a term that asks the student's
distances between the photos of a batch to be the teacher's distances between the same photos:

    L_distill = mean_{i<j} ( ||f(x_i) - f(x_j)||^2 - s ||t_i - t_j||^2 )^2

with ``f`` the student (unit encodings), ``t`` the teacher's encodings of the *original* photos
(normalised to unit length) and ``s`` one scale per training run that puts the teacher's
average pair distance at 2, the squared distance of two orthogonal unit vectors, where the
triplet loss leaves the encodings of different people. Matching distances (not the encodings
themselves) leaves the student free to choose its own axes and dimension.

The teacher needs the original photo (it detects and aligns the face itself), so its encodings
are computed from the files named in ``FaceDataset.paths``, once per training run: a
:class:`TeacherCache` keeps them in memory (shared by every run of a process, e.g. the folds of
a cross-validation) and, with a file, on disk keyed by the hash of each photo's bytes. At
inference only the student runs.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np

import minicnn as mc

TEACHERS = ("none", "dlib")
CACHE_KIND = "minicnn.face.TeacherCache"


def default_teacher() -> str:
    """"dlib" when the pretrained files are installed, else "none"."""
    from .dlib_models import available

    return "dlib" if available() else "none"


def teacher_cache_path(out) -> str:
    """Where :func:`minicnn.face.train.train` keeps the teacher's encodings for model file ``out``."""
    from minicnn.io import npz_path

    p = npz_path(out)
    return str(p.with_name(p.stem + ".teacher.npz"))


def distance_matching_loss(e, teacher, scale: float = 1.0):
    """``mean_{i<j} (||e_i - e_j||^2 - scale ||t_i - t_j||^2)^2`` -> scalar Tensor.

    e: (N, D) Tensor (the student's encodings); teacher: (N, D') array of the teacher's
    encodings of the same N images (D' may differ from D: only distances are compared).
    """
    e = mc.as_tensor(e)
    t = np.asarray(teacher, dtype=e.dtype)
    if e.ndim != 2 or t.ndim != 2 or len(t) != e.shape[0]:
        raise ValueError(f"distance_matching_loss: e must be (N, D) and teacher (N, D'), got {e.shape} "
                         f"and {t.shape}")
    n = e.shape[0]
    if n < 2:
        raise ValueError(f"distance_matching_loss: needs at least 2 encodings, got {n}")
    sq = (e * e).sum(axis=1)
    d = sq.reshape(n, 1) + sq.reshape(1, n) - 2.0 * (e @ e.T)  # (N, N) squared distances
    tsq = (t * t).sum(1)
    target = scale * (tsq[:, None] + tsq[None, :] - 2.0 * t @ t.T)
    upper = np.triu(np.ones((n, n), dtype=e.dtype), k=1)  # each pair once, no diagonal
    diff = (d - mc.Tensor(target)) * mc.Tensor(upper)
    return (diff * diff).sum() / float(n * (n - 1) // 2)


def distance_scale(teacher: np.ndarray, labels=None) -> float:
    """The scale ``s`` that puts the mean teacher distance between different people at 2."""
    t = np.asarray(teacher, dtype=np.float64)
    d = ((t[:, None, :] - t[None, :, :]) ** 2).sum(-1)
    if labels is None:
        mask = ~np.eye(len(t), dtype=bool)
    else:
        y = np.asarray(labels)
        mask = y[:, None] != y[None, :]
    mean = float(d[mask].mean()) if mask.any() else 0.0
    return 2.0 / mean if mean > 0 else 1.0


def photo_key(path) -> str:
    """The SHA-1 of a file's bytes: the same photo under another name is found in the cache."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class TeacherCache:
    """The teacher's unit-length encodings of photo files, computed once.

    teacher: an object with ``embed(list of (C, H, W) photos) -> (N, D)`` (the pretrained model);
    name: its name, part of the key (encodings of two teachers never mix); path: an optional
    ``.npz`` file read at start and rewritten (atomically) when new photos were encoded.
    """

    _memory: dict = {}  # (name, sha1) -> encoding; shared by every cache of the process

    def __init__(self, teacher, name: str = "dlib", path=None):
        self.teacher, self.name, self.path = teacher, name, path
        self.computed = 0  # photos this cache had to run the teacher on
        if path and os.path.exists(path):
            self._read(path)

    def _read(self, path):
        from minicnn.io import load_npz

        arrays, meta = load_npz(path)
        if meta.get("kind") != CACHE_KIND:
            raise ValueError(f"teacher cache {path}: not a teacher cache file (kind {meta.get('kind')!r})")
        keys, enc = meta.get("keys", []), arrays.get("encodings")
        if meta.get("teacher") != self.name or enc is None or len(keys) != len(enc):
            return  # another teacher's (or an unusable) file: recompute, rewrite it at the end
        for k, v in zip(keys, enc):
            self._memory.setdefault((self.name, k), v.astype(np.float32))

    def encodings(self, paths) -> np.ndarray:
        """(N, D) float32 unit encodings of the photo files ``paths``."""
        from .data import read_image

        keys = [photo_key(p) for p in paths]
        missing = [i for i, k in enumerate(keys) if (self.name, k) not in self._memory]
        if missing:
            photos = [read_image(paths[i], 3) for i in missing]
            enc = np.asarray(self.teacher.embed(photos), dtype=np.float64)
            if not np.isfinite(enc).all():
                raise ValueError("teacher: the pretrained model returned NaN/Inf encodings")
            enc /= np.maximum(np.linalg.norm(enc, axis=1, keepdims=True), 1e-12)
            for i, v in zip(missing, enc.astype(np.float32)):
                self._memory[(self.name, keys[i])] = v
            self.computed += len(missing)
            if self.path:
                self._write()
        return np.stack([self._memory[(self.name, k)] for k in keys])

    def _write(self):
        from minicnn.io import file_lock, save_npz

        with file_lock(self.path):
            if os.path.exists(self.path):  # keep what another run added meanwhile
                try:
                    self._read(self.path)
                except ValueError:
                    pass  # save_npz below refuses to replace a file that is not a cache
            mine = sorted({k for n, k in self._memory if n == self.name})
            save_npz(self.path, {"encodings": np.stack([self._memory[(self.name, k)] for k in mine])},
                     {"kind": CACHE_KIND, "teacher": self.name, "keys": mine}, replaces=(CACHE_KIND,))
