# os.pidfd_open and signal.pidfd_send_signal raise no audit event of CPython's own; the guard
# wraps them when user code starts (in posix, os and _signal, which are imported at start-up;
# `signal` copies the wrapper from _signal when it is imported), so they are judged like
# os.kill (guard.rules.signal). The test's policy allows `import signal`.
import os
import _signal
import signal

attempt("pidfd_open_init", lambda: os.pidfd_open(1))
attempt("pidfd_open_self", lambda: os.pidfd_open(os.getpid()) >= 0 and "own pidfd (allowed)")
fd = os.pidfd_open(os.getpid())
attempt("pidfd_send_signal_self", lambda: signal.pidfd_send_signal(fd, 0) is None and "signal 0 to itself (allowed)")
attempt("signal_has_the_wrapper", lambda: signal.pidfd_send_signal is _signal.pidfd_send_signal
        and "judged by stockade's guard" in signal.pidfd_send_signal.__doc__ and "wrapped (allowed)")
done()
