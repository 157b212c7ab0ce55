"""``python -m minicnn.signal {ecg,volume,shapes}`` -- see :mod:`minicnn.signal.cli`."""
import sys

from .cli import main

sys.exit(main())
