"""``run_demo(out_dir, quick)``: the style-transfer part of ``python -m minicnn.demo``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..hints import PathLike


def comparison_figure(content, style, result, titles=("content C", "style S", "generated G")):
    """Figure with C, S and G side by side (each ``(3, H, W)`` in [0, 1])."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4), dpi=80)
    for i, (img, title) in enumerate(zip((content, style, result), titles)):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.imshow(np.clip(np.moveaxis(img, 0, -1), 0, 1))
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    return fig


def run_demo(out_dir: PathLike, quick: bool = False) -> dict:
    """Offline style transfer (Grace Hopper + the generated painting, random
    multi-scale features); writes ``style_result.png``, ``style_costs.png``
    and ``style_panel.png`` into ``out_dir`` and returns the numbers.

    ``quick``: 128 px and 60 steps (about half a minute on two cores);
    otherwise the command line's defaults (256 px, 150 steps).
    """
    from ..images import save_image
    from .cli import DEFAULTS
    from .samples import default_content_image, default_style_image
    from .transfer import style_transfer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size, steps = (128, 60) if quick else (DEFAULTS["size"], DEFAULTS["steps"])
    content, style = default_content_image(size), default_style_image(size)
    result = style_transfer(content, style, steps=steps, alpha=DEFAULTS["alpha"], beta=DEFAULTS["beta"],
                            lr=DEFAULTS["lr"], init=DEFAULTS["init"])
    files = {"result": save_image(result.image, out_dir / "style_result.png"),
             "costs": out_dir / "style_costs.png", "panel": out_dir / "style_panel.png"}
    result.figure().savefig(files["costs"])
    comparison_figure(content, style, result.image).savefig(files["panel"])
    summary = result.summary()
    return {"J_initial": summary["J_initial"], "J_final": summary["J_final"],
            "J_reduction": summary["J_reduction"], "seconds": summary["seconds"],
            "size": summary["size"], "steps": summary["steps"], "files": {k: str(v) for k, v in files.items()}}
