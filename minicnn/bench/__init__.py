"""Benchmark: minicnn's CPU kernels against PyTorch, each in its own process (``python -m minicnn.bench``).

What it measures (issues 3 and 16; the GPU variant is :mod:`minicnn.bench.gpu`):

* the convolution cases of :data:`CASES` and one max-pool case, each as
  *forward* (under ``no_grad``) and *forward+backward* (input, weight and bias
  gradients), through the public API (``minicnn.functional``, Tensors,
  autograd), so Python overhead counts as it does for a user;
* one training step (forward, loss, backward, SGD step) of a small ConvNet
  built from :mod:`minicnn.nn`, and the same model in PyTorch;
* one style-transfer step (:func:`minicnn.style.bench.bench_step`);
* the first-call JIT compile time of the Numba kernels (fresh cache, in a
  subprocess) and the time to load them from the cache;
* the peak extra memory (resident set, in a subprocess) of the
  8,64,56x56 forward+backward, for minicnn and PyTorch.

How (the method of issue 16).  **Each library runs in its own worker
process** (:mod:`minicnn.bench.worker`); the PyTorch worker never imports
minicnn or Numba, so minicnn's OpenMP and BLAS threads cannot slow it down.
Both get the same thread count.  A measurement is ``rounds`` (``repeats``)
**alternating bursts**: minicnn's worker runs the callable a few times (a
burst of about 30 ms, at least 3 calls), then PyTorch's does, then minicnn's
again, so both see the same moments of a noisy machine; each burst starts
after 30 ms of quiet, so neither library's spinning threads (PyTorch's OpenMP
threads spin about 7 ms after their last call) share the other's cores.  Each burst gives a
median; each round gives a ratio (minicnn / PyTorch, lower is better); the
reported ratio is the **median of the per-round ratios, with their min-max
spread**, and the reported times are medians of the burst medians.
**Self-check:** right after the alternating rounds, PyTorch runs the same
number of bursts alone (minicnn's worker idle); its time in the comparison
must equal that within 10 %, and the report lists the rows where it does not.
GFLOP/s counts ``2 * N * C_out * prod(O) * C_in * prod(K)`` for a forward and
three times that for forward+backward.  Without PyTorch the ratios read
"n/a".  The device is one argument (``device="cpu"``); ``"cuda"`` goes to
:mod:`minicnn.bench.gpu`.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .cases import conv_flops
from .memory import compile_seconds, peak_memory
from .report import environment, summarize, to_markdown, write_reports  # noqa: F401 (the package's API)
from .torch_side import CASES, LARGE_CONV2D, TRAIN_LABEL, style_label

__all__ = ["CASES", "run_benchmark", "summarize", "to_markdown", "environment", "conv_flops",
           "peak_memory", "compile_seconds", "alternate_rounds"]

BURST_MS = 30.0  # one burst runs the callable for about this long (at least MIN_BURST calls)
MIN_BURST, MAX_BURST = 3, 50
# Quiet time before each burst.  After its last call PyTorch's OpenMP threads spin on (GNU OpenMP's
# default: 7 ms of CPU time measured after a CT-layer forward, while the process slept 20-200 ms),
# minicnn's for about 0.5 ms; without the gap a 10 ms burst of minicnn's small kernels ran on cores
# PyTorch's spinning threads shared (the CT layer's forward read 1.1x-2.8x PyTorch's time).
IDLE_GAP_S = 0.03


def median_ms(fn, repeats=7, warmup=2):
    """Median wall-clock milliseconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs (in-process)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def alternate_rounds(burst_a, burst_b, rounds, gap_s=None):
    """``rounds`` rounds of ``burst_a()`` then ``burst_b()`` (``None``: skipped); each returns a list of ms.

    Returns ``(a, b)``: the median of each burst, one per round (``b`` is empty
    without ``burst_b``).  Alternating makes both see the same moments of a
    busy machine, so the per-round ratios ``a[i] / b[i]`` are fair even when
    the absolute times drift.  Every burst starts after ``gap_s`` seconds of
    quiet (default :data:`IDLE_GAP_S`), so that no burst shares its cores with
    the threads the other library left spinning.
    """
    gap_s = IDLE_GAP_S if gap_s is None else gap_s
    a, b = [], []
    for _ in range(rounds):
        time.sleep(gap_s)
        a.append(statistics.median(burst_a()))
        if burst_b is not None:
            time.sleep(gap_s)
            b.append(statistics.median(burst_b()))
    return a, b


