"""Drawing top-k patches: one 3x3 grid per unit, several units per layer, several layers per sheet.

Every function returns a :class:`matplotlib.figure.Figure`; the caller saves
it (``fig.savefig("sheet.png")``).  The grids are assembled as one picture
per unit (patches tiled with a thin gap), which keeps big sheets fast.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..nn import Module
from .top_patches import TopPatches, top_patches

BLANK = 0.8  # grey for the parts of a patch outside the image
GAP = 1.0  # white between the patches of a grid


def display_range(*arrays):
    """(lo, hi) used to map pixel values to [0, 1]: (0, 1) for data already there, else min/max."""
    finite = [a[np.isfinite(a)] for a in arrays if a is not None and np.size(a)]
    finite = [f for f in finite if f.size]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(float(f.min()) for f in finite), max(float(f.max()) for f in finite)
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    return lo, hi if hi > lo else lo + 1.0


def to_rgb(img, lo=0.0, hi=1.0):
    """``(C, H, W)`` -> ``(H, W, 3)`` in [0, 1]: RGB kept, 1 channel grey, others averaged; NaN blank."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 3:
        raise ValueError(f"to_rgb: expected (C, H, W), got shape {img.shape}")
    x = np.clip((img - lo) / (hi - lo), 0.0, 1.0)
    if x.shape[0] != 3:
        x = np.repeat(np.nanmean(x, axis=0, keepdims=True) if x.shape[0] > 1 else x, 3, axis=0)
    x = x.transpose(1, 2, 0)
    return np.where(np.isnan(x), BLANK, x)


def _as_2d(patch):
    """A patch ``(C, *S)`` as ``(C, H, W)``: 1-D signals become a strip, 3-D volumes their middle slice."""
    if patch.ndim == 2:
        return patch[:, None, :]
    if patch.ndim == 4:
        return patch[:, patch.shape[1] // 2]
    return patch


def mosaic(patches, ncols=None, gap=1, lo=0.0, hi=1.0):
    """Tile ``k`` patches ``(k, C, H, W)`` into one ``(rows*H', cols*W', 3)`` picture, row by row."""
    patches = [_as_2d(np.asarray(p)) for p in patches]
    k = len(patches)
    if k == 0:
        return np.full((1, 1, 3), GAP)
    ncols = ncols or math.ceil(math.sqrt(k))
    nrows = math.ceil(k / ncols)
    h = max(p.shape[1] for p in patches)
    w = max(p.shape[2] for p in patches)
    out = np.full((nrows * (h + gap) - gap, ncols * (w + gap) - gap, 3), GAP)
    for i, p in enumerate(patches):
        r, c = divmod(i, ncols)
        y, x = r * (h + gap), c * (w + gap)
        out[y:y + p.shape[1], x:x + p.shape[2]] = to_rgb(p, lo, hi)
    return out


def _signal_axes(ax, patches):
    """1-D data: draw the k patches as stacked curves instead of pictures."""
    for i, p in enumerate(patches):
        y = np.nanmean(np.asarray(p, dtype=np.float64), axis=0)
        span = np.nanmax(np.abs(y)) if np.isfinite(y).any() else 1.0
        ax.plot(y / (2.2 * (span or 1.0)) - i, lw=0.8)
    ax.set_yticks([])


def top_patches_figure(results: TopPatches | Sequence[TopPatches], n_units: int | None = None, cell: float = 1.6,
                       dpi: int = 100, lo: float | None = None, hi: float | None = None) -> Figure:
    """A sheet: one row per layer, one ``k``-patch grid per unit (best patch top left).

    Parameters
    ----------
    results : TopPatches or list of TopPatches (with ``patches`` kept)
    n_units : int, optional
        Units drawn per layer (the first ``n_units`` of each result's units).
    cell : float
        Size of one unit's grid in inches; the figure is
        ``(cell * columns, cell * rows)`` inches at ``dpi``.
    """
    if isinstance(results, TopPatches):
        results = [results]
    for r in results:
        if r.patches is None:
            raise ValueError(f"top_patches_figure: layer {r.layer!r} was searched with keep_patches=False")
    ncols = max(len(r.units) if n_units is None else min(n_units, len(r.units)) for r in results)
    if lo is None or hi is None:
        lo, hi = display_range(*[r.patches for r in results])
    fig = Figure(figsize=(cell * ncols, cell * len(results)), dpi=dpi)
    axes = fig.subplots(len(results), ncols, squeeze=False)
    for row, r in zip(axes, results):
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(r.units) or (n_units is not None and j >= n_units):
                ax.set_axis_off()
                continue
            if len(r.input_shape) == 2:
                _signal_axes(ax, r.patches[j])
            else:
                ax.imshow(mosaic(r.patches[j], lo=lo, hi=hi), interpolation="nearest")
            ax.set_title(f"unit {r.units[j]}  max {r.values[j, 0]:.2g}", fontsize=7, pad=2)
        size = "all" if r.rf.is_global else "x".join(str(s) for s in r.rf.size)
        row[0].set_ylabel(f"layer {r.layer}\nRF {size}", fontsize=8)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.01, top=0.95, wspace=0.08, hspace=0.25)
    return fig


