"""The command line, model files, the image-folder loader and the shapes data."""

import re

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn import nn
from minicnn.visualize.__main__ import main
from minicnn.visualize.data import CLASSES, load_images, make_shape_images
from minicnn.visualize.model import build, default_model, describe, load_model, save_model


@pytest.fixture(autouse=True)
def _numpy_kernels():
    with mc.use_backend("numpy"):
        yield


def tiny_model(c=3):
    mc.seed(0)
    return nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(6, 2))


@pytest.fixture
def image_dir(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    x, _ = make_shape_images(7, size=20, seed=5)
    for i, img in enumerate(x):
        Image.fromarray((img.transpose(1, 2, 0) * 255).astype(np.uint8)).save(d / f"img{i}.png")
    (d / "notes.txt").write_text("not an image")
    return d


def test_shapes_data():
    x, y = make_shape_images(30, size=16, seed=1)
    assert x.shape == (30, 3, 16, 16) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert np.bincount(y).tolist() == [5] * len(CLASSES)
    x2, y2 = make_shape_images(30, size=16, seed=1)
    np.testing.assert_array_equal(x, x2)
    with pytest.raises(ValueError, match="size"):
        make_shape_images(3, size=4)


def test_model_round_trip(tmp_path):
    m = default_model(width=4)
    path = save_model(m, tmp_path / "m.npz", meta={"input_shape": [3, 32, 32]})
    m2, meta = load_model(path)
    assert describe(m2) == describe(m) and meta["input_shape"] == [3, 32, 32]
    x = mc.Tensor(make_shape_images(2)[0])
    with mc.no_grad():
        np.testing.assert_allclose(m2(x).data, m.eval()(x).data, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown type 'Warp'"):
        build([{"type": "Warp", "args": {}}])
    mc.save(m, tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="no 'arch'"):
        load_model(tmp_path / "plain.npz")


def test_load_images(image_dir, tmp_path):
    x = load_images(image_dir)
    assert x.shape == (7, 3, 20, 20)
    assert load_images(image_dir, in_channels=1, size=(16, 16)).shape == (7, 1, 16, 16)
    np.save(tmp_path / "a.npy", x)
    assert load_images(tmp_path / "a.npy").shape == x.shape
    with pytest.raises(ValueError, match=r"expected images \(N, 1, H, W\)"):
        load_images(tmp_path / "a.npy", in_channels=1)
    with pytest.raises(FileNotFoundError, match="no such"):
        load_images(tmp_path / "missing")


def test_cli_with_model_and_data(tmp_path, image_dir, capsys):
    model_path = save_model(tiny_model(), tmp_path / "tiny.npz", meta={"input_shape": [3, 20, 20]})
    out = tmp_path / "sheet.png"
    rc = main(["--model", str(model_path), "--data", str(image_dir), "--out", str(out),
               "--layers", "0", "3", "--units", "0", "2", "--k", "4"])
    assert rc == 0
    assert Image.open(out).size == (2 * 160, 2 * 160)
    text = capsys.readouterr().out
    assert "layer 0: units [0, 2]" in text and "8x8" in text  # the receptive-field table


def test_cli_views(tmp_path, image_dir):
    model_path = save_model(tiny_model(), tmp_path / "tiny.npz")
    out = tmp_path / "s.png"
    assert main(["--model", str(model_path), "--data", str(image_dir), "--out", str(out), "--k", "4",
                 "--n-units", "2", "--views", "--quick"]) == 0
    names = sorted(p.name for p in tmp_path.glob("s*.png"))
    assert names == ["s.png", "s_activations.png", "s_filters.png", "s_maximize.png", "s_saliency.png"]


@pytest.mark.parametrize("args, message", [
    (["--layers", "0", "12"], r"layer '12' not found; the model has: 0 \(Conv2d\), 1 \(ReLU\)"),
    (["--units", "5"], r"units \[5\] out of range for layer '1', which has 4 units"),
    (["--k", "0"], r"--k: must be in \[1, 100\], got 0"),
])
def test_cli_errors_list_what_exists(tmp_path, image_dir, capsys, args, message):
    model_path = save_model(tiny_model(), tmp_path / "tiny.npz")
    rc = main(["--model", str(model_path), "--data", str(image_dir), "--out", str(tmp_path / "x.png")] + args)
    assert rc == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err


def test_cli_wrong_channels(tmp_path, image_dir, capsys):
    model_path = save_model(tiny_model(c=2), tmp_path / "two.npz")
    assert main(["--model", str(model_path), "--data", str(image_dir), "--out", str(tmp_path / "x.png")]) == 2
    assert "1 or 3 channels" in capsys.readouterr().err


def test_cli_default_uses_the_shipped_model(tmp_path, capsys):
    from minicnn.visualize.model import DEFAULT_FILE
    if not DEFAULT_FILE.exists():
        pytest.skip("the shipped default_model.npz is missing")
    out = tmp_path / "sheet.png"
    assert main(["--out", str(out), "--n-images", "60", "--n-units", "4"]) == 0
    assert Image.open(out).size == (4 * 160, 3 * 160)
    text = capsys.readouterr().out
    assert "loaded default_model.npz" in text and "18x18" in text
    model, meta = load_model(DEFAULT_FILE)
    assert describe(model) == describe(default_model()) and meta["test_accuracy"] > 2 / len(CLASSES)


def test_cli_retrain_path(tmp_path, monkeypatch, capsys):
    """--retrain trains (here a very short schedule) and saves the model next to the sheet."""
    from minicnn.visualize import model as model_mod
    real = model_mod.train_default
    monkeypatch.setattr(model_mod, "train_default",
                        lambda quick=False: real(quick=quick, n_train=48, epochs=1, progress=False))
    out = tmp_path / "sheet.png"
    assert main(["--out", str(out), "--n-images", "30", "--retrain", "--layers", "0"]) == 0
    assert "default model: trained" in capsys.readouterr().out
    model, meta = load_model(tmp_path / "sheet_model.npz")
    assert meta["n_train"] == 48 and meta["epochs"] == 1
    # measured on the 48 training images and on max(48 // 4, 60) = 60 held-out ones
    assert (meta["train_accuracy"] * 48) == pytest.approx(round(meta["train_accuracy"] * 48))
    assert (meta["test_accuracy"] * 60) == pytest.approx(round(meta["test_accuracy"] * 60))


def test_block_outputs_and_receptive_fields_of_the_default_model():
    from minicnn.visualize.demo import block_outputs, conv_layers
    from minicnn.visualize.receptive_field import receptive_field
    m = default_model(width=4)
    assert conv_layers(m) == ["0", "4", "8"] and block_outputs(m) == ["2", "6", "10"]
    sizes = [receptive_field(m, n, input_shape=(3, 32, 32)) for n in block_outputs(m)]
    assert [(r.size[0], r.jump[0]) for r in sizes] == [(3, 1), (8, 2), (18, 4)]
    assert block_outputs(tiny_model()) == ["1", "4"]


@pytest.mark.slow
def test_run_demo_quick(tmp_path):
    from minicnn.visualize.demo import run_demo
    res = run_demo(tmp_path, quick=True)
    assert res["rf_layer_10"] == 18 and res["test_accuracy"] > 0.5
    for name in res["figures"]:
        assert Image.open(tmp_path / name).size[0] > 100
    assert (tmp_path / "visualize_model.npz").exists()
