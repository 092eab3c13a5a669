"""A first stockade run: ordinary Python, inside the jail."""
import json
import os
import platform
import socket

print("hello from", platform.python_implementation(), platform.python_version())
print("uid", os.getuid(), "pid", os.getpid(), "cwd", os.getcwd(), "host", socket.gethostname())
with open("notes.txt", "w") as f:
    json.dump({"squares": [i * i for i in range(5)]}, f)
print(open("notes.txt").read())
print("root holds:", sorted(os.listdir("/")))
