"""The benchmark's report: the target numbers, the Markdown and JSON files, the machine.

:func:`summarize` turns the rows of :func:`minicnn.bench.run_benchmark` into
the numbers the targets (:data:`TARGETS`) are stated in; :func:`to_markdown`
writes them as the table of ``benchmarks/RESULTS.md``, with the self-check
and the reasons a run cannot decide the targets; :func:`environment` names
the machine and the library versions.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from .torch_side import LARGE_CONV2D

SELF_CHECK = 0.10  # PyTorch's time in the comparison must be within 10 % of PyTorch alone


WINOGRAD_CASES = ("conv2d 8,64,56x56->64 k3 s1 p1", "conv2d 8,256,14x14->256 k3 s1 p1")


def summarize(rows, extra=None):
    """The issue's target numbers from the rows."""
    def geo(values):
        values = [v for v in values if v]
        return math.exp(sum(map(math.log, values)) / len(values)) if values else None

    def first(prefix):
        got = [r["ratio"] for r in rows if r["case"].startswith(prefix)]
        return got[0] if got else None

    conv = [r for r in rows if r["case"].startswith("conv")]
    fb = [r["ratio"] for r in conv if r["pass"] == "forward+backward"]
    fwd = [r["ratio"] for r in conv if r["pass"] == "forward"]
    pool = [r["ratio"] for r in rows if r["case"].startswith("max_pool") and r["pass"] == "forward+backward"]
    wino = [r["ratio"] for r in conv if r["case"] in WINOGRAD_CASES and r["pass"] == "forward" and r["ratio"]]
    speedups = [r["numba_speedup_vs_numpy"] for r in rows if r["case"] in LARGE_CONV2D and r["numba_speedup_vs_numpy"]]
    out = {
        "conv_fwd_bwd_geomean_ratio": geo(fb),
        "conv_fwd_bwd_max_ratio": max((v for v in fb if v), default=None),
        "conv_fwd_max_ratio": max((v for v in fwd if v), default=None),
        "winograd_fwd_max_ratio": max(wino) if wino else None,
        "max_pool_fwd_bwd_ratio": pool[0] if pool else None,
        "train_step_ratio": first("train"),
        "style_step_ratio": first("style"),
        "min_numba_speedup_vs_numpy_large_conv2d": min(speedups) if speedups else None,
    }
    checks = [r.get("torch_check") for r in rows if r.get("torch_check")]
    if checks:
        out["torch_self_check_worst"] = max(checks, key=lambda c: abs(c - 1.0))
    mem = (extra or {}).get("memory_mb") or {}
    if mem.get("minicnn") and mem.get("torch"):
        out["memory_ratio"] = mem["minicnn"] / mem["torch"]
    return out


TARGETS = [  # (summary key, limit, text); a negative limit means "at least"
    ("conv_fwd_bwd_geomean_ratio", 1.0, "forward+backward geomean over the conv cases <= 1.0x PyTorch"),
    ("conv_fwd_bwd_max_ratio", 1.3, "no conv case forward+backward above 1.3x"),
    ("conv_fwd_max_ratio", 1.5, "no conv case forward above 1.5x"),
    ("winograd_fwd_max_ratio", 0.9, "Winograd 3x3 layers (8,64,56x56 and 8,256,14x14) forward <= 0.9x"),
    ("max_pool_fwd_bwd_ratio", 1.0, "max-pool forward+backward <= 1.0x"),
    ("train_step_ratio", 1.3, "training step of the small ConvNet <= 1.3x"),
    ("style_step_ratio", 1.5, "style-transfer step <= 1.5x"),
    ("min_numba_speedup_vs_numpy_large_conv2d", -3.0, "Numba >= 3x the NumPy path on the three large conv2d cases"),
    ("memory_ratio", 2.0, "peak extra memory of 8,64,56x56 fwd+bwd <= 2x PyTorch"),
]


def _fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def _spread(r):
    if r.get("ratio_min") is None:
        return "n/a"
    return f"{r['ratio_min']:.2f}-{r['ratio_max']:.2f}"


def _load_text(load):
    return "n/a" if not load else f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"


def _settings_lines(extra):
    """The thread settings each worker really ran with (for the reader to reproduce the run)."""
    lines = []
    t = extra.get("torch_worker")
    if t:
        env = {k: v for k, v in t.get("env", {}).items() if v is not None}
        lines.append(f"* PyTorch worker: {t['threads']} threads (interop {t.get('interop_threads')}), "
                     f"imported minicnn: "
                     f"{t['imported_minicnn']}, imported Numba: {t['imported_numba']}; "
                     f"{'; '.join(t.get('parallel', [])[:3])}; thread variables set: {env or 'none'} "
                     "(so OMP_WAIT_POLICY is GNU OpenMP's default: spin a short while, then sleep).")
    m = extra.get("minicnn_worker")
    if m:
        env = {k: v for k, v in m.get("env", {}).items() if v is not None}
        lines.append(f"* minicnn worker: {m['threads']} threads, Numba threading layer {m['numba_threading_layer']}, "
                     f"OMP_WAIT_POLICY for Numba's pool: {m['numba_runtime']['omp_wait_policy']}, parallel chunk size "
                     f"{m['numba_runtime']['parallel_chunksize']}, OpenBLAS threads "
                     f"{m['blas_threads']} (held at 1 inside minicnn's own tiled products); thread variables set: "
                     f"{env or 'none'}.")
    return lines


