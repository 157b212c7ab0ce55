"""Training the Siamese encoder with the triplet loss, the binary head or the contrastive loss.

One step: draw a P x K batch (P people, K photos each), augment it, encode it with the one
shared network, then

* triplet: mine triplets on the batch's distance matrix (semi-hard / hard / all) and
  minimise the triplet loss on them;
* binary: every pair of the batch goes through the logistic head (BCE, classes balanced);
* contrastive: every pair of the batch, contrastive loss (classes balanced);
* with a teacher (``teacher="dlib"``): plus ``distill_weight`` times the distance-matching term
  of :mod:`.distill`, which pulls the batch's distances towards the pretrained network's.

Per epoch it logs the loss, the share of easy / semi-hard / hard triplets in the batches, the
fraction of active (non-zero) mined terms, and the spread of the encodings (warning when they
collapse). With ``out``, the model is checkpointed atomically at the end of every epoch to
``<out>.checkpoint.npz`` beside ``out``; ``out`` itself is only replaced once training has
finished, so a killed retrain never destroys the previous model.
"""
from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from tqdm import tqdm

import minicnn as mc
import minicnn.optim as optim
from minicnn.hints import PathLike

from . import mining as M
from .augment import Augment
from .checkpoint import load_model
from .data import FaceDataset
from .encoder import MODEL_KINDS, FaceEncoder
from .losses import PairHead, contrastive_loss, fit_distance_calibration, triplet_loss
from .metrics import best_threshold, pairwise_sq_dists

LOSSES = ("triplet", "binary", "contrastive")
PRETRAINED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained.npz")  # synthetic faces, docs/face.md


@dataclass
class TrainConfig:
    """Hyper-parameters. The command line uses these, except that on a folder of real photos it
    trains ``members=3`` starting from ``init="pretrained"`` (the measured best, docs/face.md)
    and with ``teacher="dlib"`` when the pretrained files are installed."""

    loss: str = "triplet"
    mining: str = "semihard"
    alpha: float = 0.2
    epochs: int | None = None     # None: enough epochs for ``steps`` optimisation steps
    steps: int = 300              # target number of steps when epochs is None
    P: int = 10                   # identities per batch
    K: int = 4                    # images per identity
    lr: float = 3e-3
    weight_decay: float = 5e-4
    seed: int = 0
    augment: bool = True
    augment_args: dict = field(default_factory=dict)  # Augment fields, e.g. {"erase_p": 0.5}
    init: str | None = "scratch"     # "scratch", a model file to fine-tune, or "pretrained" (shipped weights, if any)
    max_time: float | None = None    # seconds; the step count shrinks to fit (measured after a few steps)
    head: str = "abs"                # binary loss: "abs" or "chi2"
    margin: float = 1.0              # contrastive loss margin (on the unsquared distance)
    model: dict = field(default_factory=dict)  # FaceEncoder arguments (in_channels, input_size, ...)
    members: int = 1                 # > 1: an ensemble of encoders (ensemble.py), distances averaged
    teacher: str = "none"            # "dlib": distil the pretrained network's distances (distill.py)
    distill_weight: float = 1.0      # weight of the distillation term beside the loss above

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.mining not in M.MININGS:
            raise ValueError(f"mining must be one of {M.MININGS}, got {self.mining!r}")
        from .distill import TEACHERS

        if self.teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {TEACHERS}, got {self.teacher!r}")
        if self.head not in ("abs", "chi2"):
            raise ValueError(f"head must be 'abs' or 'chi2', got {self.head!r}")
        for name, low in (("lr", 0.0), ("alpha", 0.0), ("margin", 0.0), ("weight_decay", None),
                          ("distill_weight", None)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and (v > low if low is not None else v >= 0)):
                raise ValueError(f"{name} must be a finite number {'> 0' if low is not None else '>= 0'}, got {v!r}")
        for name in ("steps", "P", "K", "members") + (("epochs",) if self.epochs is not None else ()):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be >= 1 (an integer), got {v!r}")
        if self.max_time is not None and not (math.isfinite(self.max_time) and self.max_time > 0):
            raise ValueError(f"max_time must be a finite number of seconds > 0 (or None: no limit), "
                             f"got {self.max_time!r}")


class TrainingError(RuntimeError):
    """Training cannot go on (the loss became NaN, no valid triplets); the message says why."""


def checkpoint_path(out) -> str:
    """Where :func:`train` keeps its checkpoints for the model file ``out``."""
    from minicnn.io import npz_path

    p = npz_path(out)
    return str(p.with_name(p.stem + ".checkpoint.npz"))


