"""The GPU backend: device placement, CuPy kernels, parity with the CPU.

Three layers of checks, so that most of the GPU code is exercised on a
machine without a GPU:

1. the CUDA C source compiles for Hopper (``nvcc --ptx -arch=sm_90``, when
   nvcc is installed);
2. the same kernels, built as C++ for one CPU thread (tests/gpu_sim.py), run
   through the host code of ``minicnn.kernels.cupy_gpu`` on NumPy arrays and
   must agree with the vectorized NumPy kernels (hypothesis-drawn geometries);
3. one suite parametrised over devices: the ``"cuda"`` cases are marked
   ``gpu`` and skipped (tests/conftest.py says why) when no device is found.
   ``"cuda-vectorized"`` runs the CuPy fallback path of the same module.
"""

import shutil
import subprocess

import fake_cupy
import gpu_sim
import numpy as np
import pytest
from conv_cases import conv_cases, pool_cases
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.cuda
import minicnn.functional as F
import minicnn.nn as nn
import minicnn.optim as optim
from minicnn import backend
from minicnn.kernels import cupy_gpu, cupy_source
from minicnn.kernels import numpy_im2col as V

# "fake-cuda": CuPy replaced by tests/fake_cupy.py (NumPy arrays of a distinct
# type, kernels simulated on the CPU): the GPU code paths, run without a GPU.
CUDA_DEVICES = ["fake-cuda", "fake-cuda-vectorized", pytest.param("cuda", marks=pytest.mark.gpu),
                pytest.param("cuda-vectorized", marks=pytest.mark.gpu)]
DEVICES = ["cpu"] + CUDA_DEVICES


def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)


def host(a):
    """Any array (NumPy or CuPy) or Tensor as a NumPy array."""
    return backend.to_numpy(mc.tensor.unwrap(a))


@pytest.fixture
def device(request, monkeypatch):
    """"cpu" or "cuda"; "...-vectorized" runs the CuPy fallback kernels, and
    "fake-..." replaces CuPy by tests/fake_cupy.py."""
    name = request.param
    if name.startswith("fake-"):
        if gpu_sim.compiler() is None:
            pytest.skip("no C++ compiler to simulate the CUDA kernels")
        fake_cupy.install(monkeypatch)
    saved = cupy_gpu.get_mode()
    cupy_gpu.set_mode("vectorized" if name.endswith("-vectorized") else "raw")
    yield "cpu" if name == "cpu" else "cuda"
    cupy_gpu.set_mode(saved)


