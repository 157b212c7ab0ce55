"""The loss comparison of docs/face.md (section 11) and lesson 07, measured.

Every way of getting a face encoding, on the same two tests:

* **Yale, identity-disjoint cross-validation**: 3 folds of 5 people; each method is trained on
  10 people and tested on the 5 it has never seen (:func:`minicnn.face.crossval.cross_validate`);
* **synthetic unseen people**: trained on ``--synthetic-train`` generated people x 6 photos,
  tested on 50 people x 8 of the independent ``test`` stream.

Rows: the triplet loss with semi-hard / hard / all mining, the contrastive loss, the binary
head (abs and chi-square features), the student distilled from dlib's network (triplet
semi-hard + distance matching), the pretrained network itself, eigenfaces and raw pixels. The
trained rows are one encoder from scratch each, ``--steps`` steps, so that the table measures
the losses and not the ensembling (the ``train`` defaults are measured in docs/face.md).
Metrics: verification accuracy (10-fold threshold), ROC AUC, EER, 5-way one-shot accuracy,
training seconds (mean per fold). Evaluation always uses the squared distance, also for the
binary-head rows.

Run: ``python benchmarks/face_comparison.py --yale <yalefaces> --json results.json`` (writes
after every row, so a killed run keeps its rows and resumes), then ``--table`` prints the
Markdown table from the JSON file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np

METHODS = {  # row label -> TrainConfig overrides (measured in this order: the most wanted first)
    "triplet, semi-hard mining": dict(loss="triplet", mining="semihard"),
    "distilled student (triplet semi-hard + dlib teacher)": dict(loss="triplet", mining="semihard", teacher="dlib"),
    "triplet, hard mining": dict(loss="triplet", mining="hard"),
    "triplet, all (batch-all) mining": dict(loss="triplet", mining="all"),
    "contrastive": dict(loss="contrastive"),
    "binary head, abs features": dict(loss="binary", head="abs"),
    "binary head, chi-square features": dict(loss="binary", head="chi2"),
}
TEACHER_ROW = "pretrained dlib network (the teacher)"
KEYS = ("verification_accuracy", "roc_auc", "eer", "oneshot_accuracy")


def _metrics(r):
    return {k: float(r[k]) for k in KEYS}


def yale_rows(folder, steps, trials, done, save):
    """Cross-validated rows on Yale (``done``: rows already measured, skipped)."""
    from minicnn.face.crossval import cross_validate
    from minicnn.face.data import load_folder
    from minicnn.face.dlib_models import available, load_pretrained
    from minicnn.face.train import TrainConfig

    data = load_folder(folder)
    for label, over in METHODS.items():
        if label in done or (over.get("teacher") and not available()):
            continue
        cfg = TrainConfig(members=1, init="scratch", steps=steps, **over)
        res = cross_validate(data, 3, 0, 5, trials, log=None, config=cfg, progress=False)
        done[label] = {**_metrics(res["mean"]["encoder"]), "train_seconds": res["mean"]["train_seconds"]}
        for base in ("raw_pixels", "eigenfaces"):
            done.setdefault(base, {**_metrics(res["mean"][base]), "train_seconds": 0.0})
        save()
    if TEACHER_ROW not in done and available():
        model = load_pretrained()
        t = time.time()
        chips = load_folder(folder, size=model.input_size, channels=3, transform=model.align_photo)
        res = cross_validate(chips, 3, 0, 5, trials, log=None, encoder=model.chip_encoder())
        done[TEACHER_ROW] = {**_metrics(res["mean"]["encoder"]), "train_seconds": None,
                                                        "align_seconds": time.time() - t}
        save()


def synthetic_rows(n_train, steps, trials, done, save):
    """Rows on synthetic unseen people. The images are written as PNG files so that the
    teacher (which reads photo files) can encode them like any folder."""
    from PIL import Image

    from minicnn.face.data import load_folder
    from minicnn.face.dlib_models import available, load_pretrained
    from minicnn.face.evaluate import baselines, evaluate_encoder
    from minicnn.face.synthetic import synthetic_faces
    from minicnn.face.train import TrainConfig, train

    tmp = tempfile.mkdtemp(prefix="face_comparison_")

    def as_folder(ds, name):
        root = os.path.join(tmp, name)
        for k, (img, y) in enumerate(zip(ds.images, ds.labels)):
            os.makedirs(os.path.join(root, ds.names[y]), exist_ok=True)
            Image.fromarray((img[0] * 255).round().astype(np.uint8)).save(os.path.join(root, ds.names[y], f"{k}.png"))
        return root

    train_dir = as_folder(synthetic_faces(n_train, 6, split="train", seed=0), "train")
    test_dir = as_folder(synthetic_faces(50, 8, split="test", seed=0), "test")
    tr, te = load_folder(train_dir), load_folder(test_dir)
    for label, over in METHODS.items():
        if label in done or (over.get("teacher") and not available()):
            continue
        t = time.time()
        model, _ = train(tr, TrainConfig(members=1, init="scratch", steps=steps, **over), progress=False,
                         log=lambda s: None)
        seconds = time.time() - t
        done[label] = {**_metrics(evaluate_encoder(model, te, 5, trials, 0)), "train_seconds": seconds}
        if "raw_pixels" not in done:
            for base, r in baselines(te, fit_on=tr, ways=5, trials=trials, seed=0).items():
                done[base] = {**_metrics(r), "train_seconds": 0.0}
        save()
    if TEACHER_ROW not in done and available():
        model = load_pretrained()
        chips = load_folder(test_dir, size=model.input_size, channels=3, transform=model.align_photo)
        done[TEACHER_ROW] = {
            **_metrics(evaluate_encoder(model.chip_encoder(), chips, 5, trials, 0)), "train_seconds": None}
        save()


ORDER = [m for m in METHODS if "teacher" not in m] + [m for m in METHODS if "teacher" in m] + [
    TEACHER_ROW, "eigenfaces", "raw_pixels"]
LABELS = {"eigenfaces": "eigenfaces (50 components, fitted on the training people)",
          "raw_pixels": "raw pixels (standardised image)"}


def table(results: dict) -> str:
    """The Markdown table: one row per method, Yale and synthetic side by side."""
    y, s = results.get("settings_yale") or results.get("settings"), results.get("settings_synthetic")
    head = ("| method | Yale ver. | Yale AUC | Yale EER | Yale 5-way 1-shot | Yale train s/fold "
            "| synth. ver. | synth. AUC | synth. EER | synth. 5-way 1-shot | synth. train s |\n" + "| --- " * 11 + "|")
    lines = [head]

    def cells(r):
        if r is None:
            return ["n/a"] * 5
        ts = r.get("train_seconds")
        return [f"{r['verification_accuracy']:.3f}", f"{r['roc_auc']:.3f}", f"{100 * r['eer']:.1f}%",
                f"{r['oneshot_accuracy']:.3f}", "pretrained" if ts is None else ("-" if ts == 0 else f"{ts:.0f}")]

    for key in ORDER:
        ry, rs = results.get("yale", {}).get(key), results.get("synthetic", {}).get(key)
        if ry is None and rs is None:
            continue
        lines.append(f"| {LABELS.get(key, key)} | " + " | ".join(cells(ry) + cells(rs)) + " |")
    lines.append("")
    lines.append("Settings: one encoder from scratch per trained row"
                 + (f"; Yale: {y['steps']} steps, {y['trials']} one-shot trials, load average at the start "
                    f"{y['load']}" if y else "")
                 + (f"; synthetic: {s['steps']} steps on {s['synthetic_train']} people x 6, tested on 50 unseen "
                    f"people x 8, {s['trials']} trials, load average at the start {s['load']}" if s else "") + ".")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--yale", help="the Yale faces folder (omitted: no Yale rows)")
    p.add_argument("--json", default="face_comparison.json", help="results file (read to resume, rewritten per row)")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--trials", type=int, default=2000)
    p.add_argument("--synthetic-train", type=int, default=200, help="synthetic training people (x 6 photos)")
    p.add_argument("--only", choices=["yale", "synthetic"], help="measure one set only")
    p.add_argument("--table", nargs="*", metavar="JSON",
                   help="print the table of --json (and of these other results files) and stop")
    a = p.parse_args(argv)
    results = {}
    if os.path.exists(a.json):
        with open(a.json) as f:
            results = json.load(f)
    if a.table is not None:
        for other in a.table:
            with open(other) as f:
                more = json.load(f)
            for key in ("yale", "synthetic"):
                results.setdefault(key, {}).update(more.get(key, {}))
            for key in ("settings_yale", "settings_synthetic"):
                results.setdefault(key, more.get(key, {}))
        print(table(results))
        return 0
    for key in (("yale",) if a.only == "yale" else ("synthetic",) if a.only == "synthetic" else ("yale", "synthetic")):
        results[f"settings_{key}"] = dict(steps=a.steps if key == "yale" else 2 * a.steps, trials=a.trials,
                                          synthetic_train=a.synthetic_train,
                                          load=" / ".join(f"{x:.1f}" for x in os.getloadavg()))
    from minicnn.io import atomic_write

    def save():
        def write(tmp):
            with open(tmp, "w") as f:
                json.dump(results, f, indent=1)

        atomic_write(a.json, write)
        print(f"[{time.strftime('%H:%M:%S')}] saved {a.json}", file=sys.stderr, flush=True)

    warnings.simplefilter("ignore")
    if a.yale and a.only != "synthetic":
        yale_rows(a.yale, a.steps, a.trials, results.setdefault("yale", {}), save)
    if a.only != "yale":
        synthetic_rows(a.synthetic_train, 2 * a.steps, a.trials, results.setdefault("synthetic", {}), save)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
