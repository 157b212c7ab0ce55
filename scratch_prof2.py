import time, numpy as np
import minicnn as mc
mc.set_num_threads(1)
from minicnn.kernels import numba_cpu as K
def t(fn, n=300):
    fn(); ts=[]
    for _ in range(n):
        a=time.thread_time(); fn(); ts.append(time.thread_time()-a)
    return 1e3*np.median(ts)
rng=np.random.default_rng(0)
x=rng.standard_normal((4,1,14,14,14)).astype(np.float32); w=rng.standard_normal((16,1,5,5,5)).astype(np.float32)
w2=w.reshape(16,125); y=np.empty((4,16,1000),np.float32)
for nr in (100, 50, 20, 10, 5):
    col=np.empty((1,125,nr*10),np.float32)
    def run():
        for n0 in range(4):
            for r0 in range(0,100,nr):
                K._im2col(x,n0,1,r0,nr,5,5,5,(1,1,1),(1,1,1),(0,0,0),10,10,col)
                np.matmul(w2,col[0],out=y[n0,:,r0*10:(r0+nr)*10])
    def im():
        for n0 in range(4):
            for r0 in range(0,100,nr):
                K._im2col(x,n0,1,r0,nr,5,5,5,(1,1,1),(1,1,1),(0,0,0),10,10,col)
    print(nr, col.nbytes, "total", t(run), "im2col only", t(im))
