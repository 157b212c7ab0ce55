"""Reading a dlib DNN file (``net_type`` serialised by ``dlib::serialize``) into layer records.

How dlib writes a network (``dlib/dnn/core.h``). A network type is nested templates,
``loss<fc<avg_pool<relu<...<con<input>>>>>>>``, and each level serialises itself and
*then* or *first* its sub-network:

* ``add_loss_layer``: version 1, the loss record, the sub-network.
* ``add_layer`` (a layer over a sub-network): version 2, the sub-network, the layer's
  record, three bools (set up, gradient stale, output disabled) and three work tensors
  (empty in a saved model).
* the bottom ``add_layer`` (a layer over the input layer): version 3, the input layer's
  record, the layer's record, the same bools and tensors, and the sample expansion factor.
* ``add_tag_layer`` / ``add_skip_layer``: version 1 and the sub-network, nothing else.

So the file begins with the loss, then one version number per level going *down*, then the
input layer, and then the layers' records in order going *up* from the input: the order in
which they run. :func:`read_network` walks it in that order.

A tag and a skip are written identically (their ids are template arguments, not data).
The files read here use dlib's residual idiom (``dnn_face_recognition_ex.cpp``)::

    residual      = add_prev1<block<tag1<SUBNET>>>                     -- x + block(x)
    residual_down = add_prev2<avg_pool<skip1<tag2<block<tag1<SUBNET>>>>>> -- pool(x) + block(x)

which fixes the meaning of a marker from its position: a marker written directly above
another marker is a *skip* back to the tag before that one; every other marker is a
*tag*; ``add_prev`` adds the most recent tag's output. Any other arrangement is refused
with an error rather than guessed.

The detector's loss layer (``loss_mmod_``) carries its options, the sliding windows and the
overlap thresholds; :func:`read_mmod_options` reads them here, with the rest of the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .serialize import DlibFormatError, Reader


# ----------------------------------------------------------------------------------------
# The MMOD loss layer's options (dlib/dnn/loss.h, mmod_options)
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MMODOptions:
    """The ``loss_mmod_`` settings stored in a detector file.

    ``windows``: one ``(width, height, label)`` per output channel (the sliding windows);
    ``overlaps_nms`` / ``overlaps_ignore``: ``(iou_thresh, percent_covered_thresh)`` of
    dlib's ``test_box_overlap``. The training-only fields are kept for completeness.
    """

    windows: tuple
    loss_per_false_alarm: float
    loss_per_missed_target: float
    truth_match_iou_threshold: float
    overlaps_nms: tuple
    overlaps_ignore: tuple
    assume_image_pyramid: bool = True
    use_bounding_box_regression: bool = False
    bbr_lambda: float = 100.0


def _read_window(r: Reader):
    version = r.expect_int(1, 2, what="detector window version")
    width, height = r.read_int(), r.read_int()
    label = r.read_string() if version == 2 else ""
    return (width, height, label)


def read_mmod_options(r: Reader) -> MMODOptions:
    """Read ``mmod_options`` (versions 1-4) at the cursor.

    v1: one window as width, height. v2+: a packed count and that many windows (each
    version, width, height and, from window version 2, a label). All: loss per false
    alarm, loss per missed target, truth-match IoU (doubles), then the two overlap testers
    (two doubles each). v3+: ``assume_image_pyramid`` as one raw byte. v4+: the bounding
    box regression flag (bool) and its lambda (double).
    """
    start = r.pos
    version = r.expect_int(1, 2, 3, 4, what="mmod_options version")
    if version == 1:
        windows = ((r.read_int(), r.read_int(), ""),)
    else:
        n = r.read_int()
        if not 1 <= n <= 1000:
            raise r.error(f"mmod_options: implausible number of detector windows {n}", start)
        windows = tuple(_read_window(r) for _ in range(n))
    fa, miss, iou = (float(v) for v in r.read_floats(3))
    nms_ = tuple(float(v) for v in r.read_floats(2))
    ignore = tuple(float(v) for v in r.read_floats(2))
    pyramid, bbr, bbr_lambda = True, False, 100.0
    if version >= 3:
        pyramid = r.read_bytes(1)[0] != 0
    if version >= 4:
        bbr, bbr_lambda = r.read_bool(), r.read_float()
    for w, h, _ in windows:
        if not (1 <= w <= 10000 and 1 <= h <= 10000):
            raise r.error(f"mmod_options: detector window {w}x{h} is not a valid size", start)
    for name, (a, b) in (("overlaps_nms", nms_), ("overlaps_ignore", ignore)):
        if not (0 <= a <= 1 and 0 <= b <= 1):
            raise r.error(f"mmod_options: {name} thresholds {(a, b)} are outside [0, 1]", start)
    return MMODOptions(windows, fa, miss, iou, nms_, ignore, pyramid, bbr, bbr_lambda)


# ----------------------------------------------------------------------------------------
# The network file
# ----------------------------------------------------------------------------------------
_BOOLS_AND_TENSORS = 3  # each add_layer's three state bools and three work tensors


def _floats(r: Reader, names):
    return {n: r.read_float() for n in names}


def _multipliers(r: Reader):
    _floats(r, ("learning_rate_multiplier", "weight_decay_multiplier",
                "bias_learning_rate_multiplier", "bias_weight_decay_multiplier"))


def _split(params: np.ndarray, *shapes):
    """Cut dlib's flat parameter tensor into the aliased pieces, in order."""
    flat, out, at = params.reshape(-1), [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(flat[at:at + n].reshape(s))
        at += n
    if at != flat.size:
        raise ValueError(f"parameter tensor has {flat.size} values, the aliases use {at}")
    return out


def _read_con(r: Reader, rec):
    params = r.read_tensor()
    num_filters, nr, nc, sy, sx, py, px = (int(v) for v in r.read_ints(7))
    wshape, bshape = r.read_alias_shape(), r.read_alias_shape()
    _multipliers(r)
    w, b = _split(params, wshape, bshape)
    if w.shape[0] != num_filters or w.shape[2:] != (nr, nc):
        raise r.error(f"con_: filters {w.shape} disagree with {num_filters} filters of {nr}x{nc}", rec["offset"])
    rec.update(weight=w, bias=b.reshape(-1), stride=(sy, sx), padding=(py, px))


def _read_affine(r: Reader, rec):
    params = r.read_tensor()
    gshape, bshape = r.read_alias_shape(), r.read_alias_shape()
    mode = r.read_int()
    if mode != 0:
        raise r.error(f"affine_: only the convolutional mode (0) is supported, found {mode}", rec["offset"])
    g, b = _split(params, gshape, bshape)
    rec.update(type="affine", gamma=g.reshape(-1), beta=b.reshape(-1))


def _read_bn_con(r: Reader, rec):
    params = r.read_tensor()
    gshape, bshape = r.read_alias_shape(), r.read_alias_shape()
    r.read_tensor(), r.read_tensor()                 # batch means / inverse stds of the last training step
    mean, var = r.read_tensor().reshape(-1), r.read_tensor().reshape(-1)
    r.read_int()                                     # num_updates
    r.read_int()                                     # running_stats_window_size
    _multipliers(r)
    eps = r.read_float()
    g, b = _split(params, gshape, bshape)
    # Inference batch norm is an affine map: gamma (x - mean) / sqrt(var + eps) + beta.
    scale = g.reshape(-1) / np.sqrt(var.astype(np.float64) + eps)
    rec.update(type="affine", gamma=scale.astype(np.float32),
               beta=(b.reshape(-1) - mean * scale).astype(np.float32), source="bn_con2", eps=eps)


def _read_pool(r: Reader, rec):
    nr, nc, sy, sx, py, px = (int(v) for v in r.read_ints(6))
    rec.update(kernel=(nr, nc), stride=(sy, sx), padding=(py, px))


def _read_fc(r: Reader, rec):
    n_out, n_in = r.read_int(), r.read_int()
    params = r.read_tensor()
    r.read_alias_shape()  # the weight and bias alias shapes: skipped, n_in and n_out fix the layout
    r.read_alias_shape()
    bias_mode = r.read_int()
    _multipliers(r)
    p = params.reshape(-1)
    if bias_mode not in (0, 1) or p.size != (n_in + (bias_mode == 0)) * n_out:
        raise r.error(f"fc_: {p.size} parameters for {n_in} inputs, {n_out} outputs, bias mode {bias_mode}",
                      rec["offset"])
    # dlib stores (inputs [+1 bias row], outputs) and computes x @ W; PyTorch's Linear holds W^T.
    w = p[:n_in * n_out].reshape(n_in, n_out)
    rec.update(weight=np.ascontiguousarray(w.T),
               bias=p[n_in * n_out:].copy() if bias_mode == 0 else None)


_LAYERS = {
    "con_4": ("con", _read_con),
    "affine_": ("affine", _read_affine),
    "bn_con2": ("affine", _read_bn_con),
    "relu_": ("relu", None),
    "max_pool_2": ("max_pool", _read_pool),
    "avg_pool_2": ("avg_pool", _read_pool),
    "add_prev_": ("add_prev", None),
    "fc_2": ("fc", _read_fc),
}


def _read_input(r: Reader):
    at = r.pos
    name = r.expect_string("input_rgb_image_sized", "input_rgb_image", "input_rgb_image_pyramid")
    rec = dict(type=name, offset=at, mean=np.array([r.read_float() for _ in range(3)], np.float32))
    if name == "input_rgb_image_sized":
        rec["size"] = tuple(int(v) for v in r.read_ints(2))
    return rec


def _read_loss(r: Reader):
    at = r.pos
    name = r.expect_string("loss_metric_2", "loss_mmod_")
    if name == "loss_metric_2":
        return dict(type="loss_metric", offset=at, **_floats(r, ("margin", "distance_threshold")))
    opts = read_mmod_options(r)
    width, height, _ = opts.windows[0]                # the first window, as a plain size too
    return dict(type="loss_mmod", offset=at, options=opts, detector_width=width, detector_height=height)


def _read_layer(r: Reader):
    at = r.pos
    name = r.read_string()
    if name not in _LAYERS:
        raise r.error(f"unsupported layer record {name!r} (this reader knows {sorted(_LAYERS)})", at)
    kind, fn = _LAYERS[name]
    rec = dict(type=kind, offset=at)
    if fn is not None:
        fn(r, rec)
    return rec


def _skip_layer_state(r: Reader):
    for _ in range(_BOOLS_AND_TENSORS):
        r.read_bool()
    for _ in range(_BOOLS_AND_TENSORS):
        if r.read_tensor().size:
            raise r.error("a saved layer holds a non-empty work tensor")


def read_network(path) -> dict:
    """Parse a dlib DNN file -> ``{"loss": record, "input": record, "layers": [record, ...]}``.

    ``layers`` run in list order from the input; each record is a dict with ``type`` in
    ``con, affine, relu, max_pool, avg_pool, add_prev, fc, tag, skip`` and its arrays
    (``weight`` as (out, in, kh, kw) for ``con``, (out, in) for ``fc``) and an ``offset``
    (the byte where it starts, for error messages).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DlibFormatError(f"{path}: cannot read ({e.strerror})") from None
    r = Reader(data, str(path))
    try:
        r.expect_int(1, what="add_loss_layer version")
        loss = _read_loss(r)
        levels = []                                   # going down: "layer" or "marker"
        while True:
            at = r.pos
            v = r.read_int()
            if v == 3:
                break
            if v not in (1, 2):
                raise r.error(f"expected a layer version (1, 2 or 3), found {v}", at)
            levels.append(("marker" if v == 1 else "layer", at))
        inp = _read_input(r)
        layers = [_read_layer(r)]
        _skip_layer_state(r)
        r.read_int()                                  # sample expansion factor
        for kind, at in reversed(levels):
            if kind == "layer":
                layers.append(_read_layer(r))
                _skip_layer_state(r)
            else:
                layers.append(dict(type="marker", offset=at))
        if not r.at_end():
            raise r.error(f"{len(data) - r.pos} unexpected bytes after the network")
    except DlibFormatError:
        raise
    except (ValueError, OverflowError) as e:
        raise r.error(str(e)) from None
    return dict(loss=loss, input=inp, layers=_resolve_markers(layers, r))


def _resolve_markers(layers, r: Reader):
    """Turn markers into ``tag`` and ``skip`` records (module docstring): a marker directly
    above a marker is a skip to the tag before the latest; add_prev adds the latest tag."""
    out, n_tags = [], 0
    for rec in layers:
        if rec["type"] == "marker":
            if out and out[-1]["type"] == "tag":
                if n_tags < 2:
                    raise r.error("a skip layer with no earlier tag to return to", rec["offset"])
                rec = dict(type="skip", offset=rec["offset"], to=n_tags - 2)
            else:
                rec = dict(type="tag", offset=rec["offset"], id=n_tags)
                n_tags += 1
        elif rec["type"] == "add_prev":
            if n_tags == 0:
                raise r.error("add_prev_ with no tag below it", rec["offset"])
            rec["tag"] = n_tags - 1
        out.append(rec)
    return out
