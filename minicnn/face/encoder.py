"""The Siamese encoder: one small ConvNet ``f(x)`` -> L2-normalised encoding (default 128-d).

"Siamese" means *one* network with *one* set of parameters applied to every input (notes,
section 3): the two images of a pair, or the three of a triplet, go through the same module,
so their encodings are comparable and ``d = ||f(x1) - f(x2)||^2`` is meaningful.

Architecture (default, for 64 x 64 grayscale crops)::

    input (N, C, 64, 64) -> per-image standardisation (mean 0, std 1: removes global
    brightness/contrast, which says nothing about identity)
    -> 4 x [Conv 3x3 -> BatchNorm -> ReLU -> MaxPool 2]   widths 16, 32, 64, 128
    -> global average pool (N, 128) -> Linear -> (N, 128) -> L2 normalise
"""
from __future__ import annotations

import hashlib

import numpy as np

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from minicnn import backend
from minicnn.hints import ArrayLike
from minicnn.tensor import unwrap

from .data import prepare_images

KIND = "minicnn.face.FaceEncoder"
MODEL_KINDS = (KIND, "minicnn.face.FaceEnsemble")  # a model file may replace a model file, nothing else
DEFAULTS = dict(in_channels=1, input_size=(64, 64), widths=(16, 32, 64, 128), embedding_dim=128)


TTA_MODES = ("none", "flip", "shift")
RULE_DISTANCE = "distance <= tau"            # the two decision rules a face model can have
RULE_HEAD = "head probability >= 0.5"
HEAD_THRESHOLD = 0.5
POOLS = ("gap", "pyramid", "multi")


def _shift(dy: int, dx: int):
    """A view that translates (N, C, H, W) images by (dy, dx) pixels, replicating the edges."""
    def view(b):
        h, w = b.shape[2:]
        p = np.pad(b, ((0, 0), (0, 0), (abs(dy),) * 2, (abs(dx),) * 2), mode="edge")
        return p[:, :, abs(dy) - dy:abs(dy) - dy + h, abs(dx) - dx:abs(dx) - dx + w]
    return view


