"""CUDA C source of the GPU kernels used by :mod:`minicnn.kernels.cupy_gpu`.

The same text is compiled three ways, which is why it lives in its own file:

* on a GPU, by CuPy (NVRTC) through :func:`cuda_source`, once per dtype;
* by ``nvcc --ptx -arch=sm_90`` in the tests, to check it compiles without a GPU;
* as plain C++ by ``g++`` through :func:`cpu_source`, where the CUDA names
  (``blockIdx``, ``__global__``...) are stand-ins for a grid of one thread.
  Every kernel below loops over its work with a *grid-stride loop*, so one
  thread does all of it: the index arithmetic can then be checked on the CPU
  against the NumPy kernels, which is what ``tests/test_gpu.py`` does.

Every spatial problem is lifted to 3D (a 2D image is a volume of depth 1, a
1D signal one of depth and height 1), so one kernel serves conv1d/2d/3d.
Geometry names: input ``(D, H, W)``, output ``(OD, OH, OW)``, kernel
``(KD, KH, KW)``, stride ``S*``, low-side padding ``P*``, dilation ``L*``.

Launch shape shared by all kernels: ``blockIdx.x`` walks the *rows* (an
``(n, c)`` plane, or an ``(n, c, kd, kh, kw)`` row of the column matrix),
``blockIdx.y`` and ``threadIdx.x`` walk the positions inside the row.  Row
coordinates are then decoded once per block instead of once per element
(integer division is slow on a GPU), and neighbouring threads touch
neighbouring memory.
"""

from __future__ import annotations

# Kernel names (one per entry point), used by cupy_gpu and by the tests.
KERNELS = (
    "minicnn_im2col",
    "minicnn_col2im",
    "minicnn_max_pool_fwd",
    "minicnn_max_pool_bwd",
    "minicnn_avg_pool_fwd",
    "minicnn_avg_pool_bwd",
)

_GEOMETRY = """int D, int H, int W, int OD, int OH, int OW, int KD, int KH, int KW,
    int SD, int SH, int SW, int PD, int PH, int PW"""

