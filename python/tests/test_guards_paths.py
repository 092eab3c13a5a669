"""stockade.guards paths: traversal and symlink races against safe_open, each attack first shown
to work against the naive code it replaces (the control), then refused by safe_open, in the
kernel (openat2) and in the fallback walk. Everything happens in a temporary directory."""
import errno
import os
import stat
import threading
import time

import pytest

from stockade.guards import PathRefused, safe_join, safe_open
from stockade.guards import paths

SECRET = "SECRET outside the base\n"


@pytest.fixture(params=["kernel", "walk"])
def resolver(request, monkeypatch):
    if request.param == "kernel":
        if paths._kernel_open_beneath is None:
            pytest.fail("the extension has no open_beneath")
        monkeypatch.setattr(paths, "_kernel_missing", False)
    else:
        monkeypatch.setattr(paths, "_kernel_open_beneath", None)
    return request.param


@pytest.fixture
def tree(tmp_path):
    """tmp/base (the base), tmp/outside/secret (what an attacker wants)."""
    base = tmp_path / "base"
    (base / "sub").mkdir(parents=True)
    (base / "sub" / "f").write_text("inside\n")
    (base / "top").write_text("top\n")
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret").write_text(SECRET)
    (base / "esc").symlink_to(out / "secret")                 # absolute link out
    (base / "rel_esc").symlink_to("../outside/secret")        # relative link out
    (base / "dir_esc").symlink_to("../outside")               # a directory link out
    (base / "in").symlink_to("sub/f")                         # a link that stays inside
    (base / "sub" / "up").symlink_to("../top")                # '..' inside a link, still inside
    (base / "loop").symlink_to("loop")
    os.mkfifo(base / "fifo")
    return base, out


ATTACKS = ["../outside/secret", "sub/../../outside/secret", "esc", "rel_esc", "dir_esc/secret"]


def naive_read(base, user_path):
    with open(os.path.join(base, user_path)) as f:
        return f.read()


@pytest.mark.parametrize("attack", ATTACKS)
def test_naive_join_escapes_and_safe_open_refuses(tree, resolver, attack):
    base, out = tree
    assert naive_read(base, attack) == SECRET  # the control: the attack works on naive code
    with pytest.raises(PathRefused) as e:
        safe_open(base, attack)
    assert e.value.errno == errno.EXDEV
    assert str(out) not in str(e.value)  # the refusal does not reveal where the link led


def test_absolute_path_escapes_naive_join(tree, resolver):
    base, out = tree
    assert naive_read(base, str(out / "secret")) == SECRET  # os.path.join drops the base
    with pytest.raises(PathRefused, match="absolute"):
        safe_open(base, str(out / "secret"))


@pytest.mark.parametrize("bad", ["sub/f\x00.txt", "", b"sub/\x00f"])
def test_nul_and_empty_refused(tree, resolver, bad):
    with pytest.raises(PathRefused):
        safe_open(tree[0], bad)


def test_links_inside_the_base_are_followed(tree, resolver):
    base, _ = tree
    assert safe_open(base, "in").read() == "inside\n"
    assert safe_open(base, "sub/up").read() == "top\n"
    assert safe_open(base, b"sub/f").read() == "inside\n"
    assert safe_open(os.fspath(base).encode(), "./sub//f").read() == "inside\n"


def test_symlink_loop_refused(tree, resolver):
    with pytest.raises(PathRefused) as e:
        safe_open(tree[0], "loop")
    assert e.value.errno == errno.ELOOP


def test_fifo_refused_without_blocking(tree, resolver):
    base, _ = tree
    done = []

    def attempt():
        try:
            safe_open(base, "fifo")
        except PathRefused as e:
            done.append(e.reason)

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(5)
    assert done and "FIFO" in done[0]  # a naive open() of it would block until a writer came


