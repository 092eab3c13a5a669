# Attack: unbounded recursion with the recursion limit raised, to overflow the C stack.
# Evidence: the run ends promptly (RecursionError, MemoryError or a clean signal such as
# SIGSEGV), never a hang: the status is not "timeout". Control: same (no confinement involved;
# shown only to document the unconfined behaviour).
import sys
sys.setrecursionlimit(10**7)
def f(n):
    return f(n + 1) + 1
try:
    f(0)
except RecursionError:
    print("RECURSION_ERROR", flush=True)
