"""``python -m minicnn.volume``: train and score the conv3d classifier, or print the lecture's shapes.

    python -m minicnn.volume [--video] [--json] [--out DIR] [--quick]
    python -m minicnn.volume --shapes      # the lecture's 1D and 3D layer shapes and parameter counts

``--video`` classifies moving-square clips (time is the third axis) instead of solids in
volumes. The figure ``volume_predictions.png`` (``video_predictions.png``) and the metrics JSON
go to ``--out`` (default: the folder ``minicnn-volume-output`` in the current folder, ignored
by the project's ``.gitignore``). Exit status: 0 done, 2 bad input (one line on stderr), 1 an
output could not be written.
"""
from __future__ import annotations

from ..cli_args import (
    ArgumentParser,
    add_output_arguments,
    int_range,
    output_folder,
    positive_int,
    report,
    run_main,
    save_figure,
)
from ..config import fast_mode
from .lecture import format_shapes, lecture_shapes
from .volumes import run_volumes

PROG = "python -m minicnn.volume"


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Convolution in 3D: classify volumes, or short videos.")
    add_output_arguments(p, "minicnn-volume-output")
    p.add_argument("--video", action="store_true", help="moving-square clips (time = 3rd axis) "
                                                        "instead of solids in volumes")
    p.add_argument("--epochs", type=positive_int, help="training epochs (default 8, quick 6)")
    p.add_argument("--n-train", type=int_range(8, 100000), help="training examples")
    p.add_argument("--shapes", action="store_true", help="only print the lecture's 1D and 3D layer shapes "
                                                         "and parameter counts")
    return p


def _run(args) -> int:
    if args.shapes:
        for d in (1, 3):
            print(f"{d}D stack (lecture section 8)\n{format_shapes(lecture_shapes(d))}\n")
        return 0
    quick = args.quick or fast_mode()
    out = output_folder(args.out)
    metrics, fig = run_volumes(video=args.video, n_train=args.n_train, epochs=args.epochs,
                               quick=quick, seed=args.seed)
    name = "video" if args.video else "volume"
    fig_path = save_figure(fig, out / f"{name}_predictions.png")
    summary = (f"{name}: held-out accuracy {metrics['accuracy']:.2%} on {metrics['n_test']} "
               f"examples ({', '.join(metrics['classes'])})")
    report(metrics, fig_path, summary, out, args.json)
    return 0


def main(argv=None) -> int:
    return run_main(_run, argv, _parser(), PROG)
