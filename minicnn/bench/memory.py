"""Measurements that need a fresh process: peak extra memory and JIT compile time.

Peak extra memory is the growth of the resident set (``VmHWM`` after
resetting it through ``/proc/self/clear_refs``, Linux) while one
forward+backward of the 8,64,56x56 layer runs, after the inputs exist and
after a small warm-up call has loaded/compiled the code.  It counts
everything the call allocates (outputs, gradients, im2col tiles, library
workspaces) for minicnn and PyTorch alike.  Where ``/proc`` is missing the
minicnn figure falls back to :mod:`tracemalloc` (NumPy allocations only) and
PyTorch's is not measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_MEMORY_CHILD = r"""
import importlib.util, json, os, re, sys, tracemalloc
import numpy as np
lib, threads = sys.argv[1], int(sys.argv[2])
# by path: the torch child never imports minicnn
spec = importlib.util.spec_from_file_location('torch_side', sys.argv[3])
side = importlib.util.module_from_spec(spec)
spec.loader.exec_module(side)
MEMORY_CASE, case_inputs = side.MEMORY_CASE, side.case_inputs
_, _, d, n, c, spatial, co, k, s, p = MEMORY_CASE
x, w, b = case_inputs(MEMORY_CASE)

def status(key):
    with open('/proc/self/status') as f:
        return int(re.search(key + r':\s+(\d+)', f.read()).group(1)) / 1024.0

if lib == 'torch':
    import torch
    torch.set_num_threads(threads)
    tf = torch.nn.functional
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    small = torch.tensor(x[:1, :, :8, :8], requires_grad=True)
    tf.conv2d(small, tw, tb, stride=s, padding=p).sum().backward()
    tw.grad = tb.grad = None
    gy = torch.ones(n, co, *spatial)
    def run():
        tf.conv2d(tx, tw, tb, stride=s, padding=p).backward(gy)
else:
    import minicnn as mc, minicnn.functional as F
    from minicnn.kernels import numba as numba_kernels
    numba_kernels.set_num_threads(threads)
    mx, mw, mb = (mc.Tensor(a, requires_grad=True) for a in (x, w, b))
    small = mc.Tensor(x[:1, :, :8, :8].copy(), requires_grad=True)
    F.conv2d(small, mw, mb, stride=s, padding=p).sum().backward()
    mw.grad = mb.grad = None
    gy = np.ones((n, co) + tuple(spatial), np.float32)
    def run():
        F.conv2d(mx, mw, mb, stride=s, padding=p).backward(gy)

if os.path.exists('/proc/self/clear_refs'):
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset the peak resident set (VmHWM) to the current one
    base = status('VmRSS')
    run()
    print(json.dumps(status('VmHWM') - base))
elif lib != 'torch':
    tracemalloc.start()
    run()
    print(json.dumps(tracemalloc.get_traced_memory()[1] / 2**20))
else:
    print(json.dumps(None))
"""

_COMPILE_CHILD = r"""
import json, time
import numpy as np
t0 = time.perf_counter()
import minicnn as mc, minicnn.functional as F
mc.set_backend('numba')
t1 = time.perf_counter()
def fb(fn, x, *args, **kw):
    x = mc.Tensor(x, requires_grad=True)
    fn(x, *args, **kw).sum().backward()
r = np.random.default_rng(0)
f32 = lambda *s: r.standard_normal(s).astype(np.float32)
fb(F.conv2d, f32(2, 8, 6, 6), mc.Tensor(f32(4, 8, 3, 3), requires_grad=True), padding=1)   # im2col + BLAS
fb(F.conv2d, f32(2, 1, 6, 6), mc.Tensor(f32(4, 1, 3, 3), requires_grad=True), padding=1)   # flat direct
fb(F.conv2d, f32(2, 1, 7, 7), mc.Tensor(f32(4, 1, 3, 3), requires_grad=True), stride=2)    # row direct
fb(F.max_pool2d, f32(2, 3, 6, 6), 2)
fb(F.avg_pool2d, f32(2, 3, 6, 6), 2)
print(json.dumps({'import_s': t1 - t0, 'first_calls_s': time.perf_counter() - t1}))
"""


def _run_child(code, args=(), env=None, timeout=900):
    """Run ``python -c code args`` and return its last stdout line parsed as JSON (``None`` on failure)."""
    try:
        proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, **(env or {})})
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return None
    return json.loads(lines[-1])


def peak_memory(lib, threads):
    """Peak extra MB of one 8,64,56x56 conv forward+backward in a fresh process (``lib``: "minicnn" or "torch")."""
    return _run_child(_MEMORY_CHILD, (lib, threads, Path(__file__).with_name("torch_side.py")))


def compile_seconds(cold=True):
    """First-call time of every float32 Numba kernel family, in fresh processes.

    ``cold_s``: with an empty ``NUMBA_CACHE_DIR`` (true JIT compile; skipped when
    ``cold`` is false); ``cached_s``: again with the default cache (what every run
    after the first pays).
    """
    out = {"cold_s": None, "cached_s": None}
    if cold:
        with tempfile.TemporaryDirectory(prefix="minicnn-numba-cache-") as cache:
            t0 = time.perf_counter()
            got = _run_child(_COMPILE_CHILD, env={"NUMBA_CACHE_DIR": cache})
            out["cold_s"] = got["first_calls_s"] if got else None
            out["cold_wall_s"] = time.perf_counter() - t0
    _run_child(_COMPILE_CHILD)  # make sure the normal cache is filled
    got = _run_child(_COMPILE_CHILD)
    out["cached_s"] = got["first_calls_s"] if got else None
    return out
