# Attack: allocate and touch argv[1] MiB of memory, 8 MiB at a time.
# Evidence: stockade reports status "memory_limit" under --memory 64M. Control (argv[1] = 200):
# the allocation succeeds ("ALLOCATED 200"), showing the payload really allocates.
import sys
mib = int(sys.argv[1])
chunks = []
for i in range(0, mib, 8):
    chunks.append(bytearray(b"\1" * (8 << 20)))
print("ALLOCATED", len(chunks) * 8, flush=True)
