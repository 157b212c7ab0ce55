"""A one-shot face database: enroll people by their encodings, then verify (1:1) and identify (1:K).

Only encodings are stored, never images (the deployment trick of the notes, section 5): each
query then costs one forward pass plus a few dot products. Enrolling a new person needs no
retraining -- that is the point of one-shot learning.

Decision rule (section 2): "same" iff ``d = ||f(x) - f(enrolled)||^2 <= tau``; identify returns
the nearest enrolled person, or None ("not recognised") when even that distance exceeds tau.
A model trained with the binary loss carries a pair head and decides by its probability
instead: "same" iff ``P(same | f(x), f(enrolled)) >= 0.5`` (the best of a person's enrolled
encodings); identify returns the most probable person, or None when even that is below 0.5.
``rule`` says which of the two a database uses.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from minicnn.cli_args import check_name
from minicnn.io import load_npz, save_npz

KIND = "minicnn.face.FaceDatabase"
TAU_RANGE = (0.0, 4.0)  # squared distance of two unit vectors: 0 (same) .. 4 (opposite)
MIN_SIDE = 16           # pixels; a smaller picture has no face the encoder could see
MIN_CONTRAST = 0.02     # std of the pixels (0..1 scale) below which a picture is blank


class Match(NamedTuple):
    """One decision: the person (None: not recognised), the squared distance to their nearest
    encoding, the head's probability (None for a distance model), the verdict and the rule used."""
    name: str | None
    distance: float
    probability: float | None
    same: bool
    rule: str


def check_tau(tau, what="tau") -> float:
    """``tau`` as a float, checked to be a finite squared distance between unit vectors."""
    try:
        t = float(tau)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {tau!r}") from None
    if not TAU_RANGE[0] <= t <= TAU_RANGE[1]:  # also False for NaN
        raise ValueError(f"{what} must be a finite squared distance in [{TAU_RANGE[0]:g}, {TAU_RANGE[1]:g}] "
                         f"(encodings are unit vectors), got {tau!r}")
    return t


def check_face_image(image, what="image"):
    """Refuse pictures that cannot show a face: non-finite, tiny or blank (uniform).

    image: (H, W) or (C, H, W), uint8 or float. A blank frame would otherwise get an
    encoding like any other, and could match whoever is nearest to it.
    """
    a = np.asarray(image)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{what}: expected a numeric image, got dtype {a.dtype}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{what}: the image holds NaN or Inf values")
    h, w = a.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"{what} is {w}x{h} pixels (W x H); a face image needs at least {MIN_SIDE} pixels a side")
    scale = 255.0 if (a.dtype.kind in "iu" or (a.size and a.max() > 1.0)) else 1.0
    contrast = float(a.astype(np.float64).std() / scale)
    if contrast < MIN_CONTRAST:
        raise ValueError(f"{what} is blank (pixel std {contrast:.4f} on a 0..1 scale, below {MIN_CONTRAST}); "
                         f"it shows no face")


def _as_one_image(image):
    """A path or one array image (H, W) / (C, H, W) -> (1, ...) batch for ``model.embed``."""
    if isinstance(image, (str, os.PathLike)):
        return _read(image)
    a = np.asarray(image)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[0] in (1, 3)):
        check_face_image(a)
        return a[None]
    raise ValueError(f"image must be a file path, (H, W) or (C, H, W) with C in (1, 3); got shape {a.shape}")


def _read(path):
    from .data import read_image
    a = read_image(str(path), channels=3)
    check_face_image(a, str(path))
    return a[None]  # embed converts to the model's channels


def _as_batch(images):
    """A path, a list of paths/arrays, or an (N, H, W) / (N, C, H, W) array -> list of batches."""
    if isinstance(images, (str, os.PathLike)):
        return [_read(images)]
    if isinstance(images, (list, tuple)):
        return [_as_one_image(x) for x in images]
    a = np.asarray(images)
    if a.ndim not in (3, 4):
        raise ValueError(f"images must be a path, a list, or an (N, H, W) / (N, C, H, W) array; got shape {a.shape}")
    for i, x in enumerate(a):
        check_face_image(x, f"image {i}")
    return [a]


