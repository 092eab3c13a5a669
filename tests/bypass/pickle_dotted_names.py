# Pickle protocol 4 resolves dotted names (STACK_GLOBAL "module", "a.b"), and the
# deserialize rule judges only the module part: an allowed module that imported a dangerous one
# hands it out, e.g. dataclasses has `import builtins`, logging has `import os`.
# Expected: DENIED by guard.rules.deserialize. Where it is not, what runs is still checked by
# the other rules (os.system by rules.process; eval of a string only recorded by rules.code).

import json, sys

import pickle


def payload(module, name, args):
    return (b"\x80\x04" + pickle.dumps(module)[2:-1] + pickle.dumps(name)[2:-1] + b"\x93"
            + pickle.dumps(args)[2:-1] + b"R.")


attempt("dataclasses_builtins_eval", lambda: pickle.loads(payload("dataclasses", "builtins.eval", ("6*7",))))
attempt("logging_os_system", lambda: pickle.loads(payload("logging", "os.system", ("x",))))

done()
