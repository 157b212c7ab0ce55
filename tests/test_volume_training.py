"""The lecture's 1D and 3D shapes, short conv3d training runs that must clearly beat chance, and
the command line of minicnn.volume."""
import json

import numpy as np
import pytest

import minicnn as mc
from minicnn.volume import cli
from minicnn.volume.lecture import format_shapes, lecture_shapes
from minicnn.volume.volume_data import make_moving_shapes, make_solid_shapes, split
from minicnn.volume.volumes import (
    VolumeNet,
    _flip_motion,
    augment_volumes,
    confusion_matrix,
    predict,
    train_volume_classifier,
)


# ----------------------------------------------------------------------------- lecture
def test_lecture_1d_shapes_and_params():
    rows = lecture_shapes(1)
    convs = [r for r in rows if r["layer"].startswith("conv")]
    assert [r["shape"] for r in convs] == [(1, 16, 10), (1, 32, 6)]
    assert [r["course"] for r in convs] == ["10 x 16", "6 x 32"]
    assert [r["course"] for r in convs] == [r["formula"] for r in convs]
    assert [r["params"] for r in convs] == [16 * (5 * 1 + 1), 32 * (5 * 16 + 1)]   # 96, 2592
    assert rows[0]["course"] == "14 x 1"


def test_lecture_3d_shapes_and_params():
    rows = lecture_shapes(3)
    convs = [r for r in rows if r["layer"].startswith("conv")]
    assert [r["shape"] for r in convs] == [(1, 16, 10, 10, 10), (1, 32, 6, 6, 6)]
    assert [r["course"] for r in convs] == ["10 x 10 x 10 x 16", "6 x 6 x 6 x 32"]
    assert [r["params"] for r in convs] == [16 * (125 + 1), 32 * (125 * 16 + 1)]   # 2016, 64032
    text = format_shapes(rows)
    assert "14 x 14 x 14 x 1" in text and "66048" in text


# ----------------------------------------------------------------------------- volumes
def test_volumenet_shapes_and_errors():
    net = VolumeNet((8, 16, 16), n_classes=4)
    assert net(mc.Tensor(np.zeros((2, 1, 8, 16, 16), np.float32))).shape == (2, 4)
    with pytest.raises(ValueError, match="in_shape"):
        VolumeNet((10, 16, 16))
    with pytest.raises(ValueError, match="x must be"):
        train_volume_classifier(np.zeros((4, 16, 16, 16)), np.zeros(4, int), 3)


def test_augmentations_keep_content_and_labels():
    rng = np.random.default_rng(0)
    x, _ = make_solid_shapes(4, seed=0)
    a = augment_volumes(x, rng)
    np.testing.assert_allclose(np.sort(a.ravel()), np.sort(x.ravel()))
    clips, y = make_moving_shapes(40, frames=6, size=14, noise=0.0, seed=1)
    flipped, y2 = _flip_motion(clips, y, rng)
    for clip, label in zip(flipped[:, 0], y2):       # the new label still names the motion
        r0, c0 = np.argwhere(clip[0] > 0.5).mean(0)
        r1, c1 = np.argwhere(clip[-1] > 0.5).mean(0)
        move = {0: (0, 5), 1: (0, -5), 2: (5, 0), 3: (-5, 0)}[int(label)]
        assert (round(r1 - r0), round(c1 - c0)) == move


def test_volume_classifier_beats_chance():
    x, y = make_solid_shapes(300, seed=0)
    xtr, ytr, xte, yte = split(x, y, 0.3, seed=0)
    model, losses = train_volume_classifier(xtr, ytr, 3, epochs=6, batch_size=16, seed=0, progress=False)
    acc = float(np.mean(predict(model, xte).argmax(1) == yte))
    assert acc > 0.6, acc                      # chance is 1/3
    cm = confusion_matrix(yte, predict(model, xte).argmax(1), 3)
    assert cm.sum() == len(yte) and np.trace(cm) == round(acc * len(yte))


def test_video_classifier_beats_chance():
    x, y = make_moving_shapes(200, seed=0)
    xtr, ytr, xte, yte = split(x, y, 0.3, seed=0)
    model, _ = train_volume_classifier(xtr, ytr, 4, epochs=4, batch_size=16, augment="flip-space",
                                       seed=0, progress=False)
    acc = float(np.mean(predict(model, xte).argmax(1) == yte))
    assert acc > 0.6, acc                      # chance is 1/4


# ----------------------------------------------------------------------------- command line

def test_cli_shapes(capsys):
    assert cli.main(["--shapes"]) == 0
    out = capsys.readouterr().out
    assert "10 x 16" in out and "6 x 6 x 6 x 32" in out


def test_cli_volume_json(tmp_path, capsys):
    assert cli.main(["--video", "--n-train", "48", "--epochs", "1", "--json",
                     "--out", str(tmp_path)]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["task"] == "video" and metrics["n_train"] == 48 and len(metrics["confusion"]) == 4
    assert (tmp_path / "video_predictions.png").exists()
