"""Saving and loading models and databases: ``.npz`` files, no pickle,
atomic and locked writes.

* Arrays are stored under plain keys (``"0.weight"``), never with a leading
  ``/`` (the zip layer would drop it). They must be numeric and finite: a NaN
  weight or encoding is refused on save and on load, never stored for good.
* Metadata (class name, hyper-parameters, format version) is a JSON string
  stored as a 0-d unicode array under ``"__meta__"``, so loading never needs
  ``allow_pickle=True``.
* One name rule for reading and writing (:func:`npz_path`): a name without
  any suffix gets ``.npz``, so ``--db people`` always means ``people.npz``;
  a name with a suffix (``model.npz``, ``weights.bin``) is used as given.
* A file of another kind is never replaced: saving a database over a model
  (or over anything that is not a minicnn file) raises instead.
* Writes go to a temporary file in the target's folder, are flushed to disk
  (``fsync``), then renamed over the target (``os.replace`` is atomic), so a
  crash mid-write leaves the old file intact. The new file keeps the old
  one's permissions (and owner, where allowed); a symbolic link is written
  through to its target; a read-only target is refused.
* :func:`file_lock` serialises load-modify-save cycles (two ``enroll`` runs
  into the same database) with an exclusive lock on a side file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import tempfile
import threading
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .backend import to_numpy
from .hints import PathLike
from .tensor import unwrap

META_KEY = "__meta__"
FORMAT_VERSION = 1


# --------------------------------------------------------------------------- paths
def npz_path(path) -> Path:
    """The file a minicnn ``.npz`` name refers to, for reading and writing alike:
    ``people`` -> ``people.npz``; ``people.npz`` and ``people.db`` unchanged."""
    path = Path(path)
    return path if path.suffix else path.with_name(path.name + ".npz")


def _resolve_target(path: Path) -> Path:
    """Follow symbolic links, so the link's target is updated and the link stays a link."""
    if not os.path.islink(path):
        return path
    try:
        return Path(os.path.realpath(path, strict=True))
    except OSError as exc:  # a loop, or a link to nowhere
        if os.path.lexists(path) and not os.path.exists(path):
            target = Path(os.path.realpath(path))
            if target.parent.is_dir() and not os.path.islink(target):
                return target  # dangling link: create its target
        raise OSError(f"cannot write {path}: it is a symbolic link that cannot be followed ({exc})") from None


