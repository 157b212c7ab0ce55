"""Saving and loading models and databases: ``.npz`` files, no pickle,
atomic writes.

* Arrays are stored under plain keys (``"0.weight"``), never with a leading
  ``/`` (the zip layer would drop it).
* Metadata (class name, hyper-parameters, format version) is a JSON string
  stored as a 0-d unicode array under ``"__meta__"``, so loading never needs
  ``allow_pickle=True``.
* Writes go to a temporary file in the same folder, which is then renamed
  over the target (``os.replace`` is atomic), so a crash mid-write leaves the
  old file intact instead of half a model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .backend import unwrap

META_KEY = "__meta__"
FORMAT_VERSION = 1


def _host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def atomic_write(path, write_fn):
    """Call ``write_fn(tmp_path)`` and then atomically move ``tmp_path`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_fn(tmp)
        # mkstemp creates the file readable by its owner only; give it the
        # permissions a plain open() would have (0666 minus the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _npz_path(path):
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def save_npz(path, arrays, meta=None):
    """Write ``arrays`` (dict of name -> array) and ``meta`` (JSON-able dict) to ``path``.

    The ``.npz`` suffix is added when missing (``np.savez`` would add it
    silently while ``np.load`` would not look for it). Returns the final path.
    """
    path = _npz_path(path)
    payload = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or not key or key.startswith("/") or key == META_KEY:
            raise ValueError(f"save_npz: invalid array key {key!r}")
        payload[key] = _host(value)
    payload[META_KEY] = np.array(json.dumps({"format_version": FORMAT_VERSION, **(meta or {})}))

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **payload)

    return atomic_write(path, write)


def load_npz(path):
    """Read a file written by :func:`save_npz`; returns ``(arrays, meta)``."""
    path = Path(path)
    if not path.exists() and _npz_path(path).exists():
        path = _npz_path(path)
    if not path.exists():
        raise FileNotFoundError(f"load: no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"load: {path} is not a readable minicnn .npz file ({exc})") from None
    meta_raw = arrays.pop(META_KEY, None)
    meta = json.loads(str(meta_raw)) if meta_raw is not None else {}
    return arrays, meta


def save(obj, path, meta=None):
    """Save a :class:`minicnn.nn.Module` (its ``state_dict``) or a dict of arrays.

    ``meta`` is any JSON-able dict stored beside the arrays (for example the
    constructor arguments needed to rebuild the model). Returns the path.
    """
    state = obj.state_dict() if hasattr(obj, "state_dict") else obj
    info = dict(meta or {})
    if hasattr(obj, "state_dict"):
        info.setdefault("class", type(obj).__name__)
    return save_npz(path, {k: unwrap(v) for k, v in state.items()}, info)


def load(path):
    """Load a file written by :func:`save`; returns ``(state_dict, meta)``."""
    return load_npz(path)
