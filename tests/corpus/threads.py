# threading and concurrent.futures with threads (process pools need os.fork, which the strict
# guard denies; see crates/stockade/tests/guard.rs).
import concurrent.futures as cf, queue, threading

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
q = queue.Queue()
producer = threading.Thread(target=lambda: [q.put(i) for i in range(5)] + [q.put(None)])
producer.start()
items = []
while (item := q.get()) is not None:
    items.append(item)
producer.join()
print("queue", items)
ev = threading.Event(); timer = threading.Timer(0.01, ev.set); timer.start(); print("event", ev.wait(2))
