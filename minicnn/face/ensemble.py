"""An ensemble of Siamese encoders that behaves like one encoder.

``f(x) = [f_1(x), ..., f_M(x)] / sqrt(M)``: the members' unit encodings side by side, scaled
so the result is again a unit vector. Its squared distance is the *average* of the members'
squared distances,

    ||f(x) - f(y)||^2 = (1/M) sum_m ||f_m(x) - f_m(y)||^2,

so one threshold tau, the database and every metric work unchanged. Encoders trained from
different starting points (for example one fine-tuned from the synthetic-face weights and one
from scratch) make different mistakes on new people; averaging their distances cancels part
of them (docs/face.md, section 9, measures how much).

Members trained with the binary loss each carry a pair head, which reads that member's own
part of the encoding. The ensemble then decides by the *average* of the members' head
probabilities, ``p = (1/M) sum_m p_m(f_m(x), f_m(y))`` (same person iff p >= 0.5), the
probability counterpart of averaging distances. An ensemble whose members disagree (some
with a head, some without) has no single rule and is refused.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

import minicnn as mc
import minicnn.nn as nn
from minicnn.hints import ArrayLike

from .encoder import MODEL_KINDS, RULE_DISTANCE, RULE_HEAD, FaceEncoder, _head_probability

KIND = "minicnn.face.FaceEnsemble"


class FaceEnsemble(nn.Module):
    """Several :class:`FaceEncoder` with the same input -> (N, sum of their D) unit vectors."""

    def __init__(self, members: Iterable[FaceEncoder]) -> None:
        super().__init__()
        members = list(members)
        if not members or not all(isinstance(m, FaceEncoder) for m in members):
            raise ValueError("FaceEnsemble: members must be a non-empty list of FaceEncoder")
        first = members[0]
        for k, m in enumerate(members[1:], 1):
            if (m.in_channels, m.input_size) != (first.in_channels, first.input_size):
                raise ValueError(f"FaceEnsemble: member {k} takes {m.in_channels} x {m.input_size} images "
                                 f"but member 0 takes {first.in_channels} x {first.input_size}")
        heads = [m.head is not None for m in members]
        if any(heads) and not all(heads):
            raise ValueError(f"FaceEnsemble: members {[k for k, h in enumerate(heads) if h]} have a binary head and "
                             f"members {[k for k, h in enumerate(heads) if not h]} do not; an ensemble decides either "
                             f"by its members' averaged head probabilities (all heads) or by distance (no heads)")
        self.members = nn.ModuleList(members)
        self.threshold = None
        self.calibration = None
        self.info = {}

    in_channels = property(lambda self: self.members[0].in_channels)
    input_size = property(lambda self: self.members[0].input_size)
    embedding_dim = property(lambda self: sum(m.embedding_dim for m in self.members))
    config = property(lambda self: {"members": [m.config for m in self.members]})

    @property
    def model_id(self) -> str:
        """Fingerprint of all members' weights (databases refuse a different model)."""
        return hashlib.sha1("".join(m.model_id for m in self.members).encode()).hexdigest()[:16]

    def forward(self, x: mc.Tensor | ArrayLike) -> mc.Tensor:
        """(N, C, H, W) -> (N, sum D) Tensor; each member's part is scaled by 1/sqrt(M)."""
        scale = 1.0 / np.sqrt(len(self.members))
        return mc.concatenate([m(x) * scale for m in self.members], axis=1)

    def embed(self, images, batch_size: int = 64, tta: str = "shift") -> np.ndarray:
        """Like :meth:`FaceEncoder.embed`: any-size images -> (N, sum D) float32 unit vectors."""
        parts = [m.embed(images, batch_size, tta) for m in self.members]
        return (np.concatenate(parts, axis=1) / np.sqrt(len(parts))).astype(np.float32)

    def same_probability(self, dist) -> np.ndarray:
        return FaceEncoder.same_probability(self, dist)

    @property
    def decision_rule(self) -> str:
        return RULE_HEAD if self.members[0].head is not None else RULE_DISTANCE

    def pair_probability(self, e1, e2) -> np.ndarray:
        """The average of the members' head probabilities for ensemble encodings (N, sum D)
        (or (sum D,)) -> (N,) float64; member m reads its slice, scaled back to unit length."""
        if self.members[0].head is None:
            raise ValueError("this ensemble has no binary heads (its members were not trained with --loss binary); "
                             "compare encodings by distance")
        a, b = np.asarray(e1, np.float32), np.asarray(e2, np.float32)
        if a.shape != b.shape or a.ndim not in (1, 2) or a.shape[-1] != self.embedding_dim:
            raise ValueError(f"pair_probability: encodings must both be (N, {self.embedding_dim}) or "
                             f"({self.embedding_dim},), got shapes {a.shape} and {b.shape}")
        scale, start, total = np.sqrt(len(self.members)), 0, 0.0
        for m in self.members:
            part = slice(start, start + m.embedding_dim)
            total = total + _head_probability(m.head, a[..., part] * scale, b[..., part] * scale, m.embedding_dim)
            start += m.embedding_dim
        return total / len(self.members)

    def save(self, path, meta=None):
        """All members' weights, their configs and tau/calibration in one ``.npz`` (atomic)."""
        cfgs = [{**c, "input_size": list(c["input_size"]), "widths": list(c["widths"])} for c in self.config["members"]]
        heads = [m.head.kind for m in self.members] if self.members[0].head is not None else None
        info = {"kind": KIND, "config": {"members": cfgs}, "threshold": self.threshold, "head": heads,
                "calibration": self.calibration, "model_id": self.model_id, "info": {**self.info, **(meta or {})}}
        return mc.save(self, path, meta=info, replaces=MODEL_KINDS)


def build_from_meta(meta: dict) -> FaceEnsemble:
    """An untrained ensemble with the members described by a saved file's metadata."""
    return FaceEnsemble([FaceEncoder(**c) for c in meta["config"]["members"]])