def lr_at(t: int, total: int, lr: float) -> float:
    """Linear warm-up over the first 10% of steps, then cosine decay to 2% of ``lr``."""
    warm = max(1, total // 10)
    if t < warm:
        return lr * (t + 1) / warm
    q = (t - warm) / max(1, total - warm)
    return lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(q, 1.0))))


def _pairs(labels, groups):
    """All pairs i < j of a batch -> (i, j, same, weight) with classes weighted to balance."""
    i, j = np.triu_indices(len(labels), k=1)
    keep = groups[i] != groups[j]
    i, j = i[keep], j[keep]
    same = labels[i] == labels[j]
    w = np.where(same, 0.5 / max(same.sum(), 1), 0.5 / max((~same).sum(), 1))
    return i, j, same, w.astype(np.float32)


def _init_model(cfg: TrainConfig, channels: int, say=lambda s: None) -> FaceEncoder:
    kwargs = {"in_channels": channels, **cfg.model}
    if cfg.init in (None, "scratch"):
        return FaceEncoder(**kwargs)
    path = PRETRAINED if cfg.init == "pretrained" else cfg.init
    if not os.path.exists(path):
        if cfg.init == "pretrained":  # not shipped (e.g. while building it): start from scratch
            return FaceEncoder(**kwargs)
        raise ValueError(f"init: no such model file {path!r}")
    model = load_model(path, allow_partial=True)
    want = FaceEncoder(**kwargs).config
    if model.config != want:
        if cfg.init == "pretrained":
            say(f"note: the pretrained weights are for {model.config['in_channels']} x {model.input_size} "
                f"input and {model.embedding_dim}-d encodings; this encoder starts from random weights")
            return FaceEncoder(**kwargs)
        raise ValueError(f"init: {path} has config {model.config}, but training asks for {want}")
    model.threshold = model.calibration = None
    return model


def teacher_encodings(data: FaceDataset, cfg: TrainConfig, teacher=None, cache_path=None, log=None):
    """The teacher's unit encodings of ``data``'s photos, (N, D) float32, or None without a teacher.

    teacher: the model to use (default: the installed pretrained one; raises
    ``PretrainedNotInstalled`` when its files are missing); cache_path: the on-disk cache.
    """
    from .distill import TeacherCache

    if cfg.teacher == "none":
        return None
    if not all(data.paths):
        raise ValueError(f"teacher={cfg.teacher!r} needs the photo files (it aligns the original photo), "
                         f"but {sum(not p for p in data.paths)} of the {len(data)} images have no path "
                         f"(generated faces?); use teacher='none'")
    if teacher is None:
        from .dlib_models import load_pretrained

        teacher = load_pretrained()
    t0 = time.time()
    cache = TeacherCache(teacher, cfg.teacher, cache_path)
    enc = cache.encodings(data.paths)
    if log and cache.computed:
        log(f"teacher {cfg.teacher}: encoded {cache.computed} photo(s) in {time.time() - t0:.1f} s "
            f"({len(data) - cache.computed} from the cache)")
    return enc


