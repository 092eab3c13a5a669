//! The built-in module `_stockade_jail`: the native half of stockade's runner in a warm jail
//! (`stockade-zygote`), registered with `PyImport_AppendInittab` before the interpreter
//! initialises, when `STOCKADE_RUNNER_MODULE` is set. Only the runner uses it; the guard
//! refuses its import to user code (`guard.imports.deny`), and it holds nothing a run could use
//! against another: in a run's process the calls only fail.
#![allow(unsafe_code, reason = "the CPython C API: a module definition and its functions")]
#![allow(non_snake_case, reason = "CPython's names")]

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void};

use crate::decide::Value;
use crate::ffi::{self, PyObject};

/// `PyMethodDef`.
#[repr(C)]
struct MethodDef {
    name: *const c_char,
    meth: Option<unsafe extern "C" fn(*mut PyObject, *mut PyObject) -> *mut PyObject>,
    flags: c_int,
    doc: *const c_char,
}

/// `PyModuleDef` (with its `PyModuleDef_Base` header spelled out).
#[repr(C)]
struct ModuleDef {
    ob_refcnt: isize,
    ob_type: *mut c_void,
    m_init: *mut c_void,
    m_index: isize,
    m_copy: *mut c_void,
    name: *const c_char,
    doc: *const c_char,
    size: isize,
    methods: *mut MethodDef,
    slots: *mut c_void,
    traverse: *mut c_void,
    clear: *mut c_void,
    free: *mut c_void,
}

/// Process-global definitions CPython keeps pointers to and writes into (`m_index`).
struct Global<T>(UnsafeCell<T>);
// SAFETY: only touched by CPython under the GIL (module creation), never from Rust after init.
unsafe impl<T> Sync for Global<T> {}

const METH_VARARGS: c_int = 0x0001;
const METH_NOARGS: c_int = 0x0004;
/// `PYTHON_API_VERSION`, the same for every CPython 3.
const API_VERSION: c_int = 1013;

static METHODS: Global<[MethodDef; 6]> = Global(UnsafeCell::new([
    MethodDef {
        name: c"serve".as_ptr(),
        meth: Some(serve),
        flags: METH_VARARGS,
        doc: c"serve(version, warnings): a pool's fork loop; returns only in a run's process".as_ptr(),
    },
    MethodDef {
        name: c"await_run".as_ptr(),
        meth: Some(await_run),
        flags: METH_NOARGS,
        doc: c"await_run(): in a run's process, receive the run's fds".as_ptr(),
    },
    MethodDef {
        name: c"session_ready".as_ptr(),
        meth: Some(session_ready),
        flags: METH_VARARGS,
        doc: c"session_ready(version)".as_ptr(),
    },
    MethodDef {
        name: c"next_cell".as_ptr(),
        meth: Some(next_cell),
        flags: METH_NOARGS,
        doc: c"next_cell() -> nonce or None".as_ptr(),
    },
    MethodDef {
        name: c"cell_done".as_ptr(),
        meth: Some(cell_done),
        flags: METH_VARARGS,
        doc: c"cell_done(nonce, exit_code)".as_ptr(),
    },
    MethodDef {
        name: std::ptr::null(),
        meth: None,
        flags: 0,
        doc: std::ptr::null(),
    },
]));

static MODULE: Global<ModuleDef> = Global(UnsafeCell::new(ModuleDef {
    ob_refcnt: 1,
    ob_type: std::ptr::null_mut(),
    m_init: std::ptr::null_mut(),
    m_index: 0,
    m_copy: std::ptr::null_mut(),
    name: c"_stockade_jail".as_ptr(),
    doc: c"stockade's runner, native half (internal)".as_ptr(),
    size: -1,
    methods: std::ptr::null_mut(),
    slots: std::ptr::null_mut(),
    traverse: std::ptr::null_mut(),
    clear: std::ptr::null_mut(),
    free: std::ptr::null_mut(),
}));

/// Register the module; before `Py_Initialize` only.
pub(crate) fn register() -> Result<(), String> {
    let api = ffi::load()?;
    // SAFETY: called from the ELF constructor, before the interpreter exists; the name and the
    // init function live for the whole process.
    let rc = unsafe { (api.PyImport_AppendInittab)(c"_stockade_jail".as_ptr(), init) };
    if rc == 0 {
        Ok(())
    } else {
        Err("PyImport_AppendInittab failed".into())
    }
}

