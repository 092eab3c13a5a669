# Attack: fork and execve /bin/sh (and /bin/bash, /usr/bin/sh) directly, bypassing subprocess.
# argv[1] = token; a real shell prints "SHELL-<token>".
# Evidence: "SHELL-<token>" is absent. Control: present.
import os, sys
tok = sys.argv[1]
for sh in ("/bin/sh", "/bin/bash", "/usr/bin/sh"):
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(sh, [sh, "-c", f"printf '%s-%s\\n' SHELL {tok}"])
        except OSError as e:
            print("DENIED", sh, e.errno, flush=True)
        os._exit(127)
    _, st = os.waitpid(pid, 0)
    print("CHILD", sh, st, flush=True)
