import time, numpy as np
import minicnn as mc
mc.set_num_threads(1)
from minicnn.kernels import numba_cpu as K
def t(fn, n=20):
    fn(); ts=[]
    for _ in range(n):
        a=time.thread_time(); fn(); ts.append(time.thread_time()-a)
    return round(1e3*np.median(ts),3)
rng=np.random.default_rng(0)
x=rng.standard_normal((8,32,1,64,64)).astype(np.float32); w=rng.standard_normal((64,32,1,5,5)).astype(np.float32)
xh=np.ascontiguousarray(x[:,:,:,::2,::2])  # 32x32 for a s1 comparison
col=np.empty((1,800,20*32),np.float32)
def im(xx, s, lo):
    for n0 in range(8):
        for r0 in range(0,32,20):
            nr=min(20,32-r0); c=col[:, :, :nr*32]
            K._im2col(xx,n0,1,r0,nr,1,5,5,(1,s,s),(1,1,1),(0,lo,lo),32,32,np.ascontiguousarray(c) if nr!=20 else col)
print("s2 im2col", t(lambda: im(x,2,2)), "s1 same size", t(lambda: im(xh,1,2)))
gy=rng.standard_normal((8,64,32,32)).astype(np.float32)
xs=x[:,:,0]; ws=w[:,:,0]
print("fwd", t(lambda: K._conv_forward(xs,ws,(2,2),((2,2),(2,2)),(1,1))))
print("dgrad", t(lambda: K._conv_backward_input(gy,ws,xs.shape,(2,2),((2,2),(2,2)),(1,1))))
print("wgrad", t(lambda: K._conv_backward_weight(gy,xs,ws.shape,(2,2),((2,2),(2,2)),(1,1))))
gcol=np.empty((1,800,20*32),np.float32); gx=np.zeros_like(x)
def c2i():
    for n0 in range(8):
        for r0 in range(0,32,20):
            nr=min(20,32-r0)
            K._col2im(gcol if nr==20 else gcol[:,:,:nr*32].copy(),n0,1,r0,nr,1,5,5,(1,2,2),(1,1,1),(0,2,2),32,32,gx)
print("col2im", t(c2i))
w2=ws.reshape(64,800); 
print("dgrad mm", t(lambda: [np.matmul(w2.T, gy[n].reshape(64,1024)) for n in range(8)]))
c1=np.empty((800,1024),np.float32)
print("wgrad mm", t(lambda: [gy[n].reshape(64,1024) @ c1.T for n in range(8)]))
