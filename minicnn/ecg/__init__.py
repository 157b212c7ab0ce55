"""minicnn.ecg: convolution in 1D, a ConvNet that finds the heartbeats in an ECG.

* :mod:`.wfdb` -- PhysioNet WFDB reader (header, format 212/16 signals, MIT annotations);
  :mod:`.scipy_ecg` -- loader for SciPy's ``ecg.dat``
* :mod:`.synthetic_ecg` -- seeded synthetic ECG with labelled R peaks (the offline default)
* :mod:`.beats` -- ``BeatNet``, a conv1d R-peak detector: training, probabilities, peak picking
* :mod:`.scoring` -- sensitivity / positive predictive value with one-to-one beat matching
* :mod:`.ecg_task` -- train on part of a recording, test on the rest, plot the detections

The 3D half of the lesson (volumes, videos, the lecture's layer shapes) is :mod:`minicnn.volume`.
Command line: ``python -m minicnn.ecg ...`` (:mod:`.cli`, not imported here).
"""
from .beats import BeatNet, detect_beats, prepare_lead, train_beat_detector
from .ecg_task import plot_detections, run_record, run_synthetic
from .scipy_ecg import load_scipy_ecg
from .scoring import BeatScore, match_beats, score_beats
from .synthetic_ecg import SyntheticECG, synthetic_ecg
from .wfdb import Annotations, Record, read_annotations, read_header, read_record

__all__ = [
    "BeatNet", "detect_beats", "prepare_lead", "train_beat_detector", "plot_detections", "run_record",
    "run_synthetic", "load_scipy_ecg", "BeatScore", "match_beats", "score_beats", "SyntheticECG",
    "synthetic_ecg", "Annotations", "Record", "read_annotations", "read_header", "read_record",
]