def ratio_stats(a, b):
    """Median, min and max of the per-round ratios ``a[i] / b[i]`` (``None``s without ``b``)."""
    ratios = [x / y for x, y in zip(a, b) if y]
    if not ratios:
        return None, None, None
    return statistics.median(ratios), min(ratios), max(ratios)


def default_threads():
    """All cores this process may use, or ``NUMBA_NUM_THREADS`` when set (Numba's own default)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    env = os.environ.get("NUMBA_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else cores


def check_threads(threads):
    """``threads`` as an int in 1..cores, or ValueError with one line naming the argument."""
    cores = os.cpu_count() or 1
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= max(
            cores, default_threads()):
        raise ValueError(f"benchmark: threads must be an int from 1 to {max(cores, default_threads())} "
                         f"(the cores of this machine), got {threads!r}")
    return int(threads)


class Worker:
    """A worker process of :mod:`minicnn.bench.worker` for ``lib`` (``"minicnn"`` or ``"torch"``)."""

    def __init__(self, lib, threads):
        import minicnn

        env = dict(os.environ)
        if lib == "minicnn":  # the same minicnn as this process, whatever the working directory
            root = str(Path(minicnn.__file__).resolve().parent.parent)
            env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        self.lib = lib
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("worker.py")), lib, str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def call(self, **msg):
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            raise RuntimeError(f"benchmark: the {self.lib} worker exited (code {self.proc.poll()}) during {msg['op']}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"benchmark: {self.lib} worker, {msg.get('label', msg['op'])}: {reply['error']}")
        return reply

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call(op="quit")
            except RuntimeError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_torch_worker(threads):
    """A PyTorch worker, or ``None`` when PyTorch is not installed (checked without importing it here)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None
    worker = Worker("torch", threads)
    try:
        worker.call(op="info")
    except RuntimeError:
        worker.close()
        return None
    return worker


_CLOCK = {"clock": "wall"}  # "thread": CPU time of the calling thread (run_benchmark(cpu_time=True))


def _burst(worker, key, est_ms):
    n = max(MIN_BURST, min(MAX_BURST, math.ceil(BURST_MS / max(est_ms, 1e-3))))
    clock = _CLOCK["clock"]
    return lambda: worker.call(op="time", key=key, n=n, clock=clock)["ms"]


def _measure(mc, torch, key, spec, rounds, warmup, self_check=True):
    """Alternating rounds of one callable (``spec``: the setup message); returns the row's timing fields."""
    est = mc.call(op="setup", key=key, warmup=warmup, **spec)
    if est.get("missing"):
        return None
    t_burst = None
    if torch is not None:
        t_burst = _burst(torch, key, torch.call(op="setup", key=key, warmup=warmup, **spec)["est_ms"])
    m, t = alternate_rounds(_burst(mc, key, est["est_ms"]), t_burst, rounds)
    ratio, lo, hi = ratio_stats(m, t)
    row = {"minicnn_ms": statistics.median(m), "torch_ms": statistics.median(t) if t else None,
           "ratio": ratio, "ratio_min": lo, "ratio_max": hi, "rounds": rounds, "torch_alone_ms": None,
           "torch_check": None}
    if t and self_check:
        alone = alternate_rounds(t_burst, None, rounds)[0]  # the same gap before each burst
        row["torch_alone_ms"] = statistics.median(alone)
        row["torch_check"] = row["torch_ms"] / row["torch_alone_ms"]
    mc.call(op="drop", key=key)
    if torch is not None:
        torch.call(op="drop", key=key)
    return row


def _numpy_ms(mc, label, pass_, rounds):
    key = f"numpy {label} {pass_}"
    spec = dict(kind="case", label=label, backend="numpy", **{"pass": pass_})
    est = mc.call(op="setup", key=key, warmup=1, **spec)["est_ms"]
    burst = _burst(mc, key, est)
    out = statistics.median(alternate_rounds(burst, None, rounds)[0])
    mc.call(op="drop", key=key)
    return out