class FaceDatabase:
    """Enrolled encodings per name, tied to one model (its id and embedding size).

    model: an encoder with ``embed``, ``embedding_dim`` and ``model_id`` (see encoder.py); may be
    None when only encodings are handled. tau: decision threshold on the squared distance; by
    default the model's own (chosen on held-out identities at training time), else 1.0.
    """

    def __init__(self, model: object | None = None, tau: float | None = None, embedding_dim: int | None = None,
                 model_id: str | None = None) -> None:
        self.model = model
        self.embedding_dim = int(embedding_dim if embedding_dim is not None else getattr(model, "embedding_dim", 128))
        self.model_id = model_id if model_id is not None else getattr(model, "model_id", None)
        default_tau = getattr(model, "threshold", None)
        self.tau = check_tau(tau if tau is not None else (default_tau if default_tau is not None else 1.0))
        self._enc: dict = {}  # name -> (n_i, D) float32

    # ----------------------------------------------------------------------- contents
    @property
    def names(self) -> list:
        return sorted(self._enc)

    def __len__(self):
        return len(self._enc)

    def __contains__(self, name):
        return name in self._enc

    def encodings(self, name) -> np.ndarray:
        """(n, D) stored encodings of ``name``."""
        self._known(name)
        return self._enc[name].copy()

    def _known(self, name):
        if name not in self._enc:
            have = ", ".join(self.names) or "nobody is enrolled"
            raise KeyError(f"unknown name {name!r} (enrolled: {have})")

    def _embed(self, batches) -> np.ndarray:
        if self.model is None:
            raise ValueError("this FaceDatabase has no model: pass model= to encode images, "
                             "or use enroll_encodings / distances on encodings")
        e = np.concatenate([self.model.embed(b) for b in batches]).astype(np.float32)
        if not np.isfinite(e).all():
            raise ValueError("the model gave NaN/Inf encodings (are its weights finite?)")
        return e

    # ----------------------------------------------------------------------- edits
    def encode(self, images) -> np.ndarray:
        """(n, D) encodings of ``images`` (paths, arrays or a list of them), each picture checked
        first (:func:`check_face_image`). Lets a caller do the slow part outside a file lock."""
        return self._embed(_as_batch(images))

    def enroll(self, name: str, images) -> int:
        """Add the encodings of ``images`` to ``name`` (created if new); returns how many it has."""
        return self.enroll_encodings(name, self.encode(images))

    def enroll_encodings(self, name: str, encodings) -> int:
        """Add precomputed encodings (n, D) or (D,) for ``name``."""
        check_name(name)
        e = np.asarray(encodings, dtype=np.float32)
        e = e[None] if e.ndim == 1 else e
        if e.ndim != 2 or e.shape[1] != self.embedding_dim or len(e) == 0:
            raise ValueError(f"encodings for {name!r} must be (n, {self.embedding_dim}), "
                             f"got shape {np.shape(encodings)}")
        if not np.isfinite(e).all():
            raise ValueError(f"encodings for {name!r} hold NaN or Inf values")
        self._enc[name] = np.concatenate([self._enc[name], e]) if name in self._enc else e
        return len(self._enc[name])

    def remove(self, name: str):
        self._known(name)
        del self._enc[name]

    def rename(self, old: str, new: str):
        self._known(old)
        if new in self._enc:
            raise ValueError(f"cannot rename {old!r} to {new!r}: {new!r} is already enrolled")
        check_name(new, "new name")
        self._enc[new] = self._enc.pop(old)

    # ----------------------------------------------------------------------- queries
    def distances(self, encoding) -> dict:
        """Squared distance from one encoding (D,) to the nearest stored encoding of each name."""
        q = np.asarray(encoding, dtype=np.float64).reshape(-1)
        if q.shape != (self.embedding_dim,):
            raise ValueError(f"encoding must have {self.embedding_dim} values, got shape {np.shape(encoding)}")
        return {n: float(((e - q) ** 2).sum(1).min()) for n, e in self._enc.items()}

    @property
    def rule(self) -> str:
        """The decision rule: "distance <= tau", or "head probability >= 0.5" for a model with a
        binary head (tau is then kept, but not used)."""
        from .encoder import RULE_DISTANCE

        return getattr(self.model, "decision_rule", RULE_DISTANCE)

    def probabilities(self, encoding) -> dict:
        """The head's P(same) between one encoding (D,) and each name (its best encoding)."""
        from .encoder import RULE_HEAD

        q = np.asarray(encoding, dtype=np.float32).reshape(-1)
        if q.shape != (self.embedding_dim,):
            raise ValueError(f"encoding must have {self.embedding_dim} values, got shape {np.shape(encoding)}")
        if self.rule != RULE_HEAD:
            raise ValueError("probabilities: this database's model has no binary head")
        return {n: float(self.model.pair_probability(np.broadcast_to(q, e.shape), e).max())
                for n, e in self._enc.items()}

    def verify_encoding(self, encoding, name: str) -> Match:
        """1:1 on an encoding (D,): is it the enrolled person ``name``? -> :class:`Match`."""
        from .encoder import HEAD_THRESHOLD, RULE_HEAD

        self._known(name)
        d, rule = self.distances(encoding)[name], self.rule
        if rule == RULE_HEAD:
            p = self.probabilities(encoding)[name]
            return Match(name, d, p, bool(p >= HEAD_THRESHOLD), rule)
        return Match(name, d, None, bool(d <= self.tau), rule)

    def identify_encoding(self, encoding) -> Match:
        """1:K on an encoding (D,): the best enrolled person -> :class:`Match` (name None when
        not recognised; distance and probability are the best person's either way)."""
        from .encoder import HEAD_THRESHOLD, RULE_HEAD

        if not self._enc:
            raise ValueError("identify: the database is empty; enroll someone first")
        dist, rule = self.distances(encoding), self.rule
        if rule == RULE_HEAD:
            prob = self.probabilities(encoding)
            name = max(prob, key=prob.get)
            same = prob[name] >= HEAD_THRESHOLD
            return Match(name if same else None, dist[name], prob[name], bool(same), rule)
        name = min(dist, key=dist.get)
        same = dist[name] <= self.tau
        return Match(name if same else None, dist[name], None, bool(same), rule)

    def verify(self, image, name: str) -> tuple:
        """1:1 -- is ``image`` the enrolled person ``name``? -> (distance, same: bool), decided
        by :attr:`rule` (:meth:`verify_encoding` also gives the probability)."""
        self._known(name)
        m = self.verify_encoding(self._embed([_as_one_image(image)])[0], name)
        return m.distance, m.same

    def identify(self, image) -> tuple:
        """1:K -- who is this? -> (name, distance), or (None, distance) when not recognised."""
        if not self._enc:
            raise ValueError("identify: the database is empty; enroll someone first")
        m = self.identify_encoding(self._embed([_as_one_image(image)])[0])
        return m.name, m.distance

    # ----------------------------------------------------------------------- files
    def save(self, path):
        """Write a ``.npz`` (no pickle) atomically; returns the path written."""
        names = self.names
        enc = np.concatenate([self._enc[n] for n in names]) if names else np.zeros((0, self.embedding_dim), np.float32)
        owner = np.concatenate([np.full(len(self._enc[n]), i) for i, n in enumerate(names)]) if names else np.zeros(0)
        meta = {"kind": KIND, "names": names, "embedding_dim": self.embedding_dim,
                "model_id": self.model_id, "tau": self.tau}
        return save_npz(path, {"encodings": enc, "owner": owner.astype(np.int64)}, meta)

    @classmethod
    def load(cls, path, model=None, tau: float | None = None) -> FaceDatabase:
        """Read a database; with ``model``, check it is the model the encodings came from."""
        arrays, meta = load_npz(path)
        if meta.get("kind") != KIND or "encodings" not in arrays:
            raise ValueError(f"{path}: not a FaceDatabase file (kind={meta.get('kind')!r})")
        names, enc, owner, dim = _checked_contents(path, arrays, meta)
        mid = meta.get("model_id")
        if model is not None:
            if getattr(model, "embedding_dim", dim) != dim:
                raise ValueError(f"{path}: database encodings are {dim}-d but the model gives "
                                 f"{model.embedding_dim}-d encodings; use the model the database was built with")
            if mid is not None and getattr(model, "model_id", None) not in (None, mid):
                raise ValueError(f"{path}: database was built with model {mid} but this model is "
                                 f"{model.model_id}; encodings of different models are not comparable -- "
                                 f"re-enroll with this model or load the original one")
        stored = meta.get("tau")
        if stored is not None:
            check_tau(stored, f"{path}: stored tau")
        db = cls(model, tau if tau is not None else stored, dim, mid)
        for i, name in enumerate(names):
            db._enc[name] = enc[owner == i].astype(np.float32)
        return db


