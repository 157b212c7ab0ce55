import numpy as np, re
from minicnn.kernels import numba_cpu as K
sig = K._flat_fwd.signatures
x=np.zeros((2,1,1,1,100),np.float32)
asm = K._flat_fwd.inspect_asm(K._flat_fwd.signatures[0]) if K._flat_fwd.signatures else None
