//! `os.pidfd_open` and `signal.pidfd_send_signal` raise no audit event of CPython's own, so
//! the guard would never see a run signal another process through a pidfd. When user code
//! starts, the guard replaces them (in `posix`, `os` and `_signal`, where every later import
//! copies them from) with wrappers that ask the guard first (events `stockade.pidfd_open` and
//! `stockade.pidfd_send_signal`, judged by `guard.rules.signal` like `os.kill`) and then call
//! the original. In a pool run the zygote is in another pid namespace and cannot be named at
//! all; this is the explanation layer, not the boundary.
#![allow(unsafe_code, reason = "the CPython C API: function objects and module attributes")]

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::decide::Value;
use crate::ffi::{self, PyObject};

#[repr(C)]
struct MethodDef {
    name: *const c_char,
    meth: unsafe extern "C" fn(*mut PyObject, *mut PyObject, *mut PyObject) -> *mut PyObject,
    flags: c_int,
    doc: *const c_char,
}

struct Global<T>(UnsafeCell<T>);
// SAFETY: read by CPython under the GIL only.
unsafe impl<T> Sync for Global<T> {}

const METH_VARARGS_KEYWORDS: c_int = 0x0001 | 0x0002;

static OPEN_DEF: Global<MethodDef> = Global(UnsafeCell::new(MethodDef {
    name: c"pidfd_open".as_ptr(),
    meth: pidfd_open,
    flags: METH_VARARGS_KEYWORDS,
    doc: c"os.pidfd_open, judged by stockade's guard first".as_ptr(),
}));

static SEND_DEF: Global<MethodDef> = Global(UnsafeCell::new(MethodDef {
    name: c"pidfd_send_signal".as_ptr(),
    meth: pidfd_send_signal,
    flags: METH_VARARGS_KEYWORDS,
    doc: c"signal.pidfd_send_signal, judged by stockade's guard first".as_ptr(),
}));

static ORIGINAL_OPEN: AtomicPtr<PyObject> = AtomicPtr::new(std::ptr::null_mut());
static ORIGINAL_SEND: AtomicPtr<PyObject> = AtomicPtr::new(std::ptr::null_mut());

/// Replace the functions. GIL held, interpreter initialised; once.
///
/// # Safety
/// GIL held.
pub(crate) unsafe fn wrap() -> Result<(), String> {
    // SAFETY: GIL held (caller's contract).
    unsafe {
        wrap_one(
            &[c"posix", c"os"],
            c"pidfd_open",
            OPEN_DEF.0.get().cast(),
            &ORIGINAL_OPEN,
        )?;
        wrap_one(
            &[c"_signal", c"signal"],
            c"pidfd_send_signal",
            SEND_DEF.0.get().cast(),
            &ORIGINAL_SEND,
        )?;
    }
    Ok(())
}

/// # Safety
/// GIL held.
unsafe fn wrap_one(
    modules: &[&CStr],
    attr: &CStr,
    def: *mut c_void,
    original: &AtomicPtr<PyObject>,
) -> Result<(), String> {
    let api = ffi::api();
    // SAFETY: GIL held; every new reference is released or kept on purpose (the original and
    // the wrapper live as long as the process).
    unsafe {
        let wrapper = (api.PyCFunction_NewEx)(def, std::ptr::null_mut(), std::ptr::null_mut());
        if wrapper.is_null() {
            (api.PyErr_Clear)();
            return Err(format!("cannot make the {} wrapper", attr.to_string_lossy()));
        }
        for module in modules {
            // Only modules already imported (posix, os, _signal are, at start-up; `signal` is
            // not, and copies the wrapper from `_signal` when it is): importing one here would
            // change the run's state, and `signal` pulls in `enum`, 4 ms of every cold start.
            let sys_modules = (api.PySys_GetObject)(c"modules".as_ptr());
            if sys_modules.is_null() {
                continue;
            }
            let m = (api.PyDict_GetItemString)(sys_modules, module.as_ptr());
            if m.is_null() {
                continue;
            }
            (api.Py_IncRef)(m);
            let f = (api.PyObject_GetAttrString)(m, attr.as_ptr());
            if f.is_null() {
                // This interpreter has no such function (not Linux, or too old): nothing to do.
                (api.PyErr_Clear)();
                (api.Py_DecRef)(m);
                continue;
            }
            if original.load(Ordering::Acquire).is_null() {
                original.store(f, Ordering::Release);
            } else {
                (api.Py_DecRef)(f);
            }
            if (api.PyObject_SetAttrString)(m, attr.as_ptr(), wrapper) != 0 {
                (api.PyErr_Clear)();
            }
            (api.Py_DecRef)(m);
        }
    }
    Ok(())
}

fn first_int(args: *mut PyObject) -> Option<i64> {
    // SAFETY: GIL held (a METH_VARARGS call); args is the call's tuple.
    match unsafe { ffi::args_of(args) }.all().first() {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    }
}

/// The pid behind a pidfd, from `/proc/self/fdinfo`.
fn pid_of_pidfd(fd: i64) -> Option<i64> {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pid:").and_then(|v| v.trim().parse().ok()))
}

/// # Safety
/// Called by CPython with the GIL held.
unsafe fn forward(original: &AtomicPtr<PyObject>, args: *mut PyObject, kwargs: *mut PyObject) -> *mut PyObject {
    let f = original.load(Ordering::Acquire);
    if f.is_null() {
        // SAFETY: GIL held.
        unsafe { ffi::raise(*ffi::api().PyExc_RuntimeError, "stockade guard: no original function") };
        return std::ptr::null_mut();
    }
    // SAFETY: GIL held; `f` is a live function kept forever; args/kwargs are the call's own.
    unsafe { (ffi::api().PyObject_Call)(f, args, kwargs) }
}

unsafe extern "C" fn pidfd_open(_self: *mut PyObject, args: *mut PyObject, kwargs: *mut PyObject) -> *mut PyObject {
    if crate::judge_signal("stockade.pidfd_open", first_int(args)) != 0 {
        return std::ptr::null_mut();
    }
    // SAFETY: called by CPython with the GIL held.
    unsafe { forward(&ORIGINAL_OPEN, args, kwargs) }
}

unsafe extern "C" fn pidfd_send_signal(
    _self: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    let target = first_int(args).and_then(pid_of_pidfd);
    if crate::judge_signal("stockade.pidfd_send_signal", target) != 0 {
        return std::ptr::null_mut();
    }
    // SAFETY: called by CPython with the GIL held.
    unsafe { forward(&ORIGINAL_SEND, args, kwargs) }
}
