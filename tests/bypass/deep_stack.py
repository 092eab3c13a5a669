# The guard's frame walk used to stop after 64 frames and answer "trusted". A user function
# that recurses a few hundred times and then imports a denied module must still be judged
# as the user.
import sys
sys.setrecursionlimit(5000)


def deep(n):
    if n == 0:
        import ctypes  # noqa: F401
        return "imported ctypes"
    return deep(n - 1)


attempt("import_after_300_frames", lambda: deep(300))
done()
