"""``python -m minicnn.ecg`` -- see :mod:`minicnn.ecg.cli`."""
import sys

from .cli import main

sys.exit(main())
