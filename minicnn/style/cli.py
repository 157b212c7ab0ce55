"""``python -m minicnn.style``: neural style transfer from the command line.

    python -m minicnn.style --content photo.jpg --style painting.jpg --out result.png
    python -m minicnn.style --out result.png            # offline: Grace Hopper + a generated painting
    python -m minicnn.style ... --json                  # one JSON object with the costs and the time
    python -m minicnn.style ... --device cuda           # on an NVIDIA GPU (needs the [gpu] extra)

Writes the image to ``--out`` and a figure of the costs over the steps next to
it (``<out>_costs.png``). Bad input (missing or unreadable files, tiny or huge
images, unknown layers, broken weights, ``--device cuda`` without a usable
GPU, out-of-range numbers, an output that is one of the inputs, an existing
file it did not write without ``--force``) ends with a one-line message and
exit status 2; images with alpha, a palette or one gray channel are converted
(a note says how). Files written here carry ``Software: minicnn`` in their PNG
metadata, which is how a rerun knows it may replace them without ``--force``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from ..backend import get_backend, use_backend
from ..cli_args import (
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
from ..config import fast_mode
from ..hints import PathLike
from ..images import conversion_note, load_image, save_image
from ..random import seed as mc_seed
from .features import FeatureNetwork, RandomMultiScale
from .transfer import ADAM_LR
from .vgg import VGG19

DEFAULTS = dict(size=256, steps=200, alpha=10.0, beta=40.0, optimizer="adam", lr=ADAM_LR, init="content",
                noise_ratio=0.6, seed=0, tv=0.0, scales=1)
MAX_SIZE = 2048


def build_parser():
    p = ArgumentParser(
        prog="python -m minicnn.style",
        description="Neural style transfer (Gatys et al. 2015): optimise the pixels of an image G so that "
                    "its content matches --content and its style (Gram matrices) matches --style.")
    p.add_argument("--content", help="content image (default: matplotlib's photo of Grace Hopper)")
    p.add_argument("--style", help="style image (default: a generated swirly painting)")
    p.add_argument("--out", default="stylized.png", help="output image (PNG); the cost figure goes next to it")
    p.add_argument("--size", type=int_range(16, MAX_SIZE),
                   help=f"longer side of G in pixels (default {DEFAULTS['size']}; 128 with MINICNN_FAST=1)")
    p.add_argument("--steps", type=positive_int,
                   help=f"optimisation steps (default {DEFAULTS['steps']}; 40 with MINICNN_FAST=1)")
    p.add_argument("--alpha", type=nonnegative_float, default=DEFAULTS["alpha"], help="content weight (default 10)")
    p.add_argument("--beta", type=nonnegative_float, default=DEFAULTS["beta"], help="style weight (default 40)")
    p.add_argument("--content-layer", help="layer for the content cost (default: the network's)")
    p.add_argument("--style-layers", nargs="+", metavar="NAME[:LAMBDA]",
                   help="layers for the style cost, each optionally with its weight lambda "
                        "(default: the network's; equal weights when none are given)")
    p.add_argument("--network", choices=("random", "vgg19"), default="random",
                   help="feature network: 'random' multi-scale filters (offline default) or 'vgg19'")
    p.add_argument("--weights", help="VGG-19 weights as a minicnn .npz (implies --network vgg19); make one with "
                                     "python -m minicnn.style.convert_vgg19")
    p.add_argument("--width", type=float_range(0, 4, low_open=True),
                   help="VGG-19 channel multiplier for random weights (default 0.25)")
    p.add_argument("--gain", type=positive_float,
                   help="activation scale of the random network "
                        "(default 6; larger = more style at the same alpha, beta)")
    p.add_argument("--pool", choices=("avg", "max"), default="avg", help="VGG-19 pooling (default avg)")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default=DEFAULTS["optimizer"])
    p.add_argument("--lr", type=positive_float, default=DEFAULTS["lr"],
                   help=f"Adam step size in pixel units (default {ADAM_LR})")
    p.add_argument("--init", choices=("content", "noise", "mix"), default=DEFAULTS["init"],
                   help="starting image: the content image, noise, or the course's mix (default content)")
    p.add_argument("--noise-ratio", type=float_range(0, 1), default=DEFAULTS["noise_ratio"],
                   help="noise share for --init mix")
    p.add_argument("--tv", type=nonnegative_float, default=DEFAULTS["tv"],
                   help="total-variation weight (default 0: off)")
    p.add_argument("--scales", type=int_range(1, 8), default=DEFAULTS["scales"],
                   help="coarse-to-fine scales (default 1)")
    p.add_argument("--seed", type=nonnegative_int, default=DEFAULTS["seed"])
    p.add_argument("--backend", choices=("numpy", "numba", "reference"),
                   help="CPU convolution kernels (default: minicnn's default backend)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where the network and the image live (default cpu; cuda needs CuPy and an NVIDIA GPU)")
    p.add_argument("--force", action="store_true",
                   help="replace --out (and its cost figure) even when they exist and were not written by minicnn")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


class UsageError(ValueError):
    """Bad input the user can fix; reported as one line, exit status 2."""


def _style_layers(items):
    if not items:
        return None
    out = []
    for item in items:
        name, _, weight = item.partition(":")
        try:
            out.append((name, float(weight)) if weight else name)
        except ValueError:
            raise UsageError(f"--style-layers: cannot read the weight in {item!r} (use NAME or NAME:LAMBDA)") from None
    if any(isinstance(o, tuple) for o in out) and not all(isinstance(o, tuple) for o in out):
        raise UsageError("--style-layers: give a weight for every layer or for none")
    return out


def check_device(device):
    """``UsageError`` (exit status 2) when ``--device cuda`` is asked for and no GPU can be used."""
    from .. import cuda

    if device == "cuda" and not cuda.is_available():
        raise UsageError(f"--device cuda: no usable CUDA GPU: {cuda.unavailable_reason()}")


def _made_by_minicnn(path) -> bool:
    """True for a PNG this package wrote (it carries ``Software: minicnn...`` metadata)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return str(img.info.get("Software", "")).startswith("minicnn")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def check_outputs(outputs, inputs, force):
    """Refuse to write an output over one of the inputs (same file once links are resolved),
    or over an existing file this program did not make unless ``force``."""
    for out, flag in outputs:
        for name, path in inputs:
            if path and os.path.exists(path) and (os.path.realpath(out) == os.path.realpath(path) or (
                    os.path.exists(out) and os.path.samefile(out, path))):
                raise UsageError(f"{flag} {out} is the {name} input file; choose another output name")
        if os.path.lexists(out) and not force and not _made_by_minicnn(out):
            raise UsageError(f"{flag} {out} exists and was not written by minicnn; pass --force to replace it "
                             f"or choose another name")