BODY = r"""
#define ROW_LOOP(row, rows) \
    for (long long row = blockIdx.x; row < (rows); row += gridDim.x)
#define POS_LOOP(p, count) \
    for (int p = blockIdx.y * blockDim.x + threadIdx.x; p < (count); p += gridDim.y * blockDim.x)

/* First and last output index o (along one axis) whose window
   [o*s - pad, o*s - pad + k - 1] contains input cell z; empty when lo > hi. */
__device__ __forceinline__ int win_lo(int z, int k, int s, int pad) {
    int t = z + pad - k + 1;
    return t <= 0 ? 0 : (t + s - 1) / s;
}
__device__ __forceinline__ int win_hi(int z, int s, int pad, int out) {
    int h = (z + pad) / s;
    return h < out - 1 ? h : out - 1;
}

/* The column matrix of im2col, shape (C*KD*KH*KW, N*OD*OH*OW): row (c, k),
   column (n, o) holds x_pad[n, c, o*S + k*L] (zero in the padding).  With
   this layout the convolution is ONE matrix product W (C_out, C*K) @ cols,
   and both gradients are one product each (no batched GEMMs, no copies).
   Here the kernel's rows are (c, k, n): rows = C*K*N, each of length O. */
extern "C" __global__ void minicnn_im2col(
    const real_t* __restrict__ x, real_t* __restrict__ cols, long long rows, int N, int C,
    GEOMETRY, int LD, int LH, int LW)
{
    const int P = OD * OH * OW;
    ROW_LOOP(row, rows) {
        long long r = row;
        const int n = r % N; r /= N;
        const int kw = r % KW; r /= KW;
        const int kh = r % KH; r /= KH;
        const int kd = r % KD; r /= KD;      /* r is now c */
        const real_t* plane = x + ((long long)n * C + r) * D * H * W;
        real_t* out = cols + row * P;
        const int bd = kd * LD - PD, bh = kh * LH - PH, bw = kw * LW - PW;
        POS_LOOP(p, P) {
            const int ow = p % OW, t = p / OW;
            const int oh = t % OH, od = t / OH;
            const int zd = od * SD + bd, zh = oh * SH + bh, zw = ow * SW + bw;
            real_t v = 0;
            if (zd >= 0 && zd < D && zh >= 0 && zh < H && zw >= 0 && zw < W)
                v = plane[(zd * H + zh) * W + zw];
            out[p] = v;
        }
    }
}

/* Inverse of im2col with overlaps added (col2im), written as a gather so no
   two threads write the same cell and no atomics are needed:
   gx[n, c, z] = sum over k, o with o*S - P + k*L == z of cols[(c, k), (n, o)].
   rows = N*C planes (n, c), each of length D*H*W. */
extern "C" __global__ void minicnn_col2im(
    const real_t* __restrict__ cols, real_t* __restrict__ gx, long long rows, int N, int C,
    GEOMETRY, int LD, int LH, int LW)
{
    const int P = OD * OH * OW, K = KD * KH * KW, S = D * H * W;
    const long long NP = (long long)N * P;    /* distance between consecutive k rows */
    ROW_LOOP(row, rows) {
        const long long n = row / C, c = row % C;
        const real_t* src = cols + c * K * NP + n * P;   /* row (c, k=0), column (n, o=0) */
        POS_LOOP(p, S) {
            const int zw = p % W, t = p / W;
            const int zh = t % H, zd = t / H;
            real_t acc = 0;
            for (int kd = 0; kd < KD; ++kd) {
                const int ud = zd + PD - kd * LD;   /* = od * SD when a window hits */
                if (ud < 0 || ud % SD) continue;
                const int od = ud / SD;
                if (od >= OD) continue;
                for (int kh = 0; kh < KH; ++kh) {
                    const int uh = zh + PH - kh * LH;
                    if (uh < 0 || uh % SH) continue;
                    const int oh = uh / SH;
                    if (oh >= OH) continue;
                    for (int kw = 0; kw < KW; ++kw) {
                        const int uw = zw + PW - kw * LW;
                        if (uw < 0 || uw % SW) continue;
                        const int ow = uw / SW;
                        if (ow >= OW) continue;
                        acc += src[((kd * KH + kh) * KW + kw) * NP + (od * OH + oh) * OW + ow];
                    }
                }
            }
            gx[row * S + p] = acc;
        }
    }
}

/* Max pooling, one thread per output.  The first real cell of the window is
   taken first, then a strictly larger value (or the first NaN) replaces it:
   ties go to the earliest cell in row-major order, and padding never wins.
   argmax is the flat index into the unpadded plane. rows = N*C. */
extern "C" __global__ void minicnn_max_pool_fwd(
    const real_t* __restrict__ x, real_t* __restrict__ y, long long* __restrict__ argmax,
    long long rows, GEOMETRY)
{
    const int P = OD * OH * OW, S = D * H * W;
    ROW_LOOP(row, rows) {
        const real_t* plane = x + row * S;
        POS_LOOP(p, P) {
            const int ow = p % OW, t = p / OW;
            const int oh = t % OH, od = t / OH;
            real_t best = neg_inf();
            int where = -1;  /* flat index in the plane; stored as int64 */
            for (int kd = 0; kd < KD; ++kd) {
                const int zd = od * SD - PD + kd;
                if (zd < 0 || zd >= D) continue;
                for (int kh = 0; kh < KH; ++kh) {
                    const int zh = oh * SH - PH + kh;
                    if (zh < 0 || zh >= H) continue;
                    for (int kw = 0; kw < KW; ++kw) {
                        const int zw = ow * SW - PW + kw;
                        if (zw < 0 || zw >= W) continue;
                        const int i = (zd * H + zh) * W + zw;
                        const real_t v = plane[i];
                        /* v != v is the NaN test: NaN propagates, the first one wins */
                        if (where < 0 || v > best || (v != v && best == best)) {
                            best = v;
                            where = i;
                        }
                    }
                }
            }
            y[row * P + p] = best;
            argmax[row * P + p] = where;
        }
    }
}

/* Max pooling backward: each output adds its gradient to the cell it chose.
   Overlapping windows (stride < kernel) may choose the same cell, so the add
   is atomic; the contract passes no window geometry, which a gather would
   need.  gx must be zeroed first.  rows = N*C planes of P outputs / S cells. */
extern "C" __global__ void minicnn_max_pool_bwd(
    const real_t* __restrict__ gy, const long long* __restrict__ argmax, real_t* __restrict__ gx,
    long long rows, int P, int S)
{
    ROW_LOOP(row, rows) {
        POS_LOOP(p, P) {
            const long long where = argmax[row * P + p];
            if (where >= 0) atomicAdd(gx + row * S + where, gy[row * P + p]);
        }
    }
}

/* Window size used as the divisor of average pooling: the whole kernel, or
   only the real (unpadded) cells, a product of per-axis counts. */
__device__ __forceinline__ int real_count(int start, int k, int n) {
    const int lo = start < 0 ? 0 : start;
    const int hi = start + k < n ? start + k : n;
    return hi - lo;
}

/* Average pooling, one thread per output. rows = N*C. */
extern "C" __global__ void minicnn_avg_pool_fwd(
    const real_t* __restrict__ x, real_t* __restrict__ y, long long rows, GEOMETRY,
    int include_pad)
{
    const int P = OD * OH * OW, S = D * H * W;
    ROW_LOOP(row, rows) {
        const real_t* plane = x + row * S;
        POS_LOOP(p, P) {
            const int ow = p % OW, t = p / OW;
            const int oh = t % OH, od = t / OH;
            const int sd = od * SD - PD, sh = oh * SH - PH, sw = ow * SW - PW;
            real_t acc = 0;
            for (int zd = sd < 0 ? 0 : sd; zd < sd + KD && zd < D; ++zd)
                for (int zh = sh < 0 ? 0 : sh; zh < sh + KH && zh < H; ++zh)
                    for (int zw = sw < 0 ? 0 : sw; zw < sw + KW && zw < W; ++zw)
                        acc += plane[(zd * H + zh) * W + zw];
            const int div = include_pad ? KD * KH * KW
                : real_count(sd, KD, D) * real_count(sh, KH, H) * real_count(sw, KW, W);
            y[row * P + p] = acc / (real_t)div;
        }
    }
}

/* Average pooling backward as a gather: cell z receives gy[o] / divisor(o)
   from every window o that contains it. rows = N*C. */
extern "C" __global__ void minicnn_avg_pool_bwd(
    const real_t* __restrict__ gy, real_t* __restrict__ gx, long long rows, GEOMETRY,
    int include_pad)
{
    const int P = OD * OH * OW, S = D * H * W;
    ROW_LOOP(row, rows) {
        const real_t* g = gy + row * P;
        POS_LOOP(p, S) {
            const int zw = p % W, t = p / W;
            const int zh = t % H, zd = t / H;
            real_t acc = 0;
            const int d1 = win_hi(zd, SD, PD, OD), h1 = win_hi(zh, SH, PH, OH), w1 = win_hi(zw, SW, PW, OW);
            for (int od = win_lo(zd, KD, SD, PD); od <= d1; ++od)
                for (int oh = win_lo(zh, KH, SH, PH); oh <= h1; ++oh)
                    for (int ow = win_lo(zw, KW, SW, PW); ow <= w1; ++ow) {
                        const int div = include_pad ? KD * KH * KW
                            : real_count(od * SD - PD, KD, D) * real_count(oh * SH - PH, KH, H)
                              * real_count(ow * SW - PW, KW, W);
                        acc += g[(od * OH + oh) * OW + ow] / (real_t)div;
                    }
            gx[row * S + p] = acc;
        }
    }
}
""".replace("GEOMETRY", _GEOMETRY)

