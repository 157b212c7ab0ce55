"""``python -m minicnn.style``: see :mod:`minicnn.style.cli`."""

import sys

from .cli import main

sys.exit(main())
