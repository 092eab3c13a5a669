# Attack: open file descriptors until the kernel refuses.
# Evidence: with --open-files 64 the payload gets EMFILE with at most 64 fds open
# ("EMFILE <count>"). Control (nofile 512): EMFILE only near 512, so the jail's limit is what
# stopped it.
import errno, os
fds = []
while True:
    try:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        print("EMFILE" if e.errno == errno.EMFILE else "ERROR", max(fds) + 1 if fds else 0, flush=True)
        break
