"""The minicnn tour: ``python -m minicnn.demo [part ...] [--quick] [--out DIR]``.

Parts, in teaching order (all offline, on data the project generates):

* ``basics``    -- a tiny ConvNet overfits a fixed batch (autograd, conv, pool, Adam)
* ``faces``     -- a Siamese encoder trained with the triplet loss on synthetic
                   faces; verification, one-shot recognition, a face database
* ``style``     -- neural style transfer with the offline feature network
* ``visualize`` -- what the ConvNet learned: top-9 patches, filters, saliency
* ``ecg``       -- a 1D ConvNet that finds the heartbeats in an ECG
* ``volume``    -- a 3D ConvNet that classifies volumes; the lecture's 1D/3D layer shapes

Without a part name every part runs. Figures and a ``report.md`` go to the
output folder, whose path is printed at the end.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np

PARTS = ("basics", "faces", "style", "visualize", "ecg", "volume")
_FIGURE_PREFIX = {"basics": "basics_", "faces": "face_", "style": "style_", "visualize": "visualize_",
                  "ecg": "ecg_", "volume": "volume_"}
# Each application's part: a run_demo(out_dir, quick) -> dict in its demo module.
_DEMO_MODULES = {"faces": "minicnn.face.demo", "style": "minicnn.style.demo", "visualize": "minicnn.visualize.demo",
                 "ecg": "minicnn.ecg.demo", "volume": "minicnn.volume.demo"}


def run_basics(out_dir: Path, quick: bool) -> dict:
    """Train a tiny ConvNet on one fixed batch until it memorises it.

    Overfitting a small batch is the standard first check that the forward
    pass, the gradients and the optimizer fit together.
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing global to close
    from tqdm import tqdm

    import minicnn as mc
    import minicnn.functional as F
    from minicnn import nn, optim

    mc.seed(0)
    rng = np.random.default_rng(0)
    x = mc.Tensor(rng.standard_normal((16, 1, 12, 12)).astype(np.float32))
    labels = rng.integers(0, 4, size=16)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 3 * 3, 4),
    )
    opt = optim.Adam(model.parameters(), lr=0.01)
    losses = []
    steps = 40 if quick else 80
    for _ in tqdm(range(steps), desc="basics: overfit one batch", mininterval=1.0):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    ax.semilogy(losses)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.set_title("A tiny ConvNet memorises one batch")
    fig.tight_layout()
    fig.savefig(out_dir / "basics_loss.png", dpi=100)
    return {"loss_first": losses[0], "loss_last": losses[-1], "steps": steps, "figures": ["basics_loss.png"]}


def _run_part(name: str, out_dir: Path, quick: bool) -> dict:
    if name == "basics":
        return run_basics(out_dir, quick)
    module = importlib.import_module(_DEMO_MODULES[name])
    return module.run_demo(out_dir, quick)


def _report(results: dict, out_dir: Path, quick: bool) -> Path:
    lines = ["# minicnn demo report", "", f"Mode: {'quick' if quick else 'full'}.", ""]
    for name, res in results.items():
        lines += [f"## {name}", ""]
        seconds = res.pop("seconds", None)
        figures = res.pop("figures", None) or sorted(
            f.name for f in out_dir.glob(f"{_FIGURE_PREFIX[name]}*.png"))
        if seconds is not None:
            lines.append(f"Time: {seconds:.1f} s")
            lines.append("")
        for key, value in res.items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                shown = f"{value:.4g}" if isinstance(value, float) else value
                lines.append(f"- {key}: {shown}")
        lines.append("")
        for fig in figures:
            lines.append(f"![{fig}]({fig})")
        lines.append("")
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minicnn.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", metavar="PART",
                        help=f"which parts to run (default: all of {', '.join(PARTS)})")
    parser.add_argument("--quick", action="store_true", help="a short version (about a minute)")
    parser.add_argument("--out", default="minicnn-demo-output", help="output folder (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    args = parser.parse_args(argv)
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {list(PARTS)}")
    parts = args.parts or list(PARTS)
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)

    results = {}
    for name in parts:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        res = _run_part(name, out_dir, args.quick)
        res["seconds"] = time.perf_counter() - start
        results[name] = res
        shown = {k: v for k, v in res.items() if isinstance(v, (int, float, str, bool))}
        print(f"{name}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in shown.items()), flush=True)
    if args.json:
        print(json.dumps({k: {kk: vv for kk, vv in v.items() if isinstance(vv, (int, float, str, bool))}
                          for k, v in results.items()}))
    report = _report(results, out_dir, args.quick)
    print(f"\nFigures and report written to {out_dir} (open {report.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
