# Attack: start threads until thread creation fails (not caught, as in a real bomb) or argv[1]
# threads exist.
# Evidence: stockade reports status "pids_limit". Control (bounded to 40): all threads start
# ("STARTED 40").
import sys, threading
limit = int(sys.argv[1])
stop = threading.Event()
try:
    for n in range(limit):
        threading.Thread(target=stop.wait, daemon=True).start()
    print("STARTED", limit, flush=True)
finally:
    stop.set()
