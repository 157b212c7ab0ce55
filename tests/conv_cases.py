"""Hypothesis strategies for valid convolution and pooling geometries (shared by
the kernel and functional tests).  Sizes stay tiny: the reference kernels are
Python loops."""

from hypothesis import strategies as st


@st.composite
def conv_cases(draw, dims=(1, 2, 3), max_extra=3):
    """A dict describing a valid N-d convolution: every axis is first given a
    kernel, dilation, stride and (lo, hi) padding, then an input length that
    the dilated kernel fits into once padded."""
    d = draw(st.sampled_from(dims))
    small = d == 3  # keep 3D loops cheap
    kernel, stride, dilation, padding, spatial = [], [], [], [], []
    for _ in range(d):
        k = draw(st.integers(1, 2 if small else 3))
        dl = draw(st.integers(1, 2))
        s = draw(st.integers(1, 3))
        lo, hi = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        extent = dl * (k - 1) + 1
        n_min = max(1, extent - lo - hi)
        n = draw(st.integers(n_min, n_min + (2 if small else max_extra)))
        kernel.append(k), stride.append(s), dilation.append(dl), padding.append((lo, hi)), spatial.append(n)
    return dict(
        d=d,
        batch=draw(st.integers(1, 2)),
        c_in=draw(st.integers(1, 2 if small else 3)),
        c_out=draw(st.integers(1, 2 if small else 3)),
        kernel=tuple(kernel), stride=tuple(stride), dilation=tuple(dilation),
        padding=tuple(padding), spatial=tuple(spatial),
    )


@st.composite
def pool_cases(draw, dims=(1, 2, 3), max_extra=3):
    """A valid pooling geometry: padding <= kernel // 2 and kernel <= padded input."""
    d = draw(st.sampled_from(dims))
    small = d == 3
    kernel, stride, padding, spatial = [], [], [], []
    for _ in range(d):
        k = draw(st.integers(1, 2 if small else 3))
        s = draw(st.integers(1, 3))
        p = draw(st.integers(0, k // 2))
        n_min = max(1, k - 2 * p)
        kernel.append(k), stride.append(s), padding.append(p)
        spatial.append(draw(st.integers(n_min, n_min + (2 if small else max_extra))))
    return dict(
        d=d,
        batch=draw(st.integers(1, 2)),
        channels=draw(st.integers(1, 2)),
        kernel=tuple(kernel), stride=tuple(stride), padding=tuple(padding), spatial=tuple(spatial),
    )
