"""Style-transfer costs: values from the course, zero against itself, gradients, the Gram trap."""

import numpy as np
import pytest

import minicnn as mc
from minicnn.style.costs import (
    content_cost,
    gram_matrix,
    layer_style_cost,
    style_cost,
    style_cost_from_gram,
    total_cost,
    total_variation,
)


def test_total_cost_course_values():
    assert total_cost(0.2, 0.8) == pytest.approx(34.0)
    assert total_cost(0.3, 0.5, alpha=3, beta=8) == pytest.approx(4.9)
    t = total_cost(mc.Tensor(np.float64(0.2)), mc.Tensor(np.float64(0.8)))
    assert t.item() == pytest.approx(34.0)


def test_costs_of_an_image_against_itself_are_zero(rng):
    a = rng.standard_normal((1, 4, 5, 6)).astype(np.float32)
    assert content_cost(a, a).item() == 0.0
    assert layer_style_cost(a, a).item() == 0.0
    assert style_cost({"x": a}, {"x": a}).item() == 0.0
    assert total_variation(np.ones((3, 5, 5))).item() == 0.0


def test_content_cost_formula_and_normalisations(rng):
    a_C, a_G = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 5))
    ssq = ((a_C - a_G) ** 2).sum(axis=(1, 2, 3))  # per image
    n_C, n_H, n_W = 3, 4, 5
    assert content_cost(a_C, a_G).item() == pytest.approx((ssq / (4 * n_H * n_W * n_C)).mean())
    assert content_cost(a_C, a_G, norm="gatys").item() == pytest.approx((ssq / 2).mean())
    assert content_cost(a_C, a_G, norm="mse").item() == pytest.approx(((a_C - a_G) ** 2).mean())
    # an unbatched volume (C, H, W) is one image
    assert content_cost(a_C[0], a_G[0]).item() == pytest.approx(ssq[0] / (4 * n_H * n_W * n_C))


def test_layer_style_cost_formula(rng):
    a_S, a_G = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
    g_S = np.einsum("kij,lij->kl", a_S, a_S)  # G_kk' = sum_ij a_ijk a_ijk'
    g_G = np.einsum("kij,lij->kl", a_G, a_G)
    expected = ((g_S - g_G) ** 2).sum() / (2 * 4 * 5 * 3) ** 2
    assert layer_style_cost(a_S, a_G).item() == pytest.approx(expected)
    assert layer_style_cost(a_S, a_G, norm="gatys").item() == pytest.approx(expected)  # 1/(4 N^2 M^2)
    # PyTorch tutorial: gram / (C H W), then the mean over the C x C entries
    torch_style = (((g_S - g_G) / (3 * 4 * 5)) ** 2).mean()
    assert layer_style_cost(a_S, a_G, norm="pytorch").item() == pytest.approx(torch_style)


def test_style_cost_weights_layers(rng):
    feats_S = {"a": rng.standard_normal((1, 2, 3, 3)), "b": rng.standard_normal((1, 4, 2, 2))}
    feats_G = {"a": rng.standard_normal((1, 2, 3, 3)), "b": rng.standard_normal((1, 4, 2, 2))}
    ja = layer_style_cost(feats_S["a"], feats_G["a"]).item()
    jb = layer_style_cost(feats_S["b"], feats_G["b"]).item()
    assert style_cost(feats_S, feats_G, [("a", 0.3), ("b", 0.7)]).item() == pytest.approx(0.3 * ja + 0.7 * jb)
    assert style_cost(feats_S, feats_G, {"b": 2.0}).item() == pytest.approx(2 * jb)
    assert style_cost(feats_S, feats_G).item() == pytest.approx(0.5 * (ja + jb))
    with pytest.raises(KeyError, match="'c'"):
        style_cost(feats_S, feats_G, {"c": 1.0})


def test_style_gram_is_rescaled_for_a_style_image_of_another_size(rng):
    # a texture repeated twice has twice the Gram sums; after rescaling by the
    # area its cost against the single tile is zero
    tile = rng.standard_normal((1, 3, 4, 4))
    twice = np.concatenate([tile, tile], axis=3)
    assert layer_style_cost(twice, tile).item() == pytest.approx(0.0, abs=1e-12)
    g = gram_matrix(twice).data
    assert style_cost_from_gram(g, 32, tile).item() == pytest.approx(0.0, abs=1e-12)


def test_gram_matrix_matches_definition(rng):
    a = rng.standard_normal((2, 3, 4, 5))
    g = gram_matrix(a).data
    assert g.shape == (2, 3, 3)
    np.testing.assert_allclose(g, np.einsum("nkij,nlij->nkl", a, a))
    np.testing.assert_allclose(gram_matrix(a[1]).data, g[1])


def test_gram_trap_channels_last(rng):
    """Reshaping channels-last data straight to (C, H*W) mixes channels; transposing first does not."""
    h, w, c = 3, 4, 2
    a_hwc = rng.standard_normal((h, w, c))
    a_chw = np.moveaxis(a_hwc, -1, 0)
    correct = gram_matrix(a_chw).data
    np.testing.assert_allclose(gram_matrix(a_hwc, channels_last=True).data, correct)
    np.testing.assert_allclose(gram_matrix(a_hwc[None], channels_last=True).data[0], correct)
    naive = a_hwc.reshape(c, h * w)  # the trap
    assert not np.allclose(naive @ naive.T, correct)
    # with channel k constant = k + 1 the right answer is obvious: G = H W (k+1)(k'+1)
    const = np.ones((h, w, c)) * np.arange(1, c + 1)
    expected = h * w * np.outer(np.arange(1, c + 1), np.arange(1, c + 1))
    np.testing.assert_allclose(gram_matrix(const, channels_last=True).data, expected)
    naive = const.reshape(c, h * w)
    assert not np.allclose(naive @ naive.T, expected)


@pytest.mark.parametrize("fn", [
    lambda a, g: content_cost(a, g),
    lambda a, g: content_cost(a, g, norm="gatys"),
    lambda a, g: layer_style_cost(a, g),
    lambda a, g: layer_style_cost(a[:, :, :2], g, norm="pytorch"),
    lambda a, g: style_cost({"x": a, "y": a[:, :2]}, {"x": g, "y": g[:, :2] * 1.5}, [("x", 0.25), ("y", 0.75)]),
    lambda a, g: total_variation(g),
    lambda a, g: gram_matrix(g),
    lambda a, g: total_cost(content_cost(a, g), layer_style_cost(a, g)),
], ids=["content", "content-gatys", "style", "style-other-size", "style-layers", "tv", "gram", "total"])
def test_gradcheck(fn, rng):
    a = rng.standard_normal((1, 3, 4, 3))
    g = mc.Tensor(rng.standard_normal((1, 3, 4, 3)), requires_grad=True)
    assert mc.gradcheck(lambda x: fn(a, x), [g])


def test_bad_inputs_name_the_argument(rng):
    a = rng.standard_normal((1, 3, 4, 4))
    with pytest.raises(ValueError, match="a_C and a_G"):
        content_cost(a, a[:, :2])
    with pytest.raises(ValueError, match="norm"):
        content_cost(a, a, norm="l1")
    with pytest.raises(ValueError, match="channels"):
        layer_style_cost(a, a[:, :2])
    with pytest.raises(ValueError, match=r"gram_matrix: a must be"):
        gram_matrix(np.ones((3, 4)))
    with pytest.raises(TypeError, match="a_G"):
        content_cost(a, np.ones((1, 3, 4, 4), dtype=np.int64))
