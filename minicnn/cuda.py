"""Is there a GPU?  ``minicnn.cuda`` answers, the way ``torch.cuda`` does.

A successful ``import cupy`` proves only that the package is installed: CuPy
imports fine on a laptop without an NVIDIA driver.  :func:`is_available`
therefore asks the CUDA runtime how many devices it sees, and keeps the
reason when the answer is no, so that an error message (or a skipped test)
can say *why* the GPU cannot be used::

    import minicnn
    if minicnn.cuda.is_available():
        model.to("cuda")
    else:
        print(minicnn.cuda.unavailable_reason())

Install the GPU extra with ``pip install -e ".[gpu]"`` (see docs/gpu.md).
"""

from __future__ import annotations

_probe = {}  # cached result: {"ok": bool, "reason": str | None}

INSTALL_HINT = ("install the GPU extra with pip install -e '.[gpu]' (CuPy for CUDA 12) "
                "on a machine with an NVIDIA driver")


def _run_probe():
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken install failing at import
        return False, f"CuPy cannot be imported ({type(exc).__name__}: {exc}); {INSTALL_HINT}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, driver too old, no device
        return False, f"CuPy is installed but the CUDA runtime found no usable device ({type(exc).__name__}: {exc})"
    if count < 1:
        return False, "CuPy is installed but the CUDA runtime reports 0 devices"
    return True, None


def _state():
    if not _probe:
        ok, reason = _run_probe()
        _probe.update(ok=ok, reason=reason)
    return _probe


def is_available() -> bool:
    """True when CuPy imports *and* the CUDA runtime reports at least one device.

    The probe runs once per process; its outcome is cached.
    """
    return _state()["ok"]


def unavailable_reason() -> str | None:
    """Why :func:`is_available` is False (``None`` when a GPU is available)."""
    return _state()["reason"]


def require(what: str = "this operation") -> None:
    """Raise ``RuntimeError`` naming ``what`` and the reason when no GPU can be used."""
    if not is_available():
        raise RuntimeError(f"{what} needs a CUDA GPU, but none can be used: {unavailable_reason()}")


def device_count() -> int:
    """Number of CUDA devices (0 when none can be used)."""
    if not is_available():
        return 0
    import cupy

    return int(cupy.cuda.runtime.getDeviceCount())


def device_name(index: int | None = None) -> str:
    """Name of a CUDA device, e.g. ``"NVIDIA H200"`` (the current device by default)."""
    require("device_name")
    import cupy

    if index is None:
        index = cupy.cuda.Device().id
    name = cupy.cuda.runtime.getDeviceProperties(index)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize() -> None:
    """Wait until every kernel queued on the current device has finished.

    GPU launches return immediately; time a GPU computation only after this.
    Does nothing when no GPU is available (so CPU code may call it freely).
    """
    if not is_available():
        return
    import cupy

    cupy.cuda.Device().synchronize()


def _reset_probe_for_tests():
    _probe.clear()
