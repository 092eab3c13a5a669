# A module's bytecode cache planted in the scratch could carry code objects with any file name
# (a trusted one, e.g. "<frozen os>"), and trust is read from file names. The import system never
# reads bytecode from writable directories under the guard: it recompiles the source.
import importlib.util
import marshal
import os
import sys

os.makedirs("__pycache__", exist_ok=True)
with open("evil.py", "w") as f:
    f.write("SOURCE = 'the source ran'\n")
# Built without compile() under a trusted name (which the guard refuses): rewrite the file name
# of an ordinary code object's bytes instead.
code = compile("SOURCE = 'the planted bytecode ran'\n", "/tmp/evil.py", "exec")
data = marshal.dumps(code).replace(b"/tmp/evil.py", b"<frozen os>\x00")
st = os.stat("evil.py")
header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little") + int(st.st_mtime).to_bytes(4, "little") + (st.st_size).to_bytes(4, "little")
with open(importlib.util.cache_from_source("evil.py"), "wb") as f:
    f.write(header + data)
sys.path.insert(0, os.getcwd())


def load():
    import evil
    return evil.SOURCE


attempt("import_with_planted_pyc", load)
done()
