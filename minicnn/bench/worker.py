"""One benchmark worker: ONE library in its own process, timing what it is asked to.

Started by :mod:`minicnn.bench` as ``python .../worker.py LIB THREADS`` with
``LIB`` ``"minicnn"`` or ``"torch"``.  Run as a file (not ``-m``) so that the
PyTorch worker never imports the ``minicnn`` package: it loads
``torch_side.py`` by path, and reports ``"minicnn"``/``"numba"`` in
``sys.modules`` so the report can prove it.

Protocol: one JSON object per line on stdin, one reply per line on the
original stdout (everything else the process prints goes to stderr):

* ``{"op": "info"}`` -> versions, threads, thread settings, imported modules;
* ``{"op": "setup", "key", "kind": "case"|"train"|"style", "label", "pass",
  "backend", "warmup", "size", "weights"}`` -> builds the callable, runs it
  ``warmup`` times, replies ``{"est_ms": last warm-up time}`` (or
  ``{"missing": true}`` when minicnn has no style step);
* ``{"op": "time", "key", "n", "clock"}`` -> ``{"ms": [n times]}``: wall-clock, or with
  ``"clock": "thread"`` the CPU time of the calling thread (one-thread runs);
* ``{"op": "drop", "key"}`` frees a callable; ``{"op": "quit"}`` ends.

A failure replies ``{"error": "one line"}`` and the worker keeps serving.
"""

import json
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.pop(0)  # run as a file: keep this folder's modules from shadowing top-level names


def _torch_side():
    import importlib.util

    spec = importlib.util.spec_from_file_location("minicnn_bench_torch_side", os.path.join(_HERE, "torch_side.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "MKL_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER")


class TorchLib:
    def __init__(self, threads):
        import torch

        torch.set_num_threads(threads)
        self.torch, self.side = torch, _torch_side()

    def info(self):
        torch = self.torch
        parallel = torch.__config__.parallel_info().splitlines()
        return {"versions": {"torch": torch.__version__}, "threads": torch.get_num_threads(),
                "interop_threads": torch.get_num_interop_threads(),
                "parallel": [ln.strip() for ln in parallel if ln.strip() and "ATen" not in ln][:6]}

    def make(self, msg):
        side = self.side
        if msg["kind"] == "case":
            fwd, fwd_bwd = side.torch_case(side.case_by_label(msg["label"]), self.torch)
            return fwd if msg["pass"] == "forward" else fwd_bwd
        if msg["kind"] == "train":
            weights = None
            if msg.get("weights"):
                import numpy as np

                with np.load(msg["weights"]) as f:
                    weights = [f[f"p{i}"] for i in range(len(f.files))]
            return side.torch_small_convnet_step(self.torch, weights)
        return side.torch_style_step(msg["size"], self.torch)


class MinicnnLib:
    def __init__(self, threads):
        import minicnn

        minicnn.set_num_threads(threads)
        self.mc = minicnn

    def info(self):
        import numba
        import numpy as np

        from minicnn.kernels import numba as numba_kernels

        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel region has run yet
            layer = "not started"
        return {"versions": {"minicnn": self.mc.__version__, "numpy": np.__version__, "numba": numba.__version__},
                "threads": numba_kernels.get_num_threads(), "blas_threads": numba_kernels.get_blas_num_threads(),
                "numba_threading_layer": layer, "numba_runtime": numba_kernels.runtime_settings()}

    def make(self, msg):
        from minicnn.bench import cases

        backend = msg.get("backend", "numba")
        if msg["kind"] == "case":
            fwd, fwd_bwd = cases.make_case(cases.case_by_label(msg["label"]))
            fn = fwd if msg["pass"] == "forward" else fwd_bwd
        elif msg["kind"] == "train":
            fn = cases.small_convnet_step()
            if msg.get("weights"):
                import numpy as np

                np.savez(msg["weights"], **{f"p{i}": np.asarray(p.data) for i, p in enumerate(fn.model.parameters())})
        else:
            fn = cases.style_step(msg["size"])

        def run():
            with self.mc.use_backend(backend):
                return fn()

        return run


def serve(lib, threads, inp, out):
    impl = (TorchLib if lib == "torch" else MinicnnLib)(threads)
    fns = {}
    for line in inp:
        msg = json.loads(line)
        op = msg["op"]
        try:
            if op == "quit":
                break
            if op == "info":
                reply = impl.info()
                reply.update(lib=lib, pid=os.getpid(), env={k: os.environ.get(k) for k in THREAD_VARIABLES},
                             imported_minicnn="minicnn" in sys.modules, imported_numba="numba" in sys.modules)
            elif op == "setup":
                fn = impl.make(msg)
                if fn is None:
                    reply = {"missing": True}
                else:
                    fns[msg["key"]] = fn
                    est = 0.0
                    for _ in range(max(msg.get("warmup", 2), 1)):
                        t0 = time.perf_counter()
                        fn()
                        est = (time.perf_counter() - t0) * 1e3
                    reply = {"est_ms": est}
            elif op == "time":
                fn, times = fns[msg["key"]], []
                clock = time.thread_time if msg.get("clock") == "thread" else time.perf_counter
                for _ in range(msg["n"]):
                    t0 = clock()
                    fn()
                    times.append((clock() - t0) * 1e3)
                reply = {"ms": times}
            elif op == "drop":
                fns.pop(msg["key"], None)
                reply = {}
            else:
                reply = {"error": f"unknown op {op!r}"}
        except Exception as exc:  # reported to the parent, which names the case
            reply = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main():
    lib, threads = sys.argv[1], int(sys.argv[2])
    out = os.fdopen(os.dup(1), "w")  # replies only; anything a library prints goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(lib, threads, sys.stdin, out)


if __name__ == "__main__":
    main()
