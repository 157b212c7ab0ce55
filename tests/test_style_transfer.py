"""Pixel optimisation lowers J; the command line's outputs and error paths (exit status 2, no traceback)."""

import json

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn.images import load_image
from minicnn.style.cli import main
from minicnn.style.features import RandomMultiScale
from minicnn.style.samples import procedural_scene, swirl_painting
from minicnn.style.transfer import style_transfer

SMALL = dict(channels=(8, 16, 16), first_kernel=3)


@pytest.fixture(autouse=True)
def _numpy_kernels():
    # tiny images: the vectorised NumPy kernels have the least per-call overhead
    with mc.use_backend("numpy"):
        yield


@pytest.fixture(scope="module")
def pair():
    return procedural_scene(32), swirl_painting(32, stroke_length=4)


@pytest.mark.parametrize("optimizer,lr", [("adam", 0.05), ("lbfgs", None)])
def test_short_optimisation_lowers_J(pair, optimizer, lr):
    content, style = pair
    net = RandomMultiScale(**SMALL)
    r = style_transfer(content, style, net, steps=25, optimizer=optimizer, lr=lr or 0.0, init="mix",
                       progress=False)
    assert r.J_final < 0.5 * r.J_initial
    assert r.image.shape == content.shape and r.image.dtype == np.float32
    assert r.image.min() >= 0.0 and r.image.max() <= 1.0
    assert len(r.history["J"]) == len(r.history["J_content"]) >= 5
    assert r.summary()["J_reduction"] > 2
    assert r.figure().axes


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_content_init_starts_with_zero_content_cost(pair, optimizer):
    content, style = pair
    r = style_transfer(content, style, RandomMultiScale(**SMALL), steps=3, init="content", optimizer=optimizer,
                       progress=False)
    assert r.history["J_content"][0] == 0.0  # J_initial is the cost of the starting image
    assert r.history["J_style"][0] > 0.0
    assert r.J_initial == r.history["J"][0] > r.J_final


def test_coarse_to_fine_and_tv(pair):
    content, style = pair
    r = style_transfer(content, style, RandomMultiScale(**SMALL), steps=6, scales=2, tv_weight=0.1,
                       progress=False)
    assert r.history["scale"] == [0, 0, 0, 1, 1, 1]
    assert r.image.shape == content.shape


def test_bad_arguments(pair):
    content, style = pair
    with pytest.raises(ValueError, match="optimizer"):
        style_transfer(content, style, steps=1, optimizer="sgd")
    with pytest.raises(ValueError, match="content must be"):
        style_transfer(content[:1], style, steps=1)
    with pytest.raises(KeyError, match="nope"):
        style_transfer(content, style, RandomMultiScale(**SMALL), steps=1, content_layer="nope")


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------
FAST = ["--size", "32", "--steps", "2", "--quiet"]


def _img(tmp_path, name, mode="RGB", size=(40, 40)):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8))
    img = rgb.convert(mode) if mode != "RGB" else rgb
    path = tmp_path / name
    img.save(path)
    return path


def test_cli_json_and_files(tmp_path, capsys):
    c, s = _img(tmp_path, "c.png"), _img(tmp_path, "s.jpg")
    out = tmp_path / "out.png"
    assert main(["--content", str(c), "--style", str(s), "--out", str(out), "--json",
                 "--style-layers", "scale1:0.5", "scale2:0.5", *FAST]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("J_initial", "J_final", "J_content_final", "J_style_final", "seconds", "size"):
        assert key in summary
    assert summary["size"] == [32, 32]
    assert load_image(out).shape == (3, 32, 32)
    assert (tmp_path / "out_costs.png").exists()


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "LA"])
def test_cli_converts_alpha_palette_gray(tmp_path, capsys, mode):
    c = _img(tmp_path, f"c_{mode}.png", mode)
    s = _img(tmp_path, "s.png")
    assert main(["--content", str(c), "--style", str(s), "--out", str(tmp_path / "o.png"), *FAST]) == 0
    assert "note: content" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--content", "{tmp}/missing.png"], "missing.png"),
    (["--style", "{tmp}/junk.png"], "junk.png"),
    (["--content", "{tmp}/tiny.png"], "at least 16"),
    (["--size", "100000"], "--size"),
    (["--size", "8"], "--size"),
    (["--content-layer", "conv9_9"], "conv9_9"),
    (["--style-layers", "scale1:x"], "--style-layers"),
    (["--weights", "{tmp}/junk.png"], "junk.png"),
    (["--weights", "{tmp}/missing.npz"], "missing.npz"),
    (["--out", "{tmp}/o.gif"], "--out"),
    (["--optimizer", "sgd"], "invalid choice"),
])
def test_cli_bad_input_exits_2(tmp_path, capsys, args, message):
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    _img(tmp_path, "tiny.png", size=(10, 40))
    args = [a.format(tmp=tmp_path) for a in args]
    out = [] if "--out" in args else ["--out", str(tmp_path / "o.png")]
    code = main([*FAST, *out, *args])  # args last: they override FAST
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_run_demo_quick(tmp_path):
    from minicnn.style.demo import run_demo

    metrics = run_demo(tmp_path, quick=True)
    assert metrics["J_reduction"] >= 10  # the target of the default settings
    for path in metrics["files"].values():
        assert (tmp_path / path.split("/")[-1]).exists()
