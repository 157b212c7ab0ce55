"""``python -m minicnn.visualize``: a Zeiler–Fergus top-k sheet of a trained ConvNet.

    python -m minicnn.visualize --model MODEL.npz --data DIR --out SHEET.png \\
        [--layers 0 3] [--units 1 4 7] [--k 9] [--views] [--device cuda]

Without ``--model`` it loads the default model shipped with the package
(``--retrain``, or a missing file: trains it on the embedded shapes data and
saves it next to the sheet); without ``--data`` it searches generated shapes
images.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from minicnn.cli_args import ArgumentParser, int_range, nonnegative_int, one_line, positive_int


def _parser():
    p = ArgumentParser(prog="python -m minicnn.visualize",
                                description="Draw the top-k input patches of ConvNet units, layer by layer "
                                            "(Zeiler & Fergus 2013), plus filters, saliency and more.")
    p.add_argument("--model", help="model .npz written by minicnn.visualize.model.save_model, or 'dlib': "
                                   "dlib's pretrained face ResNet over a folder of face photos (--data) "
                                   "(default: train the small default model)")
    p.add_argument("--data", help="folder of image files, or an .npy/.npz array (N, C, H, W) "
                                  "(default: generated shapes images)")
    p.add_argument("--out", default="visualize_sheet.png", help="output PNG, in the current folder by default "
                                                                "(default: %(default)s)")
    p.add_argument("--layers", nargs="+", help="layer names as in named_modules() (default: the output "
                                                "of every conv block, e.g. its ReLU)")
    p.add_argument("--units", nargs="+", type=nonnegative_int,
                   help="unit (channel) indices shown for every layer (default: the most active ones)")
    p.add_argument("--n-units", type=int_range(1, 64), default=6, help="units per layer when --units is not given")
    p.add_argument("--k", type=int_range(1, 100), default=9, help="patches per unit (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--border", action="store_true",
                   help="let positions whose field hangs over the image border compete too (by default "
                        "only fields inside the image do: zero padding makes artificial edges)")
    p.add_argument("--n-images", type=int_range(10, 100000), help="generated images to search when --data is not given")
    p.add_argument("--views", action="store_true",
                   help="also write filters, activation maps, saliency and activation maximisation")
    p.add_argument("--retrain", action="store_true",
                   help="without --model: train the default model instead of loading the shipped weights")
    p.add_argument("--quick", action="store_true", help="a smaller run (also set by MINICNN_FAST=1)")
    p.add_argument("--backend", choices=("reference", "numpy", "numba"),
                   help="convolution kernels for CPU arrays (default: minicnn's current backend)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="run the model on the CPU (default) or an NVIDIA GPU (needs CuPy); "
                        "a default model that must be trained is trained on the CPU first")
    return p


def main(argv=None) -> int:
    """Exit status 0 done, 2 bad input (one line on stderr), 1 a file could not be written."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line message (or --help)
        return int(exc.code or 0)
    try:
        return _run(args)
    except (KeyError, ValueError, TypeError, FileNotFoundError, IsADirectoryError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"python -m minicnn.visualize: error: {one_line(msg)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"python -m minicnn.visualize: error: {one_line(exc)}", file=sys.stderr)
        return 1


def _run(args):
    import numpy as np

    from minicnn.config import fast_mode

    from .data import CLASSES, load_images, make_shape_images
    from .demo import block_outputs, conv_layers, draw_views, save
    from .model import default_or_trained, load_model, save_model
    from .receptive_field import format_table, receptive_fields
    from .sheet import top_patches_sheet

    out = Path(args.out)
    if out.suffix == "":
        out = out.with_suffix(".png")
    if out.suffix.lower() != ".png":  # the sheet is always PNG: never PNG bytes under another name
        raise ValueError(f"--out must be a .png file, got {args.out}")
    if args.device == "cuda":
        from minicnn import cuda
        if not cuda.is_available():
            raise ValueError(f"--device cuda: no usable CUDA GPU: {cuda.unavailable_reason()}")
    if args.backend:
        import minicnn as mc
        mc.set_backend(args.backend)
    quick = args.quick or fast_mode()
    t0 = time.perf_counter()
    if args.model == "dlib":
        return _run_dlib(args, out, t0)
    if args.model:
        model, meta = load_model(args.model)
    else:
        model, meta, how = default_or_trained(quick=quick, retrain=args.retrain)
        print(f"default model: {how} in {time.perf_counter() - t0:.1f} s "
              f"(test accuracy {meta['test_accuracy']:.2f})")
        if how == "trained":
            saved = save_model(model, out.with_name(out.stem + "_model.npz"), meta=meta)
            print(f"saved it as {saved} (pass --model {saved} to reuse it)")
    model.to(args.device)  # every view feeds its inputs to the device of the model's parameters
    convs = conv_layers(model)
    if not convs:
        raise ValueError("the model has no convolution layer to visualise")
    in_ch = int(np.shape(model_weight(model, convs[0]))[1])
    shown = 0  # the image whose activation maps and saliency --views draws
    if args.data:
        size = tuple(meta["input_shape"][1:]) if "input_shape" in meta else None
        images = load_images(args.data, in_channels=in_ch, size=size)
    else:
        if in_ch != 3:
            raise ValueError(f"the model takes {in_ch} input channels; the default shapes data are RGB: pass --data")
        images, labels = make_shape_images(args.n_images or (300 if quick else 1200), seed=123)
        shown = int(np.argmax(labels == CLASSES.index("cross")))  # a shape shows clearer maps
    layers = args.layers or block_outputs(model)
    print(format_table(receptive_fields(model, input_shape=images.shape)))
    fig, results = top_patches_sheet(model, images, layers, k=args.k, units=args.units,
                                     n_units=args.n_units, batch_size=args.batch_size,
                                     interior=not args.border)
    save(fig, out)
    written = [out]
    if args.views:
        written += [out.parent / n for n in draw_views(model, images, out.parent, prefix=out.stem,
                                                         layers=layers, k=args.k, quick=quick,
                                                         results=results, image_index=shown,
                                                         class_names=meta.get("classes"))]
    for r in results:
        print(f"layer {r.layer}: units {r.units}, best activations {np.round(r.values[:, 0], 3).tolist()}")
    print("wrote " + ", ".join(str(p) for p in written) + f" in {time.perf_counter() - t0:.1f} s")
    return 0


def _run_dlib(args, out, t0):
    """Top-9 patches of units of dlib's face ResNet (29 conv layers, trained on millions of
    faces), searched over the aligned faces of a folder of photos."""
    import numpy as np

    import minicnn.nn as nn
    from minicnn.face.data import read_image
    from minicnn.face.dlib_models import load_pretrained
    from minicnn.face.dlib_models.network import InputScale

    from .demo import save
    from .receptive_field import format_table, leaf_layers, receptive_fields
    from .sheet import top_patches_sheet

    if not args.data:
        raise ValueError("--model dlib needs --data: a folder of face photos")
    folder = Path(args.data)
    if not folder.is_dir():
        raise ValueError(f"--data {folder}: expected a folder of face photos")
    face = load_pretrained()
    chips = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        try:
            photo = read_image(str(path), channels=3)
        except ValueError:
            continue
        chips.append(face.align_photo(photo))
        if args.n_images and len(chips) >= args.n_images:
            break
    if not chips:
        raise ValueError(f"--data {folder}: no readable image")
    images = np.stack(chips)
    model = nn.Sequential(InputScale(face.mean), face.net)
    rfs = receptive_fields(leaf_layers(model), input_shape=images.shape)
    layers = args.layers or _last_relu_per_resolution(model, rfs)
    print(f"{len(images)} aligned faces from {folder}")
    print(format_table(rfs))
    # the deeper layers' fields are wider than the 150 x 150 chip, so no position would be
    # "interior": every position competes here
    fig, results = top_patches_sheet(model, images, layers, k=args.k, units=args.units,
                                     n_units=args.n_units, batch_size=args.batch_size, interior=False)
    save(fig, out)
    for r in results:
        print(f"layer {r.layer}: units {r.units}, best activations {np.round(r.values[:, 0], 3).tolist()}")
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _last_relu_per_resolution(model, rfs):
    """The last ReLU before each change of the feature map's size (one per stage), among the
    layers whose receptive field still fits in the image: a deeper unit's patch would be wider
    than the whole chip (and every kept patch is stored at the field's size)."""
    relu = {n for n, m in leaf_layers_of(model) if type(m).__name__ == "ReLU"}
    image = rfs[0].out_shape
    grid = [r for r in rfs if r.name in relu and r.out_shape
            and all(f <= n for f, n in zip(r.size, image))]
    return [r.name for r, nxt in zip(grid, grid[1:] + [None]) if nxt is None or nxt.out_shape != r.out_shape]


def leaf_layers_of(model):
    from .receptive_field import leaf_layers

    return leaf_layers(model)


def model_weight(model, name):
    from .layers import get_layer, to_array

    return to_array(get_layer(model, name).weight)


if __name__ == "__main__":
    sys.exit(main())
