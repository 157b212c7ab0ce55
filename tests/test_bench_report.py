"""The benchmark's report logic (no timing assertions: timings are machine facts, not test outcomes)."""

import json

import numpy as np
import pytest

from minicnn.bench import Worker, alternate_rounds, ratio_stats, run_benchmark, summarize, to_markdown, write_reports
from minicnn.bench.cases import CASES, case_inputs, conv_flops, make_case

META = {"date": "2026-01-01 00:00 UTC", "machine": "test", "versions": {"numpy": np.__version__}}


def _row(case, pass_, m, t, np_ms=None):
    return {"case": case, "pass": pass_, "minicnn_ms": m, "torch_ms": t, "ratio": (m / t) if t else None,
            "gflops": 1.0, "numpy_ms": np_ms, "numba_speedup_vs_numpy": (np_ms / m) if np_ms else None}


def test_summary_and_markdown_without_torch_say_n_a(tmp_path):
    rows = [_row(CASES[0][0], "forward", 1.0, None), _row(CASES[0][0], "forward+backward", 2.0, None)]
    extra = {"threads": 2, "memory_mb": {"minicnn": 10.0}}
    summary = summarize(rows, extra)
    assert summary["conv_fwd_bwd_geomean_ratio"] is None and "memory_ratio" not in summary
    text = write_reports(rows, extra, META, markdown=tmp_path / "r.md", json_path=tmp_path / "r.json")
    assert "| n/a |" in text and (tmp_path / "r.md").read_text() == text
    assert json.loads((tmp_path / "r.json").read_text())["rows"][0]["case"] == CASES[0][0]


def test_summary_targets():
    large = CASES[1][0]
    rows = [_row("conv2d a", "forward", 1.0, 2.0), _row("conv2d a", "forward+backward", 2.0, 1.0),
            _row("conv1d b", "forward+backward", 1.0, 2.0), _row(large, "forward", 1.0, 1.0, np_ms=4.0),
            _row("max_pool2d c", "forward+backward", 1.0, 2.0)]
    s = summarize(rows, {"memory_mb": {"minicnn": 10.0, "torch": 20.0}})
    assert np.isclose(s["conv_fwd_bwd_geomean_ratio"], 1.0)  # sqrt(2 * 0.5)
    assert s["conv_fwd_bwd_max_ratio"] == 2.0 and s["max_pool_fwd_bwd_ratio"] == 0.5
    assert s["min_numba_speedup_vs_numpy_large_conv2d"] == 4.0 and s["memory_ratio"] == 0.5
    text = to_markdown(rows, {"threads": 1}, META)
    assert "| no conv case forward+backward above 1.3x | 2.00 | **no** |" in text


def test_rounds_alternate_and_the_ratio_is_the_median_of_per_round_ratios():
    calls = []
    a_times = iter([[1.0, 9.0, 2.0], [4.0], [3.0], [8.0], [5.0]])  # burst medians 2, 4, 3, 8, 5
    b_times = iter([[1.0], [2.0], [1.0], [2.0], [10.0]])

    def burst(name, times):
        return lambda: (calls.append(name), next(times))[1]

    a, b = alternate_rounds(burst("a", a_times), burst("b", b_times), rounds=5, gap_s=0)
    assert calls == ["a", "b"] * 5 and a == [2.0, 4.0, 3.0, 8.0, 5.0]
    assert ratio_stats(a, b) == (2.0, 0.5, 4.0)  # ratios 2, 2, 3, 4, 0.5
    assert alternate_rounds(lambda: [1.0], None, 3, gap_s=0) == ([1.0] * 3, [])
    assert ratio_stats([1.0], []) == (None, None, None)


def test_every_burst_starts_after_a_quiet_gap(monkeypatch):
    """The other library's threads may still spin after its burst (PyTorch's OpenMP threads for
    about 7 ms): each burst, alternating or alone, waits IDLE_GAP_S first."""
    import minicnn.bench as bench

    events = []
    monkeypatch.setattr(bench.time, "sleep", lambda s: events.append(("sleep", s)))
    bench.alternate_rounds(lambda: events.append("a") or [1.0], lambda: events.append("b") or [1.0], rounds=2)
    gap = ("sleep", bench.IDLE_GAP_S)
    assert bench.IDLE_GAP_S >= 0.02 and events == [gap, "a", gap, "b", gap, "a", gap, "b"]


