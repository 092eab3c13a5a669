# Attack: burn CPU until argv[1] seconds of CPU time have been used.
# Evidence: with --cpu 1 and argv[1] = 1000, stockade reports "cpu_limit" (or "timeout") in
# a bounded time. Control (argv[1] = 0.3): the loop finishes ("SPUN").
import sys, time
limit = float(sys.argv[1])
x = 0
while time.process_time() < limit:
    x += 1
print("SPUN", flush=True)
