"""Face model files: :func:`load_model` reads what :meth:`FaceEncoder.save` and
:meth:`FaceEnsemble.save` wrote (or dlib's pretrained networks for ``"dlib"``).

A file is a minicnn ``.npz`` (weights, no pickle) whose JSON metadata names the kind of
model, its configuration, tau, the distance calibration and the pair heads. Everything in
the metadata is checked before a network is built from it, so a damaged or foreign file
gives one ``ValueError`` naming the file. This module sits above both the encoder and the
ensemble, which therefore never need to import each other in a circle.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

import minicnn as mc

from ..hints import PathLike
from .encoder import DEFAULTS, KIND, FaceEncoder
from .ensemble import KIND as ENSEMBLE
from .ensemble import FaceEnsemble, build_from_meta
from .losses import PairHead

if TYPE_CHECKING:  # the dlib reader is imported only when it is asked for
    from .dlib_models.model import DlibFaceModel


def load_model(path: PathLike, allow_partial: bool = False) -> FaceEncoder | FaceEnsemble | DlibFaceModel:
    """Rebuild a :class:`FaceEncoder` (or :class:`~minicnn.face.ensemble.FaceEnsemble`) saved by
    ``train`` / ``save``; ``"dlib"`` gives dlib's pretrained face networks
    (:class:`~minicnn.face.dlib_models.model.DlibFaceModel`; a file named ``dlib`` is ``./dlib``).

    A checkpoint of an unfinished training (``info["partial"]``: no threshold fitted, maybe
    missing ensemble members) is refused unless ``allow_partial=True``. Damaged metadata or
    weights raise ``ValueError`` naming the file.
    """
    if isinstance(path, str) and path == "dlib":
        from .dlib_models import load_pretrained  # only when asked: it reads dlib's large model files
        return load_pretrained()
    state, meta = mc.load(path)
    if meta.get("kind") not in (KIND, ENSEMBLE):
        raise ValueError(f"{path}: not a face model (kind={meta.get('kind')!r}); train one with "
                         f"`python -m minicnn.face train`")
    info = _check_model_meta(meta, path)
    if info.get("partial") and not allow_partial:
        raise ValueError(f"{path}: an unfinished training checkpoint (partial model, no threshold); "
                         f"finish the training, or load it with allow_partial=True")
    try:
        model = build_from_meta(meta) if meta["kind"] == ENSEMBLE else FaceEncoder(**meta["config"])
        _attach_heads(model, meta, info, state, path)
        model.load_state_dict(state)
    except (TypeError, ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise ValueError(f"{path}: damaged face model: {msg}") from None
    model.threshold = meta.get("threshold")
    cal = meta.get("calibration")
    model.calibration = tuple(float(c) for c in cal) if cal is not None else None
    model.info = info
    model.eval()
    return model


def _attach_heads(model, meta: dict, info: dict, state: dict, path):
    """Give ``model`` (and each ensemble member) the :class:`PairHead` its file describes.

    A head is saved as the arrays "head.weight"/"head.bias" ("members.<m>.head.*" in an
    ensemble) with its kind in ``meta["head"]`` (a list per member for an ensemble). Files
    written before that kept it as JSON lists in ``info["pair_head"]``: they are converted
    here into the same arrays (in ``state``), so saving the model again writes the new layout.
    """
    old = info.pop("pair_head", None)
    members = list(model.members) if hasattr(model, "members") else [model]
    kinds = meta.get("head")
    if old is not None:  # the JSON layout: one head, a single encoder
        if not (isinstance(old, dict) and old.get("kind") in ("abs", "chi2") and len(members) == 1):
            raise ValueError(f"info['pair_head'] must be {{'kind': 'abs' | 'chi2', 'weight': [...], 'bias': b}} "
                             f"on a single encoder, got {old!r:.100}")
        w = np.asarray(old.get("weight"), dtype=np.float32)
        b = np.asarray([old.get("bias")], dtype=np.float32)
        if w.shape != (model.embedding_dim,) or not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ValueError(f"info['pair_head'] must hold {model.embedding_dim} finite weights and a finite "
                             f"bias, got {w.size} weights")
        state["head.weight"], state["head.bias"], kinds = w, b, old["kind"]
    if kinds is None:
        return
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if len(kinds) != len(members) or not all(k in ("abs", "chi2", None) for k in kinds) or \
            len({k is None for k in kinds}) > 1:
        raise ValueError(f"'head' must name one kind ('abs', 'chi2' or null) per encoder, all or none null, "
                         f"got {kinds!r:.100}")
    for m, kind in zip(members, kinds):
        m.head = PairHead(m.embedding_dim, kind) if kind is not None else None


def _check_model_meta(meta: dict, path) -> dict:
    """Check the metadata of a face model file before building anything from it; returns ``info``."""
    def bad(why):
        return ValueError(f"{path}: damaged face model metadata: {why}")

    def number(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)

    def encoder_config(c):
        if not isinstance(c, dict) or not set(c) <= {"in_channels", "input_size", "widths", "embedding_dim", "pool"}:
            raise bad(f"an encoder config must be a dict with keys in_channels, input_size, widths, embedding_dim, "
                      f"pool; got {c!r:.200}")
        size = c.get("input_size", DEFAULTS["input_size"])
        if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 1024 for v in size)):
            raise bad(f"input_size must be two integers in [8, 1024], got {size!r:.100}")
        widths = c.get("widths", DEFAULTS["widths"])
        if not (isinstance(widths, (list, tuple)) and 1 <= len(widths) <= 8 and all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in widths)):
            raise bad(f"widths must be 1 to 8 integers in [1, 4096], got {widths!r:.100}")
        dim = c.get("embedding_dim", DEFAULTS["embedding_dim"])
        if not (isinstance(dim, int) and not isinstance(dim, bool) and 1 <= dim <= 4096):
            raise bad(f"embedding_dim must be an integer in [1, 4096], got {dim!r:.100}")

    config = meta.get("config")
    if meta["kind"] == KIND:
        encoder_config(config)
    else:
        members = config.get("members") if isinstance(config, dict) else None
        if not isinstance(members, list) or not members:
            raise bad("an ensemble needs a non-empty list config['members']")
        for c in members:
            encoder_config(c)
    tau = meta.get("threshold")
    if tau is not None and not (number(tau) and 0 <= tau <= 4):
        raise bad(f"threshold must be a number in [0, 4] or null, got {tau!r:.100}")
    cal = meta.get("calibration")
    if cal is not None and not (isinstance(cal, list) and len(cal) == 2 and all(number(v) for v in cal)):
        raise bad(f"calibration must be two numbers or null, got {cal!r:.100}")
    info = meta.get("info", {})
    if not isinstance(info, dict):
        raise bad(f"info must be a JSON object, got {type(info).__name__}")
    return info
