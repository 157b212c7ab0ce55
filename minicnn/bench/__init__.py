"""Benchmark: minicnn's CPU kernels against PyTorch, in one run (``python -m minicnn.bench``).

What it measures (issue 3; the GPU variant is :mod:`minicnn.bench.gpu`):

* the convolution cases of :data:`CASES` and one max-pool case, each as
  *forward* (under ``no_grad``) and *forward+backward* (input, weight and bias
  gradients), through the public API (``minicnn.functional``, Tensors,
  autograd), so Python overhead counts as it does for a user;
* one training step (forward, loss, backward, SGD step) of a small ConvNet
  built from :mod:`minicnn.nn`, and the same model in PyTorch;
* one style-transfer step (:func:`minicnn.style.bench_step`) when that exists;
* the first-call JIT compile time of the Numba kernels (fresh cache, in a
  subprocess) and the time to load them from the cache;
* the peak extra memory (resident set, in a subprocess) of the
  8,64,56x56 forward+backward, for minicnn and PyTorch.

How.  Each time is the **median** of ``repeats`` (>= 5) wall-clock runs after
``warmup`` runs.  PyTorch runs in the same process with
``torch.set_num_threads`` equal to minicnn's thread count, and the two are
timed alternately (minicnn, PyTorch, minicnn, ...), so a ratio (minicnn /
PyTorch, lower is better) compares them on the same machine at the same
moments.  GFLOP/s counts ``2 * N * C_out * prod(O) * C_in * prod(K)``
for a forward and three times that for forward+backward.  Without PyTorch the
ratios read "n/a".  The device is one argument (``device="cpu"``); ``"cuda"``
goes to :mod:`minicnn.bench.gpu`.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np

from .cases import CASES, LARGE_CONV2D, conv_flops, make_case, torch_case
from .memory import compile_seconds, peak_memory

__all__ = ["CASES", "run_benchmark", "summarize", "to_markdown", "environment", "conv_flops",
           "peak_memory", "compile_seconds"]


def median_ms(fn, repeats=7, warmup=2):
    """Median wall-clock milliseconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def paired_median_ms(fn_a, fn_b, repeats=7, warmup=2):
    """Median milliseconds of ``fn_a`` and of ``fn_b`` (``None`` skips it), timed alternately.

    Alternating a-b-a-b makes both libraries see the same moments of a busy
    machine, so their ratio is fair even when the absolute times are noisy.
    """
    fns = [f for f in (fn_a, fn_b) if f is not None]
    for _ in range(warmup):
        for f in fns:
            f()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for f, ts in zip(fns, times):
            t0 = time.perf_counter()
            f()
            ts.append((time.perf_counter() - t0) * 1e3)
    medians = [statistics.median(ts) for ts in times]
    return medians[0], (medians[1] if fn_b is not None else None)


def _torch(threads):
    try:
        import torch
    except Exception:  # not installed (or broken): minicnn-only table
        return None
    torch.set_num_threads(threads)
    return torch


def _set_threads(threads):
    from ..kernels import numba_cpu

    if threads is None:
        threads = numba_cpu.get_num_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    numba_cpu.set_num_threads(threads)
    return threads


def _ratio(a, b):
    return a / b if (a is not None and b) else None


