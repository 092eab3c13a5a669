# Attack: start host tools through subprocess: /bin/sh, sh from PATH, /usr/bin/env and
# /bin/busybox (argv[1] = token, printed as "SHELL-<token>" only by a real shell).
# Evidence: "SHELL-<token>" is absent. Control: present.
import subprocess, sys
tok = sys.argv[1]
for cmd in (["/bin/sh", "-c", f"printf '%s-%s\\n' SHELL {tok}"],
            ["sh", "-c", f"printf '%s-%s\\n' SHELL {tok}"],
            ["/usr/bin/env", "sh", "-c", f"printf '%s-%s\\n' SHELL {tok}"],
            ["/bin/busybox", "sh", "-c", f"printf '%s-%s\\n' SHELL {tok}"]):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
        print("RAN", cmd[0], r.returncode, r.stdout)
    except OSError as e:
        print("DENIED", cmd[0], e.errno)
