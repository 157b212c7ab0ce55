"""Beat-detector scoring: one-to-one matching within a tolerance, sensitivity and PPV.

The standard (ANSI/AAMI EC57, as in PhysioNet's ``bxb``) way to score a QRS detector: a detection
is a true positive when it lies within a tolerance (commonly 150 ms; here 50 ms by default, a
stricter window) of a reference beat, and each reference beat may be matched at most once.

    Se  = TP / (TP + FN)    (sensitivity: share of true beats found)
    PPV = TP / (TP + FP)    (positive predictive value: share of detections that are beats)
    F1  = 2 TP / (2 TP + FP + FN)   (their harmonic mean)

A ratio with an empty denominator is undefined and reported as ``None`` (JSON ``null``), never
as 1.0: a recording with no reference beats says nothing about sensitivity, and a detector
that finds nothing has made no claim whose precision could be measured.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["BeatScore", "match_beats", "score_beats"]


@dataclass
class BeatScore:
    tp: int
    fp: int
    fn: int
    sensitivity: float | None    # None: no reference beats
    ppv: float | None            # None: no detections
    f1: float | None             # None: neither reference beats nor detections
    mean_abs_error_ms: float | None  # timing error of the matched pairs; None without pairs

    def as_dict(self) -> dict:
        return asdict(self)


def match_beats(reference: np.ndarray, detected: np.ndarray, tolerance: int) -> np.ndarray:
    """Match detections to reference beats one-to-one with ``|d - r| <= tolerance`` samples.

    Both are sample positions (any order). Walking the reference beats in time order and giving
    each the earliest still-free detection inside its window maximises the number of pairs (all
    windows have the same length, so the greedy choice never blocks a later beat).
    Returns an int array of shape (n_pairs, 2) with (reference index, detection index) into the
    arrays as given.
    """
    ref = np.asarray(reference, dtype=np.int64).ravel()
    det = np.asarray(detected, dtype=np.int64).ravel()
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 samples, got {tolerance}")
    r_order, d_order = np.argsort(ref, kind="stable"), np.argsort(det, kind="stable")
    rs, ds = ref[r_order], det[d_order]
    pairs = []
    j = 0
    for i, r in enumerate(rs):
        while j < len(ds) and ds[j] < r - tolerance:    # too early for this and every later beat
            j += 1
        if j < len(ds) and ds[j] <= r + tolerance:
            pairs.append((r_order[i], d_order[j]))
            j += 1
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def score_beats(reference: np.ndarray, detected: np.ndarray, fs: float,
                tolerance_s: float = 0.05) -> BeatScore:
    """Sensitivity, PPV and F1 of ``detected`` against ``reference`` (sample positions at ``fs``)
    with a matching window of ``tolerance_s`` seconds (50 ms default).
    Empty denominators give None (undefined), see the module docstring."""
    tol = int(round(tolerance_s * fs))
    ref = np.asarray(reference, dtype=np.int64).ravel()
    det = np.asarray(detected, dtype=np.int64).ravel()
    pairs = match_beats(ref, det, tol)
    tp = len(pairs)
    fn, fp = len(ref) - tp, len(det) - tp
    se = tp / (tp + fn) if tp + fn else None
    ppv = tp / (tp + fp) if tp + fp else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    err = (float(np.mean(np.abs(ref[pairs[:, 0]] - det[pairs[:, 1]]))) * 1000.0 / fs) if tp else None
    return BeatScore(tp, fp, fn, se, ppv, f1, err)