def _blank(label, pass_):
    return {"case": label, "pass": pass_, "gflops": None, "numpy_ms": None, "numba_speedup_vs_numpy": None}


def run_benchmark(quick=False, repeats=None, warmup=2, threads=None, device="cpu", torch_compare=True,
                  numpy_compare=True, memory=True, compile_time=True, style_size=None, progress=True,
                  cpu_time=False):
    """Run the whole CPU benchmark; return ``(rows, extra)`` (see :func:`to_markdown`).

    ``repeats`` is the number of alternating rounds (>= 5; default 9, quick 5).
    ``quick`` skips the NumPy comparison and the style step, and measures
    compile time from the warm cache only.  ``cpu_time`` (one thread only)
    times each call by the CPU time of the thread that runs it, which other
    programs on a busy machine cannot inflate (they still share the caches).
    """
    if device != "cpu":
        raise ValueError(f"run_benchmark: device must be 'cpu' here (got {device!r}); "
                         "use minicnn.bench.gpu.run_gpu_benchmark for 'cuda'")
    from tqdm import tqdm

    rounds = repeats or (5 if quick else 9)
    if rounds < 5:
        raise ValueError(f"run_benchmark: repeats must be >= 5 (medians need them), got {rounds}")
    threads = check_threads(default_threads() if threads is None else threads)
    if cpu_time and threads != 1:
        raise ValueError(f"run_benchmark: cpu_time needs threads=1 (a thread's CPU time misses the other "
                         f"threads' work), got threads={threads}")
    _CLOCK["clock"] = "thread" if cpu_time else "wall"
    extra = {"threads": threads, "torch": None, "clock": _CLOCK["clock"],
             "method": "separate worker processes, alternating rounds",
             "load_average_start": os.getloadavg() if hasattr(os, "getloadavg") else None}
    if compile_time:  # first: a subprocess, before anything else runs
        extra["compile"] = compile_seconds(cold=not quick)
    torch = start_torch_worker(threads) if torch_compare else None
    mc = Worker("minicnn", threads)
    rows = []
    try:
        if torch is not None:
            extra["torch_worker"] = torch.call(op="info")
            extra["torch"] = extra["torch_worker"]["versions"]["torch"]
        work = [(case, p) for case in CASES for p in ("forward", "forward+backward")]
        work += [("train", "step"), ("style", "step")]
        weights = tempfile.NamedTemporaryFile(suffix=".npz", delete=False)
        weights.close()
        for case, pass_ in tqdm(work, desc="minicnn.bench", disable=None if progress else True):
            if case == "train":
                row = _blank(TRAIN_LABEL, pass_)
                spec = dict(kind="train", weights=weights.name)
                mc.call(op="setup", key="weights", kind="train", weights=weights.name, warmup=0)
                mc.call(op="drop", key="weights")
                row.update(_measure(mc, torch, "train", spec, rounds, 2))
            elif case == "style":
                size = style_size or (64 if quick else 128)
                if quick:
                    continue
                got = _measure(mc, torch, "style", dict(kind="style", size=size), max(5, rounds // 2), 1)
                if got is None:
                    continue
                row = _blank(style_label(size), pass_)
                row.update(got)
            else:
                label = case[0]
                row = _blank(label, pass_)
                row.update(_measure(mc, torch, f"{label} {pass_}",
                                    dict(kind="case", label=label, backend="numba", **{"pass": pass_}), rounds, warmup))
                if case[1] == "conv":
                    row["gflops"] = (3 if pass_ != "forward" else 1) * conv_flops(case) / (row["minicnn_ms"] * 1e6)
                if numpy_compare and not quick and label in LARGE_CONV2D:
                    row["numpy_ms"] = _numpy_ms(mc, label, pass_, max(3, rounds // 3))
                    row["numba_speedup_vs_numpy"] = row["numpy_ms"] / row["minicnn_ms"]
            rows.append(row)
        os.unlink(weights.name)
        extra["minicnn_worker"] = mc.call(op="info")
    finally:
        mc.close()
        if torch is not None:
            torch.close()
    if memory:
        extra["memory_mb"] = {lib: peak_memory(lib, threads) for lib in ("minicnn", "torch")
                              if lib == "minicnn" or torch is not None}
    return rows, extra
