"""Commands without a shell: an argv builder that keeps data from being read as options, and an
environment built from an allow-list.

A value that reaches ``subprocess`` as its own argv element cannot inject shell syntax, but it
can still be *an option* to the program: a file name ``--output=/etc/cron.d/x`` given to a tool
that parses options anywhere, or ``-oProxyCommand=...`` to ssh, git or rsync. :class:`Argv`
refuses a positional value that starts with ``-`` unless it comes after the ``--`` end of
options (:meth:`Argv.end_of_options`) or is spelled as an option by the code
(:meth:`Argv.opt`).
"""
from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

ArgValue = Union[str, bytes, int, "os.PathLike[str]"]

_FLAG = re.compile(r"-{1,2}[A-Za-z0-9][A-Za-z0-9_.-]*\Z")

# Variables that change what a program loads or runs, whatever the program. An allow-list
# pattern ("LD_*", "*") never lets these through; naming one exactly does.
DANGEROUS_ENV = (
    "LD_*", "DYLD_*", "BASH_ENV", "ENV", "BASH_FUNC_*", "SHELLOPTS", "BASHOPTS", "PS4", "IFS",
    "PYTHON*", "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH",
    "GIT_*", "SSH_ASKPASS", "GCONV_PATH", "LOCPATH", "MALLOC_*", "GLIBC_TUNABLES", "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS", "HOSTALIASES", "RES_OPTIONS", "TMPDIR", "PAGER", "EDITOR", "VISUAL", "LESSOPEN",
)


class CommandRefused(ValueError):
    """An argument or environment variable was refused; the message says which and why."""


def _text(value: ArgValue, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, bytes, int, os.PathLike)):
        raise CommandRefused(f"{what} must be str, bytes, int or a path, not {type(value).__name__}")
    s = str(value) if isinstance(value, int) else os.fspath(value)
    s = os.fsdecode(s) if isinstance(s, bytes) else s
    if "\x00" in s:
        raise CommandRefused(f"NUL byte in {what}")
    return s


class Argv:
    """An argv list for ``subprocess`` built piece by piece.

    ``program`` is resolved to an absolute path now (against the absolute directories of ``path``,
    default: the ``PATH`` of :func:`safe_env`'s result), so a later change of ``PATH`` or of the
    current directory cannot swap it::

        argv = Argv("git").opt("-C", repo).add("log").opt("--max-count", n).end_of_options().add(ref)
        subprocess.run(argv.build(), env=safe_env(), check=True)
    """

    def __init__(self, program: ArgValue, *, path: Optional[str] = None):
        prog = _text(program, "program")
        if not prog or prog.startswith("-"):
            raise CommandRefused(f"program {prog!r} would be read as an option")
        if "/" not in prog:
            # relative PATH entries ("", ".") would find the program in whatever the current
            # directory is: only absolute ones are searched
            search = path if path is not None else safe_env()["PATH"]
            search = os.pathsep.join(d for d in search.split(os.pathsep) if os.path.isabs(d))
            found = shutil.which(prog, path=search)
            if found is None:
                raise CommandRefused(f"program {prog!r} not found on PATH")
            prog = os.path.abspath(found)
        self._argv: List[str] = [prog]
        self._options_ended = False

    def add(self, *values: ArgValue) -> "Argv":
        """Positional values (data). One that starts with ``-`` is refused before
        :meth:`end_of_options`."""
        for v in values:
            s = _text(v, "argument")
            if s.startswith("-") and not self._options_ended:
                raise CommandRefused(f"argument {s!r} starts with '-' and would be read as an option "
                                     "(use end_of_options() before it, or opt() if it is one)")
            self._argv.append(s)
        return self

    def opt(self, flag: str, value: Optional[ArgValue] = None, *, attached: bool = False) -> "Argv":
        """An option the *code* chose: ``flag`` must look like one (``-x``, ``--name``), and its
        ``value``, if any, follows as the option's argument (``--name=value`` when
        ``attached``), where a leading ``-`` is data to the program."""
        if self._options_ended:
            raise CommandRefused(f"option {flag!r} after end_of_options()")
        if not isinstance(flag, str) or not _FLAG.match(flag):
            raise CommandRefused(f"{flag!r} is not an option name")
        if value is None:
            self._argv.append(flag)
        elif attached:
            self._argv.append(f"{flag}={_text(value, 'option value')}")
        else:
            self._argv += [flag, _text(value, "option value")]
        return self

    def end_of_options(self) -> "Argv":
        """Append ``--``: every later :meth:`add` is data even when it starts with ``-``. (Only
        for programs that honour ``--``, which nearly all getopt/argparse ones do.)"""
        if not self._options_ended:
            self._argv.append("--")
            self._options_ended = True
        return self

    def build(self) -> List[str]:
        return list(self._argv)

    def run(self, *, env: Optional[Mapping[str, str]] = None, **kw: Any) -> "subprocess.CompletedProcess[Any]":
        """``subprocess.run`` of this argv, never through a shell, with ``env`` (default
        :func:`safe_env`) and no inherited fds."""
        if kw.pop("shell", False):
            raise CommandRefused("shell=True defeats the argv builder")
        return subprocess.run(self.build(), shell=False, env=dict(env) if env is not None else safe_env(),
                              close_fds=True, **kw)

    def __repr__(self) -> str:
        return f"Argv({self._argv!r})"


def _check_env_name(name: str) -> None:
    if not isinstance(name, str) or not name or "=" in name or "\x00" in name:
        raise CommandRefused(f"invalid environment variable name {name!r}")


def safe_env(
    allow: Iterable[str] = ("PATH", "HOME", "LANG", "LC_*", "TZ"),
    *,
    extra: Optional[Mapping[str, ArgValue]] = None,
    source: Optional[Mapping[str, str]] = None,
    default_path: str = "/usr/local/bin:/usr/bin:/bin",
) -> Dict[str, str]:
    """An environment holding only the variables of ``source`` (default ``os.environ``) that
    ``allow`` names, plus ``extra``. ``allow`` holds names or shell-style patterns (``LC_*``); a
    pattern never admits a variable of :data:`DANGEROUS_ENV` (loader, interpreter and shell
    hooks such as ``LD_PRELOAD``, ``BASH_ENV``, ``PYTHONPATH``); naming one exactly does. ``PATH``
    is always set (``default_path`` if not passed through)."""
    src = os.environ if source is None else source
    exact, patterns = set(), []
    for a in allow:
        _check_env_name(a)
        if any(c in a for c in "*?["):
            patterns.append(a)
        else:
            exact.add(a)
    env: Dict[str, str] = {}
    for name, value in src.items():
        if name in exact or (
            any(fnmatch.fnmatchcase(name, p) for p in patterns)
            and not any(fnmatch.fnmatchcase(name, d) for d in DANGEROUS_ENV)
        ):
            env[name] = value
    for name, value in (extra or {}).items():
        _check_env_name(name)
        env[name] = _text(value, f"environment value {name}")
    env.setdefault("PATH", default_path)
    return env
