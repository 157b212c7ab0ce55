"""Run-time switches read from the environment.

``MINICNN_FAST=1`` asks every lesson, demo and command for a smaller run
(fewer epochs, smaller images). CI sets it so that notebooks finish quickly
on two cores; a learner leaves it unset to see the full-size results.
"""

from __future__ import annotations

import os
from pathlib import Path


def fast_mode() -> bool:
    return os.environ.get("MINICNN_FAST", "").strip().lower() not in ("", "0", "false", "no")


def shared_data_dir() -> Path:
    """Where optional real development data lives (``MINICNN_SHARED_DATA``,
    default ``../shared/data`` next to the repository). May not exist."""
    env = os.environ.get("MINICNN_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"
