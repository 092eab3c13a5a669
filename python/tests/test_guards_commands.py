"""stockade.guards commands: argv without a shell, option injection refused, environment from
an allow-list. Each attack is first shown working on the naive code (the control)."""
import os
import shutil
import subprocess
import sys

import pytest

from stockade.guards import Argv, CommandRefused, safe_env


def test_control_a_dash_value_is_an_option(tmp_path):
    (tmp_path / "in").write_text("b\na\n")
    user = f"--output={tmp_path / 'owned'}"  # sent where a file name was expected
    # The control: no shell, and still the "file name" makes sort write a file of its choosing.
    subprocess.run(["sort", user, str(tmp_path / "in")], check=True, capture_output=True)
    assert (tmp_path / "owned").read_text() == "a\nb\n"
    with pytest.raises(CommandRefused, match="option"):
        Argv("sort").add(user, str(tmp_path / "in"))
    with pytest.raises(CommandRefused, match="option"):
        Argv("sort").add("-R")


def test_dash_values_after_end_of_options_are_data(tmp_path):
    (tmp_path / "-R").write_text("payload\n")
    argv = Argv("cat").end_of_options().add("-R")
    assert argv.build()[1:] == ["--", "-R"]
    assert argv.run(cwd=tmp_path, capture_output=True, text=True).stdout == "payload\n"
    with pytest.raises(CommandRefused):
        argv.opt("-n")


def test_options_chosen_by_code():
    argv = Argv(sys.executable).opt("-c", "import sys; print(sys.argv[1:])").add("a b", "$(id)", "; rm -rf /")
    out = argv.run(capture_output=True, text=True)
    assert out.stdout.strip() == repr(["a b", "$(id)", "; rm -rf /"])
    assert Argv("/bin/echo").opt("--name", "-x", attached=True).build() == ["/bin/echo", "--name=-x"]
    for bad in ("name", "--", "-", "--a b", "-x;y", "--x=1"):
        with pytest.raises(CommandRefused):
            Argv("/bin/echo").opt(bad)


def test_values_checked():
    assert Argv("/bin/echo").add(3, b"bytes", os.path.join("a", "b")).build()[1:] == ["3", "bytes", "a/b"]
    for bad in ("a\x00b", -1, None, True, 1.5):
        with pytest.raises(CommandRefused):
            Argv("/bin/echo").add(bad)
    for prog in ("-rf", "", "no-such-program-stockade"):
        with pytest.raises(CommandRefused):
            Argv(prog)


def test_program_resolved_once(tmp_path, monkeypatch):
    assert Argv("sh").build()[0] in ("/usr/bin/sh", "/bin/sh")
    # a relative PATH entry would pick up a planted program from the current directory
    (tmp_path / "sh").write_text("#!/bin/sh\necho planted\n")
    (tmp_path / "sh").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", ".:/usr/bin:/bin")
    assert shutil.which("sh", path=".:/usr/bin") == "./sh"  # the control
    assert Argv("sh").build()[0] in ("/usr/bin/sh", "/bin/sh")
    with pytest.raises(CommandRefused, match="shell"):
        Argv("sh").run(shell=True)


def test_safe_env():
    src = {"PATH": "/x", "HOME": "/h", "LC_ALL": "C", "LD_PRELOAD": "/evil.so", "LD_LIBRARY_PATH": "/e",
           "BASH_ENV": "/e", "AWS_SECRET_ACCESS_KEY": "k", "PYTHONPATH": "/e", "APP_MODE": "1"}
    assert safe_env(source=src) == {"PATH": "/x", "HOME": "/h", "LC_ALL": "C"}
    # a pattern never admits a loader/interpreter hook; an exact name does
    assert safe_env(["*"], source=src) == {"PATH": "/x", "HOME": "/h", "LC_ALL": "C",
                                           "AWS_SECRET_ACCESS_KEY": "k", "APP_MODE": "1"}
    assert safe_env(["LD_LIBRARY_PATH"], source=src) == {"LD_LIBRARY_PATH": "/e", "PATH": "/usr/local/bin:/usr/bin:/bin"}
    assert safe_env([], source={}, extra={"N": 3})["N"] == "3"
    for bad in (["A=B"], [""]):
        with pytest.raises(CommandRefused):
            safe_env(bad, source=src)
    with pytest.raises(CommandRefused):
        safe_env([], extra={"X": "a\x00"})


def test_run_gets_the_safe_env(monkeypatch):
    monkeypatch.setenv("LD_PRELOAD", "/nonexistent-stockade.so")
    monkeypatch.setenv("SECRET_TOKEN", "s3cr3t")
    out = Argv(sys.executable).opt("-c", "import os; print(sorted(os.environ))").run(capture_output=True, text=True)
    names = eval(out.stdout)
    assert "LD_PRELOAD" not in names and "SECRET_TOKEN" not in names and "PATH" in names
