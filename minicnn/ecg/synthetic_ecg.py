"""A seeded synthetic electrocardiogram with labelled R peaks (the offline default data).

Each beat is a sum of Gaussian bumps, one per wave (P, Q, R, S, T), placed relative to the R
peak, in the spirit of McSharry et al. (2003, "A dynamical model for generating synthetic
electrocardiogram signals") but written directly in time:

    ecg(t) = sum_beats sum_waves a_w * exp(-(t - t_R - theta_w)^2 / (2 b_w^2))

R-R intervals carry heart-rate variability (a respiratory 0.25 Hz and a Mayer-wave 0.1 Hz
modulation plus jitter), the T wave moves with sqrt(RR) (Bazett), and the recording gets
baseline wander, white noise and optional 50/60 Hz interference. Premature beats are optional:
atrial ones ('A': early, normal QRS, odd P wave) and ventricular ones ('V': early, wide QRS, no P,
inverted T, compensatory pause). Labels use the MIT-BIH symbols 'N', 'A', 'V'.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SyntheticECG", "synthetic_ecg"]

# (offset from R in s, width in s, amplitude in mV) of a normal sinus beat at RR = 1 s.
_NORMAL_WAVES = {
    "P": (-0.200, 0.025, 0.15),
    "Q": (-0.030, 0.010, -0.12),
    "R": (0.000, 0.011, 1.20),
    "S": (0.032, 0.012, -0.28),
    "T": (0.280, 0.060, 0.30),
}


@dataclass
class SyntheticECG:
    """A generated recording.

    signal: (n,) float32, mV, the noisy lead; clean: (n,) float32, the same without wander/noise;
    fs: Hz; r_peaks: (n_beats,) int64 sample positions; labels: (n_beats,) str ('N', 'A', 'V').
    """

    signal: np.ndarray
    clean: np.ndarray
    fs: float
    r_peaks: np.ndarray
    labels: np.ndarray

    @property
    def duration(self) -> float:
        return len(self.signal) / self.fs


def _beat_times(duration: float, heart_rate: float, hrv: float, premature_rate: float,
                rng: np.random.Generator) -> tuple[list[float], list[str]]:
    """R-peak times (s) and labels. Sinus RR = 60/HR * (1 + HRV modulation); a premature beat
    comes at 60-75 % of the sinus RR; after a 'V' the pause is compensatory (two RRs in total)."""
    rr0 = 60.0 / heart_rate
    phase = rng.uniform(0, 2 * np.pi, size=2)
    times, labels = [], []
    t = rng.uniform(0.3, 0.3 + rr0)
    label, pause = "N", 0.0
    while t < duration - 0.3:
        times.append(t)
        labels.append(label)
        # sinus interval at time t: respiratory sinus arrhythmia + Mayer wave + jitter
        mod = (0.6 * np.sin(2 * np.pi * 0.25 * t + phase[0])
               + 0.4 * np.sin(2 * np.pi * 0.1 * t + phase[1]) + 0.3 * rng.standard_normal())
        rr = rr0 * (1.0 + hrv * mod)
        if label == "V":                    # compensatory pause after a PVC
            interval, label = pause, "N"
        elif label == "N" and rng.random() < premature_rate:
            interval = rr * rng.uniform(0.6, 0.75)
            label = "A" if rng.random() < 0.5 else "V"
            pause = 2 * rr - interval
        else:                               # sinus beat (also after an 'A': the node resets)
            interval, label = rr, "N"
        t += interval
    return times, labels


def synthetic_ecg(duration: float = 60.0, fs: float = 360.0, heart_rate: float = 72.0,
                  hrv: float = 0.05, premature_rate: float = 0.0, wander: float = 0.15,
                  noise: float = 0.03, powerline: float = 0.0, amplitude: float = 1.0,
                  seed: int = 0) -> SyntheticECG:
    """Generate a synthetic single-lead ECG.

    Parameters
    ----------
    duration : seconds; fs : sampling rate in Hz; heart_rate : mean beats per minute;
    hrv : relative R-R variability (0.05 = about 5 %); premature_rate : probability that a
    normal beat is followed by a premature one ('A' or 'V', half each); wander : baseline
    wander amplitude (mV); noise : white-noise std (mV); powerline : 50 Hz interference
    amplitude (mV); amplitude : overall gain; seed : makes the recording reproducible.

    Returns
    -------
    SyntheticECG with signal shape (round(duration * fs),).
    """
    if duration <= 1.0 or fs <= 0 or heart_rate <= 0:
        raise ValueError(f"duration (> 1 s), fs and heart_rate (> 0) must be positive; got "
                         f"duration={duration}, fs={fs}, heart_rate={heart_rate}")
    if not 0.0 <= premature_rate <= 1.0:
        raise ValueError(f"premature_rate must be in [0, 1], got {premature_rate}")
    rng = np.random.default_rng(seed)
    n = int(round(duration * fs))
    t = np.arange(n) / fs
    beat_t, labels = _beat_times(duration, heart_rate, hrv, premature_rate, rng)
    clean = np.zeros(n, dtype=np.float64)
    r_peaks = []
    prev = None
    for tb, lab in zip(beat_t, labels):
        rr = (tb - prev) if prev is not None else 60.0 / heart_rate
        prev = tb
        waves = dict(_NORMAL_WAVES)
        if lab == "A":     # ectopic atrial focus: a smaller, often inverted P wave
            p_off, p_w, p_a = waves["P"]
            waves["P"] = (p_off * 0.8, p_w, -0.6 * p_a if rng.random() < 0.5 else 0.5 * p_a)
        elif lab == "V":   # ventricular origin: no P, a wide tall QRS and a discordant T
            sign = 1.0 if rng.random() < 0.7 else -1.0
            waves = {"R": (0.0, 0.028, sign * 1.5), "S": (0.06, 0.03, -sign * 0.4),
                     "T": (0.30, 0.08, -sign * 0.45)}
        qt_scale = np.sqrt(np.clip(rr, 0.3, 2.0))   # Bazett: QT grows with sqrt(RR)
        lo, hi = int(max(0, (tb - 0.45) * fs)), int(min(n, (tb + 0.7) * fs))
        tt = t[lo:hi] - tb
        jitter = 1.0 + 0.05 * rng.standard_normal(len(waves))
        for (name, (off, width, amp)), j in zip(waves.items(), jitter):
            if name == "T":
                off *= qt_scale
            clean[lo:hi] += amp * j * np.exp(-((tt - off) ** 2) / (2 * width ** 2))
        # the R peak is where the R Gaussian sits (its maximum)
        r_peaks.append(int(round(tb * fs)))
    clean *= amplitude
    ph = rng.uniform(0, 2 * np.pi, size=3)
    baseline = wander * (np.sin(2 * np.pi * 0.15 * t + ph[0]) + 0.5 * np.sin(2 * np.pi * 0.33 * t + ph[1]))
    interference = powerline * np.sin(2 * np.pi * 50.0 * t + ph[2])
    signal = clean + baseline + interference + noise * rng.standard_normal(n)
    return SyntheticECG(signal.astype(np.float32), clean.astype(np.float32), float(fs),
                        np.array(r_peaks, dtype=np.int64), np.array(labels, dtype="<U1"))