def test_device_refused(tree, resolver):
    base, _ = tree
    try:
        os.mknod(base / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod not permitted here (not root, or in a user namespace)")
    with pytest.raises(PathRefused, match="character device"):
        safe_open(base, "null")


def test_directory_refused(tree, resolver):
    with pytest.raises(PathRefused, match="directory"):
        safe_open(tree[0], "sub")


def test_magic_links_refused(resolver):
    # /proc/self/root is a magic link to "/": a naive open goes straight through it.
    assert naive_read("/proc/self", "root/proc/self/status").startswith("Name:")
    with pytest.raises(PathRefused):
        safe_open("/proc/self", "root/proc/self/status")
    r, w = os.pipe()
    try:
        with pytest.raises(PathRefused):
            safe_open("/proc/self", f"fd/{w}", "w")
    finally:
        os.close(r)
        os.close(w)


def test_write_modes(tree, resolver):
    base, out = tree
    with safe_open(base, "sub/new", "w") as f:
        f.write("one\n")
    with safe_open(base, "sub/new", "a") as f:
        f.write("two\n")
    assert (base / "sub" / "new").read_text() == "one\ntwo\n"
    with pytest.raises(FileExistsError):
        safe_open(base, "sub/new", "x")
    with safe_open(base, "sub/new", "r+b") as f:
        f.write(b"ONE")
    assert (base / "sub" / "new").read_text() == "ONE\ntwo\n"
    with pytest.raises(FileNotFoundError):
        safe_open(base, "sub/missing")
    with pytest.raises(ValueError):
        safe_open(base, "sub/new", "rw")


def test_create_through_a_dangling_link_out_is_refused(tree, resolver):
    base, out = tree
    (base / "plant").symlink_to(out / "planted")
    with open(os.path.join(base, "plant"), "w") as f:  # the control: creates outside the base
        f.write("x")
    assert (out / "planted").exists()
    os.unlink(out / "planted")
    with pytest.raises(PathRefused):
        safe_open(base, "plant", "w")
    assert not (out / "planted").exists()
    (base / "plant_in").symlink_to("sub/missing")  # dangling, but inside: refused all the same
    with pytest.raises(PathRefused, match="does not exist"):
        safe_open(base, "plant_in", "a")


def test_base_as_fd(tree, resolver):
    base, _ = tree
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert safe_open(fd, "sub/f").read() == "inside\n"
        with pytest.raises(PathRefused):
            safe_open(fd, "esc")
        os.fstat(fd)  # still the caller's, still open
    finally:
        os.close(fd)


class Swapper:
    """A thread that flips base/d between a link inside the base and a link out of it, as fast
    as it can (rename over the link is atomic, so d always exists)."""

    def __init__(self, base, inside, outside):
        self.base, self.targets, self.stop = base, [inside, outside], threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        tmp = os.path.join(self.base, ".d.tmp")
        while not self.stop.is_set():
            os.symlink(self.targets[i % 2], tmp)
            os.rename(tmp, os.path.join(self.base, "d"))
            i += 1

    def __enter__(self):
        os.symlink(self.targets[0], os.path.join(self.base, "d"))
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join()


def checked_then_opened(base, user_path):
    """The usual hand-written guard: resolve, check, then open the *name* again."""
    real = os.path.realpath(os.path.join(base, user_path))
    if not real.startswith(os.path.realpath(base) + os.sep):
        raise PermissionError("outside")
    with open(os.path.join(base, user_path)) as f:
        return f.read()


def race(reader, base, seconds=3.0):
    seen = {"inside": 0, "secret": 0, "refused": 0}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            text = reader(base, "d/f")
        except (PermissionError, FileNotFoundError, NotADirectoryError):
            seen["refused"] += 1
            continue
        seen["secret" if text == SECRET else "inside"] += 1
        if reader is checked_then_opened and seen["secret"]:
            break
    return seen


def test_symlink_race(tree, resolver):
    base, out = tree
    (out / "f").write_text(SECRET)
    with Swapper(str(base), "sub", str(out)):
        control = race(checked_then_opened, str(base))
        guarded = race(lambda b, p: safe_open(b, p).read(), str(base))
    # The control: check-then-open reads the secret once the swap lands between its two steps.
    assert control["secret"] > 0, control
    # safe_open under the same swapping: only the inside file, or a refusal.
    assert guarded["secret"] == 0, guarded
    assert guarded["inside"] > 0 and guarded["refused"] > 0, guarded
    print(resolver, "control", control, "guarded", guarded)


def test_safe_join(tree):
    base, out = tree
    assert safe_join(base, "sub", "f") == os.path.join(base, "sub", "f")
    assert safe_join(base, "in") == os.path.join(base, "in")
    for bad in (["..", "x"], ["sub", "../../outside"], [str(out)], ["esc"], ["dir_esc", "secret"], ["a\x00"]):
        with pytest.raises(PathRefused):
            safe_join(base, *bad)
    assert os.path.join(base, str(out)) == str(out)  # the control: join drops the base


def test_the_kernel_path_is_used_here(tree):
    # This host (Linux >= 5.6) has openat2: the guard must not silently run the walk.
    safe_open(tree[0], "top").close()
    assert paths.uses_kernel()


def test_enosys_falls_back_to_the_walk(tree, monkeypatch):
    base, _ = tree

    def no_openat2(*a):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(paths, "_kernel_open_beneath", no_openat2)
    monkeypatch.setattr(paths, "_kernel_missing", False)
    assert safe_open(base, "in").read() == "inside\n"
    assert not paths.uses_kernel()
    with pytest.raises(PathRefused):
        safe_open(base, "rel_esc")
