"""Neural style transfer (Gatys et al. 2015), section 6 of the course.

* :mod:`~minicnn.style.costs` -- content cost, Gram matrix, style cost, total cost
* :mod:`~minicnn.style.features` -- feature networks; the offline default
  :class:`RandomMultiScale` (random filters on an image pyramid)
* :mod:`~minicnn.style.vgg` -- VGG-19 with torchvision's layout and named layers
* :mod:`~minicnn.style.transfer` -- optimising the pixels (Adam or L-BFGS-B)
* ``python -m minicnn.style`` -- the command line (:mod:`~minicnn.style.cli`)
"""

from .costs import (
    content_cost,
    gram_matrix,
    layer_style_cost,
    style_cost,
    style_cost_from_gram,
    total_cost,
    total_variation,
)
from .features import FeatureNetwork, RandomMultiScale
from .transfer import Objective, TransferResult, plot_costs, style_transfer
from .vgg import VGG19

__all__ = ["content_cost", "gram_matrix", "layer_style_cost", "style_cost", "style_cost_from_gram",
           "total_cost", "total_variation", "FeatureNetwork", "RandomMultiScale", "VGG19",
           "style_transfer", "TransferResult", "Objective", "plot_costs"]
