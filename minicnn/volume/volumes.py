"""A 3D ConvNet that classifies volumes (which solid is in this noisy scan?) or short videos
(which way is the square moving?), with training, evaluation and a figure of slices.

The same code serves both: a video clip ``(1, T, H, W)`` is a volume whose first axis is time,
so a 3x3x3 kernel looks at three consecutive frames at once -- which is exactly what a motion
direction needs and what a per-frame 2D network cannot see.
"""
from __future__ import annotations

import time

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
import minicnn.optim as optim

from ..config import fast_mode
from .volume_data import MOTION_CLASSES, SHAPE_CLASSES, make_moving_shapes, make_solid_shapes, split

__all__ = ["VolumeNet", "augment_volumes", "train_volume_classifier", "predict", "confusion_matrix",
           "plot_volume_predictions", "run_volumes"]


class VolumeNet(nn.Module):
    """conv3d classifier: input (N, 1, D, H, W) -> logits (N, n_classes).

    Three 3x3x3 'same' convolutions with batch norm and ReLU, the first two followed by a 2x2x2
    max pool, then a linear layer on the flattened (channels, D/4, H/4, W/4) features (keeping
    where things are, which a global average would throw away)."""

    def __init__(self, in_shape: tuple[int, int, int] = (16, 16, 16), n_classes: int = 3,
                 channels: tuple[int, int, int] = (8, 16, 16)) -> None:
        super().__init__()
        if len(in_shape) != 3 or any(s < 4 or s % 4 for s in in_shape):
            raise ValueError(f"in_shape must be 3 sizes divisible by 4 (two 2x pools), got {in_shape}")
        c1, c2, c3 = channels
        self.features = nn.Sequential(
            nn.Conv3d(1, c1, 3, padding=1), nn.BatchNorm3d(c1), nn.ReLU(), nn.MaxPool3d(2),
            nn.Conv3d(c1, c2, 3, padding=1), nn.BatchNorm3d(c2), nn.ReLU(), nn.MaxPool3d(2),
            nn.Conv3d(c2, c3, 3, padding=1), nn.BatchNorm3d(c3), nn.ReLU(),
        )
        flat = c3 * int(np.prod([s // 4 for s in in_shape]))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, n_classes))

    def forward(self, x: mc.Tensor) -> mc.Tensor:
        return self.head(self.features(x))


def augment_volumes(x: np.ndarray, rng: np.random.Generator, permute: bool = True) -> np.ndarray:
    """Random flips of each spatial axis and (if ``permute``) a random order of the axes:
    the 48 symmetries of a cube, none of which changes which solid it is. x: (N, 1, D, D, D)."""
    out = np.empty_like(x)
    for i in range(len(x)):
        v = x[i, 0]
        if permute:
            v = v.transpose(rng.permutation(3))
        for axis in range(3):
            if rng.random() < 0.5:
                v = np.flip(v, axis)
        out[i, 0] = v
    return out


def train_volume_classifier(x: np.ndarray, y: np.ndarray, n_classes: int, epochs: int = 8,
                            batch_size: int = 32, lr: float = 3e-3, augment: str = "cube",
                            seed: int = 0, progress: bool | None = None) -> tuple[VolumeNet, list[float]]:
    """Train :class:`VolumeNet` with Adam and a cosine schedule on ``x`` (N, 1, D, H, W), ``y`` (N,).
    ``augment``: "cube" (flips + axis permutations, for the solids), "flip-space" (mirror H
    and W and swap the motion label to match, for the clips; time is never reversed) or "none".
    Returns (model in eval mode, loss per step)."""
    if x.ndim != 5 or x.shape[1] != 1 or len(x) != len(y):
        raise ValueError(f"x must be (N, 1, D, H, W) with N == len(y); got x {x.shape}, y {np.shape(y)}")
    rng = np.random.default_rng(seed)
    mc.seed(seed)
    model = VolumeNet(tuple(x.shape[2:]), n_classes)
    opt = optim.Adam(model.parameters(), lr=lr)
    n_batches = max(1, len(x) // batch_size)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs * n_batches, eta_min=lr * 0.02)
    losses: list[float] = []
    kw = {} if progress is None else {"disable": not progress}
    bar = tqdm(total=epochs * n_batches, desc="train conv3d", mininterval=1.0, **kw)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for b in range(n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            xb, yb = x[idx], y[idx]
            if augment == "cube":
                xb = augment_volumes(xb, rng)
            elif augment == "flip-space":
                xb, yb = _flip_motion(xb, yb, rng)
            loss = F.cross_entropy(model(mc.Tensor(np.ascontiguousarray(xb, dtype=np.float32))), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.item()))
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}", refresh=False)
    bar.close()
    model.eval()
    return model, losses


def _flip_motion(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mirror clips left-right / up-down and swap the motion label to match
    (MOTION_CLASSES = right, left, down, up: flipping W swaps 0<->1, flipping H swaps 2<->3)."""
    x, y = x.copy(), y.copy()
    fw = rng.random(len(x)) < 0.5
    fh = rng.random(len(x)) < 0.5
    x[fw] = x[fw][..., ::-1]
    x[fh] = x[fh][..., ::-1, :]
    y[fw & (y < 2)] ^= 1
    y[fh & (y >= 2)] = 5 - y[fh & (y >= 2)]
    return x, y


def predict(model: VolumeNet, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Class probabilities (N, n_classes) for volumes x (N, 1, D, H, W)."""
    out = []
    with mc.no_grad():
        for a in range(0, len(x), batch_size):
            out.append(F.softmax(model(mc.Tensor(x[a:a + batch_size])), dim=1).numpy())
    return np.concatenate(out)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = how many of class i were predicted as j."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def plot_volume_predictions(x: np.ndarray, y: np.ndarray, proba: np.ndarray, classes: tuple[str, ...],
                            n: int = 6, slices: int = 4, axis_name: str = "z") -> Figure:
    """One row per sample: ``slices`` evenly spaced slices along the first spatial axis, titled
    with the true class and the prediction (red when wrong). x: (N, 1, D, H, W)."""
    n = min(n, len(x))
    depth = x.shape[2]
    where = np.linspace(0, depth - 1, slices + 2)[1:-1].round().astype(int)
    fig = Figure(figsize=(1.6 * slices + 0.6, 1.7 * n), layout="constrained")
    axes = fig.subplots(n, slices, squeeze=False)
    lo, hi = np.percentile(x[:n], [1, 99])
    for r in range(n):
        pred = int(np.argmax(proba[r]))
        for c, k in enumerate(where):
            ax = axes[r, c]
            ax.imshow(x[r, 0, k], cmap="gray", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"{axis_name}={k}", fontsize=7)
        ok = pred == int(y[r])
        axes[r, 0].set_ylabel(f"true: {classes[int(y[r])]}\npred: {classes[pred]} ({proba[r, pred]:.2f})",
                              fontsize=8, color="black" if ok else "red")
    return fig


def run_volumes(video: bool = False, n_train: int | None = None, n_test: int | None = None,
                epochs: int | None = None, quick: bool | None = None, seed: int = 0,
                progress: bool | None = None) -> tuple[dict, Figure]:
    """Make a seeded data set, train :class:`VolumeNet` on it, score the held-out split.
    ``video=False``: sphere / cube / torus volumes 16^3; ``video=True``: 8-frame clips of a
    moving square. Returns (metrics, figure of test slices with predictions)."""
    t0 = time.perf_counter()
    quick = fast_mode() if quick is None else quick
    if video:
        classes = MOTION_CLASSES
        n_train = n_train or (160 if quick else 480)
        n_test = n_test or (100 if quick else 300)
        x, y = make_moving_shapes(n_train + n_test, seed=seed)
        augment, axis_name = "flip-space", "t"
    else:
        classes = SHAPE_CLASSES
        n_train = n_train or (500 if quick else 800)
        n_test = n_test or (150 if quick else 300)
        x, y = make_solid_shapes(n_train + n_test, seed=seed)
        augment, axis_name = "cube", "z"
    epochs = epochs or (6 if quick else 8)
    x_tr, y_tr, x_te, y_te = split(x, y, test_fraction=n_test / (n_train + n_test), seed=seed)
    # quick runs take smaller batches: more (cheaper) steps learn more from the same few epochs
    model, losses = train_volume_classifier(x_tr, y_tr, len(classes), epochs=epochs, augment=augment,
                                            batch_size=16 if quick else 32, seed=seed, progress=progress)
    t_train = time.perf_counter() - t0
    proba = predict(model, x_te)
    pred = proba.argmax(1)
    acc = float(np.mean(pred == y_te))
    cm = confusion_matrix(y_te, pred, len(classes))
    # show up to three mistakes (if any) first: they teach more than six easy hits
    wrong = np.flatnonzero(pred != y_te)[:3]
    show = np.concatenate([wrong, np.setdiff1d(np.arange(len(y_te)), wrong)[:6 - len(wrong)]])
    fig = plot_volume_predictions(x_te[show], y_te[show], proba[show], classes, axis_name=axis_name)
    fig.suptitle(f"{'video clips (time = 1st axis)' if video else 'volumes'}: held-out accuracy {acc:.1%}")
    metrics = {"task": "video" if video else "volume", "classes": list(classes),
               "input_shape": list(x.shape[1:]), "n_train": int(len(x_tr)), "n_test": int(len(x_te)),
               "epochs": epochs, "final_loss": float(np.mean(losses[-10:])), "accuracy": acc,
               "confusion": cm.tolist(), "parameters": int(sum(p.data.size for p in model.parameters())),
               "train_seconds": round(t_train, 2), "seconds": round(time.perf_counter() - t0, 2)}
    return metrics, fig
