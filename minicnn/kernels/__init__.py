"""Convolution and pooling kernels on raw arrays (no autograd here).

Each backend is one module with the same functions, so that
:func:`minicnn.backend.kernels_for` can hand any of them to
:mod:`minicnn.functional`:

* :mod:`minicnn.kernels.reference`  -- readable loops (what the lessons quote)
* :mod:`minicnn.kernels.numpy_im2col` -- NumPy im2col/col2im, N-dimensional
* :mod:`minicnn.kernels.numba`  -- Numba-compiled CPU kernels
* :mod:`minicnn.kernels.cupy_gpu`   -- CuPy GPU kernels

The contract (``d`` = number of spatial dimensions, 1, 2 or 3; all tuples have
length ``d``; arrays are channels-first; outputs have the dtype of ``x``)::

    conv_forward(x, w, stride, padding, dilation, bias=None) -> y
        x (N, C_in, *S), w (C_out, C_in, *K), bias (C_out,) or None  ->  y (N, C_out, *O)
        padding: tuple of d (lo, hi) pairs (zeros added before/after)
        O_i = (S_i + lo_i + hi_i - dilation_i * (K_i - 1) - 1) // stride_i + 1

    conv_backward_input(gy, w, x_shape, stride, padding, dilation) -> gx  (x_shape)
    conv_backward_weight(gy, x, w_shape, stride, padding, dilation) -> gw (w_shape)

    max_pool_forward(x, kernel, stride, padding) -> (y, argmax)
        padding: tuple of d ints (both sides), padded cells are -inf;
        O_i = (S_i + 2 p_i - K_i) // stride_i + 1
        argmax: int64, shape of y, flat index into the *unpadded* spatial
        plane of x[n, c] of the maximum; ties go to the first maximum in
        row-major window order (as PyTorch's CPU kernel does).
    max_pool_backward(gy, argmax, x_shape) -> gx

    avg_pool_forward(x, kernel, stride, padding, count_include_pad=True) -> y
    avg_pool_backward(gy, x_shape, kernel, stride, padding, count_include_pad=True) -> gx

Argument checking happens once, in :mod:`minicnn.functional`, before any
kernel runs; kernels may assume valid arguments.
"""
