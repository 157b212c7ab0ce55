"""Evaluating an encoder on a face dataset, the two classic baselines, and the figures.

Baselines (measured with exactly the same pairs, trials and thresholds as the ConvNet):

* raw pixels: the encoding is the standardised image itself (nearest neighbour in pixel space);
* eigenfaces (Turk & Pentland 1991): project the standardised image on the top principal
  components of a set of faces and compare there.
"""
from __future__ import annotations

import numpy as np

from .data import FaceDataset, prepare_images
from .encoder import standardize
from .metrics import error_vs_k, evaluate_embeddings, paired_dists, roc_curve, verification_pairs


class RawPixelEncoder:
    """``f(x)`` = the standardised, resized image flattened to a unit vector (N, H*W*C)."""

    def __init__(self, input_size=(64, 64), in_channels: int = 1):
        self.input_size, self.in_channels = tuple(input_size), in_channels

    def embed(self, images) -> np.ndarray:
        x = standardize(prepare_images(images, self.input_size, self.in_channels))
        x = x.reshape(len(x), -1)
        return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class EigenfaceEncoder(RawPixelEncoder):
    """Eigenfaces: PCA of standardised face images; ``f(x)`` = the first ``n_components`` coefficients."""

    def __init__(self, input_size=(64, 64), in_channels: int = 1, n_components: int = 50):
        super().__init__(input_size, in_channels)
        self.n_components = n_components
        self.mean = self.components = None

    def fit(self, images) -> EigenfaceEncoder:
        x = super().embed(images).astype(np.float64)
        self.mean = x.mean(0)
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)  # rows of vt: eigenfaces
        self.components = vt[: self.n_components]
        return self

    def embed(self, images) -> np.ndarray:
        if self.components is None:
            raise ValueError("EigenfaceEncoder: call fit(images) first")
        return ((super().embed(images) - self.mean) @ self.components.T).astype(np.float32)


def model_head(encoder):
    """The ``pair_probability`` a model decides with (a binary head), or None (distance rule)."""
    from .encoder import RULE_HEAD

    return encoder.pair_probability if getattr(encoder, "decision_rule", None) == RULE_HEAD else None


def evaluate_encoder(encoder, data: FaceDataset, ways: int = 5, trials: int = 1000, seed: int = 0,
                     protocol: str = "random-folds") -> dict:
    """Every metric (see metrics.evaluate_embeddings) of ``encoder.embed`` on ``data``, decided
    by the model's own rule: its binary head's probability when it has one, else distance."""
    from .metrics import head_dissimilarity

    emb = encoder.embed(data.images)
    head = model_head(encoder)
    out = evaluate_embeddings(emb, data.labels, data.groups, ways, trials, seed, head=head, protocol=protocol)
    ks, err = error_vs_k(emb, data.labels, data.groups, trials=max(100, trials // 4), seed=seed,
                         paired=head_dissimilarity(head) if head else None)
    out["error_vs_k"] = {"k": ks.tolist(), "error": err.tolist()}
    return out


def baselines(data: FaceDataset, fit_on: FaceDataset | None = None, ways: int = 5, trials: int = 1000,
              seed: int = 0, input_size=(64, 64)) -> dict:
    """Raw-pixel and eigenface metrics on ``data``; PCA is fitted on ``fit_on`` (training
    identities) when given, else on ``data`` itself (unsupervised, which only favours PCA)."""
    raw = RawPixelEncoder(input_size)
    pca_src = fit_on if fit_on is not None else data
    k = int(min(50, len(pca_src) - 1))
    pca = EigenfaceEncoder(input_size, n_components=k).fit(pca_src.images)
    return {"raw_pixels": evaluate_encoder(raw, data, ways, trials, seed),
            "eigenfaces": evaluate_encoder(pca, data, ways, trials, seed)}


def roc_figure(curves: dict):
    """ROC curves {label: (emb, labels, groups[, paired])} -> matplotlib Figure (FAR on a log
    axis); ``paired``: a dissimilarity other than the squared distance (metrics.head_dissimilarity)."""
    from matplotlib.figure import Figure

    from .metrics import roc_auc

    fig = Figure(figsize=(5, 4), dpi=100)
    ax = fig.add_subplot()
    for label, (emb, labels, groups, *paired) in curves.items():
        i, j, same = verification_pairs(labels, groups)
        d = paired_dists(emb[i], emb[j], paired[0] if paired else None)
        far, tar, _ = roc_curve(d, same)
        ax.plot(np.maximum(far, 1e-3), tar, label=f"{label} (AUC {roc_auc(d, same):.3f})")
    ax.set_xscale("log")
    ax.set_xlabel("false accept rate (different people accepted)")
    ax.set_ylabel("true accept rate")
    ax.set_title("Face verification ROC")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def error_vs_k_figure(results: dict):
    """{label: {"k": [...], "error": [...]}} -> Figure: 1:K identification error vs K."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4), dpi=100)
    ax = fig.add_subplot()
    for label, r in results.items():
        ax.plot(r["k"], np.asarray(r["error"]) * 100, marker="o", label=label)
    ax.set_xlabel("K (people in the database, one photo each)")
    ax.set_ylabel("identification error (%)")
    ax.set_title("Recognition gets harder as K grows")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _rule_text(r: dict) -> str:
    from .encoder import RULE_HEAD

    if r["decision_rule"] == RULE_HEAD:
        return f"{RULE_HEAD} (the model's own; scores, ROC and AUC use P(same))"
    return f"distance <= tau (tau chosen on the other folds, mean {r['threshold']:.3f})"


def format_report(r: dict, title: str = "") -> str:
    """A readable multi-line summary of :func:`evaluate_encoder`'s dict."""
    far_key = next((k for k in r if k.startswith("tar_at_far")), None)
    lines = [title] if title else []
    lines += [f"  identities / images        {r['n_identities']} / {r['n_images']}",
              f"  decision rule              {_rule_text(r)}",
              f"  verification accuracy      {100 * r['verification_accuracy']:.1f} +- "
              f"{100 * r['verification_accuracy_std']:.1f}%  ({r['n_folds']} folds, {r['protocol']}, "
              f"{r['n_pairs']} pairs)",
              f"  ROC AUC / EER              {r['roc_auc']:.4f} / {100 * r['eer']:.1f}%"]
    if far_key:
        lines.append(f"  TAR @ FAR {far_key.split('_')[-1]:<16} {100 * r[far_key]:.1f}%")
    lines += [f"  {r['ways']}-way one-shot accuracy   {100 * r['oneshot_accuracy']:.1f}%  ({r['trials']} trials)",
              f"  closed-set rank-1          {100 * r['rank1_accuracy']:.1f}%",
              f"  open set, same rule        unknown rejected {100 * r['unknown_rejection']:.1f}%, "
              f"known identified {100 * r['known_identification']:.1f}%"]
    return "\n".join(lines)
