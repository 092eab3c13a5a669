# ctypes reached through an allowed venv package: numpy imports ctypes itself, and
# numpy.ctypeslib hands the module out. Then ctypes.CDLL(None), reading raw memory with
# ctypes.string_at, and numpy.ctypeslib.load_library (numpy, trusted as a venv package, calls
# ctypes on our behalf). Expected: every use DENIED by guard.rules.ctypes; the module object
# itself is only a handle.

import json, sys

import numpy
import numpy.ctypeslib

ctypes = numpy.ctypeslib.ctypes
attempt("CDLL_None", lambda: ctypes.CDLL(None))
attempt("string_at", lambda: ctypes.string_at(id(0), 8))
attempt("c_char_from_address", lambda: ctypes.c_char.from_address(id(0)))
attempt("load_library_libc", lambda: numpy.ctypeslib.load_library("libc.so.6", "/lib/x86_64-linux-gnu").system)

done()
