"""Scratch: minicnn per-case times, 1 thread, thread CPU time, min and median of bursts."""
import os, ctypes
if os.environ.get("MALLOPT"): ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 28); ctypes.CDLL("libc.so.6").mallopt(-1, 1 << 29)
import sys, time, numpy as np
import minicnn as mc
mc.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
from minicnn.bench.cases import CASES, make_case, small_convnet_step

def t(fn, reps=None):
    fn(); fn()
    ts = []
    t_end = time.perf_counter() + 0.4
    while time.perf_counter() < t_end or len(ts) < 5:
        a = time.thread_time(); fn(); ts.append(time.thread_time() - a)
    return 1e3 * np.median(ts), 1e3 * min(ts)

sel = sys.argv[2] if len(sys.argv) > 2 else ""
for case in CASES:
    if sel and sel not in case[0]: continue
    f, fb = make_case(case)
    print(f"{case[0]:36s} fwd {t(f)[0]:8.3f}  f+b {t(fb)[0]:8.3f}")
if not sel or sel == "train":
    s = small_convnet_step()
    print("train", t(s))
