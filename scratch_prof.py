import time, numpy as np
import minicnn as mc
mc.set_num_threads(1)
from minicnn.kernels import numba_cpu as K
def t(fn, n=200):
    fn(); ts=[]
    for _ in range(n):
        a=time.thread_time(); fn(); ts.append(time.thread_time()-a)
    return 1e3*np.median(ts)
rng=np.random.default_rng(0)
# conv3d 4,1,14^3 -> 16 k5
x=rng.standard_normal((4,1,14,14,14)).astype(np.float32); w=rng.standard_normal((16,1,5,5,5)).astype(np.float32); b=np.zeros(16,np.float32)
pad=((0,0),)*3
print("conv3d total", t(lambda: K._conv_forward(x,w,(1,1,1),pad,(1,1,1),b)))
col=np.empty((4,125,1000),np.float32)
x5=x
print("im2col", t(lambda: K._im2col(x5,0,4,0,100,5,5,5,(1,1,1),(1,1,1),(0,0,0),10,10,col)))
w2=w.reshape(16,125); y=np.empty((4,16,1000),np.float32)
print("matmul", t(lambda: np.matmul(w2,col,out=y)))
print("matmul loop", t(lambda: [np.matmul(w2,col[i],out=y[i]) for i in range(4)]))
colT=np.ascontiguousarray(col.transpose(1,0,2)).reshape(125,4000); y2=np.empty((16,4000),np.float32)
print("matmul 1 big", t(lambda: np.matmul(w2,colT,out=y2)))
import torch; torch.set_num_threads(1)
xt=torch.tensor(x); wt=torch.tensor(w)
print("torch", t(lambda: torch.nn.functional.conv3d(xt,wt)))
