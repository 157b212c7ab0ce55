"""Verification (1:1) and recognition (1:K) metrics on encodings.

All functions work on plain NumPy arrays: ``emb`` (N, D) encodings, ``labels`` (N,) identity
ids and ``groups`` (N,) duplicate-group ids (two images with the same group are copies of one
photo and are never used as the two sides of a positive pair or as gallery + probe).
Distances are squared Euclidean, ``d = ||f(x1) - f(x2)||^2`` as in the notes.

A model with a binary pair head (``--loss binary``) is scored by its probability instead:
functions that compare encodings take ``paired``, a row-wise dissimilarity ``(N, D), (N, D)
-> (N,)`` (smaller = more alike), and :func:`head_dissimilarity` turns the head's
``P(same)`` into ``1 - P(same)``, so every metric below (nearest = most probable, ROC, AUC)
works unchanged and the head's rule ``P >= 0.5`` is ``1 - P <= 0.5``.
"""
from __future__ import annotations

import numpy as np


def pairwise_sq_dists(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """(N, D), (M, D) -> (N, M) squared Euclidean distances (clamped at 0 against round-off)."""
    a = np.asarray(a, dtype=np.float64)
    b = a if b is None else np.asarray(b, dtype=np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def head_dissimilarity(pair_probability):
    """``1 - P(same)`` from a head's ``pair_probability((N, D), (N, D)) -> (N,)``: a ``paired``
    dissimilarity for the functions below, with the head's rule at the threshold 0.5."""
    return lambda a, b: 1.0 - np.asarray(pair_probability(a, b), dtype=np.float64)


def paired_dists(a, b, paired=None) -> np.ndarray:
    """Row-wise dissimilarity (N, D), (N, D) -> (N,): squared distance, or ``paired``."""
    if paired is not None:
        return np.asarray(paired(a, b), dtype=np.float64)
    return ((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).sum(-1)


def pairwise_dists(a, b, paired=None) -> np.ndarray:
    """(N, D), (M, D) -> (N, M) dissimilarities: squared distances, or ``paired`` row by row."""
    if paired is None:
        return pairwise_sq_dists(a, b)
    b = np.asarray(b)
    rows = [paired_dists(np.broadcast_to(x, b.shape), b, paired) for x in np.asarray(a)]
    return np.array(rows, dtype=np.float64).reshape(len(a), len(b))


def _groups(labels, groups):
    return np.arange(len(labels)) if groups is None else np.asarray(groups)


def verification_pairs(labels, groups=None, max_pairs: int | None = 6000, seed: int = 0):
    """Balanced same/different pairs -> (i, j, same).

    Every positive pair of distinct photos (capped at ``max_pairs // 2``) and as many negative
    pairs drawn at random without repeats; same is a bool array.
    """
    labels = np.asarray(labels)
    groups = _groups(labels, groups)
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(len(labels), k=1)
    pos = (labels[i] == labels[j]) & (groups[i] != groups[j])
    neg = labels[i] != labels[j]
    pi, ni = np.flatnonzero(pos), np.flatnonzero(neg)
    if len(pi) == 0 or len(ni) == 0:
        raise ValueError(f"labels: need >= 2 identities and one identity with 2 distinct images "
                         f"(got {len(np.unique(labels))} identities, {len(pi)} positive pairs)")
    n = len(pi) if max_pairs is None else min(len(pi), max_pairs // 2)
    pi = rng.choice(pi, size=n, replace=False) if n < len(pi) else pi
    ni = rng.choice(ni, size=min(n, len(ni)), replace=False)
    sel = np.concatenate([pi, ni])
    return i[sel], j[sel], np.concatenate([np.ones(len(pi), bool), np.zeros(len(ni), bool)])


def people_fold_pairs(labels, groups=None, n_folds: int = 10, pairs_per_fold: int = 300, seed: int = 0):
    """Verification pairs in folds that are disjoint in people, as LFW's View 2 -> (i, j, same, fold).

    The identities are dealt into ``n_folds`` sets (those with 2 distinct photos first, round
    robin, so every set can give positive pairs); fold k's pairs (up to ``pairs_per_fold``
    positives and as many negatives, as LFW's 300 + 300) only involve fold k's people. A
    threshold chosen on the other folds has then never seen the people it is scored on.
    Fewer than ``n_folds`` sets are made when there are too few people (each set needs one
    identity with 2 photos and one other identity): ``fold.max() + 1`` says how many.
    """
    labels = np.asarray(labels)
    groups = _groups(labels, groups)
    rng = np.random.default_rng(seed)
    ids = np.unique(labels)
    usable = np.array([k for k in ids if len(np.unique(groups[labels == k])) >= 2])
    n = min(int(n_folds), len(usable), len(ids) // 2)
    if n < 2:
        raise ValueError(f"labels: people folds need at least 2 identities with 2 distinct photos and 4 identities "
                         f"in all, got {len(usable)} and {len(ids)}")
    order = np.concatenate([rng.permutation(usable), rng.permutation(np.setdiff1d(ids, usable))])
    fold_of = {k: f % n for f, k in enumerate(order)}
    out = []
    for f in range(n):
        mine = np.flatnonzero([fold_of[k] == f for k in labels])
        i, j = np.triu_indices(len(mine), k=1)
        i, j = mine[i], mine[j]
        pos = np.flatnonzero((labels[i] == labels[j]) & (groups[i] != groups[j]))
        neg = np.flatnonzero(labels[i] != labels[j])
        m = min(len(pos), pairs_per_fold)
        pos = rng.choice(pos, size=m, replace=False)
        neg = rng.choice(neg, size=min(m, len(neg)), replace=False)
        sel = np.concatenate([pos, neg])
        out.append((i[sel], j[sel], np.arange(len(sel)) < len(pos), np.full(len(sel), f)))
    return tuple(np.concatenate(parts) for parts in zip(*out))


def best_threshold(dist, same) -> tuple:
    """Threshold maximising accuracy of "same iff d <= tau" -> (tau, accuracy)."""
    dist = np.asarray(dist, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    order = np.argsort(dist, kind="stable")
    d, s = dist[order], same[order]
    # Predicting "same" for the first k sorted pairs: correct = positives among them +
    # negatives after them. Evaluate every cut k = 0..n at once with cumulative sums.
    tp = np.concatenate([[0], np.cumsum(s)])
    tn = (~s).sum() - np.concatenate([[0], np.cumsum(~s)])
    correct = tp + tn
    # Only cut between distinct distance values (ties must go the same way).
    valid = np.ones(len(d) + 1, bool)
    valid[1:-1] = d[1:] > d[:-1]
    k = int(np.argmax(np.where(valid, correct, -1)))
    if k == 0:
        tau = d[0] - 1e-6 if len(d) else 0.0
    elif k == len(d):
        tau = d[-1] + 1e-6
    else:
        tau = 0.5 * (d[k - 1] + d[k])
    return float(tau), float(correct[k] / len(d))


def verification_accuracy(dist, same, n_folds: int = 10, seed: int = 0, folds=None, fixed=None) -> dict:
    """Accuracy with the threshold chosen by ``n_folds``-fold cross-validation (LFW protocol).

    For each fold, tau maximises accuracy on the other folds and is scored on this one.
    folds: a list of index arrays (e.g. LFW's, or :func:`people_fold_pairs`'), else pairs are
    split at random. fixed: a threshold that is not chosen at all (a binary head's 0.5 on
    ``1 - P``): each fold is then only scored. Returns {"accuracy" (mean over folds),
    "accuracy_std", "accuracies" (per fold), "threshold" (mean tau), "thresholds", "n_folds"}.
    """
    dist = np.asarray(dist, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if folds is None:
        n_folds = min(n_folds, len(dist))
        if n_folds < 2:
            raise ValueError(f"dist: need at least 2 pairs for cross-validation, got {len(dist)}")
        folds = np.array_split(np.random.default_rng(seed).permutation(len(dist)), n_folds)
    elif len(folds) < 2 or min(len(f) for f in folds) == 0:
        raise ValueError(f"folds: need at least 2 non-empty folds, got sizes {[len(f) for f in folds]}")
    accs, taus = [], []
    for f in folds:
        train = np.ones(len(dist), bool)
        train[f] = False
        tau = fixed if fixed is not None else best_threshold(dist[train], same[train])[0]
        accs.append(np.mean((dist[f] <= tau) == same[f]))
        taus.append(tau)
    return {"accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
            "threshold": float(np.mean(taus)), "thresholds": [float(t) for t in taus], "n_folds": len(folds),
            "accuracies": [float(a) for a in accs]}


def roc_curve(dist, same):
    """ROC of the rule "same iff d <= tau" -> (far, tar, thresholds), far/tar increasing.

    far = false-accept rate (different pairs accepted), tar = true-accept rate.
    """
    dist = np.asarray(dist, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    thr = np.unique(dist)
    order = np.sort(dist[same]), np.sort(dist[~same])
    tar = np.searchsorted(order[0], thr, side="right") / max(len(order[0]), 1)
    far = np.searchsorted(order[1], thr, side="right") / max(len(order[1]), 1)
    return (np.concatenate([[0.0], far]), np.concatenate([[0.0], tar]),
            np.concatenate([[thr[0] - 1e-6 if len(thr) else 0.0], thr]))


def roc_auc(dist, same) -> float:
    """Area under the ROC = P(d_negative > d_positive) + 0.5 P(tie) (Mann-Whitney)."""
    from scipy.stats import rankdata

    dist = np.asarray(dist, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    npos, nneg = same.sum(), (~same).sum()
    if npos == 0 or nneg == 0:
        raise ValueError("same: need both same and different pairs for an AUC")
    r = rankdata(dist)  # small distance = confident "same"
    return float((r[~same].sum() - nneg * (nneg + 1) / 2) / (npos * nneg))


def eer(dist, same) -> float:
    """Equal error rate: where the false-accept rate equals the false-reject rate."""
    far, tar, _ = roc_curve(dist, same)
    frr = 1.0 - tar
    k = int(np.argmax(far >= frr))  # first threshold where FAR catches up with FRR
    if k == 0:
        return float(far[0])
    # linear interpolation between the two ROC points that bracket the crossing
    a0, a1 = far[k - 1] - frr[k - 1], far[k] - frr[k]
    t = a0 / (a0 - a1) if a1 != a0 else 0.0
    return float(far[k - 1] + t * (far[k] - far[k - 1]))


def tar_at_far(dist, same, far_target: float = 0.01) -> float:
    """Highest true-accept rate whose false-accept rate is <= ``far_target``."""
    far, tar, _ = roc_curve(dist, same)
    return float(tar[far <= far_target + 1e-12].max())


def oneshot_accuracy(emb, labels, groups=None, ways: int = 5, trials: int = 1000, seed: int = 0,
                     paired=None) -> float:
    """N-way one-shot accuracy over random trials.

    Each trial draws ``ways`` identities (that have 2 distinct photos), enrolls one random image
    of each, and draws one probe of a random one of them (a photo other than its enrolled one);
    correct if the nearest enrolled encoding belongs to the probe's identity.
    """
    emb = np.asarray(emb, dtype=np.float64)
    labels = np.asarray(labels)
    groups = _groups(labels, groups)
    ids = [k for k in np.unique(labels) if len(np.unique(groups[labels == k])) >= 2]
    if ways < 2 or ways > len(ids):
        raise ValueError(f"ways must be in [2, {len(ids)}] (identities with 2 distinct photos), got {ways}")
    members = {k: np.flatnonzero(labels == k) for k in ids}
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(trials):
        chosen = rng.choice(ids, size=ways, replace=False)
        gallery = np.array([rng.choice(members[k]) for k in chosen])
        t = rng.integers(ways)
        cand = members[chosen[t]]
        probe = rng.choice(cand[groups[cand] != groups[gallery[t]]])
        d = paired_dists(emb[gallery], np.broadcast_to(emb[probe], emb[gallery].shape), paired)
        hits += int(np.argmin(d) == t)
    return hits / trials


def error_vs_k(emb, labels, groups=None, ks=None, trials: int = 500, seed: int = 0, paired=None):
    """1:K identification error (1 - K-way one-shot accuracy) for each K -> (ks, errors)."""
    labels = np.asarray(labels)
    groups = _groups(labels, groups)
    n = sum(len(np.unique(groups[labels == k])) >= 2 for k in np.unique(labels))
    ks = list(range(2, n + 1)) if ks is None else [k for k in ks if 2 <= k <= n]
    errs = [1.0 - oneshot_accuracy(emb, labels, groups, k, trials, seed + k, paired) for k in ks]
    return np.array(ks), np.array(errs)


def rank1_accuracy(emb, labels, groups=None, seed: int = 0, paired=None) -> float:
    """Closed-set rank-1: one enrolled image per identity, every other distinct photo a probe."""
    emb = np.asarray(emb, dtype=np.float64)
    labels = np.asarray(labels)
    groups = _groups(labels, groups)
    rng = np.random.default_rng(seed)
    ids = np.unique(labels)
    gallery = np.array([rng.choice(np.flatnonzero(labels == k)) for k in ids])
    probes = np.array([i for i in range(len(labels)) if groups[i] not in set(groups[gallery])])
    if len(probes) == 0:
        raise ValueError("labels: no probe images left after enrolling one image per identity")
    d = pairwise_dists(emb[probes], emb[gallery], paired)
    return float(np.mean(ids[np.argmin(d, 1)] == labels[probes]))


def open_set(emb, labels, tau: float, groups=None, known_fraction: float = 0.5, seed: int = 0,
             paired=None) -> dict:
    """Open-set identification at threshold ``tau``.

    Half the identities (``known_fraction``) are enrolled with one image; probes of unknown
    people should be answered "not recognised" (min d > tau); probes of enrolled people should be
    named correctly with d <= tau. Returns {"unknown_rejection", "known_identification"}.
    """
    emb = np.asarray(emb, dtype=np.float64)
    labels = np.asarray(labels)
    groups = _groups(labels, groups)
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.unique(labels))
    n_known = min(max(1, round(known_fraction * len(ids))), len(ids) - 1)
    known = ids[:n_known]
    gallery = np.array([rng.choice(np.flatnonzero(labels == k)) for k in known])
    probes = np.array([i for i in range(len(labels)) if groups[i] not in set(groups[gallery])])
    d = pairwise_dists(emb[probes], emb[gallery], paired)
    best, dmin = known[np.argmin(d, 1)], d.min(1)
    is_known = np.isin(labels[probes], known)
    rej = np.mean(dmin[~is_known] > tau) if (~is_known).any() else float("nan")
    if is_known.any():
        ident = np.mean((dmin[is_known] <= tau) & (best[is_known] == labels[probes][is_known]))
    else:
        ident = float("nan")
    return {"unknown_rejection": float(rej), "known_identification": float(ident)}


PROTOCOLS = ("random-folds", "people-folds")


def evaluate_embeddings(emb, labels, groups=None, ways: int = 5, trials: int = 1000, seed: int = 0,
                        far_target: float = 0.01, head=None, protocol: str = "random-folds") -> dict:
    """Every metric of this module on one set of encodings, as a JSON-ready dict.

    head: a binary head's ``pair_probability`` (see the module docstring): the scores are then
    ``P(same)``, the rule is the head's own ``P >= 0.5`` (nothing is fitted on the test pairs;
    the folds only give the spread), "threshold" is 0.5 and the open-set test uses it too.
    Without it, the rule is ``d <= tau`` with tau chosen on the other folds. protocol:
    "random-folds" (pairs drawn from all people, split at random into 10 folds) or
    "people-folds" (:func:`people_fold_pairs`, LFW View 2 style). "decision_rule" says which
    rule was used.
    """
    from .encoder import HEAD_THRESHOLD, RULE_DISTANCE, RULE_HEAD

    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    labels = np.asarray(labels)
    groups = _groups(labels, groups)
    paired = head_dissimilarity(head) if head is not None else None
    fixed = 1.0 - HEAD_THRESHOLD if head is not None else None
    emb64 = np.asarray(emb, np.float64)
    if protocol == "people-folds":
        i, j, same, fold = people_fold_pairs(labels, groups, seed=seed)
        folds = [np.flatnonzero(fold == k) for k in range(fold.max() + 1)]
    else:
        (i, j, same), folds = verification_pairs(labels, groups, seed=seed), None
    dist = paired_dists(emb64[i], emb64[j], paired)
    ver = verification_accuracy(dist, same, seed=seed, folds=folds, fixed=fixed)
    n_ok = sum(len(np.unique(groups[labels == k])) >= 2 for k in np.unique(labels))
    ways = min(ways, n_ok)
    out = {
        "decision_rule": RULE_HEAD if head is not None else RULE_DISTANCE,
        "protocol": protocol,
        "verification_accuracy": ver["accuracy"],
        "verification_accuracy_std": ver["accuracy_std"],
        "n_folds": ver["n_folds"],
        "threshold": HEAD_THRESHOLD if head is not None else ver["threshold"],
        "roc_auc": roc_auc(dist, same),
        "eer": eer(dist, same),
        f"tar_at_far_{far_target:g}": tar_at_far(dist, same, far_target),
        "oneshot_accuracy": oneshot_accuracy(emb, labels, groups, ways, trials, seed, paired),
        "ways": int(ways),
        "trials": int(trials),
        "rank1_accuracy": rank1_accuracy(emb, labels, groups, seed, paired),
        "n_identities": int(len(np.unique(labels))),
        "n_images": int(len(labels)),
        "n_pairs": int(len(same)),
    }
    out.update(open_set(emb, labels, ver["threshold"], groups, seed=seed, paired=paired))
    return out