def standardize(x: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Per-image standardisation of (N, C, H, W): zero mean and unit std over each image."""
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    s = x.std(axis=(1, 2, 3), keepdims=True)
    return (x - m) / (s + eps)


class FaceEncoder(nn.Module):
    """``f(x)``: (N, in_channels, H, W) in [0, 1] -> (N, embedding_dim) unit vectors.

    ``threshold`` (tau on the squared distance) and ``calibration`` (a, b of
    ``p(same | d) = sigmoid(a d + b)``) are filled in by training and saved with the weights.
    ``head``: the :class:`~minicnn.face.losses.PairHead` of a model trained with the binary loss
    (saved as the arrays "head.weight" (D,) and "head.bias" (1,)), else None. With a head, the
    model decides "same person" by the head's probability (:meth:`pair_probability` >= 0.5), not by tau.
    """

    def __init__(self, in_channels: int = 1, input_size: tuple[int, int] = (64, 64),
                 widths: tuple[int, ...] = (16, 32, 64, 128), embedding_dim: int = 128, pool: str = "gap") -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"FaceEncoder: in_channels must be 1 (grayscale) or 3 (RGB), got {in_channels}")
        input_size = tuple(int(s) for s in (input_size if np.ndim(input_size) else (input_size, input_size)))
        if min(input_size) < 2 ** len(widths):
            raise ValueError(f"FaceEncoder: input_size {input_size} is too small for {len(widths)} pooling stages")
        if pool not in POOLS:
            raise ValueError(f"FaceEncoder: pool must be one of {POOLS}, got {pool!r}")
        self.config = dict(in_channels=int(in_channels), input_size=input_size,
                           widths=tuple(int(w) for w in widths), embedding_dim=int(embedding_dim), pool=pool)
        layers, c = [], in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        n_in = {"gap": c, "pyramid": 5 * c, "multi": c + widths[-2] if len(widths) > 1 else c}[pool]
        self.fc = nn.Linear(n_in, embedding_dim)
        self.threshold = None
        self.calibration = None
        self.head = None  # a PairHead after binary-loss training
        self.info = {}

    # ------------------------------------------------------------------ properties
    @property
    def in_channels(self) -> int:
        return self.config["in_channels"]

    @property
    def input_size(self) -> tuple:
        return self.config["input_size"]

    @property
    def embedding_dim(self) -> int:
        return self.config["embedding_dim"]

    @property
    def decision_rule(self) -> str:
        """How this model decides "same person": :data:`RULE_HEAD` or :data:`RULE_DISTANCE`."""
        return RULE_HEAD if self.head is not None else RULE_DISTANCE

    @property
    def model_id(self) -> str:
        """A fingerprint of the encoder's weights: databases remember it to refuse a different
        model. The binary head is left out: it does not change the encodings a database stores."""
        h = hashlib.sha1()
        for k, v in sorted(self.state_dict().items()):
            if k.startswith("head."):
                continue
            h.update(k.encode())
            v = unwrap(v)
            h.update(np.ascontiguousarray(backend.to_numpy(v)).tobytes())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ forward
    def forward(self, x: mc.Tensor | ArrayLike) -> mc.Tensor:
        """x: Tensor or array (N, C, H, W) at ``input_size`` -> Tensor (N, D), unit rows."""
        raw = x.data if isinstance(x, mc.Tensor) else np.asarray(x, dtype=np.float32)
        if raw.ndim != 4 or raw.shape[1] != self.in_channels or tuple(raw.shape[2:]) != self.input_size:
            raise ValueError(f"FaceEncoder: input must be (N, {self.in_channels}, {self.input_size[0]}, "
                             f"{self.input_size[1]}), got shape {raw.shape}; use embed() for other sizes")
        h = mc.Tensor(standardize(raw.astype(np.float32)))
        pool = self.config["pool"]
        if pool == "multi":  # also pool the second-to-last stage: mid-level parts, not just whole-face
            stages = list(self.features)
            mid = stages[: len(stages) - 4]
            for layer in mid:
                h = layer(h)
            feats = [F.global_avg_pool(h)]
            for layer in stages[len(stages) - 4:]:
                h = layer(h)
            feats.append(F.global_avg_pool(h))
            h = mc.concatenate(feats[::-1], axis=1)
        else:
            h = self.features(h)
            g = F.global_avg_pool(h)
            if pool == "pyramid":  # global average + the four quadrants: keeps coarse layout
                q = F.adaptive_avg_pool(h, 2).flatten(1)
                g = mc.concatenate([g, q], axis=1)
            h = g
        return F.normalize(self.fc(h), dim=1)

    def embed(self, images, batch_size: int = 64, tta: str = "shift") -> np.ndarray:
        """Encodings of any-size images: uint8/float (N, H, W) or (N, C, H, W) -> (N, D) float32.

        Images are converted to the model's channels and centre-cropped/resized exactly like
        the folder loader does. Test-time augmentation ``tta``: "none"; "flip" averages
        the encodings of the image and its mirror; "shift" (default) also averages 4 copies shifted by
        ``size/32`` pixels (10 passes). The average is re-normalised to unit length.
        """
        if tta not in TTA_MODES:
            raise ValueError(f"tta must be one of {TTA_MODES}, got {tta!r}")
        x = prepare_images(images, self.input_size, self.in_channels)
        views = [lambda b: b]
        if tta in ("flip", "shift"):
            views.append(lambda b: b[..., ::-1])
        if tta == "shift":
            s = max(1, self.input_size[0] // 32)
            shifted = [_shift(dy, dx) for dy, dx in ((s, 0), (-s, 0), (0, s), (0, -s))]
            views += shifted + [lambda b, f=f: f(b[..., ::-1]) for f in shifted]
        was = self.training
        self.eval()
        out = []
        try:
            with mc.no_grad():
                for i in range(0, len(x), batch_size):
                    b = x[i:i + batch_size]
                    e = sum(self.forward(np.ascontiguousarray(v(b))).data for v in views)
                    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
                    out.append(np.asarray(e, dtype=np.float32))
        finally:
            self.train(was)
        return np.concatenate(out) if out else np.zeros((0, self.embedding_dim), np.float32)

    def same_probability(self, dist) -> np.ndarray:
        """Calibrated probability "same person" for squared distances (needs a trained model)."""
        from .losses import same_probability

        if self.calibration is None:
            raise ValueError("this model has no distance calibration; train it (or fit_distance_calibration)")
        return same_probability(dist, *self.calibration)

    def pair_probability(self, e1, e2) -> np.ndarray:
        """The binary head's P(same person) for pairs of encodings: (N, D), (N, D) -> (N,) float64
        (or (D,), (D,) -> a 0-d array). Needs a model trained with the binary loss."""
        if self.head is None:
            raise ValueError("this model has no binary head (it was not trained with --loss binary); "
                             "compare encodings by distance, or same_probability(distance)")
        return _head_probability(self.head, e1, e2, self.embedding_dim)

    # ------------------------------------------------------------------ files
    def save(self, path, meta=None):
        """Weights + config + threshold/calibration in one ``.npz`` (atomic, no pickle)."""
        info = {"kind": KIND, "config": {**self.config, "input_size": list(self.input_size),
                                         "widths": list(self.config["widths"])},
                "threshold": self.threshold, "calibration": self.calibration,
                "head": self.head.kind if self.head is not None else None,
                "model_id": self.model_id, "info": {**self.info, **(meta or {})}}
        return mc.save(self, path, meta=info, replaces=MODEL_KINDS)


def _head_probability(head, e1, e2, dim: int) -> np.ndarray:
    """``sigmoid(head logits)`` for encodings e1, e2 of shape (N, dim) or (dim,), checked."""
    a, b = np.asarray(e1, np.float32), np.asarray(e2, np.float32)
    if a.shape != b.shape or a.ndim not in (1, 2) or a.shape[-1] != dim:
        raise ValueError(f"pair_probability: encodings must both be (N, {dim}) or ({dim},), "
                         f"got shapes {a.shape} and {b.shape}")
    with mc.no_grad():
        z = np.asarray(head(mc.Tensor(a), mc.Tensor(b)).numpy(), dtype=np.float64).reshape(a.shape[:-1])
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
