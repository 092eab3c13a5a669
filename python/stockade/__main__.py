"""The ``stockade`` command, and the launcher process behind :func:`stockade.run`.

The jail is entered by this process with ``clone``; it must be a fresh, single-threaded
process, never the caller's own interpreter.
"""
import os
import sys

from . import _stockade


def main() -> None:
    """Run the stockade command line with ``sys.argv`` and exit with its code."""
    # The guard the jail loads into the sandboxed interpreter is this same shared object.
    os.environ.setdefault("STOCKADE_GUARD_LIB", _stockade.__file__)
    sys.stdout.flush()
    code = _stockade.cli_main(["stockade", *sys.argv[1:]])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
