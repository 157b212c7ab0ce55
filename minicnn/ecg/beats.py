"""A 1D ConvNet that finds the R peaks (heart beats) in a raw ECG lead.

The task is framed as per-sample segmentation: the network maps a lead of shape (N, 1, L) to
one logit per output step, trained with binary cross-entropy against "within ``target_ms`` of an
R peak". Beats are then read off the probability trace: every run above a threshold gives its
highest point, and two beats closer than a refractory period (200 ms -- a ventricle cannot fire
again sooner) keep only the stronger one.

Pre-processing is deliberately light: remove the baseline (a running median), average-pool to
``fs / decimate`` and divide by a robust amplitude. Everything else -- what a QRS looks like,
that a T wave is not one -- is learned by the convolutions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter
from tqdm import tqdm

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
import minicnn.optim as optim

__all__ = ["BeatNet", "PreparedLead", "prepare_lead", "beat_targets", "train_beat_detector",
           "predict_proba", "pick_peaks", "detect_beats"]


class BeatNet(nn.Module):
    """Fully convolutional R-peak detector.

    input (N, 1, L) -> logits (N, 1, L // 2). Two 'same' convolutions at the input rate, a max
    pool by 2, then two dilated convolutions (dilation 2 and 4) that widen the receptive field to
    about 60 input steps (0.7 s at 90 Hz): long enough to tell a QRS from a tall T wave.
    """

    def __init__(self, channels: int = 16, kernel_size: int = 7, prior: float = 0.12) -> None:
        super().__init__()
        c, k = channels, kernel_size
        self.body = nn.Sequential(
            nn.Conv1d(1, c // 2, k, padding=k // 2), nn.ReLU(),
            nn.Conv1d(c // 2, c, k, padding=k // 2), nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(c, c, 5, padding=4, dilation=2), nn.ReLU(),
            nn.Conv1d(c, c, 5, padding=8, dilation=4), nn.ReLU(),
            nn.Conv1d(c, 1, 1),
        )
        self.stride = 2    # input steps per output step
        convs = [m for m in self.body if isinstance(m, nn.Conv1d)]
        for conv in convs[:-1]:     # He init keeps the ReLU activations from shrinking layer by layer
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        # start the output at the base rate of "near a beat" (prior ~ 12 %), so the first steps
        # learn where beats are instead of how rare they are (Lin et al. 2017, RetinaNet)
        nn.init.constant_(convs[-1].bias, float(np.log(prior / (1 - prior))))

    def forward(self, x: mc.Tensor) -> mc.Tensor:
        return self.body(x)


@dataclass
class PreparedLead:
    """A lead ready for :class:`BeatNet`: ``x`` (L,) float32 at ``fs / decimate`` Hz, and how to
    map an index of it back to the original samples (``index * decimate + offset``)."""

    x: np.ndarray
    fs: float
    decimate: int
    scale: float

    @property
    def rate(self) -> float:
        return self.fs / self.decimate

    def to_samples(self, idx: np.ndarray) -> np.ndarray:
        # decimated step i averages samples [i d, (i + 1) d); its centre is i d + (d - 1) / 2
        return np.round(np.asarray(idx, dtype=np.float64) * self.decimate + (self.decimate - 1) / 2
                        ).astype(np.int64)


def prepare_lead(signal: np.ndarray, fs: float, decimate: int = 4,
                 scale: float | None = None) -> PreparedLead:
    """Decimation, then baseline removal and amplitude normalisation of one lead (shape (n,), mV).

    ``scale`` (mV) defaults to the median over 2-second blocks of the largest absolute value, a
    QRS amplitude estimate that ignores rare artefacts; pass the training scale to reuse it."""
    x = np.asarray(signal, dtype=np.float64).ravel()
    if x.size < 4 * decimate:
        raise ValueError(f"signal: need at least {4 * decimate} samples, got shape {np.shape(signal)}")
    x = np.nan_to_num(x, nan=float(np.nanmedian(x)))
    n = x.size // decimate * decimate
    x = x[:n].reshape(-1, decimate).mean(axis=1)
    rate = fs / decimate
    # running median over 0.6 s: wider than a QRS, so it follows the baseline, not the beat
    x = x - median_filter(x, size=max(3, int(0.6 * rate) | 1), mode="nearest")
    if scale is None:
        block = max(1, int(2 * rate))
        nb = max(1, x.size // block)
        scale = float(np.median(np.abs(x[: nb * block]).reshape(nb, -1).max(axis=1))) if x.size >= block \
            else float(np.abs(x).max())
        scale = scale if scale > 1e-6 else 1.0
    return PreparedLead((x / scale).astype(np.float32), float(fs), int(decimate), float(scale))


def beat_targets(n_out: int, peaks_out: np.ndarray, half_width: int) -> np.ndarray:
    """Per-output-step labels (n_out,) float32: 1 within ``half_width`` steps of a peak."""
    y = np.zeros(n_out + 2 * half_width + 1, dtype=np.float32)
    p = np.asarray(peaks_out, dtype=np.int64)
    for off in range(-half_width, half_width + 1):
        q = p + off + half_width
        y[q[(q >= 0) & (q < y.size)]] = 1.0
    return y[half_width:half_width + n_out]


def _peaks_to_output(lead: PreparedLead, stride: int, r_peaks: np.ndarray) -> np.ndarray:
    """Original sample positions -> output-step indices (the inverse of to_samples after pooling)."""
    return np.floor(np.asarray(r_peaks) / (lead.decimate * stride)).astype(np.int64)


def train_beat_detector(lead: PreparedLead, r_peaks: np.ndarray, steps: int = 300,
                        window_s: float = 6.0, batch_size: int = 16, lr: float = 3e-3,
                        channels: int = 16, target_ms: float = 40.0, augment: bool = True,
                        seed: int = 0, progress: bool | None = None) -> tuple[BeatNet, list[float]]:
    """Train a :class:`BeatNet` on random windows of ``lead`` (R peaks given as original sample
    positions). Returns the model (in eval mode) and the loss of every step.

    Augmentation (amplitude scaling, a random tilt and white noise) keeps the net from learning
    one recording's exact amplitude. ``progress=None`` lets TQDM_DISABLE / the TTY decide."""
    rng = np.random.default_rng(seed)
    mc.seed(seed)
    model = BeatNet(channels)
    stride = model.stride
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
    win = int(window_s * lead.rate) // stride * stride
    if lead.x.size < win + 1:
        raise ValueError(f"lead: {lead.x.size} steps is shorter than one training window ({win})")
    n_out_total = lead.x.size // stride
    half = max(1, int(round(target_ms / 1000 * lead.rate / stride)))
    y_all = beat_targets(n_out_total, _peaks_to_output(lead, stride, r_peaks), half)
    losses = []
    kw = {} if progress is None else {"disable": not progress}
    bar = tqdm(range(steps), desc="train beat detector", mininterval=1.0, **kw)
    for _ in bar:
        starts = rng.integers(0, (lead.x.size - win) // stride, size=batch_size) * stride
        xb = np.stack([lead.x[s:s + win] for s in starts])[:, None, :]
        yb = np.stack([y_all[s // stride:s // stride + win // stride] for s in starts])[:, None, :]
        if augment:
            t = np.linspace(-1, 1, win, dtype=np.float32)
            xb = (xb * rng.uniform(0.6, 1.6, size=(batch_size, 1, 1))
                  + rng.normal(0, 0.1, size=(batch_size, 1, 1)) * t
                  + rng.uniform(0, 0.05, size=(batch_size, 1, 1)) * rng.standard_normal(xb.shape))
        loss = F.binary_cross_entropy_with_logits(model(mc.Tensor(xb.astype(np.float32))), mc.Tensor(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.item()))
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", refresh=False)
    model.eval()
    return model, losses


def predict_proba(model: BeatNet, lead: PreparedLead, chunk: int = 1 << 15) -> np.ndarray:
    """Probability of "near an R peak" for every output step, shape (len(lead.x) // stride,).
    Long leads are processed in overlapping chunks so memory stays small."""
    s = model.stride
    n = lead.x.size // s * s
    pad = 64 * s                       # context on each side, more than the receptive field
    out = np.empty(n // s, dtype=np.float32)
    with mc.no_grad():
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            lo, hi = max(0, a - pad), min(n, b + pad)
            logits = model(mc.Tensor(lead.x[None, None, lo:hi].copy())).numpy()[0, 0]
            out[a // s:b // s] = logits[(a - lo) // s:(a - lo) // s + (b - a) // s]
    return 1.0 / (1.0 + np.exp(-out))


def pick_peaks(prob: np.ndarray, threshold: float = 0.5, refractory: int = 1) -> np.ndarray:
    """Indices of beats in a probability trace (n,): the maximum of every run above
    ``threshold``; of two maxima closer than ``refractory`` steps the higher one stays."""
    p = np.asarray(prob, dtype=np.float64).ravel()
    above = np.concatenate([[False], p > threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    peaks = np.array([s + int(np.argmax(p[s:e])) for s, e in zip(starts, ends)], dtype=np.int64)
    if len(peaks) < 2 or refractory <= 1:
        return peaks
    kept: list[int] = []
    for q in peaks[np.argsort(-p[peaks], kind="stable")]:   # strongest first
        if all(abs(q - k) >= refractory for k in kept):
            kept.append(int(q))
    return np.sort(np.array(kept, dtype=np.int64))


def detect_beats(model: BeatNet, lead: PreparedLead, threshold: float = 0.5,
                 refractory_s: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """R-peak positions in original samples (int64) and the probability trace used."""
    prob = predict_proba(model, lead)
    step_s = model.stride * lead.decimate / lead.fs
    idx = pick_peaks(prob, threshold, max(1, int(refractory_s / step_s)))
    # the labels are symmetric around the R peak, so the centre of mass of each run above the
    # threshold locates it better than the argmax (which is arbitrary where p saturates at 1)
    pos = np.empty(len(idx))
    for k, i in enumerate(idx):
        lo, hi = i, i + 1
        while lo > 0 and prob[lo - 1] > threshold:
            lo -= 1
        while hi < len(prob) and prob[hi] > threshold:
            hi += 1
        w = prob[lo:hi] - threshold
        pos[k] = float(np.sum(w * np.arange(lo, hi)) / np.sum(w))
    centre = (pos + 0.5) * model.stride - 0.5        # output step -> decimated step
    return lead.to_samples(centre), prob
