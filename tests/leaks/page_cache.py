# Channel: the page cache of the read-only files every run shares with the host (here a large
# file nothing else reads: libpython3.11.a of the interpreter's config directory). The writer
# drops chosen pages from the cache (posix_fadvise DONTNEED, allowed on a read-only descriptor)
# and reads back the pages of the token's set bits (three pages per bit, random access: no
# read-ahead); the reader times a one-byte read of each page (a cached page answers in a few
# microseconds, an uncached one needs the disk) and decodes the bits by majority.
# This channel is host-wide: not one worker's or one tenant's.
# Control (siblings): the reader decodes the token.
import os
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"
FILE = "/usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a"


def TOKEN():
    if not os.path.exists(FILE) or os.path.getsize(FILE) < 12 << 20:
        return None  # the test skips
    return secrets.randbits(32)


def LEAKED(token, outcome):
    value = outcome["reader"]
    if isinstance(value, dict):
        value = value.get("bits")
    return isinstance(value, int) and bin(value ^ token).count("1") <= 3


_PAGES = "[[256 + bit * 64 + copy * 20 for copy in range(3)] for bit in range(32)]"

WRITER = r"""
import os
f = os.open(%r, os.O_RDONLY)
os.posix_fadvise(f, 0, 0, os.POSIX_FADV_RANDOM)
pages = %s
for bit, copies in enumerate(pages):
    for page in copies:
        os.posix_fadvise(f, page * 4096, 4096, os.POSIX_FADV_DONTNEED)
for bit, copies in enumerate(pages):
    if TOKEN >> bit & 1:
        for page in copies:
            os.pread(f, 1, page * 4096)
result = "primed"
""" % (FILE, _PAGES)

READER = r"""
import os, time
f = os.open(%r, os.O_RDONLY)
os.posix_fadvise(f, 0, 0, os.POSIX_FADV_RANDOM)
pages = %s
# Calibrate on pages outside the token's: how long a cached and an evicted page take here. A
# fixed limit failed on a slow machine whose disk answered from the hypervisor's cache within it.
def timed(page):
    start = time.perf_counter()
    os.pread(f, 1, page * 4096)
    return time.perf_counter() - start
hot, cold = [], []
for page in (100, 110, 120):
    os.pread(f, 1, page * 4096)
    hot.append(timed(page))
for page in (130, 140, 150, 160, 170):
    os.posix_fadvise(f, page * 4096, 4096, os.POSIX_FADV_DONTNEED)
    cold.append(timed(page))
hot_s, cold_s = max(hot), sorted(cold)[len(cold) // 2]
limit = (hot_s * cold_s) ** 0.5 if cold_s > 2 * hot_s else 30e-6
bits, times = 0, []
for bit, copies in enumerate(pages):
    fast = 0
    for page in copies:
        start = time.perf_counter()
        os.pread(f, 1, page * 4096)
        elapsed = time.perf_counter() - start
        times.append(round(elapsed * 1e6))
        fast += elapsed < limit
    if fast >= 2:
        bits |= 1 << bit
result = {"bits": bits, "us": times, "limit_us": round(limit * 1e6, 1)}
""" % (FILE, _PAGES)