# --------------------------------------------------------------------------- locking
@contextlib.contextmanager
def file_lock(path):
    """Hold an exclusive lock for ``path`` (on the side file ``.<name>.lock``) while inside.

    Use it around a whole read-modify-write cycle: a second process waits until the first
    has saved, then reads what the first wrote, so no update is lost. The side file stays
    (removing a lock file while another process waits on it would break the lock).
    """
    path = _resolve_target(Path(path))
    lock = path.with_name(f".{path.name}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise OSError(f"cannot lock {path}: cannot create {lock} ({exc.strerror})") from None
    try:
        _lock_fd(fd)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _lock_fd(fd):
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


# --------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def _term_raises():
    """Turn SIGTERM into an exception while writing, so the temporary file is removed
    (the default action would end the process on the spot and leave it behind)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is None:
        yield  # only the main thread may set handlers; None: a handler installed outside Python
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _fsync_folder(folder: Path):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write_fn):
    """Call ``write_fn(tmp_path)`` and then atomically move ``tmp_path`` to ``path``.

    ``path`` may be a symbolic link (its target is replaced). An existing target keeps its
    mode and, where the OS allows, its owner; a new file gets ``0666 & ~umask`` like a plain
    ``open``. Raises ``PermissionError`` for a read-only target and ``OSError`` when the target
    is not a regular file. The temporary file never outlives a failure (exception, Ctrl-C,
    SIGTERM; only SIGKILL or a power cut can leave a hidden ``.<name>.*.tmp``, never a broken
    target). Returns the path as given.
    """
    given = Path(path)
    target = _resolve_target(given)
    old = None
    if os.path.lexists(target):
        old = os.stat(target)
        if not stat.S_ISREG(old.st_mode):
            raise OSError(f"cannot write {given}: it exists and is not a regular file")
        if not os.access(target, os.W_OK) or not old.st_mode & 0o222:  # (root passes os.access)
            raise PermissionError(f"cannot write {given}: the file is read-only (not replacing it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        with _term_raises():
            write_fn(tmp)
            if old is not None:
                os.chmod(tmp, stat.S_IMODE(old.st_mode))
                if hasattr(os, "chown") and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                    with contextlib.suppress(OSError):  # only root may give files away
                        os.chown(tmp, old.st_uid, old.st_gid)
            else:
                # mkstemp creates the file readable by its owner only; give it the
                # permissions a plain open() would have (0666 minus the umask).
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_folder(target.parent)
    return given


# --------------------------------------------------------------------------- npz files
def _check_arrays(arrays: dict, where: str, action: str):
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{where}: cannot {action} array {key!r}: dtype {value.dtype} is not numeric "
                             f"(only bool, integer and float arrays are stored)")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            bad = int((~np.isfinite(value)).sum())
            raise ValueError(f"{where}: array {key!r} (shape {value.shape}) holds {bad} NaN/Inf value(s); "
                             f"refusing to {action} it")


def file_kind(path):
    """The ``kind`` recorded in a minicnn ``.npz`` (``None`` when it has none), or raise
    ``ValueError`` when ``path`` is not a readable minicnn file."""
    return _read_meta(Path(path)).get("kind")


def check_replaceable(path, kinds):
    """Raise ``FileExistsError`` when ``path`` exists and is not a minicnn file of one of ``kinds``.

    Call it before a long job whose result goes to ``path`` (``kinds``: what that file may
    already hold and be replaced with, e.g. the face model kinds).
    """
    path = Path(path)
    if not os.path.exists(path):  # (a dangling link has nothing to lose: its target gets created)
        return
    try:
        kind = file_kind(path)
    except (ValueError, OSError):
        raise FileExistsError(f"{path} exists and is not a minicnn .npz file; not overwriting it "
                              f"(choose another name or remove it)") from None
    if kind not in set(kinds):
        what = f"a {kind}" if kind else "a minicnn file of no kind"
        raise FileExistsError(f"{path} exists and holds {what}, not {' or '.join(map(str, kinds))}; "
                              f"not overwriting it (choose another name)")


def _read_meta(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            raw = f[META_KEY] if META_KEY in f.files else None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"load: {path} is not a readable minicnn .npz file ({type(exc).__name__}: {exc})") from None
    return _parse_meta(raw, path)


def _parse_meta(raw, path) -> dict:
    if raw is None:
        return {}
    try:
        meta = json.loads(str(raw))
    except ValueError:
        raise ValueError(f"load: {path}: the metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise ValueError(f"load: {path}: the metadata must be a JSON object, got a {type(meta).__name__}")
    return meta


def save_npz(path, arrays, meta=None, replaces=None):
    """Write ``arrays`` (dict of name -> array) and ``meta`` (JSON-able dict) to ``path``.

    ``.npz`` is added to a name without a suffix (:func:`npz_path`). An existing file is only
    replaced when it is a minicnn file whose ``kind`` is in ``replaces`` (default: the kind
    in ``meta``). Arrays must be numeric and finite. Returns the final path.
    """
    path = npz_path(path)
    meta = dict(meta or {})
    payload = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or not key or key.startswith("/") or key == META_KEY:
            raise ValueError(f"save_npz: invalid array key {key!r}")
        payload[key] = to_numpy(value)
    _check_arrays(payload, f"save {path}", "save")
    try:
        text = json.dumps({"format_version": FORMAT_VERSION, **meta}, allow_nan=False)
    except ValueError:
        raise ValueError(f"save {path}: the metadata holds NaN or Inf; refusing to save it") from None
    payload[META_KEY] = np.array(text)
    check_replaceable(path, replaces if replaces is not None else (meta.get("kind"),))

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **payload)

    return atomic_write(path, write)


def load_npz(path):
    """Read a file written by :func:`save_npz`; returns ``(arrays, meta)``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` (naming the file) for
    anything else: not a zip, truncated, pickled objects, bad metadata, NaN/Inf values.
    """
    path = npz_path(path)
    if not path.exists():
        raise FileNotFoundError(f"load: no such file: {path}")
    if not path.is_file():
        raise ValueError(f"load: {path} is not a regular file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"load: {path} is not a readable minicnn .npz file ({type(exc).__name__}: {exc})") from None
    meta = _parse_meta(arrays.pop(META_KEY, None), path)
    _check_arrays(arrays, f"load {path}", "load")
    return arrays, meta


def save(obj: object, path: PathLike, meta: dict | None = None, replaces: Iterable[str] | None = None) -> Path:
    """Save a :class:`minicnn.nn.Module` (its ``state_dict``) or a dict of arrays.

    ``meta`` is any JSON-able dict stored beside the arrays (for example the
    constructor arguments needed to rebuild the model). Returns the path.
    """
    state = obj.state_dict() if hasattr(obj, "state_dict") else obj
    info = dict(meta or {})
    if hasattr(obj, "state_dict"):
        info.setdefault("class", type(obj).__name__)
    return save_npz(path, {k: unwrap(v) for k, v in state.items()}, info, replaces=replaces)


def load(path: PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Load a file written by :func:`save`; returns ``(state_dict, meta)``."""
    return load_npz(path)
