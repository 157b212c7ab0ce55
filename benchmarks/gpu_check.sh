#!/usr/bin/env bash
# One prepared GPU check for minicnn: run it on a machine with an NVIDIA GPU,
# from the repository root, in ONE command (about 3-8 minutes):
#
#     bash benchmarks/gpu_check.sh            # results go to $OUT (default ./gpu-check-out)
#
# It installs nothing: it expects a Python ($PYTHON, default python3) that
# already has CuPy, NumPy, Numba, SciPy, Matplotlib, Pillow, tqdm, pytest and
# hypothesis, and PyTorch with CUDA for the comparison.  (The lent H200
# machines have all of these in their image: python3 with torch 2.11+cu130 and
# cupy-cuda13x 14.x; they cannot download anything.)  On your own machine:
#     pip install -e ".[gpu,test]" torch
#
# Steps, each with its own time limit so the whole stays under ~8 minutes:
#   1. env.txt         nvidia-smi, versions, minicnn.cuda.is_available() and the GPU name
#   2. pytest-gpu.log  pytest -m gpu tests/test_gpu.py (parity with the CPU, training steps)
#   3. bench.log, RESULTS-GPU.md, results-gpu.json   python -m minicnn.bench.gpu
#   4. sanitizer.log   compute-sanitizer memcheck over every kernel on small shapes (if present)
# Afterwards copy $OUT/RESULTS-GPU.md to benchmarks/RESULTS-GPU.md and commit it.

set -u -o pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg TQDM_DISABLE=1
export CUPY_CACHE_DIR="${CUPY_CACHE_DIR:-/tmp/minicnn-cupy-cache}"   # kernels compiled in step 2 are reused in 3
T0=$(date +%s)
stamp() { echo "[gpu_check] $(( $(date +%s) - T0 )) s: $*"; }

# ---------------------------------------------------------------- 1. environment
stamp "environment"
{
  nvidia-smi || echo "nvidia-smi not found"
  timeout 120 "$PY" - <<'EOF'
import platform, sys
print("python", platform.python_version(), sys.executable)
for name in ("numpy", "numba", "cupy", "torch", "scipy", "hypothesis", "pytest"):
    try:
        mod = __import__(name)
        print(name, getattr(mod, "__version__", "?"))
    except Exception as exc:
        print(name, "MISSING", type(exc).__name__, exc)
import minicnn.cuda as mcuda
print("minicnn.cuda.is_available():", mcuda.is_available(), mcuda.unavailable_reason() or "")
if mcuda.is_available():
    import cupy
    print("device:", mcuda.device_name(), "| CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
          "| driver", cupy.cuda.runtime.driverGetVersion())
    import time
    import numpy as np
    from minicnn.kernels import cupy_gpu
    t = time.perf_counter()
    for dt in ("float32", "float64"):
        cupy_gpu._function("minicnn_im2col", dt)
    print(f"NVRTC compile of the minicnn kernels (2 dtypes): {time.perf_counter() - t:.2f} s")
EOF
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# ---------------------------------------------------------------- 2. GPU tests
stamp "pytest -m gpu tests/test_gpu.py"
timeout 180 "$PY" -m pytest -m gpu tests/test_gpu.py -q -rs -p no:cacheprovider \
    --junitxml="$OUT/junit-gpu.xml" 2>&1 | tee "$OUT/pytest-gpu.log"
echo "pytest exit status: $?" | tee -a "$OUT/pytest-gpu.log"

# ---------------------------------------------------------------- 3. benchmark
stamp "python -m minicnn.bench.gpu"
timeout 220 "$PY" -m minicnn.bench.gpu --budget-s 150 --markdown "$OUT/RESULTS-GPU.md" \
    --json "$OUT/results-gpu.json" 2>&1 | tee "$OUT/bench.log"
echo "benchmark exit status: $?" | tee -a "$OUT/bench.log"

# ---------------------------------------------------------------- 4. memory checker
SAN="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)"
if [ -n "$SAN" ]; then
  stamp "compute-sanitizer memcheck"
  cat > /tmp/minicnn_sanitize.py <<'EOF'
# Every CUDA kernel of minicnn once, on odd shapes (padding, stride, dilation, 1D/2D/3D, both dtypes).
import numpy as np
import minicnn as mc
import minicnn.functional as F
rng = np.random.default_rng(0)
for dt in (np.float32, np.float64):
    for d, S in ((1, (11,)), (2, (7, 9)), (3, (5, 6, 7))):
        x = mc.Tensor(rng.standard_normal((2, 3) + S).astype(dt), requires_grad=True).to("cuda")
        w = mc.Tensor(rng.standard_normal((4, 3) + (3,) * d).astype(dt), requires_grad=True).to("cuda")
        y = getattr(F, f"conv{d}d")(x, w, stride=2, padding=1, dilation=(1,) * (d - 1) + (2,))
        m = getattr(F, f"max_pool{d}d")(x, 3, 2, 1)
        a = getattr(F, f"avg_pool{d}d")(x, 3, 2, 1, count_include_pad=False)
        (y.sum() + m.sum() + a.sum()).backward()
mc.cuda.synchronize()
print("sanitizer workload done")
EOF
  timeout 90 "$SAN" --tool memcheck --error-exitcode 3 "$PY" /tmp/minicnn_sanitize.py \
      > "$OUT/sanitizer.log" 2>&1
  echo "compute-sanitizer exit status: $? (0 = no errors, 3 = errors found, 124 = timed out)" >> "$OUT/sanitizer.log"
  tail -n 30 "$OUT/sanitizer.log"
else
  echo "compute-sanitizer not found; skipped" > "$OUT/sanitizer.log"
fi
stamp "done; results in $OUT"
ls -la "$OUT"