# ----------------------------------------------------------------------------
# 1. The CUDA source compiles (no GPU needed)
# ----------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_source_compiles_for_sm90(tmp_path, dtype):
    src = tmp_path / f"kernels_{dtype}.cu"
    src.write_text(cupy_source.cuda_source(dtype))
    ptx = tmp_path / "k.ptx"
    run = subprocess.run(["nvcc", "--ptx", "-arch=sm_90", str(src), "-o", str(ptx)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    entries = [line for line in ptx.read_text().splitlines() if ".entry" in line]
    assert sorted(e.split()[2].rstrip("(") for e in entries) == sorted(cupy_source.KERNELS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_source_compiles_with_cupys_nvrtc(dtype):
    """The compiler CuPy really uses (NVRTC, with CuPy's options); runs where
    CuPy and NVRTC are installed, with or without a GPU."""
    compiler = pytest.importorskip("cupy.cuda.compiler")
    program = getattr(compiler, "_NVRTCProgram", None)
    if program is None:
        pytest.skip("this CuPy version has no _NVRTCProgram")
    try:
        prog = program(cupy_source.cuda_source(dtype), "minicnn.cu", (), (), method="ptx")
        ptx, _ = prog.compile(("-ftz=true", "-arch=compute_90", "--device-as-default-execution-space"))
    except compiler.CompileException:
        raise
    except Exception as exc:  # NVRTC library missing
        pytest.skip(f"NVRTC unavailable: {type(exc).__name__}: {exc}")
    text = ptx.decode() if isinstance(ptx, bytes) else ptx
    assert all(f".entry {name}(" in text for name in cupy_source.KERNELS)


def test_unsupported_dtype_is_named():
    with pytest.raises(TypeError, match="float16"):
        cupy_source.cuda_source("float16")


# ----------------------------------------------------------------------------
# 2. The kernels' arithmetic, simulated on the CPU
# ----------------------------------------------------------------------------
needs_cxx = pytest.mark.skipif(gpu_sim.compiler() is None, reason="no C++ compiler to simulate the CUDA kernels")


def _pad_pairs(c):
    return c["stride"], c["padding"], c["dilation"]


@needs_cxx
@settings(max_examples=25, deadline=None)
@given(c=conv_cases(), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_simulated_conv_kernels_match_numpy(c, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c["batch"], c["c_in"]) + c["spatial"]).astype(dtype)
    w = rng.standard_normal((c["c_out"], c["c_in"]) + c["kernel"]).astype(dtype)
    args = _pad_pairs(c)
    y_ref = V.conv_forward(x, w, *args)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    with gpu_sim.simulated_gpu() as G:
        y = G.conv_forward(x, w, *args)
        gx = G.conv_backward_input(gy, w, x.shape, *args)
        gw = G.conv_backward_weight(gy, x, w.shape, *args)
    for got, want in ((y, y_ref), (gx, V.conv_backward_input(gy, w, x.shape, *args)),
                      (gw, V.conv_backward_weight(gy, x, w.shape, *args))):
        assert got.shape == want.shape and got.dtype == dtype
        np.testing.assert_allclose(got, want, **_tol(dtype))


@needs_cxx
@settings(max_examples=25, deadline=None)
@given(c=pool_cases(), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16),
       include_pad=st.booleans(), ties=st.booleans())
def test_simulated_pool_kernels_match_numpy(c, dtype, seed, include_pad, ties):
    rng = np.random.default_rng(seed)
    shape = (c["batch"], c["channels"]) + c["spatial"]
    x = rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)  # small ints: many ties
    x = x.astype(dtype)
    geo = (c["kernel"], c["stride"], c["padding"])
    y_ref, arg_ref = V.max_pool_forward(x, *geo)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    a_ref = V.avg_pool_forward(x, *geo, include_pad)
    with gpu_sim.simulated_gpu() as G:
        y, arg = G.max_pool_forward(x, *geo)
        gx = G.max_pool_backward(gy, arg, x.shape)
        a = G.avg_pool_forward(x, *geo, include_pad)
        ga = G.avg_pool_backward(gy, x.shape, *geo, include_pad)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)  # same tie rule: first maximum in window order
    assert arg.dtype == np.int64
    np.testing.assert_allclose(gx, V.max_pool_backward(gy, arg_ref, x.shape), **_tol(dtype))
    np.testing.assert_allclose(a, a_ref, **_tol(dtype))
    np.testing.assert_allclose(ga, V.avg_pool_backward(gy, x.shape, *geo, include_pad), **_tol(dtype))


@needs_cxx
def test_simulated_max_pool_nan_propagates_like_numpy():
    x = np.array([[[1.0, np.nan, 3.0, np.nan, 0.5, 2.0]]], dtype=np.float32)
    with gpu_sim.simulated_gpu() as G:
        y, arg = G.max_pool_forward(x, (3,), (3,), (0,))
    y_ref, arg_ref = V.max_pool_forward(x, (3,), (3,), (0,))
    np.testing.assert_array_equal(arg, arg_ref)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(y_ref))


