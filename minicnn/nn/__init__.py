"""minicnn.nn: layers with parameters, built on :mod:`minicnn.functional`
(like ``torch.nn`` on ``torch.nn.functional``).

A model is a :class:`Module` whose attributes are layers::

    import minicnn.nn as nn
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 14 * 14, 10),
    )
"""

from . import init
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import ModuleList, Sequential
from .conv import Conv1d, Conv2d, Conv3d
from .dropout import Dropout
from .linear import Flatten, Identity, Linear
from .module import IncompatibleKeys, Module
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .parameter import Parameter
from .pooling import (
                      AdaptiveAvgPool1d,
                      AdaptiveAvgPool2d,
                      AdaptiveAvgPool3d,
                      AvgPool1d,
                      AvgPool2d,
                      AvgPool3d,
                      GlobalAvgPool,
                      MaxPool1d,
                      MaxPool2d,
                      MaxPool3d,
)

__all__ = [
    "init", "Module", "Parameter", "IncompatibleKeys", "Sequential", "ModuleList",
    "Conv1d", "Conv2d", "Conv3d", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d",
    "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "GlobalAvgPool",
    "Linear", "Flatten", "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Dropout", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
]