def test_report_states_spread_self_check_and_load():
    row = dict(_row(CASES[1][0], "forward", 2.0, 1.0), ratio_min=1.5, ratio_max=2.5, torch_alone_ms=0.7,
               torch_check=1.0 / 0.7)
    ok = dict(_row(CASES[2][0], "forward", 1.0, 1.0), ratio_min=0.9, ratio_max=1.1, torch_alone_ms=0.95,
              torch_check=1.0 / 0.95)
    text = to_markdown([row, ok], {"threads": 2, "load_average_start": (0.5, 0.4, 0.3)},
                       dict(META, load_average=(1.5, 1.0, 0.5)))
    assert "| 2.00 | 1.50-2.50 | 0.700 |" in text
    assert "1 of 2 rows within" in text and f"{CASES[1][0]} forward 1.43" in text
    assert "0.5 / 0.4 / 0.3" in text and "1.5 / 1.0 / 0.5" in text
    assert summarize([row, ok])["torch_self_check_worst"] == pytest.approx(1 / 0.7)
    assert "not judged (would read" in text and "1 row failed the self-check" in text


def test_a_busy_machine_leaves_the_targets_unjudged_unless_cpu_time_was_measured():
    rows = [dict(_row(CASES[1][0], "forward+backward", 1.0, 2.0), torch_check=1.0)]
    busy = dict(META, load_average=(99.0, 50.0, 10.0))
    text = to_markdown(rows, {"threads": 2}, busy)
    assert "not judged (would read yes)" in text and "load average reached 99.0" in text
    text = to_markdown(rows, {"threads": 1, "clock": "thread"}, busy)
    assert "CPU time of the calling thread" in text and "not judged" not in text
    with pytest.raises(ValueError, match="cpu_time needs threads=1"):
        run_benchmark(threads=2, cpu_time=True, compile_time=False)


def test_cases_run_through_the_public_api():
    import minicnn.functional as F

    small = ("conv2d tiny", "conv", 2, 2, 3, (6, 6), 4, 3, 1, 1)
    fwd, fwd_bwd = make_case(small)
    x, w, b = case_inputs(small)
    assert x.dtype == np.float32
    np.testing.assert_allclose(fwd().numpy(), F.conv2d(x, w, b, padding=1).numpy(), rtol=1e-6)
    fwd_bwd()
    assert conv_flops(small) == 2.0 * 2 * 4 * 36 * 3 * 9
    strided = next(c for c in CASES if c[0] == "conv2d 8,32,64x64->64 k5 s2 p2")
    assert conv_flops(strided) == 2.0 * 8 * 64 * 32 * 32 * 32 * 25   # floor((64 + 4 - 5) / 2) + 1 = 32


def test_the_pytorch_style_step_normalises_its_input_like_minicnns_vgg():
    """torch_side.py cannot import minicnn, so it holds its own copy of the ImageNet statistics."""
    from minicnn.bench import torch_side
    from minicnn.style.vgg import IMAGENET_MEAN, IMAGENET_STD

    np.testing.assert_array_equal(np.float32(torch_side.IMAGENET_MEAN), IMAGENET_MEAN)
    np.testing.assert_array_equal(np.float32(torch_side.IMAGENET_STD), IMAGENET_STD)


def test_workers_time_their_own_library_and_torch_never_imports_minicnn():
    pytest.importorskip("torch")
    label = CASES[5][0]  # conv1d 64,1,14: the smallest case
    workers = [Worker("minicnn", 1), Worker("torch", 1)]
    try:
        for w in workers:
            w.call(op="setup", key="k", kind="case", label=label, warmup=1, **{"pass": "forward+backward"})
            times = w.call(op="time", key="k", n=3)["ms"] + w.call(op="time", key="k", n=2, clock="thread")["ms"]
            assert len(times) == 5  # n=3 wall-clock times, then n=2 thread-clock times
        info = workers[1].call(op="info")
        assert info["imported_minicnn"] is False and info["imported_numba"] is False and info["threads"] == 1
        assert workers[0].call(op="info")["imported_minicnn"] is True
        with pytest.raises(RuntimeError, match="torch worker, no such case: ValueError: no benchmark case"):
            workers[1].call(op="setup", key="x", kind="case", label="no such case", **{"pass": "forward"})
    finally:
        for w in workers:
            w.close()
    assert all(w.proc.poll() is not None for w in workers)
