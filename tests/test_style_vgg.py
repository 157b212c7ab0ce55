"""VGG-19 feature network: layer names, npz weights, the torchvision converter (torch as oracle)."""

import numpy as np
import pytest

import minicnn as mc
from minicnn.style.convert_vgg19 import conv_indices, convert_state_dict
from minicnn.style.convert_vgg19 import main as convert_main
from minicnn.style.features import RandomMultiScale
from minicnn.style.vgg import VGG19, VGG19_CONFIG, vgg19_layer_names

WIDTH = 0.125  # 8, 16, 32, 64, 64 channels: same layout, fast


@pytest.fixture(autouse=True)
def _numpy_kernels():
    # small images: the vectorised NumPy kernels have the least per-call overhead
    with mc.use_backend("numpy"):
        yield


def test_layer_names_follow_torchvision_indices():
    names = vgg19_layer_names()
    assert len(names) == 37
    assert names[0] == "conv1_1" and names[4] == "pool1" and names[28] == "conv5_1" and names[36] == "pool5"
    assert conv_indices() == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    assert "relu4_2" in names and "conv5_4" in names


def test_forward_returns_requested_layers_with_shapes(rng):
    net = VGG19(width=WIDTH, pool="avg")
    x = mc.Tensor(rng.random((1, 3, 32, 32), dtype=np.float32))
    out = net(x, ["relu1_1", "conv3_2", "pool4", "relu5_1"])
    assert out["relu1_1"].shape == (1, 8, 32, 32)
    assert out["conv3_2"].shape == (1, 32, 8, 8)
    assert out["pool4"].shape == (1, 64, 2, 2)
    assert out["relu5_1"].shape == (1, 64, 2, 2)
    assert (out["relu1_1"].data >= 0).all()
    with pytest.raises(KeyError, match="conv6_1"):
        net(x, ["conv6_1"])
    with pytest.raises(ValueError, match="RGB"):
        net(mc.Tensor(np.zeros((1, 1, 32, 32), np.float32)))
    assert not any(p.requires_grad for p in net.parameters())


def test_npz_roundtrip(tmp_path, rng):
    mc.seed(1)
    net = VGG19(width=WIDTH)
    net.save(tmp_path / "vgg.npz")
    back = VGG19.from_npz(tmp_path / "vgg.npz")
    assert back.width == WIDTH
    x = mc.Tensor(rng.random((1, 3, 16, 16), dtype=np.float32))
    np.testing.assert_array_equal(net(x, ["relu3_1"])["relu3_1"].data, back(x, ["relu3_1"])["relu3_1"].data)
    bad = {k: v for k, v in net.state_dict().items() if k != "features.10.bias"}
    mc.save(bad, tmp_path / "bad.npz")
    with pytest.raises(KeyError, match="features.10.bias"):
        VGG19.from_npz(tmp_path / "bad.npz")


def test_convert_state_dict_checks_shapes(rng):
    state = VGG19(width=WIDTH).state_dict()
    state["classifier.0.weight"] = np.zeros((4, 4), np.float32)  # dropped
    out = convert_state_dict({"module." + k: v for k, v in state.items()})
    assert sorted(out) == sorted(k for k in state if k.startswith("features."))
    state["features.7.weight"] = state["features.7.weight"][:, :3]
    with pytest.raises(ValueError, match="features.7.weight"):
        convert_state_dict(state)
    with pytest.raises(KeyError, match="features.0.weight"):
        convert_state_dict({"conv.weight": np.zeros(1)})


def _torch_vgg(torch, width):
    """A torchvision-keyed VGG-19 ``features`` built from torch.nn (no torchvision needed)."""
    nn = torch.nn
    layers, c_in = [], 3
    for c in VGG19_CONFIG:
        if c == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            c_out = max(1, int(round(c * width)))
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=False)]
            c_in = c_out

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Linear(4, 2))

    return Net()


def test_converter_matches_torch_activations(tmp_path, rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tnet = _torch_vgg(torch, WIDTH).eval()
    pth = tmp_path / "vgg19.pth"
    torch.save(tnet.state_dict(), pth)
    assert convert_main([str(pth), str(tmp_path / "vgg19.npz")]) == 0
    net = VGG19.from_npz(tmp_path / "vgg19.npz", pool="max", normalize_input=False)

    x = rng.random((2, 3, 32, 32), dtype=np.float32)
    names = vgg19_layer_names()
    wanted = ["conv1_1", "relu2_2", "pool3", "relu4_2", "conv5_4", "pool5"]
    ours = net(mc.Tensor(x), wanted)
    h = torch.from_numpy(x)
    with torch.no_grad():
        for i, layer in enumerate(tnet.features):
            h = layer(h)
            if names[i] in wanted:
                np.testing.assert_allclose(ours[names[i]].data, h.numpy(), rtol=1e-4, atol=1e-5,
                                           err_msg=names[i])


def test_converter_errors_exit_2(tmp_path, capsys):
    pytest.importorskip("torch")
    assert convert_main([str(tmp_path / "missing.pth"), str(tmp_path / "o.npz")]) == 2
    assert "missing.pth" in capsys.readouterr().err
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    assert convert_main([str(junk), str(tmp_path / "o.npz")]) == 2
    assert "junk.pth" in capsys.readouterr().err


def test_random_multiscale_is_seeded(rng):
    x = mc.Tensor(rng.random((1, 3, 32, 32), dtype=np.float32))
    a = RandomMultiScale(seed=3)(x)
    b = RandomMultiScale(seed=3)(x)
    c = RandomMultiScale(seed=4)(x)
    name = "scale2"
    np.testing.assert_array_equal(a[name].data, b[name].data)
    assert not np.allclose(a[name].data, c[name].data)
    assert a["scale3"].shape[2:] == (8, 8)


def test_bench_step_runs_and_lowers_J():
    from minicnn.style.bench import bench_step

    step = bench_step(32, width=WIDTH)
    costs = [step() for _ in range(3)]
    assert costs[-1] < costs[0]
    assert step.image.shape == (1, 3, 32, 32)
    assert step.image.min() >= 0.0 and step.image.max() <= 1.0
