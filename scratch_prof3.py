import time, sys, numpy as np
import minicnn as mc
mc.set_num_threads(1)
from minicnn.kernels import numba_cpu as K
def t(fn, n=200):
    fn(); ts=[]
    for _ in range(n):
        a=time.thread_time(); fn(); ts.append(time.thread_time()-a)
    return 1e3*np.median(ts)
rng=np.random.default_rng(0)
cases = [((64,1,14),(16,1,5),0), ((8,3,32,32),(16,3,3,3),1), ((64,1,1000),(16,1,5),0)]
for xs, ws, p in cases:
    d=len(xs)-2
    x=rng.standard_normal(xs).astype(np.float32); w=rng.standard_normal(ws).astype(np.float32); b=rng.standard_normal(ws[0]).astype(np.float32)
    pad=((p,p),)*d; one=(1,)*d
    gy=rng.standard_normal(K._conv_forward(x,w,one,pad,one,b).shape).astype(np.float32)
    res=[]
    for mode in ("flat","gemm"):
        orig=K._method
        K._method=lambda *a, mode=mode: mode
        res.append((mode, round(t(lambda: K._conv_forward(x,w,one,pad,one,b)),3), round(t(lambda: K._conv_backward_input(gy,w,xs,one,pad,one)),3), round(t(lambda: K._conv_backward_weight(gy,x,ws,one,pad,one)),3)))
        K._method=orig
    print(xs, ws, orig(*([xs[0],xs[1],ws[0]]+list(K._conv_args(xs,ws,one,pad,one)[i] for i in (5,6,1,3,4,7)))), res)
