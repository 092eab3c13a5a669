# Attack: write to /proc/sysrq-trigger ('h' only prints the SysRq help to the kernel log;
# a real attacker would use 'b' to reboot the host or 'c' to crash it).
# Evidence: the host kernel log gets no new "sysrq: HELP" line. Control: it does.
try:
    with open("/proc/sysrq-trigger", "w") as f:
        f.write("h")
    print("SYSRQ_WRITTEN")
except OSError as e:
    print("DENIED", e.errno)
