import time, numpy as np
from numba import njit, prange
import minicnn as mc
mc.set_num_threads(1)
from minicnn.kernels import numba_cpu as K
_FASTMATH = {"reassoc", "contract"}

@njit(parallel=True, cache=False, fastmath=_FASTMATH)
def flat_fwd_ranges(src, wt, b, offs, ranges, pitch, y):
    N, O, OD, OH, OW = y.shape
    Dp, Hp, Wp = pitch
    nr = ranges.shape[0]
    for task in prange(((O + 1) // 2) * nr):
        o0 = 2 * (task // nr)
        o1 = min(o0 + 1, O - 1)
        q0 = ranges[task % nr, 0]
        q1 = ranges[task % nr, 1]
        acc0 = np.full(q1 - q0, b[o0], dtype=y.dtype)
        acc1 = np.full(q1 - q0 if o1 != o0 else 0, b[o1], dtype=y.dtype)
        K._gather_taps(acc0, acc1, src, offs, q0, q1, wt[o0], wt[o1], o1 != o0)
        for r in range(q0 // Wp, (q1 + Wp - 1) // Wp):
            n = r // (Dp * Hp)
            z = (r // Hp) % Dp
            yy = r % Hp
            if z < OD and yy < OH:
                base = r * Wp - q0
                for q in range(OW):
                    y[n, o0, z, yy, q] = acc0[base + q]
                if o1 != o0:
                    for q in range(OW):
                        y[n, o1, z, yy, q] = acc1[base + q]

def ranges_for(n, pitch, out, chunk_rows):
    Dp, Hp, Wp = pitch
    r = []
    for i in range(n):
        for z in range(out[0]):
            base = (i * Dp + z) * Hp * Wp
            for y0 in range(0, out[1], chunk_rows):
                y1 = min(y0 + chunk_rows, out[1])
                r.append((base + y0 * Wp, base + (y1 - 1) * Wp + out[2]))
    return np.array(r, dtype=np.int64)

def t(fn, n=200):
    fn(); ts=[]
    for _ in range(n):
        a=time.thread_time(); fn(); ts.append(time.thread_time()-a)
    return round(1e3*np.median(ts),3)
rng=np.random.default_rng(0)
for xs, ws, p in [((4,1,14,14,14),(16,1,5,5,5),0), ((2,8,32,32,32),(16,8,3,3,3),1), ((8,3,32,32),(16,3,3,3),1)]:
    x=rng.standard_normal(xs).astype(np.float32); w=rng.standard_normal(ws).astype(np.float32); b=rng.standard_normal(ws[0]).astype(np.float32)
    d=len(xs)-2; one=(1,)*d; pad=((p,p),)*d
    _, st, dl, lo, hi, s5, k5, out = K._conv_args(xs, ws, one, pad, one)
    x5=K._to5d(x,d); w5=K._to5d(w,d); n,c=xs[:2]; o=ws[0]
    g=K._Flat(n, s5, k5, dl, lo, hi, out)
    xp=g.padded(x5, lo, hi)
    wt, offs = g.taps(w5.reshape(o,-1), np.arange(c, dtype=np.int64)*xp.shape[1], g.offs, 1, c*xp.shape[1])
    rg = ranges_for(n, g.pitch, out, max(g.chunk // g.pitch[2], 1))
    y1=np.empty((n,o)+out, np.float32); y2=np.empty_like(y1)
    K._flat_fwd(xp.reshape(-1), wt, b, offs, g.q_all, g.chunk, g.pitch, y1)
    flat_fwd_ranges(xp.reshape(-1), wt, b, offs, rg, g.pitch, y2)
    print(xs, np.abs(y1-y2).max(), "old", t(lambda: K._flat_fwd(xp.reshape(-1), wt, b, offs, g.q_all, g.chunk, g.pitch, y1)),
          "ranges", t(lambda: flat_fwd_ranges(xp.reshape(-1), wt, b, offs, rg, g.pitch, y2)), "pad", t(lambda: g.padded(x5, lo, hi)), len(rg))
