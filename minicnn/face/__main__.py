"""``python -m minicnn.face`` -- see minicnn/face/cli.py."""
import sys

from .cli import main

sys.exit(main())