def most_active_units(result, n, max_overlap=0.5):
    """Indices (into ``result.units``) of ``n`` strongly active units with different favourite images.

    Dead or nearly silent units make dull grids, so units are taken by
    decreasing mean top-k activation.  But a few high-contrast images often
    top many units at once; a unit whose top-k images share more than
    ``max_overlap`` of them with a unit already taken is skipped (while
    enough others remain), so the sheet shows different detectors.
    """
    score = np.nan_to_num(result.values, nan=-np.inf, neginf=-1e30).mean(axis=1)
    order = [int(i) for i in np.argsort(-score, kind="stable")]
    chosen, sets = [], []
    for i in order:
        imgs = set(result.image_index[i].tolist())
        if all(len(imgs & s) <= max_overlap * len(imgs) for s in sets):
            chosen.append(i)
            sets.append(imgs)
        if len(chosen) == n:
            return chosen
    # Not enough distinct ones: fill up with the most active of the rest.
    return chosen + [i for i in order if i not in chosen][:n - len(chosen)]


def select_units(result, idx):
    """A copy of ``result`` keeping only the units at positions ``idx``."""
    idx = list(idx)

    def pick(a):
        return None if a is None else a[idx]

    return TopPatches(result.layer, [result.units[i] for i in idx], result.values[idx],
                      result.image_index[idx], result.position[idx], result.boxes[idx], result.rf,
                      result.input_shape, pick(result.patches))


def top_patches_sheet(model: Module | Sequence[Module], images: np.ndarray | Iterable[np.ndarray],
                      layers: str | Sequence[str], k: int = 9,
                      units: Sequence[int] | dict[str, Sequence[int]] | None = None, n_units: int = 6,
                      batch_size: int = 64, interior: bool = False,
                      **fig_kw: object) -> tuple[Figure, list[TopPatches]]:
    """Search every layer of ``layers`` and draw them in one sheet.

    ``units`` is None (the ``n_units`` most active units of each layer), a
    list of unit indices used for every layer, or a dict ``{layer: units}``.
    ``interior``: see :func:`top_patches`.  Returns ``(figure, [TopPatches, ...])``.
    """
    if isinstance(layers, str):
        layers = [layers]
    results = []
    for name in layers:
        u = units.get(name) if isinstance(units, dict) else units
        r = top_patches(model, images, name, k=k, units=u, batch_size=batch_size, interior=interior)
        if u is None:
            r = select_units(r, most_active_units(r, n_units))
        results.append(r)
    return top_patches_figure(results, n_units=None if units is not None else n_units, **fig_kw), results
