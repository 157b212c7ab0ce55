"""The LFW verification protocol: its ``pairs.txt`` file, its images, its 10-fold number.

Labeled Faces in the Wild ships the test pairs of "View 2" as a text file::

    10	300                       <- folds, pairs per fold (of each kind)
    Abel_Pacheco	1	4           <- fold 1: 300 matched pairs "name idx1 idx2"
    ...
    Abdel_Madi_Shabneh	1	Dean_Barker	1    <- then 300 mismatched "name1 idx1 name2 idx2"
    ...                           <- and so on for the 10 folds

Image ``idx`` of ``name`` is ``<root>/<name>/<name>_<idx:04d>.jpg``. The folds are disjoint in
people, and the standard number is the mean +- std over the 10 folds of the accuracy on one
fold with the threshold chosen on the other nine (:func:`metrics.verification_accuracy` with
the file's folds). A model with a binary head uses its own rule (P >= 0.5) instead.

    pairs = read_pairs("pairs.txt")
    result = evaluate_pairs(load_model("faces.npz"), "lfw", pairs)
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .metrics import eer, head_dissimilarity, paired_dists, roc_auc, tar_at_far, verification_accuracy

MAX_FOLDS, MAX_PER_FOLD = 1000, 1_000_000


@dataclass
class PairsFile:
    """The pairs of an LFW-format file: ``names`` (P, 2) str, ``indices`` (P, 2) int (photo
    numbers from 1), ``same`` (P,) bool, ``fold`` (P,) int in 0..n_folds-1, ``lines`` (P,) the
    line number of each pair in ``path`` (for error messages)."""

    path: str
    n_folds: int
    per_fold: int
    names: np.ndarray
    indices: np.ndarray
    same: np.ndarray
    fold: np.ndarray
    lines: np.ndarray

    def __len__(self):
        return len(self.same)

    @property
    def folds(self) -> list:
        """Pair indices of each fold, for :func:`metrics.verification_accuracy`."""
        return [np.flatnonzero(self.fold == k) for k in range(self.n_folds)]

    def people_disjoint(self) -> bool:
        """True when no person appears in two folds (as in LFW's View 2)."""
        owner = {}
        for (a, b), f in zip(self.names, self.fold):
            for n in (a, b):
                if owner.setdefault(n, f) != f:
                    return False
        return True


def image_path(root, name: str, idx: int) -> str:
    """LFW's file name of photo ``idx`` of ``name``: ``<root>/<name>/<name>_<idx:04d>.jpg``."""
    return os.path.join(root, name, f"{name}_{idx:04d}.jpg")


def _name(text, where):
    # a name becomes a folder name: nothing that could leave the data folder
    if not text or text.startswith(".") or "/" in text or "\\" in text or "\0" in text:
        raise ValueError(f"{where}: {text!r} is not a person's folder name")
    return text


def _index(text, where):
    try:
        v = int(text)
    except ValueError:
        raise ValueError(f"{where}: photo number {text!r} is not an integer") from None
    if not 1 <= v <= 9999:
        raise ValueError(f"{where}: photo number {v} is outside [1, 9999]")
    return v


def read_pairs(path) -> PairsFile:
    """Read an LFW ``pairs.txt`` -> :class:`PairsFile`.

    Any departure from the format is a ``ValueError`` naming the file and the line: the
    header must be two integers ``folds pairs_per_fold`` (folds >= 2: the threshold is chosen
    on the other folds), then each fold has exactly ``pairs_per_fold`` matched lines followed
    by as many mismatched ones; a matched pair names two different photos, a mismatched pair
    two different people.
    """
    path = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(64 * 1024 * 1024 + 1)
    except FileNotFoundError:
        raise FileNotFoundError(f"pairs file {path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"pairs file {path}: is a folder; give LFW's pairs.txt") from None
    except OSError as exc:
        raise ValueError(f"pairs file {path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > 64 * 1024 * 1024:
        raise ValueError(f"pairs file {path}: larger than 64 MiB; not a pairs file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"pairs file {path}: not a text file (byte {exc.start} is not UTF-8)") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines are harmless
        lines.pop()
    head = lines[0].split() if lines else []
    if len(head) != 2 or not all(h.isdigit() for h in head):
        raise ValueError(f"pairs file {path}, line 1: expected two integers 'folds pairs_per_fold' (e.g. '10 300'), "
                         f"got {lines[0][:60]!r}" if lines else f"pairs file {path}: the file is empty")
    n_folds, per = int(head[0]), int(head[1])
    if not (2 <= n_folds <= MAX_FOLDS and 1 <= per <= MAX_PER_FOLD):
        raise ValueError(f"pairs file {path}, line 1: folds must be in [2, {MAX_FOLDS}] (the threshold is chosen on "
                         f"the other folds) and pairs_per_fold in [1, {MAX_PER_FOLD}], got {n_folds} and {per}")
    want = 1 + 2 * n_folds * per
    if len(lines) != want:
        raise ValueError(f"pairs file {path}: {n_folds} folds x {per} matched + {per} mismatched pairs make {want} "
                         f"lines with the header, but the file has {len(lines)}")
    names, idx, same, fold = [], [], [], []
    for n, line in enumerate(lines[1:], start=2):
        k, r = divmod(n - 2, 2 * per)
        matched = r < per
        f = line.split()
        where = f"pairs file {path}, line {n}"
        if matched:
            if len(f) != 3:
                raise ValueError(f"{where}: fold {k + 1} matched pair {r + 1} of {per}: expected 'name idx1 idx2', "
                                 f"got {len(f)} fields")
            a, i1, i2 = _name(f[0], where), _index(f[1], where), _index(f[2], where)
            if i1 == i2:
                raise ValueError(f"{where}: a matched pair must be two different photos, got {a} {i1} twice")
            names.append((a, a)), idx.append((i1, i2))
        else:
            if len(f) != 4:
                raise ValueError(f"{where}: fold {k + 1} mismatched pair {r - per + 1} of {per}: expected "
                                 f"'name1 idx1 name2 idx2', got {len(f)} fields")
            a, i1, b, i2 = _name(f[0], where), _index(f[1], where), _name(f[2], where), _index(f[3], where)
            if a == b:
                raise ValueError(f"{where}: a mismatched pair must be two different people, got {a} twice")
            names.append((a, b)), idx.append((i1, i2))
        same.append(matched), fold.append(k)
    return PairsFile(path, n_folds, per, np.array(names, dtype=str).reshape(-1, 2),
                     np.array(idx, dtype=np.int64).reshape(-1, 2), np.array(same, bool), np.array(fold, np.int64),
                     np.arange(2, len(lines) + 1))


def encode_pairs(model, root, pairs: PairsFile, chunk: int = 256):
    """Encode every photo the pairs use, once -> (enc1 (P, D), enc2 (P, D)).

    ``model``: a face model file's encoder, or the pretrained one (each photo is then detected
    and aligned, like a folder given to it). A missing or unreadable photo is a ``ValueError``
    naming it and the first line of the pairs file that uses it.
    """
    from .data import fit_image, read_image

    keys = sorted({(str(n), int(i)) for n, i in zip(pairs.names.ravel(), pairs.indices.ravel())})
    first = {}
    for line, ns, ids in zip(pairs.lines, pairs.names, pairs.indices):
        for n, i in zip(ns, ids):
            first.setdefault((str(n), int(i)), int(line))
    pretrained = hasattr(model, "align_photo")
    encoder = model.chip_encoder() if pretrained else model
    enc, images = [], []
    for n, (name, i) in enumerate(keys):
        p = image_path(root, name, i)
        try:
            raw = read_image(p, channels=3 if pretrained else model.in_channels)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"pairs file {pairs.path}, line {first[name, i]}: {exc}") from None
        images.append(model.align_photo(raw) if pretrained else fit_image(raw, model.input_size))
        if len(images) == chunk or n == len(keys) - 1:  # LFW's 7,700 chips would not fit in memory at once
            enc.append(encoder.embed(np.stack(images)))
            images = []
    enc = np.concatenate(enc)
    pos = {k: n for n, k in enumerate(keys)}
    at = np.array([[pos[str(n), int(i)] for n, i in zip(ns, ids)] for ns, ids in zip(pairs.names, pairs.indices)])
    return enc[at[:, 0]], enc[at[:, 1]]


def evaluate_pairs(model, root, pairs: PairsFile, far_target: float = 0.01) -> dict:
    """LFW's View 2 number for ``model`` on the photos under ``root`` -> JSON-ready dict:
    "verification_accuracy" (mean over the file's folds) +- "verification_accuracy_std",
    "roc_auc", "eer", "tar_at_far_<f>" (over all pairs), "decision_rule", "threshold"."""
    from .encoder import HEAD_THRESHOLD, RULE_DISTANCE, RULE_HEAD
    from .evaluate import model_head

    e1, e2 = encode_pairs(model, root, pairs)
    head = model_head(model)
    dist = paired_dists(e1, e2, head_dissimilarity(head) if head else None)
    fixed = 1.0 - HEAD_THRESHOLD if head else None
    ver = verification_accuracy(dist, pairs.same, folds=pairs.folds, fixed=fixed)
    return {"decision_rule": RULE_HEAD if head else RULE_DISTANCE, "protocol": "pairs-file",
            "verification_accuracy": ver["accuracy"], "verification_accuracy_std": ver["accuracy_std"],
            "fold_accuracies": ver["accuracies"], "threshold": HEAD_THRESHOLD if head else ver["threshold"],
            "roc_auc": roc_auc(dist, pairs.same), "eer": eer(dist, pairs.same),
            f"tar_at_far_{far_target:g}": tar_at_far(dist, pairs.same, far_target),
            "n_folds": pairs.n_folds, "pairs_per_fold": pairs.per_fold, "n_pairs": len(pairs),
            "people_disjoint_folds": pairs.people_disjoint(), "pairs": pairs.path}


def format_pairs_report(r: dict, title: str = "") -> str:
    """A readable summary of :func:`evaluate_pairs`' dict."""
    from .evaluate import _rule_text

    far_key = next(k for k in r if k.startswith("tar_at_far"))
    lines = [title] if title else []
    disjoint = "" if r["people_disjoint_folds"] else "NOT "
    lines += [f"  pairs                      {r['n_pairs']} ({r['n_folds']} folds x {r['pairs_per_fold']} matched + "
              f"{r['pairs_per_fold']} mismatched; folds {disjoint}disjoint in people)",
              f"  decision rule              {_rule_text(r)}",
              f"  verification accuracy      {100 * r['verification_accuracy']:.2f} +- "
              f"{100 * r['verification_accuracy_std']:.2f}%  (mean +- std over the {r['n_folds']} folds)",
              f"  ROC AUC / EER              {r['roc_auc']:.4f} / {100 * r['eer']:.1f}%",
              f"  TAR @ FAR {far_key.split('_')[-1]:<16} {100 * r[far_key]:.1f}%"]
    return "\n".join(lines)
