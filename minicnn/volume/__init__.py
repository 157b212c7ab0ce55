"""minicnn.volume: convolution in 3D, on volumes (a scan) and on videos (2D + time).

* :mod:`.volume_data` -- synthetic solids in noisy volumes and moving-square clips
* :mod:`.volumes` -- ``VolumeNet``, a conv3d classifier: training, held-out accuracy, a figure
  of slices with predictions
* :mod:`.lecture` -- the lecture's 1D and 3D layer stacks (14x1 -> 10x16 -> 6x32 and
  14^3x1 -> 10^3x16 -> 6^3x32), built and run live; it lives here because its 3D stack is the
  new part, and its 1D stack needs nothing from :mod:`minicnn.ecg`

Command line: ``python -m minicnn.volume ...`` (:mod:`.cli`, not imported here).
"""
from .lecture import format_shapes, lecture_shapes, lecture_stack
from .volume_data import MOTION_CLASSES, SHAPE_CLASSES, make_moving_shapes, make_solid_shapes
from .volumes import VolumeNet, run_volumes, train_volume_classifier

__all__ = [
    "format_shapes", "lecture_shapes", "lecture_stack", "MOTION_CLASSES",
    "SHAPE_CLASSES", "make_moving_shapes", "make_solid_shapes", "VolumeNet", "run_volumes",
    "train_volume_classifier",
]
