# Attack: upgrade a read-only or pipe fd to a writable host file by re-opening it through
# /proc/<pid>/fd/N (the test opens its host secret file READ-ONLY on fds 5..9 of stockade;
# reopening via /proc would give write access). argv[1] = marker to write.
# Evidence: the host secret file does not contain the marker. Control: it does.
import os, sys
marker = sys.argv[1]
for pid in ("self", "1"):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError as e:
        print("DENIED", pid, e.errno)
        continue
    for fd in fds:
        if pid == "self" and fd in ("0", "1", "2"):
            continue
        p = f"/proc/{pid}/fd/{fd}"
        try:
            fdw = os.open(p, os.O_WRONLY | os.O_APPEND)
            os.write(fdw, (marker + "\n").encode())
            os.close(fdw)
            print("WROTE", p)
        except OSError as e:
            print("DENIED", p, e.errno)
