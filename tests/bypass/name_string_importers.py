# Standard-library functions that import a module named by a string their caller hands them
# lent their trust to that import: pkgutil.resolve_name("ctypes") imported ctypes for user code
# under strict. A frame that imports a name it was handed lends no trust.
import pkgutil
import pydoc
import unittest
import logging.config

attempt("pkgutil_resolve_name", lambda: pkgutil.resolve_name("ctypes"))
attempt("pydoc_locate", lambda: pydoc.locate("ctypes"))
attempt("unittest_loader", lambda: unittest.TestLoader().loadTestsFromName("ctypes"))
attempt("logging_config", lambda: logging.config.dictConfig(
    {"version": 1, "handlers": {"h": {"()": "ctypes.CDLL", "name": None}}, "root": {"handlers": ["h"]}}))
# Control: a name the standard library itself writes is still imported for its caller.
attempt("stdlib_own_import", lambda: pkgutil.resolve_name("json:dumps")({"a": 1}) == '{"a": 1}' and 1 / 0)
done()
