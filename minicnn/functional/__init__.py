"""minicnn.functional: stateless operations on Tensors, with PyTorch's names,
argument order and channels-first layout ``(N, C, *spatial)``.

``minicnn.nn`` layers hold parameters and call these functions.
"""

from .activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .conv import conv, conv1d, conv2d, conv3d, conv_output_shape, conv_relu
from .dropout import dropout
from .linear import linear, normalize
from .loss import binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, l1_loss, mse_loss, nll_loss
from .normalization import batch_norm
from .pool import (
                   adaptive_avg_pool,
                   avg_pool1d,
                   avg_pool2d,
                   avg_pool3d,
                   global_avg_pool,
                   max_pool1d,
                   max_pool2d,
                   max_pool3d,
)

__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax",
    "conv", "conv1d", "conv2d", "conv3d", "conv_output_shape", "conv_relu",
    "dropout", "linear", "normalize", "batch_norm",
    "mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "nll_loss",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool", "global_avg_pool",
]
