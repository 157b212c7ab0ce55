"""Cross-validation over *identities*: the honest way to measure one-shot performance.

The people are split into folds; for each fold an encoder is trained on the other folds'
people and tested on this fold's people, whom it has never seen -- exactly the situation of
enrolling a new person with one photo. The raw-pixel and eigenface baselines are measured on
the same test people with the same pairs and trials (eigenfaces fitted on the training people).
"""
from __future__ import annotations

import time

import numpy as np

from .data import FaceDataset, identity_folds
from .evaluate import baselines, evaluate_encoder

KEYS = ("verification_accuracy", "roc_auc", "eer", "oneshot_accuracy", "rank1_accuracy")


def cross_validate(data: FaceDataset, n_folds: int = 3, seed: int = 0, ways: int = 5, trials: int = 1000,
                   log=print, encoder=None, **train_kwargs) -> dict:
    """Train/test over ``n_folds`` identity folds -> {"folds": [...], "mean": {...}, "std": {...}}.

    Every fold's result holds the encoder's metrics, the baselines' ("raw_pixels",
    "eigenfaces") and the training time. ``train_kwargs`` go to :func:`minicnn.face.train.train`.
    With a fixed ``encoder`` (e.g. the pretrained one) nothing is trained: the same model is
    tested on every fold's people, and the other folds only fit the eigenfaces.
    """
    from .train import train

    folds = identity_folds(data.n_identities, n_folds, seed)
    results = []
    for k, fold in enumerate(folds):
        test = np.isin(data.labels, fold)
        tr, te = data.subset(~test), data.subset(test)
        t = time.time()
        fold_model = encoder if encoder is not None else train(tr, **{"log": lambda s: None, **train_kwargs})[0]
        seconds = time.time() - t
        w = min(ways, te.n_identities)
        res = {"encoder": evaluate_encoder(fold_model, te, w, trials, seed),
               **baselines(te, fit_on=tr, ways=w, trials=trials, seed=seed, input_size=fold_model.input_size)}
        res["train_seconds"] = seconds
        res["test_identities"] = te.names
        results.append(res)
        if log:
            log(f"fold {k + 1}/{n_folds} ({', '.join(te.names)}): " + ", ".join(
                f"{name} ver {100 * res[name]['verification_accuracy']:.1f}% 1-shot "
                f"{100 * res[name]['oneshot_accuracy']:.1f}%" for name in ("encoder", "raw_pixels", "eigenfaces"))
                + f" [{seconds:.0f} s]")
    summary = {"folds": results, "mean": {}, "std": {}}
    for name in ("encoder", "raw_pixels", "eigenfaces"):
        summary["mean"][name] = {key: float(np.mean([r[name][key] for r in results])) for key in KEYS}
        summary["std"][name] = {key: float(np.std([r[name][key] for r in results])) for key in KEYS}
    summary["mean"]["train_seconds"] = float(np.mean([r["train_seconds"] for r in results]))
    return summary
