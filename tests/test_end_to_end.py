"""End to end: a tiny ConvNet (Conv2d -> ReLU -> MaxPool2d -> Flatten ->
Linear) trained with Adam on one fixed batch memorises it (the loss falls by
more than 10x), on every CPU backend, and keeps working after save/load."""

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
import minicnn.optim as optim


def _batch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    return mc.Tensor(x), y


def _model():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 4 * 4, 3))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_tiny_convnet_overfits_a_fixed_batch(backend, tmp_path):
    with mc.use_backend(backend):
        mc.seed(0)
        model = _model()
        opt = optim.Adam(model.parameters(), lr=0.01)
        x, y = _batch()
        losses = []
        for _ in range(60):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0] / 10, losses[::10]
        assert all(p.dtype == np.float32 for p in model.parameters())
        model.eval()
        accuracy = (model(x).data.argmax(axis=1) == y).mean()
        assert accuracy == 1.0

        model.save(tmp_path / "tiny.npz", meta={"final_loss": losses[-1]})
        restored = _model()
        meta = restored.load(tmp_path / "tiny.npz")
        assert meta["final_loss"] == losses[-1]
        np.testing.assert_array_equal(restored(x).data, model(x).data)