unsafe extern "C" fn init() -> *mut PyObject {
    // SAFETY: GIL held (module init); the definitions are process-global and were only read
    // so far.
    unsafe {
        let module = MODULE.0.get();
        (*module).methods = METHODS.0.get().cast();
        (ffi::api().PyModule_Create2)(module.cast(), API_VERSION)
    }
}

/// `None`, new reference.
fn none() -> *mut PyObject {
    let api = ffi::api();
    // SAFETY: GIL held by every caller (module functions); None is immortal or counted.
    unsafe {
        (api.Py_IncRef)(api._Py_NoneStruct);
    }
    api._Py_NoneStruct
}

/// Raise `RuntimeError(message)` and return the error indicator.
fn fail(message: &str) -> *mut PyObject {
    // SAFETY: GIL held by every caller; PyExc_RuntimeError is a live global.
    unsafe { ffi::raise(*ffi::api().PyExc_RuntimeError, message) };
    std::ptr::null_mut()
}

fn args<'a>(tuple: *mut PyObject) -> ffi::Args<'a> {
    // SAFETY: GIL held; METH_VARARGS passes a tuple, alive for the call.
    unsafe { ffi::args_of(tuple) }.all()
}

/// Run `f` with the GIL released (blocking waits must not stop the interpreter's other threads).
fn without_gil<T>(f: impl FnOnce() -> T) -> T {
    let api = ffi::api();
    // SAFETY: called with the GIL held; it is taken back before returning, and `f` touches no
    // Python object.
    unsafe {
        let state = (api.PyEval_SaveThread)();
        let out = f();
        (api.PyEval_RestoreThread)(state);
        out
    }
}

fn before_fork() {
    // SAFETY: GIL held (called from `serve`, a module function).
    unsafe { (ffi::api().PyOS_BeforeFork)() }
}

fn after_fork_parent() {
    // SAFETY: as `os.fork` does, in the parent after `fork`.
    unsafe { (ffi::api().PyOS_AfterFork_Parent)() }
}

fn after_fork_child() {
    // SAFETY: as `os.fork` does, first thing in the child.
    unsafe { (ffi::api().PyOS_AfterFork_Child)() }
}

unsafe extern "C" fn serve(_module: *mut PyObject, tuple: *mut PyObject) -> *mut PyObject {
    let a = args(tuple);
    let (Some(Value::Str(version)), Some(Value::Str(warnings))) = (a.first(), a.get(1)) else {
        return fail("serve(version: str, warnings: str)");
    };
    let warnings = warnings.lines().map(str::to_string).filter(|w| !w.is_empty()).collect();
    let hooks = stockade_zygote::ForkHooks {
        before: before_fork,
        after_parent: after_fork_parent,
        after_child: after_fork_child,
    };
    match stockade_zygote::serve(version, warnings, &hooks) {
        Ok(()) => none(),
        Err(e) => fail(&e),
    }
}

unsafe extern "C" fn await_run(_module: *mut PyObject, _unused: *mut PyObject) -> *mut PyObject {
    match without_gil(stockade_zygote::await_run) {
        Ok(()) => none(),
        Err(e) => fail(&e),
    }
}

unsafe extern "C" fn session_ready(_module: *mut PyObject, tuple: *mut PyObject) -> *mut PyObject {
    let a = args(tuple);
    let Some(Value::Str(version)) = a.first() else {
        return fail("session_ready(version: str)");
    };
    match stockade_zygote::session_ready(version) {
        Ok(()) => none(),
        Err(e) => fail(&e),
    }
}

unsafe extern "C" fn next_cell(_module: *mut PyObject, _unused: *mut PyObject) -> *mut PyObject {
    match without_gil(stockade_zygote::next_cell) {
        // SAFETY: GIL held again; returns a new reference.
        Ok(Some(nonce)) => unsafe { (ffi::api().PyLong_FromUnsignedLongLong)(nonce) },
        Ok(None) => none(),
        Err(e) => fail(&e),
    }
}

unsafe extern "C" fn cell_done(_module: *mut PyObject, tuple: *mut PyObject) -> *mut PyObject {
    let a = args(tuple);
    let (Some(Value::Int(nonce)), Some(Value::Int(code))) = (a.first(), a.get(1)) else {
        return fail("cell_done(nonce: int, exit_code: int)");
    };
    #[allow(
        clippy::cast_sign_loss,
        clippy::cast_possible_truncation,
        reason = "a u64 nonce read back as i64"
    )]
    let nonce = *nonce as u64;
    match stockade_zygote::cell_done(nonce, i32::try_from(*code).unwrap_or(1)) {
        Ok(()) => none(),
        Err(e) => fail(&e),
    }
}
