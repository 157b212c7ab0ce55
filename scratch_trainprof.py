import cProfile, pstats, time, numpy as np
import minicnn as mc
mc.set_num_threads(1)
from minicnn.bench.cases import small_convnet_step
s = small_convnet_step()
for _ in range(5): s()
ts=[]
for _ in range(30):
    a=time.thread_time(); s(); ts.append(time.thread_time()-a)
print("step ms median", 1e3*np.median(ts), "min", 1e3*min(ts))
pr = cProfile.Profile(time.thread_time)
pr.enable()
for _ in range(20): s()
pr.disable()
st = pstats.Stats(pr); st.sort_stats("tottime").print_stats(30)
