"""``python -m minicnn.face train|evaluate|enroll|verify|identify ...``"""
from __future__ import annotations

import argparse
import os
import sys
import time

from minicnn.cli_args import (
    ArgumentParser,
    float_range,
    int_range,
    json_text,
    nonnegative_float,
    nonnegative_int,
    one_line,
    positive_float,
    positive_int,
)
from minicnn.config import fast_mode

from .dlib_models.files import PretrainedNotInstalled

#: Defaults for a folder of real photos (docs/face.md, section 9, identity cross-validation):
#: an ensemble of 3 encoders, the 1st and 3rd fine-tuned from the shipped synthetic-face
#: weights, the 2nd from scratch. Without --data (synthetic faces): 1 encoder from scratch.
#: With --data, the pretrained network is the teacher when installed (_teacher, distill.py).
MEMBERS, INIT = 3, "pretrained"


def _load(path, model_or_size, channels=None):
    from .data import load_folder

    if hasattr(model_or_size, "align_photo"):  # the pretrained model: each photo -> its aligned chip
        return load_folder(path, size=model_or_size.input_size, channels=3, transform=model_or_size.align_photo)
    if hasattr(model_or_size, "input_size"):
        return load_folder(path, size=model_or_size.input_size, channels=model_or_size.in_channels)
    return load_folder(path, size=model_or_size, channels=channels)


def cmd_train(a):
    from minicnn.cli_args import check_writable_folder
    from minicnn.io import check_replaceable, npz_path

    from .encoder import MODEL_KINDS
    from .synthetic import synthetic_faces
    from .train import TrainConfig, train

    check_replaceable(npz_path(a.out), MODEL_KINDS)  # before loading and training, not after
    check_writable_folder(npz_path(a.out).parent, "--out")
    size = (a.size, a.size)
    if a.data:
        data = _load(a.data, size, a.channels)
        src = a.data
    else:
        # many people, few photos each: the number of identities is what makes an encoder
        # generalise to new people (1000 x 6 reaches >= 98% on unseen ones, docs/face.md)
        n, per = (30, 8) if fast_mode() else (1000, 6)
        data = synthetic_faces(n, per, size=size, channels=a.channels, split="train", seed=a.seed)
        src = f"synthetic faces ({n} identities x {per}, seed {a.seed})"
    steps = a.steps or (300 if a.data or fast_mode() else 600)
    teacher = _teacher(a)
    print(f"training on {src}: {len(data)} images of {data.n_identities} identities", file=sys.stderr)
    cfg = TrainConfig(loss=a.loss, mining=a.mining, alpha=a.alpha, epochs=a.epochs, steps=steps, P=a.P, K=a.K,
                      lr=a.lr, seed=a.seed, augment=not a.no_augment, max_time=a.max_time, head=a.head,
                      init=a.init or (INIT if a.data else "scratch"),
                      members=a.members if a.members is not None else (MEMBERS if a.data else 1),
                      model=dict(input_size=size, embedding_dim=a.dim), teacher=teacher,
                      distill_weight=a.distill_weight)
    t = time.time()
    model, hist = train(data, cfg, out=a.out, log=lambda s: print(s, file=sys.stderr))
    ends = [h for k, h in enumerate(hist) if k + 1 == len(hist) or hist[k + 1].get("member") != h.get("member")]
    print(f"saved {npz_path(a.out)} (model {model.model_id}, tau {model.threshold:.3f}) after {time.time() - t:.1f} s "
          f"of training ({' + '.join(str(h['steps']) for h in ends)} steps)", file=sys.stderr)
    return 0


def _teacher(a) -> str:
    """--teacher, defaulting to the pretrained network when it is installed and the data are
    photo files (generated faces have no photo for it to align)."""
    from .distill import default_teacher

    if a.teacher is None:
        return default_teacher() if a.data else "none"
    if a.teacher != "none" and not a.data:
        raise ValueError(f"--teacher {a.teacher} needs --data (photo files); the synthetic faces have none")
    if a.teacher == "dlib":
        from .dlib_models import available

        if not available():
            raise PretrainedNotInstalled("--teacher dlib: the pretrained face networks are not installed "
                                         "(pip install face_recognition_models), or use --teacher none")
    return a.teacher


