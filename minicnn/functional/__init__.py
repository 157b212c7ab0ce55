"""minicnn.functional: stateless operations on Tensors, with PyTorch's names,
argument order and channels-first layout ``(N, C, *spatial)``.

``minicnn.nn`` layers hold parameters and call these functions.
"""
# The imports below are guarded only while the modules are being written in parallel.
try:
    from .conv import conv, conv1d, conv2d, conv3d, conv_output_shape  # noqa: F401
except ImportError:
    pass
try:
    from .pool import (adaptive_avg_pool, avg_pool1d, avg_pool2d, avg_pool3d,  # noqa: F401
                       global_avg_pool, max_pool1d, max_pool2d, max_pool3d)
except ImportError:
    pass
try:
    from .activation import *  # noqa: F401,F403
except ImportError:
    pass
try:
    from .linear import *  # noqa: F401,F403
except ImportError:
    pass
try:
    from .dropout import *  # noqa: F401,F403
except ImportError:
    pass
try:
    from .normalization import *  # noqa: F401,F403
except ImportError:
    pass
try:
    from .loss import *  # noqa: F401,F403
except ImportError:
    pass