@needs_cxx
def test_simulated_pointwise_conv_skips_im2col(monkeypatch):
    """A 1x1 stride-1 convolution is a plain matrix product: no im2col/col2im launch."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((6, 3, 1, 1))
    gy = rng.standard_normal((2, 6, 4, 5))
    args = ((1, 1), ((0, 0), (0, 0)), (1, 1))
    with gpu_sim.simulated_gpu() as G:
        monkeypatch.setattr(G, "im2col", lambda *a: pytest.fail("im2col launched"))
        monkeypatch.setattr(G, "col2im", lambda *a: pytest.fail("col2im launched"))
        np.testing.assert_allclose(G.conv_forward(x, w, *args), V.conv_forward(x, w, *args))
        np.testing.assert_allclose(G.conv_backward_input(gy, w, x.shape, *args),
                                   V.conv_backward_input(gy, w, x.shape, *args))
        np.testing.assert_allclose(G.conv_backward_weight(gy, x, w.shape, *args),
                                   V.conv_backward_weight(gy, x, w.shape, *args))


def test_fallback_mode_uses_vectorized_code():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float16)  # no CUDA kernel for float16
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float16)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1))
    np.testing.assert_array_equal(cupy_gpu.conv_forward(x, w, *args), V.conv_forward(x, w, *args))
    with pytest.raises(ValueError, match="mode"):
        cupy_gpu.set_mode("fast")


# ----------------------------------------------------------------------------
# 3. Devices
# ----------------------------------------------------------------------------
def test_is_available_matches_the_probe():
    from conftest import _GPU_SKIP

    assert mc.cuda.is_available() == (_GPU_SKIP is None)
    if not mc.cuda.is_available():
        reason = mc.cuda.unavailable_reason()
        assert isinstance(reason, str) and reason
        assert mc.cuda.device_count() == 0
        mc.cuda.synchronize()  # a no-op without a GPU
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            mc.cuda.device_name()
    else:
        assert mc.cuda.unavailable_reason() is None and mc.cuda.device_count() >= 1
        assert mc.cuda.device_name()


def test_probe_reports_a_missing_cupy(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    mc.cuda._reset_probe_for_tests()
    try:
        assert not mc.cuda.is_available()
        assert "CuPy cannot be imported" in mc.cuda.unavailable_reason()
    finally:
        monkeypatch.undo()
        mc.cuda._reset_probe_for_tests()


def test_to_rejects_unknown_devices():
    with pytest.raises(ValueError, match="device"):
        mc.Tensor([1.0]).to("tpu")


@pytest.mark.parametrize("device", DEVICES, indirect=True)
def test_tensor_round_trip(device):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = mc.Tensor(a, requires_grad=True).to(device)
    assert t.device == device and t.requires_grad and t.dtype == np.float32
    back = t.to("cpu")
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(back.data, a)


@pytest.mark.parametrize("device", CUDA_DEVICES[::2], indirect=True)
def test_mixing_devices_raises_naming_both(device):
    x = mc.Tensor(np.ones((1, 1, 5, 5), np.float32)).to("cuda")
    w = mc.Tensor(np.ones((1, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"different devices.*cuda.*cpu"):
        F.conv2d(x, w)
    with pytest.raises(ValueError, match="different devices"):
        x + mc.Tensor(np.ones((1, 1, 5, 5), np.float32))


def _rand_conv_config(rng, d):
    spatial = tuple(int(rng.integers(5, 9 if d < 3 else 7)) for _ in range(d))
    return dict(
        batch=int(rng.integers(1, 3)), c_in=int(rng.integers(1, 4)), c_out=int(rng.integers(1, 5)),
        spatial=spatial, kernel=tuple(int(rng.integers(1, 4)) for _ in range(d)),
        stride=tuple(int(rng.integers(1, 3)) for _ in range(d)),
        padding=tuple(int(rng.integers(0, 2)) for _ in range(d)),
        dilation=tuple(int(rng.integers(1, 3)) for _ in range(d)),
    )


def _run_conv(c, d, device, dtype, x, w, b, gy):
    xs = [mc.Tensor(a.astype(dtype), requires_grad=True).to(device) for a in (x, w, b)]
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[d]
    y = conv(*xs, stride=c["stride"], padding=c["padding"], dilation=c["dilation"])
    y.backward(mc.Tensor(gy.astype(dtype)).to(device))
    assert y.device == device and all(t.grad is not None for t in xs)
    return [host(y)] + [host(t.grad) for t in xs]


@pytest.mark.parametrize("device", DEVICES, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_conv_parity_with_cpu(device, dtype, d):
    """Forward and all three gradients on ``device`` equal the float64 CPU result."""
    rng = np.random.default_rng(10 * d + (dtype == np.float64))
    for _ in range(3):
        c = _rand_conv_config(rng, d)
        x = rng.standard_normal((c["batch"], c["c_in"]) + c["spatial"])
        w = rng.standard_normal((c["c_out"], c["c_in"]) + c["kernel"])
        b = rng.standard_normal(c["c_out"])
        out = F.conv_output_shape(c["spatial"], c["kernel"], c["stride"], c["padding"], c["dilation"])
        gy = rng.standard_normal((c["batch"], c["c_out"]) + out)
        with mc.use_backend("numpy"):
            want = _run_conv(c, d, "cpu", np.float64, x, w, b, gy)
        got = _run_conv(c, d, device, dtype, x, w, b, gy)
        for name, g, r in zip(("y", "gx", "gw", "gb"), got, want):
            assert g.dtype == dtype, name
            np.testing.assert_allclose(g, r, err_msg=f"{name} {c}", **_tol(dtype))


@pytest.mark.parametrize("device", DEVICES, indirect=True)
@pytest.mark.parametrize("kind", ["max", "avg", "avg-exclude-pad"])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_pool_parity_with_cpu(device, kind, d):
    rng = np.random.default_rng(d)
    dtype = np.float32
    for _ in range(3):
        kernel = tuple(int(rng.integers(1, 4)) for _ in range(d))
        stride = tuple(int(rng.integers(1, 3)) for _ in range(d))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        x = rng.standard_normal((2, 3) + tuple(int(rng.integers(4, 8)) for _ in range(d)))

        def run(dev, dt, gy=None):
            t = mc.Tensor(x.astype(dt), requires_grad=True).to(dev)
            if kind == "max":
                y = getattr(F, f"max_pool{d}d")(t, kernel, stride, padding)
            else:
                y = getattr(F, f"avg_pool{d}d")(t, kernel, stride, padding, count_include_pad=kind == "avg")
            if gy is None:
                return host(y)
            y.backward(mc.Tensor(gy.astype(dt)).to(dev))
            return host(y), host(t.grad)

        with mc.use_backend("numpy"):
            gy = rng.standard_normal(run("cpu", np.float64).shape)
            want = run("cpu", np.float64, gy)
        got = run(device, dtype, gy)
        for g, r in zip(got, want):
            assert g.dtype == dtype
            np.testing.assert_allclose(g, r, **_tol(dtype))


def _small_net():
    mc.seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.LeakyReLU(0.1), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 5),
    )


@pytest.mark.parametrize("device", DEVICES, indirect=True)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_steps_match_cpu(device, optimizer):
    """Three optimizer steps of a small ConvNet on ``device`` end with the
    parameters the NumPy CPU run reaches, to float32 tolerance."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
    target = rng.integers(0, 5, 4)

    def train(dev):
        model = _small_net().to(dev)
        opt = (optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer == "sgd"
               else optim.Adam(model.parameters(), lr=1e-2))
        xt = mc.Tensor(x).to(dev)
        tt = target if dev == "cpu" else mc.Tensor(target).to(dev).data
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(xt), tt)
            loss.backward()
            opt.step()
            losses.append(float(loss.item()))
        for p in model.parameters():  # updated in place, still on the device
            assert p.device == dev and p.dtype == np.float32
        return losses, {k: host(v) for k, v in model.state_dict().items()}

    with mc.use_backend("numpy"):
        want_losses, want = train("cpu")
    got_losses, got = train(device)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-4, atol=1e-5)
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-3, atol=1e-4, err_msg=k)


