"""``python -m minicnn.bench [--quick] [--markdown PATH] [--json PATH] [--repeats N] [--threads N] [--cpu-time]
[--device cpu|cuda]``

Prints the benchmark table (see :mod:`minicnn.bench`: each library in its own
worker process, alternating rounds) and optionally writes it as Markdown and JSON.  ``--device cuda`` runs
:mod:`minicnn.bench.gpu` instead.
"""

from __future__ import annotations

import sys


def main(argv=None):
    from ..cli_args import ArgumentParser, int_range

    ap = ArgumentParser(prog="python -m minicnn.bench",
                                 description="Time minicnn's convolution/pooling kernels against PyTorch.")
    ap.add_argument("--quick", action="store_true",
                    help="5 repeats, no NumPy-path or style rows, warm-cache compile time")
    ap.add_argument("--markdown", metavar="PATH", help="write the table as Markdown")
    ap.add_argument("--json", metavar="PATH", help="write rows, summary and environment as JSON")
    ap.add_argument("--repeats", type=int, default=None,
                    help="alternating rounds per measurement (>= 5; default 9, quick 5)")
    ap.add_argument("--threads", type=int_range(1, 4096), default=None,
                    help="threads for minicnn (Numba + BLAS) and PyTorch")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--no-torch", action="store_true", help="time minicnn only")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--no-compile", action="store_true", help="skip the compile-time subprocesses")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time by the CPU time of the calling thread (needs --threads 1; robust to other load)")
    args = ap.parse_args(argv)
    if args.repeats is not None and args.repeats < 5:
        ap.error(f"--repeats must be >= 5, got {args.repeats}")
    if args.cpu_time and args.threads != 1:
        ap.error(f"--cpu-time needs --threads 1, got --threads {args.threads}")
    if args.threads is not None:
        from . import check_threads

        try:
            check_threads(args.threads)
        except ValueError as exc:
            ap.error(str(exc).replace("benchmark: threads", "--threads"))

    if args.device == "cuda":
        from . import gpu

        forwarded = []
        if args.repeats:
            forwarded += ["--repeats", str(args.repeats)]
        if args.no_torch:
            forwarded.append("--no-torch")
        if args.json:
            forwarded += ["--json", args.json]
        if args.markdown:
            forwarded += ["--markdown", args.markdown]
        if args.quick:
            forwarded += ["--style-size", "0"]
        return gpu.main(forwarded)

    from . import environment, run_benchmark, summarize, write_reports

    rows, extra = run_benchmark(quick=args.quick, repeats=args.repeats, threads=args.threads,
                                torch_compare=not args.no_torch, memory=not args.no_memory,
                                compile_time=not args.no_compile, cpu_time=args.cpu_time)
    meta = environment()
    text = write_reports(rows, extra, meta, markdown=args.markdown, json_path=args.json)
    print(text)
    failed = [k for k, v in summarize(rows, extra).items() if v is None]
    if failed and extra.get("torch"):
        print("not measured: " + ", ".join(failed), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
