# Attack: never finish without using CPU (argv[1] = seconds to sleep).
# Evidence: with --timeout 1 and argv[1] = 3600, status "timeout" and wall time close to 1 s.
# Control (argv[1] = 0.1): the sleep completes ("SLEPT").
import sys, time
time.sleep(float(sys.argv[1]))
print("SLEPT", flush=True)