@pytest.mark.slow  # imports torch and torch.optim (~10 s on a busy 2-core machine)
def test_gpu_benchmark_code_runs_on_the_cpu(tmp_path):
    """The benchmark cannot be timed without a GPU, but its code (both
    libraries, the style step, the results file) runs with device="cpu"."""
    pytest.importorskip("torch")
    from minicnn.bench import gpu as bench

    cases = [("conv2d 2,3,8x8->4 k3 s1 p1", "conv", 2, 2, 3, (8, 8), 4, 3, 1, 1),
             ("conv1d 2,1,14->3 k5", "conv", 1, 2, 1, (14,), 3, 5, 1, 0),
             ("max_pool2d 2,3,8x8 k2 s2", "max_pool", 2, 2, 3, (8, 8), 3, 2, 2, 0)]
    with mc.use_backend("numpy"):  # no Numba compile time in this test
        # VGG's 13 convolutions with 1/16 of the channels: the same code path, CPU-sized
        rows = bench.run_gpu_benchmark(cases, repeats=1, warmup=0, style_size=16, style_width=1 / 16, device="cpu",
                                       progress=False)
    assert [r["pass"] for r in rows] == ["forward", "forward+backward"] * 3 + ["step"]
    for r in rows:
        assert r["ratio"] == pytest.approx(r["minicnn_ms"] / r["torch_ms"])
        assert r["max_rel_err"] < 1e-4, r  # the two libraries computed the same thing
    conv_fb = [r["ratio"] for r in rows if r["pass"] == "forward+backward" and r["case"].startswith("conv")]
    summary = bench.summarize(rows)
    assert summary["conv_fwd_bwd_geomean"] == pytest.approx(np.sqrt(conv_fb[0] * conv_fb[1]))
    assert summary["style_step_ratio"] == rows[-1]["ratio"]
    text = bench.write_markdown(rows, tmp_path / "R.md", {"gpu": "none (CPU smoke run)", "date": "today"})
    assert (tmp_path / "R.md").read_text() == text and "| conv1d 2,1,14->3 k5 | forward |" in text
    with pytest.raises(ValueError, match="device"):
        bench.run_gpu_benchmark(cases, device="tpu")
    if not mc.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            bench.run_gpu_benchmark(cases)


