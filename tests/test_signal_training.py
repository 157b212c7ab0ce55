"""Short training runs that must clearly beat chance, the lecture's shapes, the figures and the
command line of minicnn.signal."""
import json

import numpy as np
import pytest
from matplotlib.figure import Figure

import minicnn as mc
from minicnn.signal import cli
from minicnn.signal.beats import BeatNet, detect_beats, prepare_lead, train_beat_detector
from minicnn.signal.ecg_task import plot_detections, run_record
from minicnn.signal.lecture import format_shapes, lecture_shapes
from minicnn.signal.scoring import score_beats
from minicnn.signal.synthetic_ecg import synthetic_ecg
from minicnn.signal.volume_data import make_moving_shapes, make_solid_shapes, split
from minicnn.signal.volumes import (VolumeNet, _flip_motion, augment_volumes, confusion_matrix, predict,
                                    train_volume_classifier)


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


# ----------------------------------------------------------------------------- ECG
def test_beatnet_output_shape():
    net = BeatNet(channels=8)
    out = net(mc.Tensor(np.zeros((2, 1, 64), np.float32)))
    assert out.shape == (2, 1, 32)
    # the output starts at the prior of "near a beat", not at 50 %
    assert 0.05 < float(1 / (1 + np.exp(-out.numpy().mean()))) < 0.25


def test_beat_detector_learns_synthetic_ecg():
    train = synthetic_ecg(60.0, premature_rate=0.1, seed=0)
    test = synthetic_ecg(30.0, premature_rate=0.1, heart_rate=85, seed=1)
    a = prepare_lead(train.signal, train.fs)
    b = prepare_lead(test.signal, test.fs, scale=a.scale)
    model, losses = train_beat_detector(a, train.r_peaks, steps=30, batch_size=8, window_s=4.0,
                                        channels=8, lr=1e-2, seed=0, progress=False)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    detected, prob = detect_beats(model, b)
    assert prob.shape == (b.x.size // 2,)
    s = score_beats(test.r_peaks, detected, test.fs)
    # a detector that guesses gets nowhere near this with a 50 ms window
    assert s.sensitivity > 0.9 and s.ppv > 0.9, s


def test_plot_detections_returns_figure():
    e = synthetic_ecg(12.0, seed=0)
    fig = plot_detections(e.signal, e.fs, e.r_peaks, e.r_peaks[1:] + 3, prob=np.zeros(100),
                          length_s=5.0, labels=e.labels)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    labels = [t.get_label() for t in fig.axes[0].lines]
    assert "missed" in labels or "reference beat" in labels


@pytest.mark.realdata
def test_record_100_quick_run(shared_data):
    if not (shared_data / "ecg" / "100.hea").exists():
        pytest.skip("record 100 not in shared data")
    metrics, fig = run_record(str(shared_data / "ecg" / "100"), quick=True, progress=False)
    assert metrics["test_beats"] == 759 and metrics["train_beats"] == 1514
    assert metrics["sensitivity"] >= 0.99 and metrics["ppv"] >= 0.99, metrics
    assert isinstance(fig, Figure) and len(fig.axes) == 2


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
    assert cli.main(["shapes"]) == 0
    out = capsys.readouterr().out
    assert "10 x 16" in out and "6 x 6 x 6 x 32" in out


def test_cli_ecg_json(tmp_path, capsys):
    assert cli.main(["ecg", "--steps", "15", "--quick", "--json", "--out", str(tmp_path)]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["data"] == "synthetic"
    assert metrics["sensitivity"] == pytest.approx(metrics["tp"] / (metrics["tp"] + metrics["fn"]))
    assert (tmp_path / "ecg_detections.png").stat().st_size > 1000
    assert json.loads((tmp_path / "ecg_metrics.json").read_text())["tp"] == metrics["tp"]


def test_cli_volume_json(tmp_path, capsys):
    assert cli.main(["volume", "--video", "--n-train", "48", "--epochs", "1", "--json",
                     "--out", str(tmp_path)]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["task"] == "video" and metrics["n_train"] == 48 and len(metrics["confusion"]) == 4
    assert (tmp_path / "video_predictions.png").exists()


def test_cli_bad_record_is_a_clean_error(tmp_path, capsys):
    assert cli.main(["ecg", "--record", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "nope.hea" in capsys.readouterr().err