_CUDA_PRELUDE = """typedef {ctype} real_t;
__device__ __forceinline__ real_t neg_inf() {{ return (real_t)__longlong_as_double(0xfff0000000000000ULL); }}
"""

# Stand-ins that make the CUDA text valid C++ for one CPU thread (a 1x1 grid).
_CPU_PRELUDE = """#include <limits>
struct minicnn_dim3 {{ unsigned int x, y, z; }};
static const minicnn_dim3 threadIdx = {{0, 0, 0}}, blockIdx = {{0, 0, 0}};
static const minicnn_dim3 blockDim = {{1, 1, 1}}, gridDim = {{1, 1, 1}};
#define __global__
#define __device__
#define __forceinline__ inline
typedef {ctype} real_t;
static inline real_t neg_inf() {{ return -std::numeric_limits<real_t>::infinity(); }}
static inline void atomicAdd(real_t* target, real_t value) {{ *target += value; }}
"""

CTYPES = {"float32": "float", "float64": "double"}


def _ctype(dtype_name):
    try:
        return CTYPES[dtype_name]
    except KeyError:
        raise TypeError(f"GPU kernels support float32 and float64, got dtype {dtype_name}") from None


def cuda_source(dtype_name: str) -> str:
    """The kernels for ``real_t`` = the C type of ``dtype_name`` (``"float32"`` or ``"float64"``)."""
    return _CUDA_PRELUDE.format(ctype=_ctype(dtype_name)) + BODY


def cpu_source(dtype_name: str) -> str:
    """The same kernels as single-threaded C++ (for checking the index arithmetic on a CPU)."""
    return _CPU_PRELUDE.format(ctype=_ctype(dtype_name)) + BODY
