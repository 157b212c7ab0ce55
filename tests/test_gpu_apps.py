"""The applications on the GPU: style transfer and the visualize views, run with
CuPy replaced by tests/fake_cupy.py (the device code paths, on the CPU), must
equal the CPU run; ``--device cuda`` without a GPU is a one-line error, exit 2.

The real-GPU run of the same code is ``pytest -m gpu`` (tests/test_gpu.py).
"""

import fake_cupy
import gpu_sim
import numpy as np
import pytest

import minicnn as mc
import minicnn.cuda
from minicnn import backend, nn
from minicnn.kernels import cupy_gpu
from minicnn.style.features import RandomMultiScale
from minicnn.style.samples import procedural_scene, swirl_painting
from minicnn.style.transfer import Objective, style_transfer
from minicnn.style.vgg import VGG19

SMALL = dict(channels=(4, 8, 8), first_kernel=3)
F32 = dict(rtol=2e-4, atol=2e-5)


@pytest.fixture(autouse=True)
def _numpy_kernels():
    with mc.use_backend("numpy"):  # the CPU reference: least overhead on tiny images
        yield


@pytest.fixture(params=["raw", "vectorized"])
def fake_cuda(request, monkeypatch):
    """CuPy replaced by the fake; "raw": the CUDA kernels (simulated), "vectorized": the CuPy fallback."""
    if request.param == "raw" and gpu_sim.compiler() is None:
        pytest.skip("no C++ compiler to simulate the CUDA kernels")
    fake_cupy.install(monkeypatch)
    saved = cupy_gpu.get_mode()
    cupy_gpu.set_mode(request.param)
    yield
    cupy_gpu.set_mode(saved)


@pytest.fixture(scope="module")
def pair():
    return procedural_scene(20), swirl_painting(20, stroke_length=4)


def _on_device(a):
    return backend.is_cupy_array(mc.tensor.unwrap(a))


@pytest.mark.parametrize("optimizer, steps", [("adam", 4), ("lbfgs", 3)])
def test_style_transfer_on_cuda_equals_cpu(pair, fake_cuda, optimizer, steps):
    content, style = pair
    kw = dict(steps=steps, optimizer=optimizer, lr=0.05, init="mix", tv_weight=0.1, progress=False)
    cpu = style_transfer(content, style, RandomMultiScale(**SMALL), **kw)
    net = RandomMultiScale(**SMALL)
    gpu = style_transfer(content, style, net, device="cuda", **kw)
    assert _on_device(net.convs[0].weight)  # the network was moved, in place
    assert type(gpu.image) is np.ndarray and gpu.image.dtype == np.float32
    np.testing.assert_allclose(gpu.image, cpu.image, **F32)
    for key in ("J", "J_content", "J_style"):
        np.testing.assert_allclose(gpu.history[key], cpu.history[key], rtol=1e-4)
    assert gpu.J_final == pytest.approx(cpu.J_final, rel=1e-4)


def test_objective_keeps_its_targets_on_the_device(pair, fake_cuda):
    content, style = pair
    net = RandomMultiScale(**SMALL).to("cuda")
    obj = Objective(net, content, style, "scale2", [("scale1", 0.5), ("scale3", 0.5)], 10, 40, device="cuda")
    assert _on_device(obj.target_content)
    assert all(_on_device(g) for g, _ in obj.target_grams.values())


def test_vgg19_input_normalisation_on_cuda(fake_cuda):
    x = np.random.default_rng(0).uniform(0, 1, (1, 3, 16, 16)).astype(np.float32)
    mc.seed(0)
    net = VGG19(pool="avg", width=1 / 16)
    want = net(mc.Tensor(x), ["conv2_1"])["conv2_1"].numpy()
    got = net.to("cuda")(mc.Tensor(x).to("cuda"), ["conv2_1"])["conv2_1"]
    assert _on_device(got)
    np.testing.assert_allclose(got.numpy(), want, **F32)


