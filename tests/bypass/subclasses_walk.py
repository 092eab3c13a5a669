# Walk object.__subclasses__() to os._wrap_close, take os.system / os.fork from its
# __init__.__globals__ and call them; and find subprocess.Popen the same way (after an allowed
# module, asyncio, loaded subprocess). Expected: every call DENIED by guard.rules.process (the
# audit event is raised by the C function itself, however it was reached).

import json, sys

import asyncio  # noqa: F401 - loads subprocess on our behalf


def by_name(name):
    return next(c for c in object.__subclasses__() if c.__name__ == name)


attempt("wrap_close_system", lambda: by_name("_wrap_close").__init__.__globals__["system"]("x"))
attempt("wrap_close_fork", lambda: by_name("_wrap_close").__init__.__globals__["fork"]())
attempt("popen_via_subclasses", lambda: by_name("Popen")(["/bin/true"]))

done()
