"""The synthetic ECG generator (labels, determinism, errors) and beat scoring on hand-made cases."""
import numpy as np
import pytest

from minicnn.ecg import scoring
from minicnn.ecg.beats import beat_targets, pick_peaks, prepare_lead
from minicnn.ecg.scoring import match_beats, score_beats
from minicnn.ecg.synthetic_ecg import synthetic_ecg


# ----------------------------------------------------------------------------- scoring
def test_match_is_one_to_one_within_tolerance():
    ref = np.array([100, 200, 300, 400])
    det = np.array([105, 106, 290, 520, 399])     # 106 is a double detection of beat 100
    pairs = match_beats(ref, det, tolerance=10)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 0), (2, 2), (3, 4)]
    s = score_beats(ref, det, fs=200.0, tolerance_s=0.05)       # 10 samples at 200 Hz
    assert (s.tp, s.fp, s.fn) == (3, 2, 1)
    assert s.sensitivity == pytest.approx(3 / 4) and s.ppv == pytest.approx(3 / 5)
    assert s.mean_abs_error_ms == pytest.approx((5 + 10 + 1) / 3 * 5.0)


def test_match_boundary_and_crowding():
    # exactly at the tolerance counts; one past does not
    assert len(match_beats([100], [110], 10)) == 1 and len(match_beats([100], [111], 10)) == 0
    # greedy-earliest finds the maximum matching: a naive "closest" choice would give beat 100
    # detection 104 and leave beat 110 without a partner (95 is 15 away from it)
    pairs = match_beats([100, 110], [104, 95], 10)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 0)]
    # order of the inputs does not matter; the indices refer to the arrays as given
    pairs = match_beats([300, 100], [101, 299], 5)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 0)]


def test_score_edge_cases():
    # undefined ratios are None (JSON null), never 1.0 (issue 13, item 12)
    s = score_beats([], [], fs=360)
    assert (s.sensitivity, s.ppv, s.f1, s.mean_abs_error_ms) == (None, None, None, None)
    s = score_beats([10, 20], [], fs=360)
    assert (s.sensitivity, s.ppv, s.f1, s.fn) == (0.0, None, 0.0, 2)
    s = score_beats([], [10, 20], fs=360)
    assert (s.sensitivity, s.ppv, s.f1, s.fp) == (None, 0.0, 0.0, 2)
    with pytest.raises(ValueError, match="tolerance"):
        match_beats([1], [1], -1)
    assert set(s.as_dict()) >= {"tp", "fp", "fn", "sensitivity", "ppv", "f1"}
    assert scoring.BeatScore is type(s)


def test_pick_peaks_threshold_and_refractory():
    p = np.zeros(60)
    p[5:8] = [0.6, 0.9, 0.7]          # one run -> its maximum at 6
    p[10] = 0.8                       # a separate run 4 steps later: inside a refractory of 5
    p[30:33] = [0.55, 0.6, 0.52]
    p[50] = 0.4                       # below the threshold
    assert pick_peaks(p, 0.5, refractory=1).tolist() == [6, 10, 31]
    assert pick_peaks(p, 0.5, refractory=5).tolist() == [6, 31]
    assert pick_peaks(np.zeros(10)).tolist() == []


def test_beat_targets_and_prepare():
    y = beat_targets(20, np.array([0, 10, 19]), half_width=2)
    assert np.flatnonzero(y).tolist() == [0, 1, 2, 8, 9, 10, 11, 12, 17, 18, 19]
    x = np.sin(np.linspace(0, 20, 4000)) + 3.0
    lead = prepare_lead(x, fs=400.0, decimate=4)
    assert lead.x.shape == (1000,) and lead.x.dtype == np.float32 and lead.rate == 100.0
    assert abs(float(np.median(lead.x))) < 0.05          # the running median removed the offset
    assert lead.to_samples(np.array([0, 10])).tolist() == [2, 42]   # centre of samples 0..3 is 1.5
    with pytest.raises(ValueError, match="signal"):
        prepare_lead(np.zeros(5), fs=360.0)


# ----------------------------------------------------------------------------- synthetic ECG
def test_synthetic_ecg_labels_and_positions():
    e = synthetic_ecg(120.0, fs=360.0, heart_rate=75, premature_rate=0.15, seed=3)
    assert e.signal.shape == (43200,) and e.signal.dtype == np.float32 and e.duration == 120.0
    assert len(e.r_peaks) == len(e.labels) and set(e.labels) == {"N", "A", "V"}
    assert np.all(np.diff(e.r_peaks) > 0.3 * 360)                 # physiological spacing
    assert 120 * 75 / 60 * 0.85 < len(e.r_peaks) < 120 * 75 / 60 * 1.3
    rr = np.diff(e.r_peaks) / 360.0
    lab = e.labels[1:]
    # premature beats come early: their R-R is shorter than the median sinus R-R
    assert np.all(rr[lab != "N"] < 0.9 * np.median(rr[lab == "N"]))
    # each R peak is where the clean signal has its largest deflection nearby
    for p in e.r_peaks[(e.r_peaks > 20) & (e.r_peaks < len(e.signal) - 20)]:
        seg = np.abs(e.clean[p - 15:p + 16] - np.median(e.clean[max(0, p - 100):p + 100]))
        assert abs(int(np.argmax(seg)) - 15) <= 3


def test_synthetic_ecg_is_seeded_and_validates():
    a, b = synthetic_ecg(10.0, seed=1), synthetic_ecg(10.0, seed=1)
    np.testing.assert_array_equal(a.signal, b.signal)
    assert not np.array_equal(a.signal, synthetic_ecg(10.0, seed=2).signal)
    assert set(a.labels) == {"N"}                                  # no premature beats by default
    with pytest.raises(ValueError, match="premature_rate"):
        synthetic_ecg(10.0, premature_rate=1.5)
    with pytest.raises(ValueError, match="duration"):
        synthetic_ecg(0.5)