def _load(path, size, what, say):
    note = conversion_note(path)
    if note:
        say(f"note: {what}: {note}")
    return load_image(path, size=size)


def build_network(name: str = "random", weights: PathLike | None = None, width: float | None = None, pool: str = "avg",
                  seed: int = 0, gain: float | None = None) -> FeatureNetwork:
    """The feature network for the command line.

    ``name``: ``"random"`` (:class:`RandomMultiScale`, offline default) or
    ``"vgg19"`` (:class:`~minicnn.style.vgg.VGG19`). ``weights``: a minicnn
    ``.npz`` for VGG-19 (implies ``"vgg19"``; without it VGG-19 keeps random
    weights, seeded). ``width``: VGG-19 channel multiplier (default 1 with
    weights, else 0.25). ``gain``: :class:`RandomMultiScale`'s activation scale.
    """
    if weights is not None:
        name = "vgg19"
    if name == "random":
        return RandomMultiScale(seed=seed) if gain is None else RandomMultiScale(gain=gain, seed=seed)
    if name == "vgg19":
        if weights is not None:
            return VGG19.from_npz(weights, pool=pool)
        mc_seed(seed)
        return VGG19(pool=pool, width=0.25 if width is None else width)
    raise ValueError(f"build_network: name must be 'random' or 'vgg19', got {name!r}")


def run(args, say=print):
    """Do the work for parsed ``args``; returns the result summary (a dict)."""
    from ..io import atomic_write
    from .samples import default_content_image, default_style_image
    from .transfer import style_transfer

    size = args.size if args.size is not None else (128 if fast_mode() else DEFAULTS["size"])
    steps = args.steps if args.steps is not None else (40 if fast_mode() else DEFAULTS["steps"])
    if not 16 <= size <= MAX_SIZE:
        raise UsageError(f"--size must be between 16 and {MAX_SIZE} pixels, got {size}")
    if steps < 1 or args.scales < 1:
        raise UsageError(f"--steps and --scales must be at least 1, got {steps} and {args.scales}")
    if args.alpha == 0 and args.beta == 0:
        raise UsageError("--alpha and --beta are both 0: there would be nothing to optimise")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ""):
        raise UsageError(f"--out must be a .png file, got {out}")
    if out.suffix == "":
        out = out.with_suffix(".png")
    fig_path = out.with_name(out.stem + "_costs.png")
    check_outputs([(out, "--out"), (fig_path, "--out (cost figure)")],
                  [("content", args.content), ("style", args.style), ("weights", args.weights)], args.force)
    check_device(args.device)

    content = _load(args.content, size, "content", say) if args.content else default_content_image(size)
    style = _load(args.style, size, "style", say) if args.style else default_style_image(size, seed=args.seed)
    network = build_network(args.network, weights=args.weights, width=args.width, pool=args.pool, seed=args.seed,
                            gain=args.gain)
    with use_backend(args.backend) if args.backend else contextlib.nullcontext():
        result = style_transfer(content, style, network, steps=steps, alpha=args.alpha, beta=args.beta,
                                content_layer=args.content_layer, style_layers=_style_layers(args.style_layers),
                                optimizer=args.optimizer, lr=args.lr, init=args.init,
                                noise_ratio=args.noise_ratio, seed=args.seed, tv_weight=args.tv,
                                scales=args.scales, progress=not args.quiet, device=args.device)
    save_image(result.image, out)
    fig = result.figure()
    atomic_write(fig_path, lambda tmp: fig.savefig(tmp, format="png", metadata={"Software": "minicnn.style"}))
    summary = result.summary()
    summary.update(out=str(out), figure=str(fig_path), network=type(network).__name__,
                   backend=args.backend or get_backend(), device=args.device)
    return summary


def main(argv=None):
    """Entry point; returns the exit status (0 ok, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage message
        return int(exc.code or 0)

    def say(msg):
        print(msg, file=sys.stderr)

    try:
        summary = run(args, say=say)
    except (UsageError, ValueError, TypeError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"{parser.prog}: error: {one_line(message)}", file=sys.stderr)
        return 2
    if args.json:
        print(json_text(summary))
    else:
        print(f"wrote {summary['out']} ({summary['size'][1]}x{summary['size'][0]}) and {summary['figure']}; "
              f"J {summary['J_initial']:.4g} -> {summary['J_final']:.4g} "
              f"({summary['J_reduction']:.1f}x lower) in {summary['seconds']:.1f} s")
    return 0
