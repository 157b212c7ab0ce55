"""The ECG beat-detection task end to end: data, train/test split, training, scoring, figure.

* ``run_record``: a WFDB record (MIT-BIH 100 by default in the lessons); train on the first
  ``train_minutes`` and test on the rest, scored against the record's beat annotations.
* ``run_synthetic``: the offline default; train on one synthetic recording, test on another
  one made with a different seed (and therefore different beats, noise and wander).
"""
from __future__ import annotations

import time

import numpy as np
from matplotlib.figure import Figure

from ..config import fast_mode
from .beats import detect_beats, prepare_lead, train_beat_detector
from .scoring import match_beats, score_beats
from .synthetic_ecg import synthetic_ecg
from .wfdb import read_annotations, read_record

__all__ = ["run_record", "run_synthetic", "plot_detections"]


def plot_detections(signal: np.ndarray, fs: float, reference: np.ndarray, detected: np.ndarray,
                    prob: np.ndarray | None = None, start_s: float = 0.0, length_s: float = 10.0,
                    labels: np.ndarray | None = None, title: str = "",
                    time_offset_s: float = 0.0) -> Figure:
    """The lead with reference beats (circles, with their labels) and detections (crosses);
    missed beats and false detections are drawn in red. ``prob`` (optional, any length) is
    stretched over the signal and drawn below. ``time_offset_s`` is added to the time axis (to
    show record time when ``signal`` is a later part of a record). Returns the Figure."""
    sig = np.asarray(signal, dtype=np.float64)
    a = int(start_s * fs)
    b = min(len(sig), a + int(length_s * fs))
    ref, det = np.asarray(reference), np.asarray(detected)
    tol = int(round(0.05 * fs))
    pairs = match_beats(ref, det, tol)
    ref_ok = np.zeros(len(ref), bool)
    det_ok = np.zeros(len(det), bool)
    ref_ok[pairs[:, 0]] = True
    det_ok[pairs[:, 1]] = True
    fig = Figure(figsize=(11, 4.2 if prob is not None else 3.2), layout="constrained")
    axes = fig.subplots(2 if prob is not None else 1, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [3, 1]} if prob is not None else None)[:, 0]
    t = np.arange(a, b) / fs + time_offset_s
    ax = axes[0]
    ax.plot(t, sig[a:b], lw=0.8, color="0.25")
    in_r = (ref >= a) & (ref < b)
    in_d = (det >= a) & (det < b)
    for mask, style, name in ((in_r & ref_ok, dict(marker="o", mfc="none", color="tab:green"), "reference beat"),
                              (in_r & ~ref_ok, dict(marker="o", mfc="none", color="red", ms=10), "missed")):
        if mask.any():
            ax.plot(ref[mask] / fs + time_offset_s, sig[ref[mask]], ls="none", label=name, **style)
    for mask, color, name in ((in_d & det_ok, "tab:blue", "detection"), (in_d & ~det_ok, "red", "false detection")):
        if mask.any():
            ax.plot(det[mask] / fs + time_offset_s, sig[det[mask]], ls="none", marker="x", color=color, ms=8,
                    label=name)
    if labels is not None and b > a:
        lo, top = np.nanmin(sig[a:b]), np.nanmax(sig[a:b])
        y_text = top + 0.08 * (top - lo)
        for i in np.flatnonzero(in_r):
            ax.text(ref[i] / fs + time_offset_s, y_text, str(labels[i]), ha="center", fontsize=8,
                    color="black" if str(labels[i]) == "N" else "tab:red")
        ax.set_ylim(lo - 0.05 * (top - lo), top + 0.2 * (top - lo))
    ax.set_ylabel("mV")
    ax.legend(loc="lower right", fontsize=8, ncols=4)
    ax.set_title(title or "R-peak detection")
    if prob is not None:
        p = np.asarray(prob)
        tp = (np.arange(len(p)) + 0.5) * (len(sig) / len(p)) / fs
        keep = (tp >= a / fs) & (tp < b / fs)
        axes[1].plot(tp[keep] + time_offset_s, p[keep], color="tab:purple", lw=1)
        axes[1].axhline(0.5, color="0.6", ls="--", lw=0.8)
        axes[1].set_ylabel("P(beat)")
        axes[1].set_ylim(-0.05, 1.05)
    axes[-1].set_xlabel("time (s)")
    return fig


def _defaults(quick: bool | None) -> dict:
    quick = fast_mode() if quick is None else quick
    return dict(steps=60 if quick else 150, batch_size=16, lr=5e-3)


def _interesting_start(reference: np.ndarray, detected: np.ndarray, labels: np.ndarray, fs: float,
                       n: int, length_s: float = 10.0) -> float:
    """Where a 10 s plot teaches most: around the first error (missed or false beat), else the
    first non-normal beat, else the start. Returns the start time in seconds."""
    pairs = match_beats(reference, detected, int(round(0.05 * fs)))
    missed = np.setdiff1d(np.arange(len(reference)), pairs[:, 0])
    false = np.setdiff1d(np.arange(len(detected)), pairs[:, 1])
    events = [reference[missed].min()] if len(missed) else []
    events += [detected[false].min()] if len(false) else []
    if not events:
        odd = np.flatnonzero(np.asarray(labels) != "N")
        events = [reference[odd[0]]] if len(odd) else [0]
    start = max(0.0, min(events) / fs - length_s / 2)
    return min(start, max(0.0, n / fs - length_s))


