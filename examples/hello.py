"""A first stockade run: ordinary Python, inside the jail."""
import json
import os
import platform


print("hello from", platform.python_implementation(), platform.python_version())
print("uid", os.getuid(), "pid", os.getpid(), "cwd", os.getcwd(), "host", os.uname().nodename)
with open("notes.txt", "w") as f:
    json.dump({"squares": [i * i for i in range(5)]}, f)
print(open("notes.txt").read())
print("scratch holds:", sorted(os.listdir(".")))
