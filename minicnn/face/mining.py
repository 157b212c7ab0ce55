"""Choosing triplets inside a mini-batch (online mining) and the P x K batch sampler.

Random triplets are mostly *easy* (``d(A,N) >= d(A,P) + alpha``: zero loss, zero gradient), so
FaceNet builds each batch from P identities x K images and picks triplets inside it:

* batch-all: every valid (A, P, N) of the batch (average the active ones);
* batch-hard: per anchor, its farthest positive and its nearest negative (Hermans et al. 2017);
* semi-hard (FaceNet): per (A, P) pair, the nearest negative that is still farther than P,
  ``d(A,P) < d(A,N) < d(A,P) + alpha`` when one exists.

The rules work on a raw (B, B) squared-distance matrix and return index arrays (a, p, n), so
they are testable on hand-made matrices and independent of the autograd graph.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..hints import ArrayLike

MININGS = ("semihard", "hard", "all")


def _masks(labels, groups=None):
    """(pos, neg) boolean (B, B) masks: pos = same identity, another photo; neg = other identity."""
    y = np.asarray(labels)
    g = np.arange(len(y)) if groups is None else np.asarray(groups)
    same = y[:, None] == y[None, :]
    return same & (g[:, None] != g[None, :]), ~same


def _check(dist, labels):
    dist = np.asarray(dist, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1] or dist.shape[0] != len(labels):
        raise ValueError(f"dist must be (B, B) with B = len(labels) = {len(labels)}, got shape {dist.shape}")
    if not np.isfinite(dist).all():
        raise ValueError(f"dist holds {int((~np.isfinite(dist)).sum())} NaN/Inf value(s): the encodings are not finite")
    return dist


def batch_all(dist: ArrayLike, labels: ArrayLike, groups: ArrayLike | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every valid triplet -> (a, p, n) int arrays (B * #pos * #neg of them at most)."""
    dist = _check(dist, labels)
    pos, neg = _masks(labels, groups)
    a, p, n = np.nonzero(pos[:, :, None] & neg[:, None, :])
    return a, p, n


