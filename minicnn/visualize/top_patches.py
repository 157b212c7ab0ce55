"""Zeiler–Fergus top-k patches: the inputs that excite a unit most.

For a unit (channel) ``u`` of a layer, run the whole data set through the
network, and keep the ``k`` positions (image, output location) where the
unit's activation is largest.  Each position maps back, through the
receptive field of the layer, to a box of input pixels: the *patch* the
unit was looking at.  Showing the top 9 as a 3x3 grid tells what the unit
detects.

The data set is streamed in batches.  Only the current best ``k`` per unit
are kept (:class:`TopK`): each batch's candidates are merged with the kept
ones and cut back to ``k``, so memory is ``O(units * k)`` whatever the size
of the data set, plus one batch of activations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..nn import Module
from ..tensor import Tensor
from .layers import check_units, forward_to, model_input, named_layers, to_array
from .receptive_field import LayerRF, receptive_field


def topk_indices(values, k):
    """Column indices of the ``k`` largest entries of every row, best first.

    ``values`` is ``(U, M)``; the result is ``(U, min(k, M))``.  Ties go to
    the smaller column index, so streaming order decides (first seen wins),
    which makes the result exactly reproducible.  NaN counts as -inf.
    """
    values = np.where(np.isnan(values), -np.inf, values)
    U, M = values.shape
    kk = min(k, M)
    if kk == 0:
        return np.empty((U, 0), dtype=np.int64)
    # kth largest per row in O(M); every entry >= it is a candidate (ties may add a few).
    thresh = np.partition(values, M - kk, axis=1)[:, M - kk]
    rows, cols = np.nonzero(values >= thresh[:, None])
    order = np.lexsort((cols, -values[rows, cols], rows))  # by row, then value desc, then column
    rows, cols = rows[order], cols[order]
    rank = np.arange(rows.size) - np.searchsorted(rows, rows)
    return cols[rank < kk].reshape(U, kk)


class TopK:
    """The ``k`` best (value, payload) pairs of each of ``n_units`` rows, updated batch by batch.

    ``values`` is ``(n_units, m)`` and ``payload`` ``(n_units, m, P)`` int64
    with ``m <= k`` at all times, sorted best first.
    """

    def __init__(self, n_units: int, k: int, payload_size: int) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = int(k)
        self.values = np.empty((n_units, 0), dtype=np.float64)
        self.payload = np.empty((n_units, 0, payload_size), dtype=np.int64)

    def update(self, values, payload):
        """Merge a batch of candidates.

        values : (n_units, M) scores.
        payload : (M, P) shared by all units, or (n_units, M, P) one per unit.
        """
        values = np.asarray(values, dtype=np.float64)
        payload = np.asarray(payload, dtype=np.int64)
        if payload.ndim == 2:
            payload = np.broadcast_to(payload, (values.shape[0],) + payload.shape)
        if payload.shape[:2] != values.shape:
            raise ValueError(f"TopK.update: payload shape {payload.shape} does not match values {values.shape}")
        m = self.values.shape[1]
        merged = np.concatenate([self.values, values], axis=1)  # kept first: they were seen first
        cols = topk_indices(merged, self.k)
        rows = np.arange(values.shape[0])[:, None]
        from_kept = cols < m
        new_payload = np.where(from_kept[..., None],
                               self.payload[rows, np.minimum(cols, max(m - 1, 0))] if m else 0,
                               payload[rows, np.maximum(cols - m, 0)])
        self.values = merged[rows, cols]
        self.payload = np.ascontiguousarray(new_payload)
        # Callers keeping parallel arrays reorder them the same way: slot (u, s)
        # now holds old slot cols[u, s] when that is < m, else batch item cols[u, s] - m.
        return cols, m


@dataclass
class TopPatches:
    """Result of :func:`top_patches`; ``U`` chosen units, ``k`` patches each, best first.

    values : (U, k) activations.
    image_index : (U, k) index of the image in the data set (streaming order).
    position : (U, k, nd) output location in the layer's feature map.
    boxes : (U, k, nd, 2) input box [lo, hi) per spatial axis, clipped to the image.
    rf : LayerRF of the layer (``rf.box(position)`` gives the unclipped box).
    patches : (U, k, C, *rf.size) float32 input patches (NaN outside the image), or None.
    """

    layer: str
    units: list
    values: np.ndarray
    image_index: np.ndarray
    position: np.ndarray
    boxes: np.ndarray
    rf: LayerRF
    input_shape: tuple
    patches: np.ndarray | None = None


def _batches(images, batch_size):
    """Yield (offset, batch array) from an array or an iterable of batches."""
    from minicnn.tensor import Tensor

    data = images.data if isinstance(images, Tensor) else images
    if hasattr(data, "shape") and hasattr(data, "__getitem__"):
        n = data.shape[0]
        for i in range(0, n, batch_size):
            yield i, to_array(data[i:i + batch_size])
    else:
        offset = 0
        for b in images:
            b = to_array(b)
            yield offset, b
            offset += b.shape[0]


def _chain_to(model, layer):
    """Leaf layers from the input up to (and including) ``layer``, named."""
    from .receptive_field import leaf_layers

    leaves = leaf_layers(model)
    inside = [i for i, (n, _) in enumerate(leaves) if n == layer or n.startswith(layer + ".")]
    if not inside:
        return leaves
    return leaves[:inside[-1] + 1]


def top_patches(model: Module | Sequence[Module], images: np.ndarray | Tensor | Iterable[np.ndarray], layer: str,
                k: int = 9, units: int | Sequence[int] | None = None, batch_size: int = 64,
                distinct_images: bool = True, keep_patches: bool = True, progress: bool = True,
                passthrough: tuple[type, ...] = (), interior: bool = False) -> TopPatches:
    """Find, for every chosen unit of ``layer``, the ``k`` input patches that activate it most.

    Parameters
    ----------
    model : Module or list of layers
    images : array (N, C, *spatial) or an iterable of such batches
        The data set; it is streamed, never held as activations.
    layer : str
        Layer name as in ``named_modules()``.
    k : int
        Patches per unit.
    units : int or list of int, optional
        Channels of the layer (all by default).
    batch_size : int
        Images per forward pass when ``images`` is an array.
    distinct_images : bool
        True (Zeiler–Fergus): each image counts once per unit, at its
        strongest location.  False: any (image, location) pair may win, so
        one image can give several patches.
    keep_patches : bool
        Also keep the pixels of every kept patch (``k`` per unit, so memory
        stays bounded), which lets a figure be drawn from a streamed data set.
    passthrough : tuple of types
        Custom layer classes that keep positions (for the receptive field).
    interior : bool
        Only positions whose whole field lies inside the image compete.  Zero
        padding makes an artificial edge all around the image, and
        edge-detecting units often fire most there; this looks past it.

    Returns
    -------
    TopPatches
    """
    import minicnn as mc

    if int(k) < 1:
        raise ValueError(f"top_patches: k must be >= 1, got {k}")
    layer = str(layer)
    names = [n for n, _ in named_layers(model)]
    if layer not in names:
        from .layers import get_layer
        get_layer(model, layer)  # raises the KeyError that lists the layers
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    acc, chosen, rf, in_shape, patches, inside = None, None, None, None, None, None
    total = getattr(images, "shape", (None,))[0]
    n_batches = None if total is None else -(-total // batch_size)
    try:
        with mc.no_grad():
            for offset, x in tqdm(_batches(images, batch_size), total=n_batches,
                                  desc=f"top patches {layer}", leave=False, mininterval=1.0,
                                  **({} if progress else {"disable": True})):
                if x.ndim < 3:
                    raise ValueError(f"top_patches: images must be (N, C, *spatial), got a batch of shape {x.shape}")
                a = to_array(forward_to(model, model_input(model, x), layer))
                if acc is None:
                    in_shape = tuple(x.shape[1:])
                    chosen = check_units(units, a.shape[1], layer)
                    nd = a.ndim - 2
                    rf = _layer_rf(model, layer, x.shape, nd, passthrough)
                    acc = TopK(len(chosen), k, 1 + nd)
                    inside = interior_mask(rf, in_shape, a.shape[2:]) if interior else None
                a = a[:, chosen]
                if inside is not None:
                    a = np.where(inside, a, -np.inf)
                cols, m = acc.update(*_candidates(a, offset, distinct_images))
                if keep_patches:
                    patches = _merge_patches(patches, cols, m, acc.payload, offset, x, rf)
    finally:
        if was_training:
            model.train()
    if acc is None:
        raise ValueError("top_patches: images is empty")
    pos = acc.payload[..., 1:]
    boxes = np.array([[_box(rf, p, in_shape) for p in row] for row in pos], dtype=np.int64)
    boxes = boxes.reshape(pos.shape[:2] + (len(in_shape) - 1, 2))
    return TopPatches(layer, chosen, acc.values, acc.payload[..., 0], pos, boxes, rf, in_shape,
                      patches)


def extract_patch(image: np.ndarray, rf: LayerRF, position: tuple[int, ...], fill: float = np.nan) -> np.ndarray:
    """The input patch seen by output ``position`` of a layer: ``(C, *rf.size)``.

    ``image`` is ``(C, *spatial)``.  Parts of the box that hang over the
    border are filled with ``fill`` (NaN: drawn as blank), so every patch of
    a layer has the same shape and the unit's view stays aligned.  A global
    layer's patch is the whole image.
    """
    image = np.asarray(image)
    if rf.is_global or len(position) == 0:
        return image.astype(np.float32, copy=True)
    full = rf.box(tuple(position), clip=False)
    out = np.full((image.shape[0],) + tuple(rf.size), fill, dtype=np.float32)
    src, dst = [slice(None)], [slice(None)]
    for (lo, hi), n in zip(full, image.shape[1:]):
        a, b = max(lo, 0), min(hi, n)
        src.append(slice(a, b))
        dst.append(slice(a - lo, b - lo))
    out[tuple(dst)] = image[tuple(src)]
    return out


def _merge_patches(patches, cols, m, payload, offset, x, rf):
    """Reorder the kept patches like TopK did, and cut the new winners out of batch ``x``."""
    U, kk = cols.shape
    shape = (x.shape[1],) + (tuple(x.shape[2:]) if rf.is_global else tuple(rf.size))
    out = np.empty((U, kk) + shape, dtype=np.float32)
    for u in range(U):
        for s in range(kk):
            if cols[u, s] < m:
                out[u, s] = patches[u, cols[u, s]]
            else:
                out[u, s] = extract_patch(x[payload[u, s, 0] - offset], rf, payload[u, s, 1:])
    return out


def interior_mask(rf, input_shape, out_shape):
    """Boolean array ``out_shape``: True where the position's field lies inside the image."""
    if rf.is_global or not out_shape:
        return None
    spatial = tuple(input_shape)[-len(out_shape):]
    axes = []
    for n_out, n_in, left, j, r in zip(out_shape, spatial, rf.left, rf.jump, rf.size):
        lo = left + j * np.arange(n_out)
        axes.append((lo >= 0) & (lo + r <= n_in))
    mask = np.ones(out_shape, dtype=bool)
    for i, a in enumerate(axes):
        mask &= a.reshape((-1,) + (1,) * (len(out_shape) - 1 - i))
    if not mask.any():
        raise ValueError(f"top_patches: no position of layer {rf.name!r} has its {rf.size} field inside "
                         f"the {spatial} image; use interior=False")
    return mask