def _checked_contents(path, arrays, meta):
    """(names, encodings, owner, dim) of a database file, checked to agree with each other."""
    def bad(why):
        return ValueError(f"{path}: damaged FaceDatabase file: {why}")

    names, enc, owner = meta.get("names"), arrays["encodings"], arrays.get("owner")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise bad("'names' must be a list of distinct strings")
    for n in names:
        try:
            check_name(n, "stored name")
        except ValueError as exc:
            raise bad(str(exc)) from None
    dim = meta.get("embedding_dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= 65536:
        raise bad(f"'embedding_dim' must be a positive integer, got {dim!r}")
    if enc.ndim != 2 or enc.shape[1] != dim or enc.dtype.kind != "f":
        raise bad(f"encodings must be float (n, {dim}), got {enc.dtype} {enc.shape}")
    if owner is None or owner.ndim != 1 or owner.dtype.kind not in "iu" or len(owner) != len(enc):
        raise bad(f"'owner' must be {len(enc)} integers, one per encoding")
    if len(owner) and (owner.min() < 0 or owner.max() >= len(names)):
        raise bad(f"'owner' points outside the {len(names)} names")
    if len(set(owner.tolist())) != len(names):
        raise bad(f"{len(names)} names but {len(set(owner.tolist()))} of them have encodings")
    return names, enc, owner, dim
