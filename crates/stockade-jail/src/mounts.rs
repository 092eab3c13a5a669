//! The jail's filesystem: a fresh tmpfs root holding only read-only binds of what the
//! interpreter needs, a size-limited scratch, a private /proc and a minimal /dev.
//!
//! Every bind source is opened first (`openat2` with `RESOLVE_NO_SYMLINKS`, while the child
//! still has the supervisor's host credentials, so e.g. a root-only `/root/.pyenv` is
//! reachable). The child then switches to the jail uid, whose files it can own, mounts a tmpfs
//! over the host's /tmp in its private mount namespace, assembles the root there by binding
//! `/proc/self/fd/N`, and finally `pivot_root(".", ".")` plus a lazy unmount of the stacked old
//! root leaves nothing of the host attached.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};

use crate::interpreter::RootEntry;
use crate::plan::{RootPlan, DEVICES, JAIL_GID, JAIL_UID, SANDBOX_DIR, SCRATCH_DIR};

/// Where the new root is assembled: the host's /tmp, covered by a tmpfs in our private mount
/// namespace (the host's /tmp is untouched, and every source is already open).
const NEW: &str = "/tmp";

fn io_err(e: nix::Error) -> io::Error {
    io::Error::from(e)
}

fn ctx(what: String) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn jail(path: &Path) -> PathBuf {
    Path::new(NEW).join(path.strip_prefix("/").unwrap_or(path))
}

/// The directories of the new root known to exist, so that each is made once: the root has
/// ~60 entries under a few shared parents, and `create_dir_all` for each cost ~600 system
/// calls (a `mkdir` answered EEXIST and a `stat` per ancestor, per entry).
struct Dirs {
    known: std::collections::HashSet<PathBuf>,
}

impl Dirs {
    fn new() -> Dirs {
        Dirs {
            known: std::iter::once(PathBuf::from(NEW)).collect(),
        }
    }

    /// Make `dir` and its missing ancestors.
    fn make(&mut self, dir: &Path) -> io::Result<()> {
        if self.known.contains(dir) {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.make(parent)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(ctx(format!("mkdir {}", dir.display()))(e)),
        }
        self.known.insert(dir.to_path_buf());
        Ok(())
    }

    /// A directory was bound at `dir`: what was known beneath it is hidden now.
    fn covered(&mut self, dir: &Path) {
        self.known.retain(|k| k == dir || !k.starts_with(dir));
        self.known.insert(dir.to_path_buf());
    }
}

/// Open handles to every bind source, in the order [`build_root`] uses them.
pub(crate) struct Sources {
    fds: Vec<(OwnedFd, bool)>,
}

fn open_source(path: &Path, follow: bool) -> io::Result<(OwnedFd, bool)> {
    let fd = stockade_sys::open_path(path, follow).map_err(ctx(format!("open {}", path.display())))?;
    let dir = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(io_err)?.st_mode & libc::S_IFMT == libc::S_IFDIR;
    Ok((fd, dir))
}

/// Open every bind source with the caller's current (host) credentials.
pub(crate) fn open_sources(root: &RootPlan) -> io::Result<Sources> {
    let mut fds = Vec::new();
    for entry in &root.entries {
        if let RootEntry::Bind { path, .. } = entry {
            // Manifest paths are real paths by construction: refuse any symlink on the way.
            fds.push(open_source(path, false)?);
        }
    }
    for (host_path, _) in &root.extra_binds {
        // Real paths too: `plan::gather` resolved the policy's bind sources once, deliberately.
        fds.push(open_source(host_path, false)?);
    }
    for name in DEVICES {
        fds.push(open_source(&Path::new("/dev").join(name), false)?);
    }
    Ok(Sources { fds })
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Assemble the jail's root at [`NEW`].
///
/// With `own_sandbox` (a jail built ahead), `/sandbox` is a small tmpfs of its own that stays
/// writable after the root is made read-only: the interpreter's process writes its program
/// there just before Landlock (which makes `/sandbox` read-only to the code) is enforced.
pub(crate) fn build_root(root: &RootPlan, sources: Sources, own_sandbox: bool) -> io::Result<()> {
    // No mount or unmount of ours may propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(io_err)
    .map_err(ctx("make / private".into()))?;
    mount(
        Some("tmpfs"),
        NEW,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755,size=16m,nr_inodes=4096"),
    )
    .map_err(io_err)
    .map_err(ctx("mount root tmpfs".into()))?;
    let mut dirs = Dirs::new();
    let mut fds = sources.fds.into_iter();
    let mut next = |what: &Path| {
        fds.next()
            .ok_or_else(|| io::Error::other(format!("no source for {}", what.display())))
    };
    for entry in &root.entries {
        match entry {
            RootEntry::Symlink { path, target } => {
                let at = jail(path);
                if let Some(parent) = at.parent() {
                    dirs.make(parent)?;
                }
                match symlink(target, &at) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(ctx(format!("symlink {}", path.display()))(e)),
                }
            }
            RootEntry::Bind { path, .. } => {
                let (fd, dir) = next(path)?;
                bind_read_only(&mut dirs, &fd, &jail(path), dir, path)?;
            }
        }
    }
    for (host_path, jail_path) in &root.extra_binds {
        let (fd, dir) = next(host_path)?;
        bind_read_only(&mut dirs, &fd, &jail(jail_path), dir, jail_path)?;
    }
    build_dev(&mut dirs, &mut next)?;
    let proc_dir = jail(Path::new("/proc"));
    dirs.make(&proc_dir)?;
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(io_err)
    .map_err(ctx("mount /proc".into()))?;
    let scratch = jail(Path::new(SCRATCH_DIR));
    dirs.make(&scratch)?;
    let opts = format!(
        "mode=0700,uid={JAIL_UID},gid={JAIL_GID},size={},nr_inodes={}",
        root.scratch_bytes, root.scratch_inodes
    );
    mount(
        Some("tmpfs"),
        &scratch,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(opts.as_str()),
    )
    .map_err(io_err)
    .map_err(ctx("mount scratch".into()))?;
    let sandbox = jail(Path::new(SANDBOX_DIR));
    dirs.make(&sandbox)?;
    if own_sandbox {
        // The same 16 MiB the root's own tmpfs holds a script in.
        mount(
            Some("tmpfs"),
            &sandbox,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some(format!("mode=0755,uid={JAIL_UID},gid={JAIL_GID},size=16m,nr_inodes=1024").as_str()),
        )
        .map_err(io_err)
        .map_err(ctx("mount /sandbox".into()))?;
        dirs.covered(&sandbox);
    }
    for file in &root.files {
        let at = jail(&file.path);
        if let Some(parent) = at.parent() {
            dirs.make(parent)?;
        }
        fs::write(&at, &file.contents)?;
        fs::set_permissions(&at, fs::Permissions::from_mode(file.mode))?;
    }
    Ok(())
}