def test_save_image_takes_device_arrays(tmp_path, fake_cuda):
    from minicnn.images import load_image, save_image, to_uint8

    img = np.random.default_rng(1).uniform(0, 1, (3, 16, 18)).astype(np.float32)
    t = mc.Tensor(img).to("cuda")
    np.testing.assert_array_equal(to_uint8(t), to_uint8(img))
    np.testing.assert_array_equal(to_uint8(t.data), to_uint8(img))
    save_image(t.data, tmp_path / "g.png")
    np.testing.assert_array_equal(to_uint8(load_image(tmp_path / "g.png")), to_uint8(img))


def test_visualize_views_on_cuda_equal_cpu(fake_cuda):
    from minicnn.visualize import top_patches
    from minicnn.visualize.saliency import saliency

    mc.seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 5, 3, padding=1), nn.ReLU())
    images = np.random.default_rng(2).uniform(0, 1, (6, 3, 12, 12)).astype(np.float32)
    cpu = top_patches(model, images, "4", k=2, progress=False)
    s_cpu = saliency(model, images[0], 1, layer="4")
    model.to("cuda")
    gpu = top_patches(model, images, "4", k=2, progress=False)
    np.testing.assert_array_equal(gpu.image_index, cpu.image_index)
    np.testing.assert_allclose(gpu.values, cpu.values, **F32)
    np.testing.assert_allclose(saliency(model, images[0], 1, layer="4"), s_cpu, rtol=1e-3, atol=1e-6)


def test_style_cli_device_cuda(tmp_path, fake_cuda, capsys):
    import json

    from minicnn.images import load_image
    from minicnn.style.cli import main

    args = ["--size", "20", "--steps", "3", "--quiet", "--json", "--tv", "0.1"]
    assert main(args + ["--out", str(tmp_path / "cpu.png")]) == 0
    assert json.loads(capsys.readouterr().out)["device"] == "cpu"
    assert main(args + ["--out", str(tmp_path / "gpu.png"), "--device", "cuda"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["device"] == "cuda"
    # 8-bit pixels: float32 differences may flip a rounding, never more than one level
    diff = load_image(tmp_path / "gpu.png") - load_image(tmp_path / "cpu.png")
    assert np.abs(diff).max() <= 1 / 255 + 1e-6


def test_visualize_cli_device_cuda(tmp_path, fake_cuda, capsys):
    from minicnn.visualize.__main__ import main
    from minicnn.visualize.model import save_model

    mc.seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(6, 2))
    path = save_model(model, tmp_path / "tiny.npz")
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(3).uniform(0, 1, (5, 3, 16, 16)).astype(np.float32))
    lines = {}
    for device in ("cpu", "cuda"):
        assert main(["--model", str(path), "--data", str(data), "--out", str(tmp_path / f"{device}.png"),
                     "--k", "2", "--n-units", "2", "--device", device]) == 0
        lines[device] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("layer ")]
    assert lines["cuda"] == lines["cpu"] and lines["cpu"]


# ----------------------------------------------------------------------------
# --device cuda on a machine without a usable GPU (no fake: the real probe)
# ----------------------------------------------------------------------------
no_gpu = pytest.mark.skipif(minicnn.cuda.is_available(), reason="a CUDA GPU is available here")


@no_gpu
def test_style_cli_device_cuda_without_gpu(tmp_path, capsys):
    from minicnn.style.cli import main

    out = tmp_path / "g.png"
    assert main(["--size", "20", "--steps", "1", "--quiet", "--out", str(out), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: no usable CUDA GPU" in err and minicnn.cuda.unavailable_reason() in err
    assert "Traceback" not in err and not out.exists()


@no_gpu
def test_visualize_cli_device_cuda_without_gpu(tmp_path, capsys):
    from minicnn.visualize.__main__ import main

    assert main(["--out", str(tmp_path / "s.png"), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: no usable CUDA GPU" in err and minicnn.cuda.unavailable_reason() in err


@no_gpu
def test_style_transfer_device_cuda_without_gpu(pair):
    content, style = pair
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        style_transfer(content, style, RandomMultiScale(**SMALL), steps=1, device="cuda", progress=False)
    with pytest.raises(ValueError, match="device must be"):
        style_transfer(content, style, steps=1, device="gpu", progress=False)
