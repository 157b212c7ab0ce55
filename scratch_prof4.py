import time, numpy as np
import minicnn as mc
mc.set_num_threads(1)
from minicnn.kernels import numba_cpu as K
def t(fn, n=20):
    fn(); ts=[]
    for _ in range(n):
        a=time.thread_time(); fn(); ts.append(time.thread_time()-a)
    return 1e3*np.median(ts)
rng=np.random.default_rng(0)
x=rng.standard_normal((8,32,1,64,64)).astype(np.float32); w=rng.standard_normal((64,32,1,5,5)).astype(np.float32)
print(K._plan(8, 32, 32, 800, 4, 1))
for nr in (32,16,8,4):
    col=np.empty((1,800,nr*32),np.float32); y=np.empty((8,64,1024),np.float32); w2=w.reshape(64,800)
    def im():
        for n0 in range(8):
            for r0 in range(0,32,nr):
                K._im2col(x,n0,1,r0,nr,1,5,5,(1,2,2),(1,1,1),(0,2,2),32,32,col)
    def mm():
        for n0 in range(8):
            for r0 in range(0,32,nr):
                np.matmul(w2,col[0],out=y[n0,:,r0*32:(r0+nr)*32])
    print(nr, col.nbytes, "im2col", t(im), "mm", t(mm))
import torch; torch.set_num_threads(1)
xt=torch.tensor(x[:,:,0]); wt=torch.tensor(w[:,:,0])
print("torch", t(lambda: torch.nn.functional.conv2d(xt,wt,stride=2,padding=2)))
