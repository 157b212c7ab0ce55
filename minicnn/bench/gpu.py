"""GPU benchmark: minicnn on CuPy against PyTorch on CUDA (cuDNN), in one run.

``python -m minicnn.bench --device cuda`` (or ``python -m minicnn.bench.gpu``)
times, on the GPU, the convolution and pooling cases of the CPU benchmark
plus larger ones (batch 64 of the 56x56x64 layer, a 512x512 style-transfer
step), and writes ``benchmarks/RESULTS-GPU.md`` naming the GPU.

How it measures.  Each timing is the median of ``repeats`` runs after
warm-up, wall clock around the call with the device synchronised before and
after, so Python and launch overhead count (they are what a user waits for).
Both libraries compute in float32 with TF32 *off* (``torch.backends.*.
allow_tf32 = False``) so the two do the same arithmetic; cuDNN may pick its
fastest algorithm (``cudnn.benchmark = True``).  Every case also compares
the outputs of the two libraries (``max_rel_err``).

Nothing here runs without a GPU: :func:`run_gpu_benchmark` raises with the
reason from :func:`minicnn.cuda.unavailable_reason`.  PyTorch is optional;
without it only minicnn's times are reported.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import cuda
from ..cli_args import float_range
from .cases import CASES as CPU_CASES
from .cases import conv_flops, make_case, style_label, style_step, torch_case, torch_style_step

# (label, op, d, N, C_in, spatial, C_out, kernel, stride, padding): the CPU
# benchmark's cases (minicnn.bench.cases, issue 3) followed by GPU-sized ones.
GPU_EXTRA_CASES = [
    ("conv2d 64,64,56x56->64 k3 s1 p1", "conv", 2, 64, 64, (56, 56), 64, 3, 1, 1),
    ("max_pool2d 64,64,56x56 k2 s2", "max_pool", 2, 64, 64, (56, 56), 64, 2, 2, 0),
]
CASES = list(CPU_CASES) + GPU_EXTRA_CASES
STYLE_SIZE = 512


def _median_ms(fn, sync, repeats, warmup):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _torch_ready(device="cuda"):
    try:
        import torch
    except ImportError:
        return None
    if device == "cuda" and not torch.cuda.is_available():
        return None
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch


# ----------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------
def run_gpu_benchmark(cases=None, repeats=10, warmup=2, torch_compare=True, style_size=STYLE_SIZE,
                      budget_s=None, progress=True, device="cuda", style_width=1.0):
    """Time every case on the GPU; returns a list of row dicts.

    Each row: ``case``, ``pass`` (``"forward"``, ``"forward+backward"`` or
    ``"step"``), ``device``, ``minicnn_ms``, ``torch_ms`` (or None), ``ratio``
    (minicnn / torch), ``gflops`` (minicnn's rate, conv only),
    ``max_rel_err`` (forward output, or the style cost after the timed steps,
    minicnn vs torch).  A row ``{"case", "skipped": reason}`` marks a case
    not run.  ``cases`` is a list of tuples like :data:`CASES`;
    ``style_size=None`` skips the style-transfer step (the one of
    :func:`minicnn.style.bench.bench_step`, VGG-19 channels times
    ``style_width``); ``budget_s`` stops
    starting new cases once that many seconds have passed.
    ``device="cpu"`` runs the same code on the CPU (used to test this module).
    """
    if device == "cuda":
        cuda.require("run_gpu_benchmark")
    elif device != "cpu":
        raise ValueError(f"run_gpu_benchmark: device must be 'cuda' or 'cpu', got {device!r}")
    torch = _torch_ready(device) if torch_compare else None
    cases = CASES if cases is None else cases

    def sync():
        if device == "cuda":
            cuda.synchronize()
            if torch is not None:
                torch.cuda.synchronize()

    start = time.perf_counter()
    rows = []
    jobs = list(cases) + ([("style",)] if style_size else [])
    bar = {} if progress else {"disable": True}
    for case in tqdm(jobs, desc="GPU benchmark", unit="case", **bar):
        label = style_label(style_size) if case[0] == "style" else case[0]
        if budget_s is not None and time.perf_counter() - start > budget_s:
            rows.append(dict(case=label, skipped="time budget"))
            continue
        if case[0] == "style":
            rows.append(_style_row(label, style_size, style_width, torch, sync, max(3, repeats // 2), device))
        else:
            rows.extend(_case_rows(case, torch, sync, repeats, warmup, device))
        if device == "cuda":
            import cupy

            cupy.get_default_memory_pool().free_all_blocks()
    return rows


def _case_rows(case, torch, sync, repeats, warmup, device):
    m_fwd, m_fb = make_case(case, device)
    t_fwd = t_fb = err = None
    if torch is not None:
        t_fwd, t_fb = torch_case(case, torch, device)  # the same inputs (minicnn.bench.cases.case_inputs)
        err = _rel_err(m_fwd().numpy(), t_fwd().cpu().numpy())
    flops = conv_flops(case) if case[1] == "conv" else None
    rows = []
    for name, mf, tf, mult in (("forward", m_fwd, t_fwd, 1), ("forward+backward", m_fb, t_fb, 3)):
        m_ms = _median_ms(mf, sync, repeats, warmup)
        t_ms = _median_ms(tf, sync, repeats, warmup) if tf is not None else None
        rows.append({"case": case[0], "pass": name, "device": device, "minicnn_ms": m_ms, "torch_ms": t_ms,
                     "ratio": (m_ms / t_ms) if t_ms else None,
                     "gflops": (mult * flops / (m_ms * 1e6)) if flops else None, "max_rel_err": err})
    return rows


def _style_row(label, size, width, torch, sync, repeats, device):
    """The style step of the CPU benchmark (minicnn.style.bench_step and its PyTorch twin)."""
    step = style_step(size, width=width, device=device)
    costs = {}

    def m_step():
        costs["minicnn"] = step()

    m_ms = _median_ms(m_step, sync, repeats, 1)
    t_ms = err = None
    if torch is not None:
        t_step = torch_style_step(size, torch, device=device, weights=step.weights)

        def t_run():
            costs["torch"] = t_step()

        t_ms = _median_ms(t_run, sync, repeats, 1)
        # same weights, images and number of Adam steps: the costs must agree
        err = _rel_err(costs["minicnn"], costs["torch"].item())
    return {"case": label, "pass": "step", "device": device, "minicnn_ms": m_ms, "torch_ms": t_ms,
            "ratio": (m_ms / t_ms) if t_ms else None, "gflops": None, "max_rel_err": err}


def kernel_compile_seconds():
    """Seconds the first float32 GPU convolution takes in this process (NVRTC compile + launch)."""
    import minicnn as mc
    import minicnn.functional as F

    from ..kernels import cupy_gpu

    if cupy_gpu._ready:
        return 0.0
    t0 = time.perf_counter()
    x = mc.Tensor(np.ones((1, 1, 4, 4), np.float32)).to("cuda")
    F.conv2d(x, mc.Tensor(np.ones((1, 1, 3, 3), np.float32)).to("cuda"))
    cuda.synchronize()
    return time.perf_counter() - t0


def summarize(rows):
    """Geometric-mean ratios: conv forward+backward, and the style step."""
    conv_fb = [r["ratio"] for r in rows if r.get("pass") == "forward+backward" and r["case"].startswith("conv")
               and r.get("ratio")]
    style = [r["ratio"] for r in rows if r.get("pass") == "step" and r.get("ratio")]
    geo = math.exp(sum(map(math.log, conv_fb)) / len(conv_fb)) if conv_fb else None
    return dict(conv_fwd_bwd_geomean=geo, style_step_ratio=style[0] if style else None)


def _fmt(v, spec):
    return "—" if v is None else format(v, spec)


def write_markdown(rows, path, meta):
    """Write the table, the summary against the targets and ``meta`` (GPU name, versions) to ``path``."""
    from ..io import atomic_write

    s = summarize(rows)
    lines = [
        "# minicnn on the GPU vs PyTorch + cuDNN",
        "",
        f"GPU: **{meta.get('gpu', '?')}** · date {meta.get('date', '?')} · " + " · ".join(
            f"{k} {v}" for k, v in meta.items() if k not in ("gpu", "date")),
        "",
        "Median wall-clock time per call (device synchronised), float32, TF32 off in both libraries, "
        "cuDNN autotuning on. ratio = minicnn / PyTorch (lower is better).",
        "",
        "| case | pass | minicnn ms | PyTorch ms | ratio | minicnn GFLOP/s | max rel err |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"| {r['case']} | skipped ({r['skipped']}) | | | | | |")
            continue
        lines.append(f"| {r['case']} | {r['pass']} | {_fmt(r['minicnn_ms'], '.3f')} | {_fmt(r['torch_ms'], '.3f')} | "
                     f"{_fmt(r['ratio'], '.2f')} | {_fmt(r['gflops'], '.1f')} | {_fmt(r['max_rel_err'], '.1e')} |")
    geo, style = s["conv_fwd_bwd_geomean"], s["style_step_ratio"]
    lines += [
        "",
        "Targets (issue 9): conv forward+backward geometric mean <= 2.0x PyTorch; style step at 512x512 <= 2.0x.",
        "",
        f"- conv forward+backward geometric mean ratio: **{_fmt(geo, '.2f')}** "
        f"({'met' if geo is not None and geo <= 2.0 else 'NOT met' if geo is not None else 'not measured'})",
        f"- style-transfer step ratio: **{_fmt(style, '.2f')}** "
        f"({'met' if style is not None and style <= 2.0 else 'NOT met' if style is not None else 'not measured'})",
        "",
    ]
    text = "\n".join(lines)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return text


def environment():
    """GPU name and library versions for the results file."""
    import cupy

    meta = dict(gpu=cuda.device_name(), date=datetime.date.today().isoformat(), cupy=cupy.__version__,
                cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(), python=platform.python_version())
    torch = _torch_ready()
    if torch is not None:
        meta["torch"] = torch.__version__
        meta["cudnn"] = torch.backends.cudnn.version()
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m minicnn.bench.gpu", description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--style-size", type=int, default=STYLE_SIZE, help="0 skips the style-transfer step")
    ap.add_argument("--style-width", type=float_range(0.0, 1.0, low_open=True), default=1.0,
                    help="VGG-19's channel counts times this (a smaller network for quick runs)")
    ap.add_argument("--no-torch", action="store_true", help="time minicnn only")
    ap.add_argument("--budget-s", type=float, default=None, help="start no new case after this many seconds")
    ap.add_argument("--markdown", default="benchmarks/RESULTS-GPU.md")
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    if not cuda.is_available():
        raise SystemExit(f"python -m minicnn.bench.gpu: no usable GPU: {cuda.unavailable_reason()}")
    meta = environment()
    meta["kernel_compile_s"] = round(kernel_compile_seconds(), 2)
    rows = run_gpu_benchmark(repeats=args.repeats, warmup=args.warmup, torch_compare=not args.no_torch,
                             style_size=args.style_size or None, budget_s=args.budget_s, style_width=args.style_width)
    print(write_markdown(rows, args.markdown, meta))
    if args.json:
        from ..io import atomic_write

        payload = json.dumps(dict(meta=meta, rows=rows, summary=summarize(rows)), indent=1)
        atomic_write(args.json, lambda tmp: Path(tmp).write_text(payload))


if __name__ == "__main__":
    main()
