"""``run_demo``: the faces part of ``python -m minicnn.demo`` (offline, synthetic faces)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from minicnn.config import fast_mode
from minicnn.hints import PathLike


def face_sheet(images: np.ndarray, rows: int, cols: int, title: str = ""):
    """(N, C, H, W) images -> Figure with a rows x cols grid (one row per person, say)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(cols * 0.9, rows * 0.95 + 0.3), dpi=100)
    for k in range(min(len(images), rows * cols)):
        ax = fig.add_subplot(rows, cols, k + 1)
        img = images[k]
        ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def run_demo(out_dir: PathLike, quick: bool = False) -> dict:
    """Train an encoder on synthetic training identities, evaluate on unseen ones, enroll a
    few of them in a FaceDatabase and identify new photos. Writes figures into ``out_dir``;
    returns the metrics (and the figure file names under "figures")."""
    from .database import FaceDatabase
    from .evaluate import EigenfaceEncoder, RawPixelEncoder, error_vs_k_figure, evaluate_encoder, roc_figure
    from .synthetic import synthetic_faces
    from .train import train

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    quick = quick or fast_mode()
    size = (48, 48) if quick else (64, 64)
    n_train, steps = (24, 40) if quick else (80, 160)
    tr = synthetic_faces(n_train, 6, size=size, split="train", seed=0)
    te = synthetic_faces(12 if quick else 20, 6, size=size, split="test", seed=0)
    face_sheet(te.images[:36], 6, 6, "unseen synthetic people (one row each)").savefig(out / "face_examples.png")
    model, hist = train(tr, init="scratch", steps=steps, seed=0, model=dict(input_size=size), max_time=None)
    res = evaluate_encoder(model, te, ways=5, trials=300 if quick else 1000)
    raw = RawPixelEncoder(size)
    pca = EigenfaceEncoder(size, n_components=min(50, len(tr) - 1)).fit(tr.images)
    base = {"raw pixels": evaluate_encoder(raw, te, 5, 300), "eigenfaces": evaluate_encoder(pca, te, 5, 300)}
    curves = {"ConvNet encoder": (model.embed(te.images), te.labels, te.groups)}
    for k, e in (("raw pixels", raw), ("eigenfaces", pca)):
        curves[k] = (e.embed(te.images), te.labels, te.groups)
    roc_figure(curves).savefig(out / "face_roc.png")
    errs = {"ConvNet encoder": res["error_vs_k"], **{k: v["error_vs_k"] for k, v in base.items()}}
    error_vs_k_figure(errs).savefig(out / "face_error_vs_k.png")

    # One-shot database: enroll the first photo of 5 unseen people, identify their other photos
    # and the photos of 5 people who were never enrolled.
    db = FaceDatabase(model, tau=res["threshold"])
    for k in range(5):
        db.enroll(te.names[k], te.images[np.flatnonzero(te.labels == k)[0]])
    correct = rejected = n_known = n_unknown = 0
    for k in range(10):
        for i in np.flatnonzero(te.labels == k)[1:]:
            name, _ = db.identify(te.images[i])
            if k < 5:
                n_known += 1
                correct += name == te.names[k]
            else:
                n_unknown += 1
                rejected += name is None
    return {
        "verification_accuracy": res["verification_accuracy"], "roc_auc": res["roc_auc"], "eer": res["eer"],
        "oneshot_accuracy_5way": res["oneshot_accuracy"], "rank1_accuracy": res["rank1_accuracy"],
        "raw_pixels_verification": base["raw pixels"]["verification_accuracy"],
        "eigenfaces_verification": base["eigenfaces"]["verification_accuracy"],
        "raw_pixels_oneshot": base["raw pixels"]["oneshot_accuracy"],
        "database_identified": correct / max(n_known, 1), "database_unknown_rejected": rejected / max(n_unknown, 1),
        "final_train_loss": hist[-1]["loss"], "train_identities": tr.n_identities, "test_identities": te.n_identities,
        "figures": ["face_examples.png", "face_roc.png", "face_error_vs_k.png"],
    }
