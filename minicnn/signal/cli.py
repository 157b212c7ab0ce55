"""``python -m minicnn.signal``: 1D and 3D ConvNets on signals and volumes.

    python -m minicnn.signal ecg [--record PATH] [--json] [--out DIR] [--quick]
    python -m minicnn.signal volume [--video] [--json] [--out DIR] [--quick]
    python -m minicnn.signal shapes          # the lecture's 1D / 3D layer shapes

``ecg`` without ``--record`` trains and tests on synthetic recordings (offline); with
``--record ../shared/data/ecg/100`` (a WFDB record, path without extension) it trains on the
first 20 minutes and tests on the rest against the record's beat annotations.

Figures and ``<task>_metrics.json`` go to ``--out`` (default: the folder
``minicnn-signal-output`` in the current folder, ignored by the project's ``.gitignore``).
Exit status: 0 done, 2 bad input (one line on stderr), 1 an output could not be written.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from ..cli_args import (ArgumentParser, check_writable_folder, finite_or_none, int_range, json_text, nonnegative_int,
                        one_line, positive_float, positive_int)

__all__ = ["main", "run_demo", "save_figure"]


def save_figure(fig, path: Path, dpi: int = 110) -> Path:
    """Write a Figure as PNG atomically (a reader never sees half a file)."""
    from ..io import atomic_write

    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))


def _write_metrics(metrics: dict, path: Path) -> None:
    from ..io import atomic_write

    def write(tmp):
        with open(tmp, "w") as fh:
            json.dump(finite_or_none(metrics), fh, indent=2, allow_nan=False)
    atomic_write(path, write)


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m minicnn.signal",
                                description="Convolutions in 1D (ECG beat detection) and 3D "
                                            "(volume / video classification).")
    sub = p.add_subparsers(dest="command", required=True)
    common = ArgumentParser(add_help=False)
    common.add_argument("--out", default="minicnn-signal-output", help="folder for figures and "
                        "metrics.json (default: %(default)s)")
    common.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    common.add_argument("--quick", action="store_true", help="a smaller run (also MINICNN_FAST=1)")
    common.add_argument("--seed", type=nonnegative_int, default=0)
    e = sub.add_parser("ecg", parents=[common], help="train and score the R-peak detector")
    e.add_argument("--record", help="WFDB record path without extension, e.g. ../shared/data/ecg/100 "
                                    "(default: synthetic recordings)")
    e.add_argument("--lead", help="signal name in the record (default: MLII, else the first)")
    e.add_argument("--train-minutes", type=positive_float, default=20.0, help="train on this many first minutes")
    e.add_argument("--steps", type=positive_int, help="training steps (default 150, quick 60)")
    v = sub.add_parser("volume", parents=[common], help="train and score the conv3d classifier")
    v.add_argument("--video", action="store_true", help="moving-square clips (time = 3rd axis) "
                                                        "instead of solids in volumes")
    v.add_argument("--epochs", type=positive_int, help="training epochs (default 8, quick 6)")
    v.add_argument("--n-train", type=int_range(8, 100000), help="training examples")
    sub.add_parser("shapes", help="print the lecture's 1D and 3D layer shapes and parameter counts")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError, FileExistsError) as exc:
        print(f"python -m minicnn.signal: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"python -m minicnn.signal: error: {one_line(exc)}", file=sys.stderr)
        return 1


def _pct(x) -> str:
    return "undefined" if x is None else f"{x:.2%}"


def _run(args) -> int:
    from ..config import fast_mode
    from .lecture import format_shapes, lecture_shapes

    if args.command == "shapes":
        for d in (1, 3):
            print(f"{d}D stack (lecture section 8)\n{format_shapes(lecture_shapes(d))}\n")
        return 0
    quick = args.quick or fast_mode()
    out = Path(args.out)
    if os.path.lexists(out) and not out.is_dir():  # checked before training, not after
        raise FileExistsError(f"--out {out} exists and is not a folder; give a folder for the figures "
                              f"and metrics")
    check_writable_folder(out, "--out")
    if args.command == "ecg":
        from .ecg_task import run_record, run_synthetic

        if args.record:
            metrics, fig = run_record(args.record, lead=args.lead, train_minutes=args.train_minutes,
                                      steps=args.steps, quick=quick, seed=args.seed)
        else:
            metrics, fig = run_synthetic(steps=args.steps, quick=quick, seed=args.seed)
        fig_path = save_figure(fig, out / "ecg_detections.png")
        summary = (f"{metrics['data']}: sensitivity {_pct(metrics['sensitivity'])}, "
                   f"PPV {_pct(metrics['ppv'])} ({metrics['tp']} TP, {metrics['fn']} FN, "
                   f"{metrics['fp']} FP of {metrics['test_beats']} test beats, 50 ms tolerance)")
    else:
        from .volumes import run_volumes

        metrics, fig = run_volumes(video=args.video, n_train=args.n_train, epochs=args.epochs,
                                   quick=quick, seed=args.seed)
        name = "video" if args.video else "volume"
        fig_path = save_figure(fig, out / f"{name}_predictions.png")
        summary = (f"{name}: held-out accuracy {metrics['accuracy']:.2%} on {metrics['n_test']} "
                   f"examples ({', '.join(metrics['classes'])})")
    metrics["figure"] = str(fig_path)
    _write_metrics(metrics, out / f"{metrics['task']}_metrics.json")
    if args.json:
        print(json_text(metrics))
    else:
        print(summary)
        print(f"figure: {fig_path}  ({metrics['seconds']:.1f} s)")
    return 0


def run_demo(out_dir, quick: bool) -> dict:
    """The signal part of ``python -m minicnn.demo``: the ECG beat detector on synthetic
    recordings and the conv3d volume classifier, figures written into ``out_dir``.
    Returns flat metrics plus ``figures`` (file names in ``out_dir``)."""
    import matplotlib

    matplotlib.use("Agg")
    from .ecg_task import run_synthetic
    from .lecture import lecture_shapes
    from .volumes import run_volumes

    out = Path(out_dir)
    t0 = time.perf_counter()
    ecg, fig_e = run_synthetic(quick=quick)
    save_figure(fig_e, out / "signal_ecg_detections.png")
    vol, fig_v = run_volumes(quick=quick)
    save_figure(fig_v, out / "signal_volume_predictions.png")
    shapes = {d: lecture_shapes(d)[-1]["shape"] for d in (1, 3)}
    return {"ecg_sensitivity": ecg["sensitivity"], "ecg_ppv": ecg["ppv"],
            "ecg_test_beats": ecg["test_beats"], "volume_accuracy": vol["accuracy"],
            "volume_test_examples": vol["n_test"],
            "lecture_1d_output": "x".join(map(str, shapes[1])),
            "lecture_3d_output": "x".join(map(str, shapes[3])),
            "seconds": time.perf_counter() - t0,
            "figures": ["signal_ecg_detections.png", "signal_volume_predictions.png"]}
