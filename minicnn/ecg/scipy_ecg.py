"""Loader for ``ecg.dat``, the file behind ``scipy.datasets.electrocardiogram()``.

Despite its name it is a NumPy ``.npz`` archive (not WFDB): one uint16 array ``ecg`` holding
5 minutes (19:35 to 24:35) of MIT-BIH record 208, lead MLII, 360 Hz, with the WFDB baseline
1024 and gain 200 adu/mV. It has no annotations.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["load_scipy_ecg"]


def load_scipy_ecg(path: str) -> tuple[np.ndarray, float]:
    """Load ``ecg.dat`` (the file behind ``scipy.datasets.electrocardiogram``): an ``.npz`` archive
    with one uint16 array ``ecg`` from MIT-BIH record 208, lead MLII at 360 Hz.
    Returns ``(signal_mV, fs)``, signal shape (n,), float64; mV = (raw - 1024) / 200."""
    if not os.path.exists(path):
        raise ValueError(f"ECG file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files) if hasattr(z, "files") else None
            raw = z["ecg"] if names and "ecg" in names else None
    except Exception as err:        # not a zip, truncated member, bad zlib stream...
        raise ValueError(f"{path}: not a readable .npz archive ({type(err).__name__}: {err})") from None
    if raw is None:
        raise ValueError(f"{path}: expected an .npz archive with an array 'ecg', found {names}")
    return (raw.astype(np.float64) - 1024.0) / 200.0, 360.0