def train(data: FaceDataset, config: TrainConfig | None = None, out: PathLike | None = None, progress: bool = True,
          log: Callable[[str], None] | None = None, teacher_model: object | None = None,
          teacher_cache: PathLike | None = None, **overrides: object) -> tuple[mc.nn.Module, list[dict]]:
    """Train an encoder on ``data`` -> (model, history).

    data: FaceDataset whose images match the model input (load it with the model's
    ``input_size`` and channels). out: path to checkpoint to after every epoch and at the end.
    overrides: TrainConfig fields. history: one dict per epoch (loss, triplet shares, active
    fraction, spread, lr, seconds; with ``members`` > 1 also "member"). With
    ``teacher="dlib"`` (config): ``teacher_model`` is the model to distil (default: the installed
    pretrained one) and ``teacher_cache`` the file for its encodings (default: beside ``out``,
    ``<out>.teacher.npz``; memory only without ``out``). ``max_time`` covers the student's
    training, not the teacher's one-off encoding of new photos.

    With ``members`` = M > 1 the result is a :class:`FaceEnsemble` of M encoders, member m with
    seed ``seed + m``, starting from ``init`` when m is even and from scratch when odd; each gets an
    equal share of what is left of ``max_time``. ``out`` then holds the finished members after
    each one (no lost work).
    """
    from minicnn.io import check_replaceable, npz_path

    cfg = TrainConfig(**{**(asdict(config) if config else {}), **overrides})
    ckpt = None
    if out:
        out = npz_path(out)
        ckpt = checkpoint_path(out)
        check_replaceable(out, MODEL_KINDS)  # before hours of training, not after
        check_replaceable(ckpt, MODEL_KINDS)
    if cfg.teacher != "none" and teacher_cache is None and out:
        from .distill import teacher_cache_path

        teacher_cache = teacher_cache_path(out)
    say = log or (lambda s: tqdm.write(s))
    tenc = teacher_encodings(data, cfg, teacher_model, teacher_cache, say)
    if cfg.members == 1:
        model, history = _train_one(data, cfg, ckpt, progress, log, teacher=tenc)
    else:
        from .ensemble import FaceEnsemble

        done, history, t0 = [], [], time.time()
        for m in range(cfg.members):
            # even members start from ``init``, odd ones from scratch: the two kinds of starting
            # point make different mistakes on new people, which the average cancels best
            left = cfg.max_time - (time.time() - t0) if cfg.max_time else None  # share what is left
            sub = replace(cfg, members=1, seed=cfg.seed + m, init=cfg.init if m % 2 == 0 else "scratch",
                          max_time=max(left, 1e-6) / (cfg.members - m) if cfg.max_time else cfg.max_time)
            enc, hist = _train_one(data, sub, None, progress, log, finish=False, teacher=tenc)
            done.append(enc)
            history += [{**h, "member": m} for h in hist]
            if ckpt:
                FaceEnsemble(done).save(ckpt, meta={"partial": True, "members_done": m + 1})
        model = FaceEnsemble(done)
        rng = np.random.default_rng(cfg.seed)
        finalize(model, data, cfg, rng)
        model.info.update(train=dict(asdict(cfg), steps_run=[e.info["train"]["steps_run"] for e in done],
                                     seconds=round(time.time() - t0, 2), n_identities=data.n_identities,
                                     n_images=len(data)))
    if out:
        model.save(out, meta={"partial": False})
        if os.path.exists(ckpt):
            os.remove(ckpt)
    return model, history