@pytest.mark.parametrize("device", DEVICES, indirect=True)
def test_model_saved_from_the_device_loads_on_the_host(device, tmp_path):
    model = _small_net()
    want = {k: host(v).copy() for k, v in model.state_dict().items()}
    model.to(device)
    assert all(p.device == device for p in model.parameters())
    model.save(tmp_path / "m.npz")
    state, _ = mc.load(tmp_path / "m.npz")
    assert state.keys() == want.keys()
    for k in want:
        assert type(state[k]) is np.ndarray
        np.testing.assert_array_equal(state[k], want[k])
    model.to("cpu")
    assert all(type(p.data) is np.ndarray for p in model.parameters())


def test_gpu_benchmark_command_on_fake_cupy(tmp_path, monkeypatch):
    """``python -m minicnn.bench.gpu`` end to end on the CuPy stand-in (minicnn only):
    the GPU-only code (device checks, synchronisation, memory pool, results file)."""
    if gpu_sim.compiler() is None:
        pytest.skip("no C++ compiler to simulate the CUDA kernels")
    from minicnn.bench import gpu as bench

    fake_cupy.install(monkeypatch)
    monkeypatch.setattr(bench, "CASES", [("conv2d 2,3,8x8->4 k3 s1 p1", "conv", 2, 2, 3, (8, 8), 4, 3, 1, 1),
                                         ("max_pool2d 2,3,8x8 k2 s2", "max_pool", 2, 2, 3, (8, 8), 3, 2, 2, 0)])
    md, js = tmp_path / "RESULTS-GPU.md", tmp_path / "r.json"
    bench.main(["--no-torch", "--repeats", "1", "--warmup", "0", "--style-size", "16", "--style-width", "0.0625",
                "--markdown", str(md), "--json", str(js)])
    text = md.read_text()
    assert "fake GPU" in text and "| max_pool2d 2,3,8x8 k2 s2 | forward+backward |" in text
    import json

    rows = json.loads(js.read_text())["rows"]
    assert [r["pass"] for r in rows] == ["forward", "forward+backward"] * 2 + ["step"]
    assert all(r["torch_ms"] is None and r["ratio"] is None for r in rows)