def batch_hard(dist: ArrayLike, labels: ArrayLike, groups: ArrayLike | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per anchor with a positive and a negative: hardest positive, hardest negative."""
    dist = _check(dist, labels)
    pos, neg = _masks(labels, groups)
    ok = pos.any(1) & neg.any(1)
    a = np.flatnonzero(ok)
    p = np.argmax(np.where(pos, dist, -np.inf), axis=1)[a]
    n = np.argmin(np.where(neg, dist, np.inf), axis=1)[a]
    return a, p, n


def semi_hard(dist: ArrayLike, labels: ArrayLike, alpha: float = 0.2, groups: ArrayLike | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FaceNet's rule, one triplet per positive pair (A, P).

    N = argmin d(A,N) over negatives with d(A,N) > d(A,P) (semi-hard if it is also
    < d(A,P) + alpha, otherwise an easy triplet with zero loss); when every negative is closer
    than P, the farthest of them (the least hard). The FaceNet paper describes semi-hard
    negatives but released no code; this complete rule is the one of TensorFlow's
    ``triplet_semihard_loss``. ``alpha`` is
    accepted for symmetry with :func:`triplet_types`; the choice itself does not depend on it.
    """
    dist = _check(dist, labels)
    pos, neg = _masks(labels, groups)
    a, p = np.nonzero(pos)
    keep = neg[a].any(1)
    a, p = a[keep], p[keep]
    dap = dist[a, p][:, None]
    dan = np.where(neg[a], dist[a], np.nan)
    farther = np.where(dan > dap, dan, np.inf)
    n = np.argmin(farther, axis=1)
    none = ~np.isfinite(farther[np.arange(len(a)), n])
    if none.any():
        n[none] = np.nanargmax(dan[none], axis=1)
    return a, p, n


def why_no_triplets(labels, groups=None) -> str:
    """Why a batch gives no triplet, in words (to say so instead of training on nothing)."""
    pos, neg = _masks(labels, groups)
    n_ids = len(np.unique(np.asarray(labels)))
    if n_ids < 2:
        return f"the batch of {len(labels)} images holds {n_ids} identity (a triplet needs 2)"
    if not pos.any():
        return (f"the batch of {len(labels)} images ({n_ids} identities) has no positive pair: no identity "
                f"has two distinct photos in it")
    return f"the batch of {len(labels)} images has no anchor with both a positive and a negative"


def mine(dist, labels, mining: str = "semihard", alpha: float = 0.2, groups=None):
    """Dispatch to :func:`semi_hard`, :func:`batch_hard` or :func:`batch_all` by name.

    An empty result (one identity, or no positive pair) warns with :func:`why_no_triplets`."""
    rules = {"semihard": lambda: semi_hard(dist, labels, alpha, groups),
             "hard": lambda: batch_hard(dist, labels, groups), "all": lambda: batch_all(dist, labels, groups)}
    if mining not in rules:
        raise ValueError(f"mining must be one of {MININGS}, got {mining!r}")
    a, p, n = rules[mining]()
    if len(a) == 0:
        warnings.warn(f"no valid triplets: {why_no_triplets(labels, groups)}", NoTripletsWarning, stacklevel=2)
    return a, p, n


class NoTripletsWarning(UserWarning):
    """A batch gave no valid (anchor, positive, negative) triplet."""


def triplet_types(dist, labels, alpha: float = 0.2, groups=None) -> dict:
    """Shares of easy / semi-hard / hard among all valid triplets of a batch.

    easy: d(A,N) >= d(A,P) + alpha (zero loss); semi-hard: d(A,P) < d(A,N) < d(A,P) + alpha;
    hard: d(A,N) <= d(A,P). Returns {"easy", "semihard", "hard", "n_triplets"}.
    """
    dist = _check(dist, labels)
    a, p, n = batch_all(dist, labels, groups)
    dap, dan = dist[a, p], dist[a, n]
    total = max(len(a), 1)
    return {"easy": float(np.sum(dan >= dap + alpha) / total),
            "semihard": float(np.sum((dan > dap) & (dan < dap + alpha)) / total),
            "hard": float(np.sum(dan <= dap) / total), "n_triplets": int(len(a))}


def active_fraction(dist, a, p, n, alpha: float = 0.2) -> float:
    """Share of the mined triplets whose loss term is > 0 (the ones that give a gradient)."""
    dist = np.asarray(dist)
    if len(a) == 0:
        return 0.0
    return float(np.mean(dist[a, p] - dist[a, n] + alpha > 0))


class CollapseWarning(UserWarning):
    """The encodings have (nearly) collapsed to one point: every distance is ~0."""


def spread(emb) -> float:
    """Mean squared distance of the encodings to their centroid (1 - |mean|^2 for unit vectors)."""
    e = np.asarray(emb, dtype=np.float64)
    return float(((e - e.mean(0)) ** 2).sum(1).mean())


def check_collapse(emb, tol: float = 1e-2) -> bool:
    """Warn (CollapseWarning) and return True when the spread of ``emb`` (N, D) is below ``tol``."""
    s = spread(emb)
    if s < tol:
        warnings.warn(f"encodings have collapsed: spread {s:.2e} < {tol:g} (all faces map to nearly the "
                      f"same point; try a lower learning rate, a larger margin alpha or batch-all mining)",
                      CollapseWarning, stacklevel=2)
        return True
    return False


class PKSampler:
    """Batches of P identities x K images each (the batch layout online mining needs).

    labels: (N,) identity ids. Only identities with >= 2 images are drawn. Each identity gives
    K distinct images when it has them, else all of its images plus repeats. One epoch is
    ``ceil(N / (P * K))`` batches, cycling through the identities in random order so that every
    identity appears about equally often. Iterate to get (P*K,) index arrays.
    """

    def __init__(self, labels: ArrayLike, P: int = 8, K: int = 4, seed: int = 0,
                 batches_per_epoch: int | None = None) -> None:
        labels = np.asarray(labels)
        ids, counts = np.unique(labels, return_counts=True)
        self.ids = ids[counts >= 2]
        if len(self.ids) < 2:
            raise ValueError(f"labels: PKSampler needs >= 2 identities with >= 2 images, got {len(self.ids)}")
        if P < 2 or K < 2:
            raise ValueError(f"PKSampler needs P >= 2 and K >= 2, got P={P}, K={K}")
        self.P, self.K = min(P, len(self.ids)), K
        self.members = {k: np.flatnonzero(labels == k) for k in self.ids}
        self.rng = np.random.default_rng(seed)
        self.n_batches = batches_per_epoch or max(1, int(np.ceil(len(labels) / (self.P * self.K))))
        self._queue = []

    def __len__(self):
        return self.n_batches

    def _next_ids(self):
        out = []
        while len(out) < self.P:
            if not self._queue:
                self._queue = list(self.rng.permutation(self.ids))
            k = self._queue.pop()
            if k not in out:
                out.append(k)
        return out

    def __iter__(self):
        for _ in range(self.n_batches):
            idx = []
            for k in self._next_ids():
                m = self.members[k]
                take = self.rng.permutation(m)[: self.K]
                if len(take) < self.K:
                    take = np.concatenate([take, self.rng.choice(m, self.K - len(take))])
                idx.append(take)
            yield np.concatenate(idx)
