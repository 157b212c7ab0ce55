"""Top-k patches: streaming equals exhaustive search, memory stays bounded, boxes and patches are right."""

import tracemalloc

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn
from minicnn.visualize.layers import forward_to
from minicnn.visualize.top_patches import TopK, exhaustive_top_patches, extract_patch, top_patches, topk_indices


@pytest.fixture(autouse=True)
def _numpy_kernels():
    with mc.use_backend("numpy"):
        yield


def small_model():
    mc.seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 2 * 2, 3))


@pytest.fixture
def data():
    return np.random.default_rng(0).uniform(0, 1, (23, 3, 8, 8)).astype(np.float32)


def all_activations(model, images, layer):
    with mc.no_grad():
        return forward_to(model, mc.Tensor(images), layer).data


@pytest.mark.parametrize("layer", ["0", "3", "4", "6"])
@pytest.mark.parametrize("distinct", [True, False])
def test_streaming_equals_exhaustive(data, layer, distinct):
    model = small_model()
    got = top_patches(model, data, layer, k=5, batch_size=7, distinct_images=distinct)
    v, idx, pos = exhaustive_top_patches(all_activations(model, data, layer), 5, distinct)
    np.testing.assert_allclose(got.values, v, rtol=1e-6)
    np.testing.assert_array_equal(got.image_index, idx)
    np.testing.assert_array_equal(got.position, pos)
    if distinct:
        assert all(len(set(row)) == len(row) for row in got.image_index)


def test_exhaustive_reference_by_hand():
    a = np.zeros((3, 1, 2, 2))
    a[0, 0] = [[1, 5], [0, 0]]
    a[1, 0] = [[0, 0], [4, 0]]
    a[2, 0] = [[6, 0], [0, 2]]
    v, i, p = exhaustive_top_patches(a, 2, distinct_images=True)
    assert v.tolist() == [[6, 5]] and i.tolist() == [[2, 0]] and p.tolist() == [[[0, 0], [0, 1]]]
    v, i, p = exhaustive_top_patches(a, 3, distinct_images=False)
    assert v.tolist() == [[6, 5, 4]] and i.tolist() == [[2, 0, 1]]


def test_topk_ties_and_nan():
    vals = np.array([[1.0, 3.0, 3.0, np.nan, 2.0, 3.0]])
    assert topk_indices(vals, 2).tolist() == [[1, 2]]  # equal values: first seen wins
    assert topk_indices(vals, 10).tolist() == [[1, 2, 5, 4, 0, 3]]


def test_accumulator_keeps_only_k(rng):
    acc = TopK(n_units=4, k=3, payload_size=1)
    seen = []
    for b in range(30):
        vals = rng.normal(size=(4, 50))
        cols, m = acc.update(vals, np.arange(50)[:, None] + 50 * b)
        assert acc.values.shape == (4, 3) and acc.payload.shape == (4, 3, 1)
        seen.append(vals)
    full = np.concatenate(seen, axis=1)
    np.testing.assert_array_equal(acc.values, -np.sort(-full, axis=1)[:, :3])
    np.testing.assert_array_equal(acc.payload[..., 0], np.argsort(-full, axis=1)[:, :3])


