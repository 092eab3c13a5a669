# Attack: change a global kernel setting through /proc/sys (argv[1] = sysctl file,
# argv[2] = value to write).
# Evidence: the host value of the sysctl is unchanged. Control: the write succeeds (the control
# writes back the current value, so the host is not modified).
import sys
path, value = sys.argv[1], sys.argv[2]
try:
    with open(path, "w") as f:
        f.write(value + "\n")
    print("WROTE", path)
except OSError as e:
    print("DENIED", path, e.errno)
