"""``run_demo(out_dir, quick)``: the ``volume`` part of ``python -m minicnn.demo``."""
from __future__ import annotations

import time
from pathlib import Path

from ..cli_args import save_figure
from .lecture import lecture_shapes
from .volumes import run_volumes


def run_demo(out_dir, quick: bool = False) -> dict:
    """Train the conv3d classifier on synthetic volumes and report its held-out accuracy and the
    lecture's 1D and 3D output shapes; writes ``volume_predictions.png`` into ``out_dir``.
    Returns flat metrics plus ``figures``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    vol, fig = run_volumes(quick=quick)
    save_figure(fig, out / "volume_predictions.png")
    shapes = {d: lecture_shapes(d)[-1]["shape"] for d in (1, 3)}
    return {"accuracy": vol["accuracy"], "test_examples": vol["n_test"],
            "lecture_1d_output": "x".join(map(str, shapes[1])),
            "lecture_3d_output": "x".join(map(str, shapes[3])),
            "seconds": time.perf_counter() - t0, "figures": ["volume_predictions.png"]}