def test_streaming_memory_is_bounded(monkeypatch):
    """A generated stream of 640 images: only k per unit kept; memory far below all activations."""
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU())
    k = 4
    sizes = []
    real_update = TopK.update

    def spy(self, values, payload):
        out = real_update(self, values, payload)
        sizes.append(self.values.shape)
        return out

    monkeypatch.setattr(TopK, "update", spy)

    def stream(n_batches, seed=0):
        rng = np.random.default_rng(seed)
        for _ in range(n_batches):
            yield rng.uniform(0, 1, (16, 1, 24, 24)).astype(np.float32)

    top_patches(model, stream(2), "1", k=k, distinct_images=False)  # warm up kernels
    sizes.clear()
    tracemalloc.start()
    res = top_patches(model, stream(40), "1", k=k, distinct_images=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    all_acts = 40 * 16 * 8 * 24 * 24 * 4  # bytes of every activation, float32: 11.8 MB
    assert len(sizes) == 40 and all(s == (8, k) for s in sizes)
    assert res.patches.shape == (8, k, 1, 3, 3)
    assert peak < all_acts / 3, f"peak {peak} bytes"
    assert res.image_index.max() < 640


def test_boxes_and_patches(data):
    model = small_model()
    res = top_patches(model, data, "3", k=4, units=[1, 3], batch_size=5)
    assert res.units == [1, 3] and res.rf.size == (8, 8) and res.rf.jump == (2, 2)
    for u in range(2):
        for s in range(4):
            pos = tuple(res.position[u, s])
            box = res.rf.box(pos, data.shape)
            assert [tuple(b) for b in res.boxes[u, s]] == list(box)
            patch = res.patches[u, s]
            assert patch.shape == (3, 8, 8)
            img = data[res.image_index[u, s]]
            (y0, y1), (x0, x1) = box
            inside = patch[~np.isnan(patch)].reshape(3, y1 - y0, x1 - x0)
            np.testing.assert_array_equal(inside, img[:, y0:y1, x0:x1])


def test_units_subset_matches_full(data):
    model = small_model()
    full = top_patches(model, data, "0", k=3)
    part = top_patches(model, data, "0", k=3, units=[2, 0])
    np.testing.assert_array_equal(part.values, full.values[[2, 0]])
    np.testing.assert_array_equal(part.image_index, full.image_index[[2, 0]])


def test_global_layer_and_small_dataset(data):
    model = small_model()
    res = top_patches(model, data[:3], "6", k=9)  # fewer images than k: k shrinks to 3
    assert res.values.shape == (3, 3) and res.position.shape == (3, 3, 0)
    assert res.rf.is_global and (res.boxes[..., 0] == 0).all() and (res.boxes[..., 1] == 8).all()
    assert res.patches.shape == (3, 3, 3, 8, 8)


def test_errors_name_what_exists(data):
    model = small_model()
    with pytest.raises(KeyError, match=r"'9' not found.*0 \(Conv2d\).*6 \(Linear\)"):
        top_patches(model, data, "9")
    with pytest.raises(ValueError, match=r"units \[4, 7\] out of range for layer '0'.*4 units.*0\.\.3"):
        top_patches(model, data, "0", units=[1, 4, 7])
    with pytest.raises(ValueError, match="k must be >= 1"):
        top_patches(model, data, "0", k=0)
    with pytest.raises(ValueError, match="empty"):
        top_patches(model, iter([]), "0")


class ModeSpy(nn.Module):
    """Passes its input on and records the mode it ran in."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(self.training)
        return x


@pytest.mark.parametrize("start_training", [True, False])
def test_model_runs_in_eval_mode_and_the_mode_is_restored(data, start_training):
    spy = ModeSpy()
    model = nn.Sequential(spy, *small_model())
    model.train(start_training)
    top_patches(model, data, "1", k=2, passthrough=(ModeSpy,))   # layer "1": the first convolution
    assert spy.seen and not any(spy.seen)  # every batch ran in eval mode
    assert model.training is start_training and spy.training is start_training


def test_extract_patch_fills_outside():
    from minicnn.visualize.receptive_field import receptive_field
    rf = receptive_field([nn.Conv2d(1, 1, 5, padding=2)], input_shape=(1, 6, 6))
    img = np.arange(36, dtype=np.float32).reshape(1, 6, 6)
    p = extract_patch(img, rf, (0, 0))
    assert np.isnan(p[0, :2]).all() and np.isnan(p[0, :, :2]).all()
    np.testing.assert_array_equal(p[0, 2:, 2:], img[0, :3, :3])
    assert extract_patch(img, rf, (3, 3))[0, 2, 2] == img[0, 3, 3]


@pytest.mark.parametrize("distinct", [True, False])
def test_interior_only_equals_masked_exhaustive_search(distinct):
    from minicnn.visualize.top_patches import interior_mask
    images = np.random.default_rng(1).uniform(0, 1, (23, 3, 12, 12)).astype(np.float32)
    model = small_model()
    got = top_patches(model, images, "3", k=4, batch_size=6, distinct_images=distinct, interior=True)
    acts = all_activations(model, images, "3")  # (23, 5, 4, 4)
    mask = interior_mask(got.rf, images.shape, acts.shape[2:])
    # Fields of size 8 with left edges -1 + 2i: inside the 12 pixels for i = 1, 2.
    assert np.argwhere(mask).tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]
    v, idx, pos = exhaustive_top_patches(np.where(mask, acts, -np.inf), 4, distinct)
    np.testing.assert_allclose(got.values, v, rtol=1e-6)
    np.testing.assert_array_equal(got.image_index, idx)
    np.testing.assert_array_equal(got.position, pos)
    assert not np.isnan(got.patches).any()  # every patch lies inside its image


def test_interior_mask_geometry():
    from minicnn.visualize.receptive_field import receptive_field
    from minicnn.visualize.top_patches import interior_mask
    rf = receptive_field([nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, padding=1)],
                         input_shape=(1, 1, 12, 12))
    mask = interior_mask(rf, (1, 12, 12), (6, 6))  # left edge -3 + 2i, size 8: inside for i = 2, 3
    assert np.argwhere(mask).tolist() == [[2, 2], [2, 3], [3, 2], [3, 3]]
    with pytest.raises(ValueError, match="no position"):
        interior_mask(rf, (1, 7, 7), (3, 3))
