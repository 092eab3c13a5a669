"""Paths that stay beneath a base directory: ``safe_join`` and ``safe_open``.

``safe_open`` resolves the path *in the kernel* on Linux: ``openat2(2)`` with
``RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`` (``stockade._stockade.open_beneath``, the syscall in
``crates/stockade-sys``). The check and the open are one syscall, so a symlink swapped in by
another process between a check and an open cannot redirect it: there is no "between".

Where ``openat2`` is missing (``ENOSYS``: Linux before 5.6, or a container seccomp profile that
hides it) the same rules are applied by a walk in user space: one component at a time with
``O_NOFOLLOW``, each directory held as an fd (never re-resolved by name), ``..`` popping our own
stack of fds instead of following the file system's, and symlinks read with ``readlinkat`` and
expanded by us (an absolute target, or one climbing above the base, is refused). What the walk
cannot do, and the kernel can: notice that a directory it already holds was *renamed out of the
base* by someone with write access to the base while the walk is under way. The rest of the
path is then resolved inside the moved directory, wherever it now is. Only a writer inside the
base can do that, and only while the walk runs; the kernel path has no such window (``openat2``
refuses with ``EAGAIN`` when a rename races a ``..`` and the wrapper retries).
"""
from __future__ import annotations

import errno
import os
import stat
from collections import deque
from typing import IO, Any, List, Optional, Union

try:
    from .._stockade import open_beneath as _kernel_open_beneath
except ImportError:  # a build without the extension (or another OS): the walk only
    _kernel_open_beneath = None

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

# Flags of the directory handles: no read permission needed where O_PATH exists.
_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
# The probe: a handle that does no I/O (O_PATH), or where there is none one that cannot block.
_PROBE = os.O_PATH if hasattr(os, "O_PATH") else os.O_RDONLY | _O_NONBLOCK | _O_NOCTTY
# The kernel's own limit on symlinks followed in one lookup (MAXSYMLINKS).
_MAX_LINKS = 40


class PathRefused(PermissionError):
    """A path was refused because it would leave its base directory, or names something other
    than a regular file. An ``OSError`` (errno ``EXDEV`` for escapes, ``EPERM`` otherwise), so
    code that handles a failed ``open`` handles this too. ``reason`` says which rule refused it;
    the message never echoes the resolved target of a symlink."""

    def __init__(self, reason: str, path: Any = None, code: int = errno.EPERM):
        super().__init__(code, reason, path)
        self.reason = reason


def _text(p: PathLike) -> str:
    p = os.fspath(p)
    return os.fsdecode(p) if isinstance(p, bytes) else p


def check_relative(path: PathLike) -> str:
    """The checks every part of a user-supplied path gets, before any file system access: no NUL
    byte, not empty, not absolute, no ``..`` component. Returns it as ``str``."""
    s = _text(path)
    if "\x00" in s:
        raise PathRefused("NUL byte in path", s)
    if not s:
        raise PathRefused("empty path", s)
    if s.startswith("/"):
        raise PathRefused("absolute path", s, errno.EXDEV)
    if ".." in s.split("/"):
        raise PathRefused("'..' in path", s, errno.EXDEV)
    return s


def safe_join(base: PathLike, *parts: PathLike) -> str:
    """``base`` joined with ``parts``, each checked by :func:`check_relative`, and the result
    checked (with ``realpath``, at this moment) to resolve beneath ``realpath(base)``.

    The symlink check is only as good as the moment it ran: someone who can write inside
    ``base`` can swap a link afterwards. To *open* a user-supplied path use :func:`safe_open`,
    which has no such window.
    """
    b = _text(base)
    rel = [check_relative(p) for p in parts]
    joined = os.path.join(b, *rel) if rel else b
    root = os.path.realpath(b)
    real = os.path.realpath(joined)
    if real != root and not real.startswith(root.rstrip("/") + "/"):
        raise PathRefused("resolves outside the base directory", joined, errno.EXDEV)
    return os.path.normpath(joined)


def _mode_flags(mode: str) -> int:
    kinds = sum(c in mode for c in "rwax")
    if kinds != 1 or len(set(mode)) != len(mode) or set(mode) - set("rwaxbt+") or ("b" in mode and "t" in mode):
        raise ValueError(f"invalid mode: {mode!r}")
    plus = "+" in mode
    if "r" in mode:
        return os.O_RDWR if plus else os.O_RDONLY
    flags = (os.O_RDWR if plus else os.O_WRONLY) | os.O_CREAT
    if "w" in mode:
        return flags | os.O_TRUNC
    if "a" in mode:
        return flags | os.O_APPEND
    return flags | os.O_EXCL


def _refused_from(e: OSError, path: str) -> OSError:
    # EXDEV: RESOLVE_BENEATH saw the path (or a symlink in it) leave the base.
    # ELOOP: a magic link, or a symlink loop; neither is a file beneath the base.
    if e.errno == errno.EXDEV:
        return PathRefused("escapes the base directory", path, errno.EXDEV)
    if e.errno == errno.ELOOP:
        return PathRefused("symlink loop or magic link", path, errno.ELOOP)
    return e


