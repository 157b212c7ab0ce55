"""The synthetic volume and video generators: labels, determinism, the train/test split."""
import numpy as np
import pytest

from minicnn.volume.volume_data import MOTION_CLASSES, SHAPE_CLASSES, make_moving_shapes, make_solid_shapes, split


# ----------------------------------------------------------------------------- volumes
def test_make_solid_shapes_balanced_and_seeded():
    x, y = make_solid_shapes(30, size=16, seed=0)
    assert x.shape == (30, 1, 16, 16, 16) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y, minlength=3).tolist() == [10, 10, 10] and len(SHAPE_CLASSES) == 3
    x2, y2 = make_solid_shapes(30, size=16, seed=0)
    np.testing.assert_array_equal(x, x2)
    # noise-free: a sphere fills about 4/3 pi r^3 voxels, a torus has a hole at its centre
    xc, yc = make_solid_shapes(12, size=16, noise=0.0, texture=0.0, seed=1)
    filled = (xc[:, 0] > 0.5 * xc[:, 0].max(axis=(1, 2, 3), keepdims=True)).sum(axis=(1, 2, 3))
    sphere, torus = filled[yc == 0], filled[yc == 2]
    assert sphere.min() > 4 / 3 * np.pi * (0.28 * 16) ** 3 * 0.7
    assert torus.mean() < sphere.mean()
    with pytest.raises(ValueError, match="size"):
        make_solid_shapes(3, size=4)


def test_moving_shapes_direction_matches_label():
    x, y = make_moving_shapes(16, frames=6, size=14, noise=0.0, seed=2)
    assert x.shape == (16, 1, 6, 14, 14) and len(MOTION_CLASSES) == 4
    for clip, label in zip(x[:, 0], y):
        rows, cols = np.nonzero(clip[0] > 0.5)
        rows2, cols2 = np.nonzero(clip[-1] > 0.5)
        d_row, d_col = rows2.mean() - rows.mean(), cols2.mean() - cols.mean()
        expected = {"right": (0, 5), "left": (0, -5), "down": (5, 0), "up": (-5, 0)}[MOTION_CLASSES[label]]
        assert (round(d_row), round(d_col)) == expected


def test_split_is_disjoint():
    x = np.arange(20)[:, None]
    y = np.arange(20) % 2
    xtr, ytr, xte, yte = split(x, y, test_fraction=0.25, seed=0)
    assert len(xte) == 5 and len(xtr) == 15
    assert sorted(np.concatenate([xtr, xte]).ravel().tolist()) == list(range(20))
    with pytest.raises(ValueError, match="same length"):
        split(x, y[:3])
