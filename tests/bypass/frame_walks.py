# Frame walks to reach frames (and through them globals of other code): sys._getframe,
# generator gi_frame, coroutine cr_frame, async generator ag_frame, traceback tb_frame and
# tb_next (tb_next itself is only another traceback; its tb_frame is what matters).
# Expected: every frame access DENIED by guard.rules.introspection.

import json, sys

import sys


def gen():
    yield 1


async def coro():
    pass


async def agen():
    yield 1


def tb():
    try:
        1 / 0
    except ZeroDivisionError as e:
        return e.__traceback__


attempt("sys_getframe", lambda: sys._getframe(0).f_back)
attempt("gi_frame", lambda: gen().gi_frame)
c = coro()
attempt("cr_frame", lambda: c.cr_frame)
c.close()
attempt("ag_frame", lambda: agen().ag_frame)
attempt("tb_frame", lambda: tb().tb_frame)
attempt("tb_next_tb_frame", lambda: (tb().tb_next or tb()).tb_frame)

done()