/// Flags a bind mount must keep when remounted: inside a user namespace the kernel locks the
/// source mount's nosuid/nodev/noexec/atime flags, and a remount that drops one gets EPERM.
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs_flag, ms_flag) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs_flag) {
            out |= ms_flag;
        }
    }
    out
}

fn make_mount_point(dirs: &mut Dirs, at: &Path, dir: bool) -> io::Result<()> {
    if dir {
        dirs.make(at)
    } else {
        if let Some(parent) = at.parent() {
            dirs.make(parent)?;
        }
        match fs::OpenOptions::new().write(true).create_new(true).open(at) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn bind_read_only(dirs: &mut Dirs, src: &OwnedFd, dst: &Path, dir: bool, shown: &Path) -> io::Result<()> {
    make_mount_point(dirs, dst, dir)?;
    let what = || format!("bind {}", shown.display());
    mount(
        Some(&fd_path(src)),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(io_err)
    .map_err(ctx(what()))?;
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | locked_flags(dst);
    mount(None::<&str>, dst, None::<&str>, flags, None::<&str>)
        .map_err(io_err)
        .map_err(ctx(format!("{} read-only", what())))?;
    if dir {
        dirs.covered(dst);
    }
    Ok(())
}

fn build_dev(dirs: &mut Dirs, next: &mut dyn FnMut(&Path) -> io::Result<(OwnedFd, bool)>) -> io::Result<()> {
    let dev = jail(Path::new("/dev"));
    dirs.make(&dev)?;
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=64k,nr_inodes=64"),
    )
    .map_err(io_err)
    .map_err(ctx("mount /dev".into()))?;
    for name in DEVICES {
        let (src, _) = next(&Path::new("/dev").join(name))?;
        let dst = dev.join(name);
        make_mount_point(dirs, &dst, false)?;
        mount(Some(&fd_path(&src)), &dst, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(io_err)
            .map_err(ctx(format!("bind /dev/{name}")))?;
        let flags =
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | locked_flags(&dst);
        mount(None::<&str>, &dst, None::<&str>, flags, None::<&str>)
            .map_err(io_err)
            .map_err(ctx(format!("remount /dev/{name}")))?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("shm", "/tmp"),
    ] {
        symlink(target, dev.join(link))?;
    }
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount(None::<&str>, &dev, None::<&str>, flags, None::<&str>)
        .map_err(io_err)
        .map_err(ctx("remount /dev read-only".into()))
}

/// Make the assembled tree the root, drop every trace of the host, and make the root read-only.
pub(crate) fn pivot_into_new_root() -> io::Result<()> {
    nix::unistd::chdir(NEW).map_err(io_err)?;
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then removes
    // the old root (staging tmpfs and the host tree under it) from this namespace entirely.
    nix::unistd::pivot_root(".", ".")
        .map_err(io_err)
        .map_err(ctx("pivot_root".into()))?;
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(io_err)
        .map_err(ctx("detach old root".into()))?;
    nix::unistd::chdir("/").map_err(io_err)?;
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .map_err(io_err)
        .map_err(ctx("remount / read-only".into()))?;
    nix::unistd::chdir(SCRATCH_DIR).map_err(io_err)?;
    Ok(())
}
