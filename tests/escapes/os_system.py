# Attack: run a shell command with os.system (argv[1] = token). The shell prints
# "SHELL-<token>", a string that only exists if the shell really ran.
# Evidence: "SHELL-<token>" is absent from the output. Control: present.
import os, sys
tok = sys.argv[1]
rc = os.system(f"printf '%s-%s\\n' SHELL {tok}")
print("RC", rc)