def _case_rows(case, torch, repeats, warmup, numpy_too):
    import minicnn as mc

    m_fwd, m_fb = make_case(case)
    t_fwd = t_fb = None
    if torch is not None:
        t_fwd, t_fb = torch_case(case, torch)
    flops = conv_flops(case) if case[1] == "conv" else None
    rows = []
    for name, mf, tf, mult in (("forward", m_fwd, t_fwd, 1), ("forward+backward", m_fb, t_fb, 3)):
        with mc.use_backend("numba"):
            m_ms, t_ms = paired_median_ms(mf, tf, repeats, warmup)
        np_ms = None
        if numpy_too:
            with mc.use_backend("numpy"):
                np_ms = median_ms(mf, max(5, repeats // 2), 1)
        rows.append({"case": case[0], "pass": name, "minicnn_ms": m_ms, "torch_ms": t_ms,
                     "ratio": _ratio(m_ms, t_ms), "gflops": mult * flops / (m_ms * 1e6) if flops else None,
                     "numpy_ms": np_ms, "numba_speedup_vs_numpy": _ratio(np_ms, m_ms)})
    return rows


def _step_row(label, make_minicnn, make_torch, torch, repeats):
    import minicnn as mc

    t_step = make_torch(torch) if (torch is not None and make_torch) else None
    with mc.use_backend("numba"):
        m_ms, t_ms = paired_median_ms(make_minicnn(), t_step, repeats, 2)
    return {"case": label, "pass": "step", "minicnn_ms": m_ms, "torch_ms": t_ms, "ratio": _ratio(m_ms, t_ms),
            "gflops": None, "numpy_ms": None, "numba_speedup_vs_numpy": None}


def run_benchmark(quick=False, repeats=None, warmup=2, threads=None, device="cpu", torch_compare=True,
                  numpy_compare=True, memory=True, compile_time=True, style_size=None, progress=True):
    """Run the whole CPU benchmark; return ``(rows, extra)`` (see :func:`to_markdown`).

    ``quick`` uses 5 repeats, skips the NumPy comparison and the style step,
    and measures compile time from the warm cache only.
    """
    if device != "cpu":
        raise ValueError(f"run_benchmark: device must be 'cpu' here (got {device!r}); "
                         "use minicnn.bench.gpu.run_gpu_benchmark for 'cuda'")
    from tqdm import tqdm

    from .cases import small_convnet_step, style_step, torch_small_convnet_step, torch_style_step

    repeats = repeats or (5 if quick else 9)
    if repeats < 5:
        raise ValueError(f"run_benchmark: repeats must be >= 5 (medians need them), got {repeats}")
    threads = _set_threads(threads)
    torch = _torch(threads) if torch_compare else None
    extra = {"threads": threads, "torch": getattr(torch, "__version__", None)}
    if compile_time:  # first: a subprocess, before this process warms anything
        extra["compile"] = compile_seconds(cold=not quick)
    rows = []
    work = list(CASES) + ["train", "style"]
    for case in tqdm(work, desc="minicnn.bench", disable=None if progress else True):
        if case == "train":
            rows.append(_step_row("train step: small ConvNet, batch 32, 3x32x32", small_convnet_step,
                                  torch_small_convnet_step, torch, repeats))
        elif case == "style":
            size = style_size or (64 if quick else 128)
            made = style_step(size)
            if made is not None and not quick:
                rows.append(_step_row(f"style-transfer step {size}x{size} (VGG-19 to relu5_1)", lambda: made,
                                      lambda t: torch_style_step(size, t), torch, max(5, repeats // 2)))
        else:
            numpy_too = numpy_compare and not quick and case[0] in LARGE_CONV2D
            rows.extend(_case_rows(case, torch, repeats, warmup, numpy_too))
    if memory:
        extra["memory_mb"] = {lib: peak_memory(lib, threads) for lib in ("minicnn", "torch")
                              if lib == "minicnn" or torch is not None}
    return rows, extra


def summarize(rows, extra=None):
    """The issue's target numbers from the rows."""
    def geo(values):
        values = [v for v in values if v]
        return math.exp(sum(map(math.log, values)) / len(values)) if values else None

    conv = [r for r in rows if r["case"].startswith("conv")]
    fb = [r["ratio"] for r in conv if r["pass"] == "forward+backward"]
    fwd = [r["ratio"] for r in conv if r["pass"] == "forward"]
    pool = [r["ratio"] for r in rows if r["case"].startswith("max_pool") and r["pass"] == "forward+backward"]
    train = [r["ratio"] for r in rows if r["case"].startswith("train")]
    speedups = [r["numba_speedup_vs_numpy"] for r in rows if r["case"] in LARGE_CONV2D and r["numba_speedup_vs_numpy"]]
    out = {
        "conv_fwd_bwd_geomean_ratio": geo(fb),
        "conv_fwd_bwd_max_ratio": max((v for v in fb if v), default=None),
        "conv_fwd_max_ratio": max((v for v in fwd if v), default=None),
        "max_pool_fwd_bwd_ratio": pool[0] if pool else None,
        "train_step_ratio": train[0] if train else None,
        "min_numba_speedup_vs_numpy_large_conv2d": min(speedups) if speedups else None,
    }
    mem = (extra or {}).get("memory_mb") or {}
    if mem.get("minicnn") and mem.get("torch"):
        out["memory_ratio"] = mem["minicnn"] / mem["torch"]
    return out


TARGETS = [  # (summary key, limit, text)
    ("conv_fwd_bwd_geomean_ratio", 1.0, "forward+backward geomean over the conv cases <= 1.0x PyTorch"),
    ("conv_fwd_bwd_max_ratio", 1.5, "no conv case forward+backward above 1.5x"),
    ("conv_fwd_max_ratio", 1.5, "no conv case forward above 1.5x"),
    ("max_pool_fwd_bwd_ratio", 1.0, "max-pool forward+backward <= 1.0x"),
    ("min_numba_speedup_vs_numpy_large_conv2d", -3.0, "Numba >= 3x the NumPy path on the three large conv2d cases"),
    ("memory_ratio", 2.0, "peak extra memory of 8,64,56x56 fwd+bwd <= 2x PyTorch"),
    ("train_step_ratio", 1.5, "training step <= 1.5x PyTorch (aim)"),
]


def _fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def to_markdown(rows, extra, meta):
    """The table, the targets and the environment as Markdown text."""
    load = meta.get("load_average")
    load_text = f" Load average at the end of the run: {load[0]:.1f} (1 min), {load[2]:.1f} (15 min)." if load else ""
    lines = [f"Run {meta['date']} on {meta['machine']}; threads: minicnn {extra['threads']}, "
             f"PyTorch {extra['threads']} (same process, timed alternately).{load_text}", "",
             "| case | pass | minicnn ms | GFLOP/s | PyTorch ms | ratio | NumPy-path ms | Numba speedup |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['pass']} | {r['minicnn_ms']:.3f} | {_fmt(r['gflops'], '.1f')} | "
                     f"{_fmt(r['torch_ms'], '.3f')} | {_fmt(r['ratio'], '.2f')} | {_fmt(r['numpy_ms'], '.2f')} | "
                     f"{_fmt(r['numba_speedup_vs_numpy'], '.1f')} |")
    summary = summarize(rows, extra)
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for key, limit, text in TARGETS:
        v = summary.get(key)
        met = "n/a" if v is None else ("yes" if (v >= -limit if limit < 0 else v <= limit) else "**no**")
        lines.append(f"| {text} | {_fmt(v, '.2f')} | {met} |")
    comp = extra.get("compile") or {}
    mem = extra.get("memory_mb") or {}
    lines += ["", f"First-call JIT compile of the float32 kernels (fresh cache): {_fmt(comp.get('cold_s'), '.1f')} s; "
              f"loading them from the cache: {_fmt(comp.get('cached_s'), '.2f')} s.",
              f"Peak extra memory, 8,64,56x56 conv forward+backward: minicnn {_fmt(mem.get('minicnn'), '.1f')} MB, "
              f"PyTorch {_fmt(mem.get('torch'), '.1f')} MB.", "",
              "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + "."]
    return "\n".join(lines) + "\n"


def environment():
    """Date, machine and library versions for the report."""
    import platform

    import numba

    import minicnn

    versions = {"minicnn": minicnn.__version__, "python": platform.python_version(), "numpy": np.__version__,
                "numba": numba.__version__}
    try:
        import torch

        versions["torch"] = torch.__version__
    except Exception:
        versions["torch"] = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": f"{cpu}, {os.cpu_count()} cores",
            "versions": versions, "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}


def write_reports(rows, extra, meta, markdown=None, json_path=None):
    """Write the Markdown and/or JSON report atomically; return the Markdown text."""
    from ..io import atomic_write

    text = to_markdown(rows, extra, meta)
    if markdown:
        atomic_write(markdown, lambda tmp: Path(tmp).write_text(text))
    if json_path:
        payload = json.dumps({"meta": meta, "extra": extra, "rows": rows, "summary": summarize(rows, extra)},
                             indent=1, default=str)
        atomic_write(json_path, lambda tmp: Path(tmp).write_text(payload))
    return text

