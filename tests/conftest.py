"""Shared test set-up: headless plotting, Hypothesis profiles, GPU marker, shared data."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# deadline=None: the first call of a Numba kernel compiles it, which is not a bug.
settings.register_profile("ci", deadline=None, max_examples=15, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=15,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _gpu_reason():
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return None
        return "no CUDA device found"
    except Exception as exc:  # CuPy missing, or no driver/device
        return f"no usable CuPy/CUDA device ({type(exc).__name__}: {exc})"[:200]


_GPU_SKIP = _gpu_reason()


def pytest_collection_modifyitems(config, items):
    if _GPU_SKIP is None:
        return
    skip = pytest.mark.skip(reason=_GPU_SKIP)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data (real development data); skips the test when missing."""
    from minicnn.config import shared_data_dir

    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set MINICNN_SHARED_DATA)")
    return path


@pytest.fixture
def cpu_kernels(request):
    """The CPU kernel backend of the test's parameter (see ``pytest_generate_tests``), or the default."""
    name = getattr(request, "param", None)
    if name is None:
        yield None
        return
    import minicnn as mc

    with mc.use_backend(name):
        yield name


def pytest_generate_tests(metafunc):
    """A test that uses ``cpu_kernels`` (e.g. through ``pytestmark``) runs once on the vectorised
    NumPy kernels and once on the Numba ones, unless it has a ``backend`` parameter of its own."""
    if "cpu_kernels" in metafunc.fixturenames and "backend" not in metafunc.fixturenames:
        metafunc.parametrize("cpu_kernels", ["numpy", "numba"], indirect=True)
