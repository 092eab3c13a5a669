# threading, concurrent.futures with threads and processes, multiprocessing pool.
import concurrent.futures as cf, multiprocessing as mp, threading

def square(n):
    return n * n

lock, total = threading.Lock(), [0]
def add(n):
    with lock:
        total[0] += n
ts = [threading.Thread(target=add, args=(i,)) for i in range(20)]
for t in ts: t.start()
for t in ts: t.join()
print("threads", total[0])
with cf.ThreadPoolExecutor(4) as ex:
    print("thread pool", list(ex.map(square, range(8))))
with cf.ProcessPoolExecutor(2) as ex:
    print("process pool", list(ex.map(square, range(8))))
if __name__ == "__main__":
    with mp.get_context("fork").Pool(2) as pool:
        print("mp pool", pool.map(square, range(6)))
