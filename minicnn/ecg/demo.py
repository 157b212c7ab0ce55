"""``run_demo(out_dir, quick)``: the ``ecg`` part of ``python -m minicnn.demo``."""
from __future__ import annotations

import time
from pathlib import Path

from ..cli_args import save_figure
from .ecg_task import run_synthetic


def run_demo(out_dir, quick: bool = False) -> dict:
    """Train the R-peak detector on one synthetic recording, score it on another; writes
    ``ecg_detections.png`` into ``out_dir``. Returns flat metrics plus ``figures``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ecg, fig = run_synthetic(quick=quick)
    save_figure(fig, out / "ecg_detections.png")
    return {"sensitivity": ecg["sensitivity"], "ppv": ecg["ppv"], "test_beats": ecg["test_beats"],
            "seconds": time.perf_counter() - t0, "figures": ["ecg_detections.png"]}
