# Pickle payloads whose __reduce__ names os.system, posix.system, builtins.eval,
# builtins.exec, subprocess.Popen. Expected: DENIED by guard.rules.deserialize at
# pickle.find_class, before anything is called.

import json, sys

import os
import pickle


class R:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def payload(module, name, args):
    # Build the bytes by hand so the user side needs no access to the target.
    import pickle as p
    return (b"\x80\x04" + p.dumps(module)[2:-1] + p.dumps(name)[2:-1] + b"\x93" + p.dumps(args)[2:-1] + b"R.")


attempt("reduce_os_system", lambda: pickle.loads(pickle.dumps(R(os.system, ("x",)))))
attempt("reduce_builtins_eval", lambda: pickle.loads(pickle.dumps(R(eval, ("1+1",)))))
attempt("reduce_builtins_exec", lambda: pickle.loads(pickle.dumps(R(exec, ("y=1",)))))
attempt("posix_system", lambda: pickle.loads(payload("posix", "system", ("x",))))
attempt("subprocess_popen", lambda: pickle.loads(payload("subprocess", "Popen", (["/bin/true"],))))

done()
