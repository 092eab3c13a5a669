# Hand-built code: types.CodeType(...), code.replace(co_code=...), reading a function's
# __code__, types.FunctionType from a code object, marshal.loads of a marshalled code object.
# Expected: DENIED by guard.rules.code-objects (code.__new__, marshal.loads, function.__new__)
# or guard.rules.introspection (__code__).

import json, sys

import marshal
import types

c = compile("x = 1", "<payload>", "exec")  # compile itself is allowed (rules.code = audit)


def code_type():
    return types.CodeType(c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount, c.co_nlocals,
                          c.co_stacksize, c.co_flags, c.co_code, c.co_consts, c.co_names, c.co_varnames,
                          c.co_filename, c.co_name, c.co_qualname, c.co_firstlineno, c.co_linetable,
                          c.co_exceptiontable)


def f():
    return 1


attempt("CodeType", code_type)
attempt("code_replace_co_code", lambda: c.replace(co_code=c.co_code))
attempt("function_dunder_code", lambda: f.__code__)
attempt("FunctionType_from_code", lambda: types.FunctionType(c, {}))
blob = marshal.dumps(c)
attempt("marshal_loads_code", lambda: marshal.loads(blob))

done()
