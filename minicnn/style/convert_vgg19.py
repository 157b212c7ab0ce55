"""Convert a torchvision VGG-19 ``state_dict`` into minicnn's ``.npz`` format.

    python -m minicnn.style.convert_vgg19 vgg19.pth vgg19.npz
    python -m minicnn.style --weights vgg19.npz --content photo.jpg --style painting.jpg

The input is what ``torch.save(torchvision.models.vgg19(weights=...).state_dict(), path)``
writes (the file torchvision caches, ``vgg19-dcbb9e9d.pth``, is one). Only the
convolutional part is kept: keys ``features.<i>.weight`` and
``features.<i>.bias`` for the 16 convolutions (``i`` = 0, 2, 5, 7, 10, ...,
34), which :class:`minicnn.style.vgg.VGG19` uses with the same names; the
classifier is dropped. Both libraries store a convolution weight as
``(C_out, C_in, KH, KW)`` and compute a cross-correlation, so the arrays are
copied unchanged.

This command is the only place in minicnn that imports torch, and only when it
runs; the library itself never needs it.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .. import io
from .vgg import VGG19_CONFIG, vgg19_layer_names

__all__ = ["convert_state_dict", "main"]


def conv_indices():
    """Indices in ``features`` of the 16 convolutions: 0, 2, 5, 7, 10, ... 34."""
    return [i for i, name in enumerate(vgg19_layer_names()) if name.startswith("conv")]


def convert_state_dict(state):
    """``{name: array}`` (torchvision keys, possibly prefixed ``module.``) ->
    ``{features.<i>.weight/bias: float32 array}``, checked against VGG-19's shapes.

    Any channel multiplier is accepted (it is read from ``features.0.weight``)
    as long as every layer agrees with it. Raises ``KeyError``/``ValueError``
    naming the offending key.
    """
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    first = state.get("features.0.weight")
    if first is None:
        raise KeyError(f"convert_vgg19: no 'features.0.weight' in the state_dict; is it a torchvision VGG-19? "
                       f"(first keys: {sorted(state)[:6]})")
    width = np.shape(first)[0] / 64.0
    channels = [max(1, int(round(c * width))) for c in VGG19_CONFIG if c != "M"]
    out, c_in = {}, 3
    for idx, c_out in zip(conv_indices(), channels):
        for part, shape in (("weight", (c_out, c_in, 3, 3)), ("bias", (c_out,))):
            key = f"features.{idx}.{part}"
            if key not in state:
                raise KeyError(f"convert_vgg19: missing key {key!r} (a VGG-19 has convolutions at features "
                               f"{conv_indices()}); is this VGG-19 and not VGG-16?")
            arr = np.asarray(state[key], dtype=np.float32)
            if arr.shape != shape:
                raise ValueError(f"convert_vgg19: {key!r} has shape {arr.shape}, expected {shape}")
            out[key] = arr
        c_in = c_out
    extra = [k for k in state if k.startswith("features.") and k not in out]
    if extra:
        raise ValueError(f"convert_vgg19: unexpected layers {extra[:4]} in features (batch-norm VGG-19 "
                         "'vgg19_bn' is not supported)")
    return out


def _load_torch(path):
    try:
        import torch
    except ImportError:
        raise RuntimeError("convert_vgg19 needs PyTorch to read a .pth file (pip install torch); "
                           "minicnn itself does not") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"convert_vgg19: no such file: {path}") from None
    except Exception as exc:  # pickle/zip errors of a file that is not a state_dict
        raise ValueError(f"convert_vgg19: cannot read {path} with torch.load ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"convert_vgg19: {path} holds a {type(obj).__name__}, not a state_dict")
    return {k: v.detach().cpu().numpy() for k, v in obj.items() if hasattr(v, "detach")}


def main(argv=None):
    """Entry point; returns 0, or 2 with a one-line message for bad input."""
    p = argparse.ArgumentParser(prog="python -m minicnn.style.convert_vgg19",
                                description="Convert a torchvision VGG-19 state_dict (.pth) to a minicnn .npz")
    p.add_argument("state_dict", help="torchvision VGG-19 state_dict file (.pth)")
    p.add_argument("out", help="output .npz for minicnn.style.VGG19.from_npz / --weights")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        arrays = convert_state_dict(_load_torch(args.state_dict))
        path = io.save_npz(args.out, arrays, meta={"class": "VGG19", "source": "torchvision vgg19 state_dict",
                                                   "width": arrays["features.0.weight"].shape[0] / 64.0})
    except (RuntimeError, KeyError, ValueError, OSError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"{p.prog}: error: {msg}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({len(arrays)} arrays)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
