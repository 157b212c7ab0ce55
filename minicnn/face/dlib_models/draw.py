"""Pictures of what the pretrained networks found (matplotlib figures; the caller saves them)."""
from __future__ import annotations

import numpy as np


def detection_figure(image, boxes, scores, landmarks=()):
    """image (3, H, W) float in [0, 1] or (H, W, 3) uint8; boxes [l, t, r, b]; landmarks (5, 2)
    each -> a Figure with the boxes, their scores and the landmarks drawn."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] == 3 and img.shape[-1] != 3:
        img = img.transpose(1, 2, 0)
    h, w = img.shape[:2]
    fig = Figure(figsize=(max(3.0, w / 100), max(3.0, h / 100)))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(img)
    for box, score in zip(boxes, scores):
        l, t, r, b = (float(v) for v in box)
        ax.add_patch(Rectangle((l - 0.5, t - 0.5), r - l + 1, b - t + 1, fill=False, ec="lime", lw=2))
        ax.text(l, t - 3, f"{score:.2f}", color="lime", fontsize=9, va="bottom")
    for pts in landmarks:
        pts = np.asarray(pts)
        ax.plot(pts[:, 0], pts[:, 1], "o", ms=4, mfc="red", mec="white")
    ax.set_axis_off()
    return fig
