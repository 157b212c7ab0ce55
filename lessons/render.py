"""Executed copies of the lessons, for reading without running them: ``docs/lessons/*.ipynb``.

    python lessons/render.py            # execute every lesson, write docs/lessons/
    python lessons/render.py 03 08      # only these lessons
    python lessons/render.py --check    # are the copies' cells the sources' cells? (no execution)
    python lessons/render.py --full     # without MINICNN_FAST (slower, sharper results)

The sources in ``lessons/`` stay output-free and their exercises stay stubs; the copies are run
with the published solutions (``MINICNN_SOLUTIONS=1``) and, unless ``--full``, ``MINICNN_FAST=1``.
Figures are shrunk (at most 520 px wide; a 256-colour PNG or a JPEG, whichever is smaller) so that
the copies stay small.
``--check`` compares cell types and sources only: outputs change from run to run.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import sys
import tempfile
from pathlib import Path

import nbformat

LESSONS = Path(__file__).resolve().parent
ROOT = LESSONS.parent
OUT = ROOT / "docs" / "lessons"
MAX_WIDTH = 520


def lesson_paths(selected=()):
    paths = sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))
    if selected:
        paths = [p for p in paths if p.name[:2] in selected]
    return paths


def cells_of(nb):
    """What must agree between a source and its executed copy: each cell's type and text."""
    return [(c.cell_type, c.source) for c in nb.cells]


def stale(paths):
    """Names of the lessons whose copy is missing or whose cells differ from the source."""
    out = []
    for path in paths:
        copy = OUT / path.name
        if not copy.exists() or cells_of(nbformat.read(copy, 4)) != cells_of(nbformat.read(path, 4)):
            out.append(path.name)
    return out


def shrink_image(data: str):
    """Downscale a base64 PNG to MAX_WIDTH; keep the smaller of a 256-colour PNG and a JPEG.

    Returns (mime type, base64 data). Plots compress best as palette PNGs, photos as JPEGs."""
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
    if img.width > MAX_WIDTH:
        img = img.resize((MAX_WIDTH, round(img.height * MAX_WIDTH / img.width)), Image.LANCZOS)
    png, jpeg = io.BytesIO(), io.BytesIO()
    img.quantize(256).save(png, format="PNG", optimize=True)
    img.save(jpeg, format="JPEG", quality=70, optimize=True)
    mime, buf = min((("image/png", png), ("image/jpeg", jpeg)), key=lambda m: m[1].tell())
    return mime, base64.b64encode(buf.getvalue()).decode("ascii")


def execute(path: Path, full: bool) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(path, 4)
    env = {"MINICNN_SOLUTIONS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline", "TQDM_DISABLE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    if not full:
        env["MINICNN_FAST"] = "1"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)                      # the kernel inherits this process's environment
    if full:
        os.environ.pop("MINICNN_FAST", None)
    try:
        NotebookClient(nb, timeout=1200, kernel_name="python3",
                       resources={"metadata": {"path": str(LESSONS)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "data" in output and "image/png" in output["data"]:
                mime, data = shrink_image(output["data"].pop("image/png"))
                output["data"][mime] = data
    nb.metadata["minicnn"] = {"rendered_by": "lessons/render.py", "fast_mode": not full}
    return nb


def write_atomic(nb, target: Path):
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o644)   # mkstemp makes it 0600
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("lessons", nargs="*", help="two-digit lesson numbers (default: all)")
    p.add_argument("--check", action="store_true", help="only compare the copies' cells with the sources")
    p.add_argument("--full", action="store_true", help="run without MINICNN_FAST")
    args = p.parse_args(argv)
    paths = lesson_paths(set(args.lessons))
    if not paths:
        print(f"error: no lesson matches {args.lessons}", file=sys.stderr)
        return 2
    if args.check:
        out = stale(paths)
        for name in out:
            print(f"stale: docs/lessons/{name} (run: python lessons/render.py {name[:2]})", file=sys.stderr)
        return 1 if out else 0
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        write_atomic(execute(path, args.full), OUT / path.name)
    total = sum(f.stat().st_size for f in OUT.glob("*.ipynb"))
    print(f"docs/lessons: {total / 1e6:.2f} MB in {len(list(OUT.glob('*.ipynb')))} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
