# asyncio: tasks, gather, queues, timeouts, and a unix-socket server talking to itself.
import asyncio, os

async def worker(name, q, out):
    while True:
        n = await q.get()
        await asyncio.sleep(0.001)
        out.append((name, n * n))
        q.task_done()

async def echo_server():
    path = os.path.abspath("echo.sock")
    async def handle(r, w):
        w.write((await r.readline()).upper()); await w.drain(); w.close()
    server = await asyncio.start_unix_server(handle, path)
    r, w = await asyncio.open_unix_connection(path)
    w.write(b"hello\n"); await w.drain()
    line = await r.readline()
    w.close(); server.close(); await server.wait_closed()
    return line

async def main():
    q, out = asyncio.Queue(), []
    tasks = [asyncio.create_task(worker(f"w{i}", q, out)) for i in range(3)]
    for n in range(10):
        q.put_nowait(n)
    await q.join()
    for t in tasks:
        t.cancel()
    print(sorted(v for _, v in out))
    try:
        await asyncio.wait_for(asyncio.sleep(5), timeout=0.01)
    except asyncio.TimeoutError:
        print("timed out as expected")
    print(await asyncio.gather(*(asyncio.sleep(0.001, result=i) for i in range(5))))
    print(await echo_server())

asyncio.run(main())