def run_record(record: str, lead: str | None = None, train_minutes: float = 20.0,
               steps: int | None = None, quick: bool | None = None, seed: int = 0,
               progress: bool | None = None) -> tuple[dict, Figure]:
    """Train on the first ``train_minutes`` of a WFDB ``record`` (path without extension, with an
    ``.atr`` next to it) and test on the rest. ``lead`` defaults to MLII if present, else the
    first signal. Returns (metrics, figure of 10 s of the test part)."""
    t0 = time.perf_counter()
    record = str(record)
    if record.endswith((".hea", ".dat", ".atr")):      # accept a file name as well as the record
        record = record[:-4]
    rec = read_record(record)
    ann = read_annotations(record + ".atr").beats()
    name = lead or ("MLII" if "MLII" in rec.names else rec.names[0])
    x, fs = rec.lead(name), rec.fs
    split = int(train_minutes * 60 * fs)
    if not 0 < split < rec.n_samples - 10 * fs:
        raise ValueError(f"train_minutes={train_minutes}: record {record!r} has only "
                         f"{rec.n_samples / fs / 60:.1f} min; leave at least 10 s to test on")
    cfg = _defaults(quick)
    steps = steps or cfg["steps"]
    train = prepare_lead(x[:split], fs)
    test = prepare_lead(x[split:], fs, scale=train.scale)
    r_train = ann.samples[ann.samples < split]
    test_mask = ann.samples >= split
    r_test = ann.samples[test_mask] - split
    model, losses = train_beat_detector(train, r_train, steps=steps, batch_size=cfg["batch_size"],
                                        lr=cfg["lr"], seed=seed, progress=progress)
    t_train = time.perf_counter() - t0
    detected, prob = detect_beats(model, test)
    score = score_beats(r_test, detected, fs)
    labels = np.array(ann.symbols)[test_mask]
    start = _interesting_start(r_test, detected, labels, fs, len(x) - split)
    fig = plot_detections(x[split:], fs, r_test, detected, prob, start_s=start, length_s=10.0,
                          labels=labels, time_offset_s=split / fs,
                          title=f"record {rec.name}, lead {name}, test part: "
                                               f"{train_minutes * 60 + start:.0f} s to "
                                               f"{train_minutes * 60 + start + 10:.0f} s")
    metrics = {"task": "ecg", "data": f"record {rec.name} lead {name}", "fs": fs,
               "train_minutes": train_minutes, "test_minutes": round((rec.n_samples - split) / fs / 60, 3),
               "train_beats": int(len(r_train)), "test_beats": int(len(r_test)), "steps": steps,
               "final_loss": float(np.mean(losses[-10:])), **score.as_dict(),
               "train_seconds": round(t_train, 2), "seconds": round(time.perf_counter() - t0, 2)}
    return metrics, fig


def run_synthetic(train_seconds: float = 300.0, test_seconds: float = 120.0, steps: int | None = None,
                  quick: bool | None = None, seed: int = 0,
                  progress: bool | None = None) -> tuple[dict, Figure]:
    """Train on a synthetic recording (seed ``seed``) with premature beats and test on a second
    one (seed ``seed + 1``) with a different heart rate. Returns (metrics, figure)."""
    t0 = time.perf_counter()
    cfg = _defaults(quick)
    steps = steps or cfg["steps"]
    fs = 360.0
    tr = synthetic_ecg(train_seconds, fs, heart_rate=70, premature_rate=0.08, noise=0.04, seed=seed)
    te = synthetic_ecg(test_seconds, fs, heart_rate=85, premature_rate=0.08, noise=0.05, wander=0.2,
                       seed=seed + 1)
    train = prepare_lead(tr.signal, fs)
    test = prepare_lead(te.signal, fs, scale=train.scale)
    model, losses = train_beat_detector(train, tr.r_peaks, steps=steps, batch_size=cfg["batch_size"],
                                        lr=cfg["lr"], seed=seed, progress=progress)
    t_train = time.perf_counter() - t0
    detected, prob = detect_beats(model, test)
    score = score_beats(te.r_peaks, detected, fs)
    start = _interesting_start(te.r_peaks, detected, te.labels, fs, len(te.signal))
    fig = plot_detections(te.signal, fs, te.r_peaks, detected, prob, start_s=start, length_s=10.0,
                          labels=te.labels, title=f"synthetic ECG (test recording), {start:.0f} s to "
                                              f"{start + 10:.0f} s")
    metrics = {"task": "ecg", "data": "synthetic", "fs": fs, "train_minutes": train_seconds / 60,
               "test_minutes": test_seconds / 60, "train_beats": int(len(tr.r_peaks)),
               "test_beats": int(len(te.r_peaks)), "steps": steps,
               "final_loss": float(np.mean(losses[-10:])), **score.as_dict(),
               "train_seconds": round(t_train, 2), "seconds": round(time.perf_counter() - t0, 2)}
    return metrics, fig
