# Channel: the state of the random module's generator. The writer seeds it with the token; code
# that runs next in the same process draws numbers determined by it (reported raw; the test
# checks them against random.Random(token)).
# Control (same-process): writer and reader in one interpreter; the reader's draw is the
# token's.
import random
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a session's interpreter keeps its state by design
CONTROL = "same-process"


def TOKEN():
    return secrets.randbits(64)


def LEAKED(token, outcome):
    return outcome["reader"] == random.Random(token).getrandbits(64)


WRITER = r"""
import random
random.seed(TOKEN)
result = "seeded"
"""

READER = r"""
import random
result = random.getrandbits(64)
"""