def _layer_rf(model, layer, x_shape, nd, passthrough=()):
    chain = _chain_to(model, layer)
    try:
        return receptive_field(chain, None, input_shape=x_shape, ndim=len(x_shape) - 2,
                               passthrough=passthrough)
    except TypeError:
        if nd == 0:  # e.g. a Linear head after an unknown layer: it sees everything anyway
            z = (0,) * (len(x_shape) - 2)
            return LayerRF(layer, "global", z, z, z, z, z, z, z, z, None)
        raise


def _box(rf, position, in_shape):
    if rf.is_global or len(position) == 0:
        return [(0, n) for n in in_shape[1:]]
    return rf.box(tuple(position), input_shape=in_shape)


def _candidates(a, offset, distinct_images):
    """Scores (U, M) and payload [image, *position] for one batch of activations a (B, U, *S)."""
    B, U = a.shape[:2]
    spatial = a.shape[2:]
    flat = a.reshape(B, U, -1)
    if distinct_images:
        arg = flat.argmax(axis=2)  # first maximum: ties go to the earliest location
        vals = np.take_along_axis(flat, arg[..., None], axis=2)[..., 0].T  # (U, B)
        pos = np.stack(np.unravel_index(arg, spatial), axis=-1) if spatial else np.empty((B, U, 0), int)
        img = np.broadcast_to(offset + np.arange(B)[:, None, None], (B, U, 1))
        payload = np.concatenate([img, pos], axis=-1).transpose(1, 0, 2)  # (U, B, 1 + nd)
        return vals, payload
    P = flat.shape[2]
    vals = flat.transpose(1, 0, 2).reshape(U, B * P)  # column = image * P + location
    cols = np.arange(B * P)
    pos = np.stack(np.unravel_index(cols % P, spatial), axis=-1) if spatial else np.empty((B * P, 0), int)
    payload = np.concatenate([(offset + cols // P)[:, None], pos], axis=1)
    return vals, payload


def exhaustive_top_patches(activations, k, distinct_images=True):
    """Reference: the same ranking from all activations ``(N, U, *S)`` held at once.

    Returns (values, image_index, position) as :func:`top_patches` does;
    used by the tests to check the streaming version.
    """
    a = np.asarray(activations, dtype=np.float64)
    N, U = a.shape[:2]
    spatial = a.shape[2:]
    flat = a.reshape(N, U, -1)
    if distinct_images:
        arg = flat.argmax(axis=2)
        best = flat.max(axis=2)  # (N, U)
        out_v, out_i, out_p = [], [], []
        for u in range(U):
            order = sorted(range(N), key=lambda n: (-best[n, u], n))[:k]
            out_v.append([best[n, u] for n in order])
            out_i.append(order)
            out_p.append([np.unravel_index(arg[n, u], spatial) for n in order])
        return np.array(out_v), np.array(out_i), np.array(out_p, dtype=np.int64).reshape(U, len(out_i[0]), -1)
    P = flat.shape[2]
    out_v, out_i, out_p = [], [], []
    for u in range(U):
        scores = flat[:, u, :].ravel()
        order = sorted(range(N * P), key=lambda c: (-scores[c], c))[:k]
        out_v.append(scores[order])
        out_i.append([c // P for c in order])
        out_p.append([np.unravel_index(c % P, spatial) for c in order])
    return np.array(out_v), np.array(out_i), np.array(out_p, dtype=np.int64).reshape(U, len(out_i[0]), -1)
