"""A simulated async crawler: asyncio queues, semaphores, async generators and context managers."""

import asyncio
import logging
import random
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger(__name__)

PAGES = {
    "/": ["/about", "/blog", "/shop"],
    "/about": ["/", "/team"],
    "/blog": ["/blog/1", "/blog/2", "/"],
    "/blog/1": ["/blog"],
    "/blog/2": ["/blog", "/shop"],
    "/shop": ["/shop/cart", "/"],
    "/shop/cart": [],
    "/team": ["/about"],
}


class FetchError(Exception):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url


@dataclass
class Stats:
    fetched: int = 0
    failed: int = 0
    elapsed: float = 0.0
    seen: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        return f"fetched={self.fetched} failed={self.failed} in {self.elapsed:.2f}s"


class FakeSession:
    def __init__(self, failure_rate: float = 0.1) -> None:
        self.failure_rate = failure_rate
        self.open = False

    async def __aenter__(self) -> "FakeSession":
        self.open = True
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.open = False

    async def get(self, url: str) -> list[str]:
        await asyncio.sleep(random.uniform(0.001, 0.005))
        if random.random() < self.failure_rate:
            raise FetchError(url, "timeout")
        return PAGES.get(url, [])


@asynccontextmanager
async def timed(stats: Stats) -> AsyncIterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        stats.elapsed = time.perf_counter() - start


async def retrying(session: FakeSession, url: str, attempts: int = 3) -> list[str]:
    for attempt in range(1, attempts + 1):
        try:
            return await session.get(url)
        except FetchError as err:
            log.warning("attempt %d for %s failed: %s", attempt, url, err)
            await asyncio.sleep(0.001 * attempt)
    raise FetchError(url, f"gave up after {attempts} attempts")


async def crawl(start: str, workers: int = 4) -> Stats:
    stats = Stats()
    queue: asyncio.Queue[str] = asyncio.Queue()
    limit = asyncio.Semaphore(workers)
    await queue.put(start)
    stats.seen.add(start)

    async def worker(session: FakeSession) -> None:
        while True:
            url = await queue.get()
            try:
                async with limit:
                    links = await retrying(session, url)
                stats.fetched += 1
                for link in links:
                    if link not in stats.seen:
                        stats.seen.add(link)
                        await queue.put(link)
            except FetchError:
                stats.failed += 1
            finally:
                queue.task_done()

    async with FakeSession(failure_rate=0.05) as session, timed(stats):
        tasks = [asyncio.create_task(worker(session)) for _ in range(workers)]
        await queue.join()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return stats


async def ticker(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i * i


async def main() -> None:
    random.seed(7)
    stats = await crawl("/")
    log.info("done: %s", stats)
    squares = [value async for value in ticker(5)]
    print(sorted(stats.seen), squares)
    try:
        await asyncio.wait_for(asyncio.sleep(1), timeout=0.01)
    except asyncio.TimeoutError:
        print("timed out as expected")


if __name__ == "__main__":
    asyncio.run(main())
