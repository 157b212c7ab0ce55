"""Figures (pixel sizes), saliency (against finite differences and receptive fields), activation maximisation."""

import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

import minicnn as mc
from minicnn import nn
from minicnn.visualize import (
    activation_maps_figure,
    activations,
    filters_figure,
    input_gradient,
    maximize_activation,
    maximize_figure,
    saliency,
    saliency_figure,
    top_patches_figure,
    top_patches_sheet,
)
from minicnn.visualize.receptive_field import receptive_field
from minicnn.visualize.saliency import unit_score


@pytest.fixture(autouse=True)
def _numpy_kernels():
    with mc.use_backend("numpy"):
        yield


def png_size(fig):
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    buf.seek(0)
    return Image.open(buf).size


def model_2d(c=3):
    mc.seed(1)
    return nn.Sequential(nn.Conv2d(c, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(0, 1, (12, 3, 12, 12)).astype(np.float32)


def test_top_patches_sheet_size(images):
    fig, results = top_patches_sheet(model_2d(), images, ["0", "3"], k=9, n_units=3, batch_size=5)
    assert png_size(fig) == (3 * 160, 2 * 160)
    assert [len(r.units) for r in results] == [3, 3]
    fig = top_patches_figure(results, cell=1.0, dpi=50)
    assert png_size(fig) == (3 * 50, 2 * 50)
    fig, results = top_patches_sheet(model_2d(), images, ["3"], units={"3": [0, 1, 2, 3]}, k=4)
    assert png_size(fig) == (4 * 160, 160) and results[0].units == [0, 1, 2, 3]


def test_filters_and_activation_maps(images):
    m = model_2d()
    assert png_size(filters_figure(m, cell=1.0, dpi=50)) == (3 * 50, 2 * 50 + 15)
    assert png_size(filters_figure(model_2d(c=1), "3", ncols=4, cell=1.0, dpi=40)) == (160, 40 + 12)
    fig = activation_maps_figure(m, images[0], "1", cell=1.0, dpi=50)  # input + 6 maps: 3x3 grid
    assert png_size(fig) == (150, 150 + 15)
    a = activations(m, images[0], "3")
    assert a.shape == (4, 4, 4)
    with pytest.raises(ValueError, match="no spatial maps"):
        activation_maps_figure(m, images[0], "6")
    with pytest.raises(ValueError, match="out of range"):
        activation_maps_figure(m, images[0], "0", units=[6])
    with pytest.raises(ValueError, match="no convolution layer"):
        filters_figure(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


def test_1d_and_3d_figures():
    m1 = nn.Sequential(nn.Conv1d(2, 3, 5), nn.ReLU(), nn.Conv1d(3, 2, 3))
    x1 = np.random.default_rng(0).normal(size=(6, 2, 30)).astype(np.float32)
    fig, res = top_patches_sheet(m1, x1, ["0", "2"], k=4, n_units=2)
    assert png_size(fig) == (2 * 160, 2 * 160) and res[1].rf.size == (7,)
    assert png_size(filters_figure(m1, cell=1.0, dpi=50)) == (100, 100 + 15)
    assert png_size(saliency_figure(m1, x1[0], 1, layer="2", dpi=50)) == (300, 115)
    m3 = nn.Sequential(nn.Conv3d(1, 2, 3), nn.ReLU())
    x3 = np.random.default_rng(0).normal(size=(3, 1, 6, 6, 6)).astype(np.float32)
    fig, _ = top_patches_sheet(m3, x3, ["1"], k=2, n_units=2)
    assert png_size(fig) == (320, 160)
    assert png_size(activation_maps_figure(m3, x3[0], "1", cell=1.0, dpi=50)) == (100, 100 + 15)


def test_saliency_matches_finite_differences(images):
    m = model_2d().double()
    x = images[0].astype(np.float64)
    g = input_gradient(m, x, 2)  # class 2 of the output
    assert g.shape == x.shape and g.dtype == np.float64

    def score(z):
        with mc.no_grad():
            return float(m(mc.Tensor(z[None])).data[0, 2])
    eps = 1e-6
    for idx in [(0, 0, 0), (1, 5, 7), (2, 11, 3), (0, 6, 6)]:
        zp, zm = x.copy(), x.copy()
        zp[idx] += eps
        zm[idx] -= eps
        assert g[idx] == pytest.approx((score(zp) - score(zm)) / (2 * eps), rel=1e-4, abs=1e-8)
    s = saliency(m, x, 2)
    np.testing.assert_allclose(s, np.abs(g).max(axis=0))


def test_saliency_of_a_unit_lives_in_its_receptive_field(images):
    m = model_2d()
    rf = receptive_field(m, "3", input_shape=images.shape)
    for pos in [(0, 0), (2, 1), (3, 3)]:
        s = saliency(m, images[1], 0, layer="3", position=pos)
        inside = np.zeros_like(s, dtype=bool)
        inside[rf.slices(pos, images.shape)] = True
        assert (s[~inside] == 0).all()
        assert s[inside].max() > 0 or activations(m, images[1], "3")[0][pos] == 0
    with pytest.raises(ValueError, match="outside layer '3'"):
        saliency(m, images[1], 0, layer="3", position=(4, 0))
    with pytest.raises(KeyError, match="not found"):
        saliency(m, images[1], 0, layer="nope")


def test_views_leave_parameter_grads_and_mode_alone(images):
    m = model_2d()
    m.train()
    p = next(iter(m.parameters()))
    p.grad = np.ones_like(p.data)
    saliency(m, images[0], 1)
    maximize_activation(m, "0", 1, images.shape[1:], steps=2)
    assert m.training and (p.grad == 1).all()


def test_activation_maximisation_climbs(images):
    m = model_2d()
    x, scores = maximize_activation(m, "3", 1, images.shape[1:], steps=30, lr=0.05, seed=0)
    assert x.shape == images.shape[1:] and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    assert scores[-1] > scores[0] + 0.1 and scores[-1] > max(scores[:3])


def test_activation_maximisation_of_a_linear_unit_draws_its_filter():
    """One conv layer: the score is <w, x_box> + b, so the best image in [0, 1] is 1 where w > 0, 0 where w < 0."""
    mc.seed(3)
    conv = nn.Conv2d(3, 2, 5)
    m = nn.Sequential(conv)
    x, scores = maximize_activation(m, "0", 1, (3, 9, 9), steps=60, lr=0.1, l2=0, blur_every=0, jitter=0)
    w = conv.weight.data[1]
    box = x[:, 2:7, 2:7]  # the centre output (2, 2) sees rows/cols 2..6
    strong = np.abs(w) > 0.02
    np.testing.assert_array_equal((box > 0.5)[strong], (w > 0)[strong])
    assert np.abs(box - 0.5)[strong].min() > 0.45
    outside = np.ones((9, 9), bool)
    outside[2:7, 2:7] = False
    assert np.abs(x[:, outside] - 0.5).max() < 0.05  # never touched: still the faint initial noise
    fig = maximize_figure(m, "0", [0, 1], (3, 9, 9), steps=3, cell=1.0, dpi=50)
    assert png_size(fig) == (100, 65)


def test_unit_score_reductions():
    y = mc.Tensor(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2))
    assert unit_score(y, 1, "l").item() == 7
    assert unit_score(y, 1, "l", reduce="mean").item() == 5.5
    assert unit_score(y, 0, "l", position=(1, 0)).item() == 2
    with pytest.raises(ValueError, match="reduce"):
        unit_score(y, 0, "l", reduce="median")


def test_most_active_units_prefers_different_images():
    from minicnn.visualize.sheet import most_active_units
    from minicnn.visualize.top_patches import TopPatches
    res = TopPatches("l", [10, 11, 12, 13], values=np.array([[9.0, 9], [8, 8], [7, 7], [1, 1]]),
                     image_index=np.array([[0, 1], [1, 0], [2, 3], [4, 5]]),
                     position=np.zeros((4, 2, 0), int), boxes=np.zeros((4, 2, 2, 2), int), rf=None,
                     input_shape=(3, 4, 4))
    assert most_active_units(res, 2) == [0, 2]  # unit 11 has the same favourite images as unit 10
    assert most_active_units(res, 4) == [0, 2, 3, 1]


@pytest.mark.gpu
def test_views_on_a_cuda_model_match_the_cpu(images):
    from minicnn.visualize import top_patches
    m = model_2d()
    cpu = top_patches(m, images, "3", k=3)
    s_cpu = saliency(m, images[0], 1)
    m.to("cuda")
    gpu = top_patches(m, images, "3", k=3)
    np.testing.assert_array_equal(gpu.image_index, cpu.image_index)
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-4)
    np.testing.assert_allclose(saliency(m, images[0], 1), s_cpu, rtol=1e-3, atol=1e-6)
