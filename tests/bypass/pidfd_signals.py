# os.pidfd_open and signal.pidfd_send_signal raise no audit event of CPython's own; the guard
# wraps them when user code starts, so they are judged like os.kill (guard.rules.signal).
import os
import signal

attempt("pidfd_open_init", lambda: os.pidfd_open(1))
attempt("pidfd_open_self", lambda: os.pidfd_open(os.getpid()) >= 0 and "own pidfd (allowed)")
fd = os.pidfd_open(os.getpid())
attempt("pidfd_send_signal_self", lambda: signal.pidfd_send_signal(fd, 0) is None and "signal 0 to itself (allowed)")
done()
