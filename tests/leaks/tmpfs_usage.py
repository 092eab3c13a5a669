# Channel: the scratch filesystem's usage (statvfs), even when the reader cannot open what is
# using it: the writer leaves a file of TOKEN pages inside a directory it locks (mode 0), the
# reader only looks at the filesystem's used block count.
# Control (siblings): one tmpfs /tmp for both; the used blocks are TOKEN + a few.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"


def TOKEN():
    return 300 + secrets.randbelow(1500)


def LEAKED(token, outcome):
    value = outcome["reader"]
    return isinstance(value, int) and 0 <= value - token <= 64


WRITER = r"""
import os
os.makedirs("/tmp/hidden-usage", exist_ok=True)
with open("/tmp/hidden-usage/blob", "wb") as f:
    f.write(b"\1" * (4096 * TOKEN))
os.chmod("/tmp/hidden-usage", 0)
st = os.statvfs("/tmp")
result = (st.f_blocks - st.f_bfree) * st.f_frsize // 4096
"""

READER = r"""
import os
st = os.statvfs("/tmp")
result = (st.f_blocks - st.f_bfree) * st.f_frsize // 4096
"""
