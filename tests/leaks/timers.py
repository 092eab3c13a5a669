# Channel: timers of the process: alarm(2) and the interval timers (setitimer), whose remaining
# time and interval the next code in the same process can read. The writer arms an alarm of
# TOKEN seconds and an ITIMER_VIRTUAL with an interval of TOKEN microseconds (first expiry an
# hour of CPU away: neither fires). A pool run is a fresh fork, and fork clears timers.
# Control (same-process): writer and reader in one interpreter; the reader reads the token back.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a session's interpreter keeps its timers by design
CONTROL = "same-process"


def TOKEN():
    return 200_000 + secrets.randbelow(700_000)


def LEAKED(token, outcome):
    value = outcome["reader"]
    if not isinstance(value, dict):
        return False
    return 0 <= token - value["alarm"] <= 3 or value["virtual_interval_us"] == token


WRITER = r"""
import signal
signal.alarm(TOKEN)
signal.setitimer(signal.ITIMER_VIRTUAL, 3600, TOKEN / 1e6)
result = signal.getitimer(signal.ITIMER_VIRTUAL)
"""

READER = r"""
import signal
remaining = signal.alarm(0)
value, interval = signal.getitimer(signal.ITIMER_VIRTUAL)
signal.setitimer(signal.ITIMER_VIRTUAL, 0)
result = {
    "alarm": remaining,
    "virtual_interval_us": round(interval * 1e6),
    "real": signal.getitimer(signal.ITIMER_REAL),
    "prof": signal.getitimer(signal.ITIMER_PROF),
}
"""
