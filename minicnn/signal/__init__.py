"""minicnn.signal: the same convolution in 1D (an ECG) and 3D (a volume, or a video).

* :mod:`.wfdb` -- PhysioNet WFDB reader (header, format 212/16 signals, MIT annotations);
  :mod:`.scipy_ecg` -- loader for SciPy's ``ecg.dat``
* :mod:`.synthetic_ecg` -- seeded synthetic ECG with labelled R peaks (the offline default)
* :mod:`.beats` -- ``BeatNet``, a conv1d R-peak detector: training, probabilities, peak picking
* :mod:`.scoring` -- sensitivity / positive predictive value with one-to-one beat matching
* :mod:`.ecg_task` -- train on part of a recording, test on the rest, plot the detections
* :mod:`.volume_data`, :mod:`.volumes` -- synthetic solids and moving-square clips, a conv3d
  classifier, a figure of slices with predictions
* :mod:`.lecture` -- the lecture's 14x1 -> 10x16 -> 6x32 and 14^3x1 -> 10^3x16 -> 6^3x32 stacks

Command line: ``python -m minicnn.signal {ecg,volume,shapes} ...`` (see :mod:`.cli`).
"""
from .beats import BeatNet, detect_beats, prepare_lead, train_beat_detector
from .cli import run_demo
from .ecg_task import plot_detections, run_record, run_synthetic
from .lecture import format_shapes, lecture_shapes, lecture_stack
from .scoring import BeatScore, match_beats, score_beats
from .synthetic_ecg import SyntheticECG, synthetic_ecg
from .volume_data import MOTION_CLASSES, SHAPE_CLASSES, make_moving_shapes, make_solid_shapes
from .volumes import VolumeNet, run_volumes, train_volume_classifier
from .scipy_ecg import load_scipy_ecg
from .wfdb import Annotations, Record, read_annotations, read_header, read_record

__all__ = [
    "BeatNet", "detect_beats", "prepare_lead", "train_beat_detector", "run_demo", "plot_detections",
    "run_record", "run_synthetic", "format_shapes", "lecture_shapes",
    "lecture_stack", "BeatScore", "match_beats", "score_beats", "SyntheticECG", "synthetic_ecg",
    "MOTION_CLASSES", "SHAPE_CLASSES", "make_moving_shapes", "make_solid_shapes", "VolumeNet",
    "run_volumes", "train_volume_classifier", "Annotations", "Record", "load_scipy_ecg",
    "read_annotations", "read_header", "read_record",
]
