"""Root conftest: settings shared by the unit tests and the notebook runs.

``MINICNN_FAST=1`` makes every lesson shrink its work (see
``minicnn.config.fast_mode``); the notebook kernels inherit it from here.
"""

import os

os.environ.setdefault("MINICNN_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")