def _train_one(data: FaceDataset, cfg: TrainConfig, ckpt, progress, log, finish: bool = True, teacher=None):
    """One encoder (see :func:`train`); ``ckpt``: checkpoint file written after each epoch;
    ``finish``: fit tau/calibration; ``teacher``: (N, D) teacher encodings of ``data`` or None."""
    from .distill import distance_matching_loss, distance_scale

    mc.seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    channels = data.images.shape[1]
    say = log or (lambda s: tqdm.write(s))
    model = _init_model(cfg, channels, say)
    if tuple(data.images.shape[2:]) != model.input_size:
        raise ValueError(f"data images are {data.images.shape[2:]} but the model input is {model.input_size}; "
                         f"load the folder with size={model.input_size}")
    head = PairHead(model.embedding_dim, cfg.head) if cfg.loss == "binary" else None
    params = list(model.parameters()) + (list(head.parameters()) if head else [])
    opt = optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sampler = M.PKSampler(data.labels, cfg.P, cfg.K, seed=cfg.seed)
    epochs = cfg.epochs or max(1, math.ceil(cfg.steps / len(sampler)))
    total = epochs * len(sampler)
    aug = Augment(**cfg.augment_args) if cfg.augment else None
    scale = distance_scale(teacher, data.labels) if teacher is not None else None
    history, t0, step = [], time.time(), 0
    bar = tqdm(total=total, desc=f"train ({cfg.loss})", unit="step", disable=None if progress else True)
    for epoch in range(epochs):
        if step >= total:
            break
        stats, te = [], time.time()
        model.train()
        for idx in sampler:
            if step >= total:
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, cfg.lr)
            x = data.images[idx]
            x = aug(x, rng) if aug else x
            y, grp = data.labels[idx], data.groups[idx]
            with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is reported just below, once
                e = model(x)
            if not np.isfinite(e.data).all():
                raise TrainingError(_diverged("the encodings", step, opt, cfg))
            dist = pairwise_sq_dists(e.data)
            with warnings.catch_warnings():  # an empty batch stops training just below, with the reason
                warnings.simplefilter("ignore", M.NoTripletsWarning)
                a, p, n = M.mine(dist, y, cfg.mining, cfg.alpha, grp)
            if cfg.loss == "triplet" and len(a) == 0:
                raise TrainingError(f"no valid triplets in the batch at step {step + 1}: " + M.why_no_triplets(y, grp))
            if cfg.loss == "triplet":
                red = "mean_nonzero" if cfg.mining == "all" else "mean"
                loss = triplet_loss(e[a], e[p], e[n], cfg.alpha, reduction=red) if len(a) else (e * 0.0).sum()
            else:
                i, j, same, w = _pairs(y, grp)
                if cfg.loss == "binary":
                    terms = head.loss(e[i], e[j], same, reduction="none")
                else:
                    terms = contrastive_loss(e[i], e[j], same, cfg.margin, reduction="none")
                loss = (terms * mc.Tensor(w)).sum()
            if teacher is not None and cfg.distill_weight > 0:
                loss = loss + cfg.distill_weight * distance_matching_loss(e, teacher[idx], scale)
            if not np.isfinite(float(loss.item())):
                raise TrainingError(_diverged("the loss", step, opt, cfg))
            opt.zero_grad()
            with np.errstate(over="ignore", invalid="ignore"):  # NaN weights show in the next encodings
                loss.backward()
                opt.step()
            st = M.triplet_types(dist, y, cfg.alpha, grp)
            st.update(loss=float(loss.item()), active=M.active_fraction(dist, a, p, n, cfg.alpha),
                      spread=M.spread(e.data))
            stats.append(st)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{st['loss']:.3f}", active=f"{st['active']:.2f}")
            if step == 1:
                t1 = time.time()  # the first step pays one-off costs (JIT cache, allocations)
            if step == 5 and cfg.max_time:  # fit the remaining schedule into the time budget
                per = (time.time() - t1) / 4
                fit = int(1 + (cfg.max_time - (t1 - t0)) / per)
                if fit < total:
                    say(f"note: {per:.2f} s/step; shrinking training from {total} to {max(fit, step)} steps "
                        f"to finish within max_time={cfg.max_time:g} s")
                    total = max(fit, step)
                    bar.total = total
        rec = {k: float(np.mean([s[k] for s in stats]))
               for k in ("loss", "easy", "semihard", "hard", "active", "spread")}
        rec.update(epoch=epoch + 1, lr=opt.param_groups[0]["lr"], seconds=time.time() - te, steps=step)
        history.append(rec)
        say(f"epoch {epoch + 1}/{epochs}: loss {rec['loss']:.4f}  easy/semi/hard {rec['easy']:.2f}/"
            f"{rec['semihard']:.2f}/{rec['hard']:.2f}  active {rec['active']:.2f}  spread {rec['spread']:.3f}")
        M.check_collapse(e.data)  # the last batch's encodings
        if ckpt:
            model.save(ckpt, meta={"partial": True, "epoch": epoch + 1})
    bar.close()
    if not all(bool(mc.get_array_module(p.data).isfinite(p.data).all()) for p in params):
        raise TrainingError(_diverged("the weights", step - 1, opt, cfg))
    if scale is not None:
        model.info["distill_scale"] = scale
    model.info.update(train=dict(asdict(cfg), epochs_run=len(history), steps_run=step,
                                 seconds=round(time.time() - t0, 2), n_identities=data.n_identities,
                                 n_images=len(data)))
    model.head = head  # saved with the weights; the model then decides by P(same) >= 0.5 (encoder.py)
    if finish:
        finalize(model, data, cfg, rng)
    return model, history


def _diverged(what, step, opt, cfg) -> str:
    return (f"{what} became NaN/Inf at step {step + 1} (learning rate {opt.param_groups[0]['lr']:.3g} of "
            f"lr={cfg.lr:g}); training stopped: lower the learning rate")


def finalize(model: FaceEncoder, data: FaceDataset, cfg: TrainConfig, rng):
    """Fit the decision threshold tau and the probability calibration.

    Pairs are (clean image, augmented view of another photo) of the training identities: the
    augmentation makes positives about as hard as photos of unseen people, so tau is not as
    tight as it would be on the memorised training photos. A model with a binary head keeps
    tau too (for tools that only see distances) but decides with its head.
    """
    from .metrics import verification_pairs

    if len(data) > 600:  # enough pairs for two numbers; keeps the final step short
        data = data.subset(np.sort(rng.choice(len(data), 600, replace=False)))
    clean = model.embed(data.images)
    views = model.embed(Augment()(data.images, rng)) if cfg.augment else clean
    i, j, same = verification_pairs(data.labels, data.groups, seed=cfg.seed)
    d = ((clean[i] - views[j]) ** 2).sum(1)
    model.threshold, _ = best_threshold(d, same)
    model.calibration = fit_distance_calibration(d, same)
    with warnings.catch_warnings():
        warnings.simplefilter("always", M.CollapseWarning)
        M.check_collapse(clean)