def _walk_open(root: int, path: str, flags: int, mode: int) -> int:
    """The fallback: ``openat2(RESOLVE_BENEATH)``'s rules applied one component at a time (see
    the module's docstring for the race it leaves)."""
    parts = deque(p for p in path.split("/") if p not in ("", "."))
    stack: List[int] = []  # the directories we opened; `root` is the caller's
    links = 0
    try:
        while parts:
            name = parts.popleft()
            cur = stack[-1] if stack else root
            if name == "..":
                if not stack:
                    raise PathRefused("escapes the base directory", path, errno.EXDEV)
                os.close(stack.pop())
                continue
            last = not parts
            want = (flags | _O_NOFOLLOW | _O_CLOEXEC) if last else (_O_PATH | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
            fd = -1
            try:
                fd = os.open(name, want, mode, dir_fd=cur)
                # O_PATH|O_NOFOLLOW opens a symlink itself instead of failing: look.
                is_link = bool(want & _O_PATH) and stat.S_ISLNK(os.fstat(fd).st_mode)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise
                try:
                    is_link = stat.S_ISLNK(os.stat(name, dir_fd=cur, follow_symlinks=False).st_mode)
                except OSError:
                    is_link = False
                if not is_link:
                    raise
            if not is_link:
                if last:
                    return fd
                stack.append(fd)
                continue
            if fd >= 0:
                os.close(fd)
            links += 1
            if links > _MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            # Whatever the link says *now* is checked like any other path: a link swapped
            # after the failed open above is simply the one we follow.
            target = os.readlink(name, dir_fd=cur)
            if "\x00" in target or target.startswith("/"):
                raise PathRefused("escapes the base directory", path, errno.EXDEV)
            parts.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
        # Only reached for a path that ends in the base itself (e.g. "a/..").
        return os.open(".", flags | _O_CLOEXEC, mode, dir_fd=stack[-1] if stack else root)
    finally:
        for d in stack:
            os.close(d)


_kernel_missing = False


def _open_beneath(root: int, path: str, flags: int, mode: int) -> int:
    global _kernel_missing
    if _kernel_open_beneath is not None and not _kernel_missing:
        try:
            return _kernel_open_beneath(root, path, flags, mode)
        except OSError as e:
            if e.errno != errno.ENOSYS:
                raise _refused_from(e, path) from None
            _kernel_missing = True
    try:
        return _walk_open(root, path, flags, mode)
    except OSError as e:
        raise _refused_from(e, path) from None


def uses_kernel() -> bool:
    """Whether :func:`safe_open` resolves in the kernel (``openat2``) in this process; false
    before the first call has found out, and where the walk is the only way."""
    return _kernel_open_beneath is not None and not _kernel_missing


def _kind(st_mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(st_mode):
            return name
    return "not a regular file"


def open_fd(base: Union[PathLike, int], path: PathLike, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """The fd behind :func:`safe_open`: ``path`` opened beneath ``base`` (a path, or an open
    directory fd that stays the caller's) with ``os.open``-style ``flags``. Only regular files are
    opened; a FIFO or device is refused *without* being opened for I/O (opening one can block,
    or act, as a tape rewinding does)."""
    rel = check_relative(path)
    own_root = not isinstance(base, int)
    root = os.open(_text(base), _O_PATH | _O_DIRECTORY | _O_CLOEXEC) if own_root else base
    try:
        creating = flags & os.O_CREAT
        exists_but_missing = False
        for _ in range(8):
            # 1. A handle that does no I/O, to see what the name is.
            try:
                probe = _open_beneath(root, rel, _PROBE, 0)
            except FileNotFoundError:
                if not creating:
                    raise
                if exists_but_missing:
                    # O_EXCL saw a name, following it finds nothing: a dangling symlink
                    raise PathRefused("a symlink to a file that does not exist (not created through it)", rel) from None
                # 2a. Nothing there: create it. O_EXCL makes it a new regular file of ours, never
                # an existing one or the target of a symlink planted meanwhile.
                try:
                    return _open_beneath(root, rel, (flags | os.O_EXCL) & ~os.O_TRUNC, mode)
                except FileExistsError:
                    if flags & os.O_EXCL:
                        raise
                    exists_but_missing = True
                    continue  # it appeared meanwhile, or is a dangling link: look again
            try:
                seen = os.fstat(probe)
            finally:
                os.close(probe)
            if not stat.S_ISREG(seen.st_mode):
                raise PathRefused(f"{_kind(seen.st_mode)}, not a regular file", rel)
            if flags & os.O_EXCL:
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), rel)
            # 2b. Open it for I/O. O_NONBLOCK so that a FIFO swapped in since the probe cannot
            # block us; the inode must be the one we looked at, else look again.
            fd = _open_beneath(root, rel, (flags & ~os.O_CREAT) | _O_NONBLOCK | _O_NOCTTY, mode)
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == (seen.st_dev, seen.st_ino) and stat.S_ISREG(st.st_mode):
                if not flags & _O_NONBLOCK:
                    os.set_blocking(fd, True)
                return fd
            os.close(fd)
        raise PathRefused("the file kept changing while it was opened", rel)
    finally:
        if own_root:
            os.close(root)


def safe_open(
    base: Union[PathLike, int],
    path: PathLike,
    mode: str = "r",
    buffering: int = -1,
    encoding: Optional[str] = None,
    errors: Optional[str] = None,
    newline: Optional[str] = None,
) -> IO[Any]:
    """``open(path, mode, ...)`` for a ``path`` that must stay beneath ``base``.

    Refused (:class:`PathRefused`) before any I/O: NUL bytes, empty and absolute paths, ``..``
    components. Refused by the resolution itself: symlinks (anywhere on the way, including ones
    planted concurrently) whose target leaves ``base``, ``/proc``-style magic links, and
    anything that is not a regular file (directories, FIFOs, devices, sockets). Symlinks that
    stay inside ``base`` are followed. Modes are ``open``'s (``r w a x``, ``+``, ``b``/``t``);
    a file created here gets ``0o666 & ~umask``.
    """
    fd = open_fd(base, path, _mode_flags(mode))
    try:
        return os.fdopen(fd, mode, buffering, encoding, errors, newline)
    except BaseException:
        os.close(fd)
        raise
