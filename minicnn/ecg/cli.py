"""``python -m minicnn.ecg``: train and score the conv1d R-peak detector.

    python -m minicnn.ecg [--record PATH] [--json] [--out DIR] [--quick]

Without ``--record`` it trains and tests on synthetic recordings (offline); with
``--record ../shared/data/ecg/100`` (a WFDB record, path without extension) it trains on the
first 20 minutes and tests on the rest against the record's beat annotations.

The figure ``ecg_detections.png`` and ``ecg_metrics.json`` go to ``--out`` (default: the
folder ``minicnn-ecg-output`` in the current folder, ignored by the project's ``.gitignore``).
Exit status: 0 done, 2 bad input (one line on stderr), 1 an output could not be written.
"""
from __future__ import annotations

from ..cli_args import (
    ArgumentParser,
    add_output_arguments,
    output_folder,
    positive_float,
    positive_int,
    report,
    run_main,
    save_figure,
)
from ..config import fast_mode
from .ecg_task import run_record, run_synthetic

PROG = "python -m minicnn.ecg"


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Convolution in 1D: train and score an ECG R-peak detector.")
    add_output_arguments(p, "minicnn-ecg-output")
    p.add_argument("--record", help="WFDB record path without extension, e.g. ../shared/data/ecg/100 "
                                    "(default: synthetic recordings)")
    p.add_argument("--lead", help="signal name in the record (default: MLII, else the first)")
    p.add_argument("--train-minutes", type=positive_float, default=20.0, help="train on this many first minutes")
    p.add_argument("--steps", type=positive_int, help="training steps (default 150, quick 60)")
    return p


def _pct(x) -> str:
    return "undefined" if x is None else f"{x:.2%}"


def _run(args) -> int:
    quick = args.quick or fast_mode()
    out = output_folder(args.out)
    if args.record:
        metrics, fig = run_record(args.record, lead=args.lead, train_minutes=args.train_minutes,
                                  steps=args.steps, quick=quick, seed=args.seed)
    else:
        metrics, fig = run_synthetic(steps=args.steps, quick=quick, seed=args.seed)
    fig_path = save_figure(fig, out / "ecg_detections.png")
    summary = (f"{metrics['data']}: sensitivity {_pct(metrics['sensitivity'])}, "
               f"PPV {_pct(metrics['ppv'])} ({metrics['tp']} TP, {metrics['fn']} FN, "
               f"{metrics['fp']} FP of {metrics['test_beats']} test beats, 50 ms tolerance)")
    report(metrics, fig_path, summary, out, args.json)
    return 0


def main(argv=None) -> int:
    return run_main(_run, argv, _parser(), PROG)
