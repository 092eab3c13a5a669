# Channel: the random module's generator state is copied by fork. Without re-seeding, every
# run forked from one parent draws the same numbers, so a reader knows what the writer drew
# (a session id, a password made with random). The token is the writer's own first draw
# (TOKEN = "writer": the test takes it from the writer's result); the reader draws too.
# Python's own os.fork() re-seeds random in the child (an at-fork hook), but a native fork loop
# such as the zygote's does not run Python's at-fork hooks: the zygote re-seeds each run itself.
# Control (siblings, forked through libc's fork(2), as a native loop does): the plain parent
# imported random (seeded once) before forking; both children draw the same number.
POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"
TOKEN = "writer"
CONTROL_FORK = "libc"


def LEAKED(token, outcome):
    return outcome["reader"] == token


WRITER = r"""
import random
result = random.getrandbits(64)
"""

READER = r"""
import random
result = random.getrandbits(64)
"""
