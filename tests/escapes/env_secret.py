# Attack: read the caller's environment (os.environ and /proc/self/environ); the test starts
# stockade with STOCKADE_TEST_SECRET=<token>.
# Evidence: the token must not appear. Control: started with the same variable, it does.
import os
print("ENV", dict(os.environ))
print("PROC", open("/proc/self/environ", "rb").read().decode(errors="replace"))
