"""The benchmark's report logic (no timing assertions: timings are machine facts, not test outcomes)."""

import json

import numpy as np

from minicnn.bench import paired_median_ms, summarize, to_markdown, write_reports
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
    assert "| no conv case forward+backward above 1.5x | 2.00 | **no** |" in text


def test_cases_run_through_the_public_api():
    calls = []
    med_a, med_b = paired_median_ms(lambda: calls.append("a"), lambda: calls.append("b"), repeats=5, warmup=1)
    assert calls[:4] == ["a", "b", "a", "b"] and med_a >= 0 and med_b >= 0
    small = ("conv2d tiny", "conv", 2, 2, 3, (6, 6), 4, 3, 1, 1)
    fwd, fwd_bwd = make_case(small)
    assert fwd().shape == (2, 4, 6, 6)
    fwd_bwd()
    assert conv_flops(small) == 2.0 * 2 * 4 * 36 * 3 * 9
    assert case_inputs(small)[0].dtype == np.float32
