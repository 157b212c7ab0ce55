"""Short training runs of the beat detector that must clearly beat chance, its figure, and the
command line of minicnn.ecg."""
import json

import numpy as np
import pytest
from matplotlib.figure import Figure

import minicnn as mc
from minicnn.ecg import cli
from minicnn.ecg.beats import BeatNet, detect_beats, prepare_lead, train_beat_detector
from minicnn.ecg.ecg_task import plot_detections, run_record
from minicnn.ecg.scoring import score_beats
from minicnn.ecg.synthetic_ecg import synthetic_ecg


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


# ----------------------------------------------------------------------------- command line

def test_cli_ecg_json(tmp_path, capsys):
    assert cli.main(["--steps", "15", "--quick", "--json", "--out", str(tmp_path)]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["data"] == "synthetic"
    assert metrics["sensitivity"] == pytest.approx(metrics["tp"] / (metrics["tp"] + metrics["fn"]))
    assert (tmp_path / "ecg_detections.png").stat().st_size > 1000
    assert json.loads((tmp_path / "ecg_metrics.json").read_text())["tp"] == metrics["tp"]


def test_cli_bad_record_is_a_clean_error(tmp_path, capsys):
    assert cli.main(["--record", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "nope.hea" in capsys.readouterr().err
