"""``python -m minicnn.volume`` -- see :mod:`minicnn.volume.cli`."""
import sys

from .cli import main

sys.exit(main())