def cmd_evaluate(a):
    from .checkpoint import load_model
    from .evaluate import baselines, error_vs_k_figure, evaluate_encoder, format_report, roc_figure
    from .synthetic import synthetic_faces

    if a.pairs:
        return _evaluate_pairs(a)
    model = load_model(a.model)
    if a.plots:
        from minicnn.cli_args import check_writable_folder

        check_writable_folder(a.plots, "--plots")
    if a.data:
        data = _load(a.data, model)
    else:
        data = synthetic_faces(50, 8, size=model.input_size, channels=model.in_channels, split="test", seed=a.seed)
    ways = min(a.ways, data.n_identities)
    if hasattr(model, "chip_encoder"):  # the folder was loaded as aligned chips
        model = model.chip_encoder()
    res = evaluate_encoder(model, data, ways, a.trials, a.seed, protocol=a.protocol or "random-folds")
    res.update(model=str(a.model), model_id=model.model_id, data=a.data or "synthetic test identities")
    base = baselines(data, ways=ways, trials=a.trials, seed=a.seed, input_size=model.input_size) if a.baselines else {}
    if base:
        res["baselines"] = {k: {m: v[m] for m in ("verification_accuracy", "roc_auc", "eer", "oneshot_accuracy")}
                            for k, v in base.items()}
    if a.plots:
        from .evaluate import EigenfaceEncoder, RawPixelEncoder, model_head
        from .metrics import error_vs_k, head_dissimilarity

        k = min(50, len(data) - 1)
        encoders = {"ConvNet encoder": model, "raw pixels": RawPixelEncoder(model.input_size, model.in_channels),
                    "eigenfaces": EigenfaceEncoder(model.input_size, model.in_channels, k).fit(data.images)}
        curves, errs = {}, {}
        for label, enc in encoders.items():
            e = enc.embed(data.images)
            head = model_head(enc)  # a binary model's curves use its head's P(same)
            paired = head_dissimilarity(head) if head else None
            curves[label] = (e, data.labels, data.groups, paired)
            ks, err = error_vs_k(e, data.labels, data.groups, trials=max(100, a.trials // 4), seed=a.seed,
                                 paired=paired)
            errs[label] = {"k": ks.tolist(), "error": err.tolist()}
        from minicnn.io import atomic_write

        for name, fig in (("roc.png", roc_figure(curves)), ("error_vs_k.png", error_vs_k_figure(errs))):
            atomic_write(os.path.join(a.plots, name), lambda tmp, fig=fig: fig.savefig(tmp, format="png"))
    if a.json:
        print(json_text(res))
    else:
        print(format_report(res, f"{a.model} on {res['data']}"))
        for k, v in base.items():
            print(f"  baseline {k:<12} verification {100 * v['verification_accuracy']:.1f}%, "
                  f"{ways}-way one-shot {100 * v['oneshot_accuracy']:.1f}%, AUC {v['roc_auc']:.3f}")
        if a.plots:
            print(f"  figures: {os.path.join(a.plots, 'roc.png')}, {os.path.join(a.plots, 'error_vs_k.png')}")
    return 0


def _evaluate_pairs(a):
    """``evaluate --pairs``: LFW's View 2 protocol on the folder ``--data`` (see lfw.py)."""
    from .checkpoint import load_model
    from .lfw import evaluate_pairs, format_pairs_report, read_pairs

    if not a.data:
        raise ValueError("--pairs needs --data: the LFW folder (<name>/<name>_0001.jpg, ...)")
    if not os.path.isdir(a.data):
        raise ValueError(f"--data {a.data!r} does not exist or is not a folder")
    if a.protocol:
        raise ValueError("--protocol: the pairs file fixes the folds; give --pairs or --protocol, not both")
    if a.plots or a.baselines:
        raise ValueError("--plots and --baselines measure a whole folder; they do not go with --pairs")
    pairs = read_pairs(a.pairs)  # before the (slow) model: a bad file fails at once
    model = load_model(a.model)
    res = evaluate_pairs(model, a.data, pairs)
    res.update(model=str(a.model), model_id=model.model_id, data=a.data)
    if a.json:
        print(json_text(res))
    else:
        print(format_pairs_report(res, f"{a.model} on {a.data} with {a.pairs}"))
    return 0


def cmd_crossval(a):
    from .crossval import cross_validate
    from .train import TrainConfig

    if a.model:
        from .checkpoint import load_model

        model = load_model(a.model)
        data = _load(a.data, model)
        fixed = model.chip_encoder() if hasattr(model, "chip_encoder") else model
    else:
        data, fixed = _load(a.data, (a.size, a.size), a.channels), None
    cfg = TrainConfig(loss=a.loss, mining=a.mining, steps=a.steps, seed=a.seed, init=a.init,
                      max_time=a.max_time, members=a.members, model=dict(input_size=(a.size, a.size)),
                      teacher=_teacher(a) if fixed is None else "none", distill_weight=a.distill_weight)

    def say(s):
        print(s, file=sys.stderr)

    res = cross_validate(data, a.folds, a.seed, a.ways, a.trials, log=say, encoder=fixed, config=cfg,
                         progress=not a.json)
    if a.json:
        print(json_text(res))
    else:
        for name in ("encoder", "raw_pixels", "eigenfaces"):
            m, s = res["mean"][name], res["std"][name]
            print(f"{name:<11} verification {100 * m['verification_accuracy']:.1f} +- "
                  f"{100 * s['verification_accuracy']:.1f}%   {a.ways}-way one-shot "
                  f"{100 * m['oneshot_accuracy']:.1f} +- {100 * s['oneshot_accuracy']:.1f}%   "
                  f"AUC {m['roc_auc']:.3f}   EER {100 * m['eer']:.1f}%")
        print(f"mean training time per fold: {res['mean']['train_seconds']:.0f} s")
    return 0


def _db(a, create=False, model=None):
    """The database named by ``--db``: one name rule (``people`` -> ``people.npz``) for the
    existence check, the load and the save, so nothing else is ever overwritten."""
    from minicnn.io import npz_path

    from .checkpoint import load_model
    from .database import FaceDatabase

    model = model or load_model(a.model)
    _check_tau_applies(a, model)
    path = npz_path(a.db)
    if os.path.lexists(path):
        db = FaceDatabase.load(path, model, tau=a.tau)
    elif create:
        db = FaceDatabase(model, tau=a.tau)
    else:
        raise FileNotFoundError(f"database {str(path)!r} does not exist; enroll someone first")
    return db


def _check_tau_applies(a, model):
    from .encoder import RULE_HEAD

    if a.tau is not None and getattr(model, "decision_rule", None) == RULE_HEAD:
        raise ValueError(f"--tau: {a.model} decides with its binary head ({RULE_HEAD}); a distance "
                         f"threshold does not apply to it")


def _decision(m, db) -> str:
    """What a :class:`~minicnn.face.database.Match` was decided on, for one output line."""
    if m.probability is not None:
        return f"P(same) {m.probability:.3f} (rule: {m.rule}; distance {m.distance:.3f})"
    cal = ""
    if getattr(db.model, "calibration", None) is not None:
        cal = f", P(same) = {float(db.model.same_probability(m.distance)):.2f}"
    return f"distance {m.distance:.3f} (tau {db.tau:.3f}{cal})"


def cmd_enroll(a):
    from minicnn.cli_args import check_name
    from minicnn.io import check_replaceable, file_lock, npz_path

    from .checkpoint import load_model
    from .database import KIND, FaceDatabase

    check_name(a.name)
    path = npz_path(a.db)
    check_replaceable(path, (KIND,))  # before the slow part: never a model or another file
    model = load_model(a.model)
    _check_tau_applies(a, model)
    enc = FaceDatabase(model, tau=a.tau).encode(list(a.images))  # the slow part, before taking the lock
    # load-modify-save under one lock: parallel enrolls into the same file all count
    with file_lock(path):
        db = _db(a, create=True, model=model)
        n = db.enroll_encodings(a.name, enc)
        db.save(path)
    print(f"enrolled {a.name!r}: {n} encoding(s); {len(db)} people in {path}")
    return 0


def cmd_verify(a):
    db = _db(a)
    db.encodings(a.name)  # an unknown name fails before the slow part
    m = db.verify_encoding(db.encode(a.image)[0], a.name)
    print(f"{'MATCH' if m.same else 'NO MATCH'}: {a.image} vs {a.name!r}: {_decision(m, db)}")
    return 0 if m.same else 1


def cmd_identify(a):
    db = _db(a)
    if hasattr(db.model, "faces"):  # the pretrained networks: every face of the photo
        from .cli_pretrained import identify_every_face
        return identify_every_face(db, a, _decision)
    if not len(db):
        raise ValueError("identify: the database is empty; enroll someone first")
    m = db.identify_encoding(db.encode(a.image)[0])
    print(f"{m.name if m.same else 'not recognised'}: {_decision(m, db)}")
    return 0 if m.same else 1


def _cmd_detect(a):
    from .cli_pretrained import cmd_detect
    return cmd_detect(a)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m minicnn.face",
                       description="Face verification and recognition with a Siamese ConvNet.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an encoder on a face folder (or synthetic faces)")
    t.add_argument("--data", help="folder: one sub-folder per person, or files <person>.<anything>; "
                                  "omitted: synthetic faces")
    t.add_argument("--out", required=True, help="model file to write (.npz)")
    t.add_argument("--epochs", type=positive_int, default=None, help="default: enough for --steps steps")
    t.add_argument("--steps", type=positive_int, default=None if not fast_mode() else 30,
                   help="optimisation steps (default: 300 on a folder, 600 on synthetic faces)")
    t.add_argument("--loss", choices=["triplet", "binary", "contrastive"], default="triplet")
    t.add_argument("--mining", choices=["semihard", "hard", "all"], default="semihard")
    t.add_argument("--alpha", type=positive_float, default=0.2, help="triplet margin")
    t.add_argument("--head", choices=["abs", "chi2"], default="abs", help="binary head features")
    t.add_argument("--seed", type=nonnegative_int, default=0)
    t.add_argument("--lr", type=positive_float, default=3e-3)
    t.add_argument("-P", type=int_range(2), default=10, help="identities per batch")
    t.add_argument("-K", type=int_range(2), default=4, help="images per identity in a batch")
    t.add_argument("--size", type=int_range(16, 1024), default=64, help="input size (square)")
    t.add_argument("--channels", type=int, choices=[1, 3], default=1)
    t.add_argument("--dim", type=int_range(1, 4096), default=128, help="encoding size")
    t.add_argument("--init", default=None, help="'pretrained' (shipped synthetic-face weights), 'scratch' or a "
                   "model file to fine-tune (default: pretrained with --data, else scratch)")
    t.add_argument("--max-time", type=nonnegative_float, default=240.0,
                   help="seconds of training at most (0: no limit)")
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--members", type=int_range(1, 32), default=None,
                   help=f"encoders in the ensemble, distances averaged (default: {MEMBERS} with --data, else 1)")
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("evaluate", help="verification / one-shot / recognition metrics on a face folder")
    e.add_argument("--model", required=True, help="model file, or 'dlib' for the pretrained networks")
    e.add_argument("--data", help="face folder (people not used in training); omitted: synthetic test faces")
    e.add_argument("--ways", type=int_range(2), default=5)
    e.add_argument("--trials", type=positive_int, default=1000)
    e.add_argument("--seed", type=nonnegative_int, default=0)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--plots", help="folder for roc.png and error_vs_k.png")
    e.add_argument("--baselines", action="store_true", help="also measure raw pixels and eigenfaces")
    e.add_argument("--protocol", choices=["random-folds", "people-folds"], default=None,
                   help="verification folds: pairs split at random (default), or folds disjoint in people "
                        "(as LFW's View 2: 10 folds, threshold chosen on 9)")
    e.add_argument("--pairs", help="an LFW-format pairs.txt: evaluate its pairs of --data (LFW's folder layout) "
                                   "with its folds (the standard 10-fold LFW accuracy)")
    e.set_defaults(fn=cmd_evaluate)

    c = sub.add_parser("crossval", help="train/test over identity folds (unseen people), with baselines")
    c.add_argument("--data", required=True)
    c.add_argument("--model", help="test this model on every fold instead of training one ('dlib': the "
                                   "pretrained networks)")
    c.add_argument("--folds", type=int_range(2), default=3)
    c.add_argument("--ways", type=int_range(2), default=5)
    c.add_argument("--trials", type=positive_int, default=1000)
    c.add_argument("--seed", type=nonnegative_int, default=0)
    c.add_argument("--steps", type=positive_int, default=300 if not fast_mode() else 30)
    c.add_argument("--loss", choices=["triplet", "binary", "contrastive"], default="triplet")
    c.add_argument("--mining", choices=["semihard", "hard", "all"], default="semihard")
    c.add_argument("--size", type=int_range(16, 1024), default=64)
    c.add_argument("--channels", type=int, choices=[1, 3], default=1)
    c.add_argument("--init", default=INIT)
    c.add_argument("--max-time", type=nonnegative_float, default=0.0)
    c.add_argument("--members", type=int_range(1, 32), default=MEMBERS)
    c.add_argument("--json", action="store_true")
    for q in (t, c):
        q.add_argument("--teacher", choices=["dlib", "none"], default=None,
                       help="distil the pretrained network's distances (default: dlib when installed and "
                            "--data is given, else none)")
        q.add_argument("--distill-weight", type=nonnegative_float, default=1.0,
                       help="weight of the distillation term beside the loss")
    c.set_defaults(fn=cmd_crossval)

    d = sub.add_parser("detect", help="find faces and their 5 landmarks in a photo (pretrained networks)")
    d.add_argument("image")
    d.add_argument("--out", help="PNG with the boxes and landmarks drawn")
    d.add_argument("--upsample", type=int, choices=[0, 1, 2], default=0,
                   help="upsample the photo this many times first (finds smaller faces, slower)")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(fn=_cmd_detect)

    for name, fn, helptext in (("enroll", cmd_enroll, "add a person's photo(s) to a database"),
                               ("verify", cmd_verify, "is this photo that person? (exit 0 = yes)"),
                               ("identify", cmd_identify, "who is in this photo? (exit 0 = recognised)")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--model", required=True, help="model file, or 'dlib' for the pretrained networks")
        s.add_argument("--db", required=True, help="database file (.npz, added to a name without a suffix)")
        s.add_argument("--tau", type=float_range(0, 4), default=None,
                       help="threshold on the squared distance, in [0, 4] (default: the database's / model's)")
        if name in ("enroll", "verify"):
            s.add_argument("name")
        if name == "enroll":
            s.add_argument("images", nargs="+")
        else:
            s.add_argument("image")
        s.set_defaults(fn=fn)
    return p


def main(argv=None) -> int:
    """Exit status: 0 done (verify: match, identify: recognised); 1 no match / not recognised,
    or the work could not be done (a file could not be written, training diverged);
    2 bad input (arguments, files, images). Errors are one line on stderr."""
    from .train import TrainingError

    args = build_parser().parse_args(argv)
    if getattr(args, "max_time", None) == 0:
        args.max_time = None
    try:
        return args.fn(args)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError, IsADirectoryError,
            PretrainedNotInstalled) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {one_line(msg)}", file=sys.stderr)
        return 2
    except (OSError, TrainingError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