def _doubts(rows, extra, meta):
    """Why this run's ratios cannot decide the targets ("" when they can)."""
    reasons = []
    loads = [x[0] for x in (extra.get("load_average_start"), meta.get("load_average")) if x]
    cores = os.cpu_count() or 1
    if extra.get("clock") != "thread" and loads and max(loads) > cores:
        reasons.append(f"the 1-minute load average reached {max(loads):.1f} on {cores} cores, so other programs "
                       "competed for the cores (PyTorch's spinning OpenMP threads suffer most, which flatters minicnn)")
    off = [r for r in rows if r.get("torch_check") and abs(r["torch_check"] - 1.0) > SELF_CHECK]
    if off:
        reasons.append(f"{len(off)} row{'s' if len(off) != 1 else ''} failed the self-check")
    return "; ".join(reasons) + ("." if reasons else "")


def to_markdown(rows, extra, meta):
    """The table, the self-check, the targets and the environment as Markdown text."""
    start = extra.get("load_average_start")
    clock = ("CPU time of the calling thread" if extra.get("clock") == "thread" else "wall-clock time")
    lines = [f"Run {meta['date']} on {meta['machine']}; threads: minicnn {extra['threads']}, "
             f"PyTorch {extra['threads']}, each library in its own worker process, alternating rounds, "
             f"{clock}. Load average (1 / 5 / 15 min) at the start: {_load_text(start)}; at the end: "
             f"{_load_text(meta.get('load_average'))}.", ""]
    lines += _settings_lines(extra)
    lines += ["", "| case | pass | minicnn ms | GFLOP/s | PyTorch ms | ratio | spread | PyTorch alone ms "
              "| NumPy-path ms | Numba speedup |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['pass']} | {r['minicnn_ms']:.3f} | {_fmt(r['gflops'], '.1f')} | "
                     f"{_fmt(r['torch_ms'], '.3f')} | {_fmt(r['ratio'], '.2f')} | {_spread(r)} | "
                     f"{_fmt(r.get('torch_alone_ms'), '.3f')} | {_fmt(r['numpy_ms'], '.2f')} | "
                     f"{_fmt(r['numba_speedup_vs_numpy'], '.1f')} |")
    checked = [r for r in rows if r.get("torch_check")]
    if checked:
        off = [r for r in checked if abs(r["torch_check"] - 1.0) > SELF_CHECK]
        lines += ["", f"Self-check (PyTorch in the comparison / PyTorch alone, must be within "
                      f"{SELF_CHECK:.0%}): {len(checked) - len(off)} of {len(checked)} rows within."]
        if off:
            lines.append("**Not within** (these ratios are less trustworthy): " + "; ".join(
                f"{r['case']} {r['pass']} {r['torch_check']:.2f}" for r in off) + ".")
    summary = summarize(rows, extra)
    doubt = _doubts(rows, extra, meta)
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for key, limit, text in TARGETS:
        v = summary.get(key)
        met = "n/a" if v is None else ("yes" if (v >= -limit if limit < 0 else v <= limit) else "**no**")
        if doubt and v is not None and key != "memory_ratio":
            met = f"not judged (would read {met.strip('*')})"
        lines.append(f"| {text} | {_fmt(v, '.2f')} | {met} |")
    if doubt:
        lines += ["", "**Targets not judged:** " + doubt]
    comp = extra.get("compile") or {}
    mem = extra.get("memory_mb") or {}
    lines += ["", f"First-call JIT compile of the float32 kernels (fresh cache): {_fmt(comp.get('cold_s'), '.1f')} s; "
              f"loading them from the cache: {_fmt(comp.get('cached_s'), '.2f')} s.",
              f"Peak extra memory, 8,64,56x56 conv forward+backward: minicnn {_fmt(mem.get('minicnn'), '.1f')} MB, "
              f"PyTorch {_fmt(mem.get('torch'), '.1f')} MB.", "",
              "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + "."]
    return "\n".join(lines) + "\n"


def environment():
    """Date, machine, load average and library versions for the report (read without importing them)."""
    import platform
    from importlib import metadata

    import minicnn

    versions = {"minicnn": minicnn.__version__, "python": platform.python_version()}
    for name in ("numpy", "numba", "torch"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
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

