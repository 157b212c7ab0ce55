import time, sys, numpy as np
import minicnn as mc
nt=int(sys.argv[1]); mc.set_num_threads(nt)
from minicnn.kernels import numba_cpu as K
clock = time.thread_time if nt == 1 else time.perf_counter
def t(fn, n=100):
    fn(); ts=[]
    for _ in range(n):
        a=clock(); fn(); ts.append(clock()-a)
    return round(1e3*np.median(ts),3)
rng=np.random.default_rng(0)
cases = [((32,3,32,32),(32,3,3,3),1), ((8,3,32,32),(16,3,3,3),1), ((4,1,14,14,14),(16,1,5,5,5),0), ((2,8,32,32,32),(16,8,3,3,3),1), ((64,1,1000),(16,1,5),0), ((64,1,14),(16,1,5),0)]
for xs, ws, p in cases:
    d=len(xs)-2
    x=rng.standard_normal(xs).astype(np.float32); w=rng.standard_normal(ws).astype(np.float32); b=np.zeros(ws[0],np.float32)
    pad=((p,p),)*d; one=(1,)*d
    gy=rng.standard_normal(K._conv_forward(x,w,one,pad,one,b).shape).astype(np.float32)
    res=[]
    for mode in ("flat","gemm"):
        orig=K._method
        K._method=lambda *a, mode=mode: mode
        res.append((mode, t(lambda: K._conv_forward(x,w,one,pad,one,b)), t(lambda: K._conv_backward_input(gy,w,xs,one,pad,one)), t(lambda: K._conv_backward_weight(gy,x,ws,one,pad,one))))
        K._method=orig
    print(xs, ws, res)
