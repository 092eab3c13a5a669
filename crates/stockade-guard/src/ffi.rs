//! The CPython C API, resolved at run time with `dlsym`.
//!
//! The guard is loaded into whichever interpreter the jail runs (a pyenv build with a shared
//! libpython, Debian's statically linked binary, a venv's base), so it cannot link against one
//! libpython. Every function it calls is looked up once, before the interpreter initialises;
//! if one is missing the guard refuses to let the interpreter run.
#![allow(unsafe_code, reason = "FFI with the CPython C API")]
#![allow(non_snake_case, reason = "CPython's names")]

use std::ffi::{c_char, c_int, c_ulong, c_void, CStr};
use std::sync::OnceLock;

/// Opaque `PyObject`.
#[repr(C)]
pub struct PyObject {
    _private: [u8; 0],
}

/// `Py_AuditHookFunction`.
pub type AuditHook = unsafe extern "C" fn(*const c_char, *mut PyObject, *mut c_void) -> c_int;

/// The functions the guard uses.
pub struct Api {
    pub PySys_AddAuditHook: unsafe extern "C" fn(AuditHook, *mut c_void) -> c_int,
    pub PyTuple_Size: unsafe extern "C" fn(*mut PyObject) -> isize,
    pub PyTuple_GetItem: unsafe extern "C" fn(*mut PyObject, isize) -> *mut PyObject,
    pub PyUnicode_AsUTF8AndSize: unsafe extern "C" fn(*mut PyObject, *mut isize) -> *const c_char,
    pub PyBytes_AsStringAndSize: unsafe extern "C" fn(*mut PyObject, *mut *mut c_char, *mut isize) -> c_int,
    pub PyLong_AsLongLong: unsafe extern "C" fn(*mut PyObject) -> i64,
    pub PyErr_Occurred: unsafe extern "C" fn() -> *mut PyObject,
    pub PyErr_Clear: unsafe extern "C" fn(),
    pub PyErr_SetString: unsafe extern "C" fn(*mut PyObject, *const c_char),
    pub PyErr_NewException: unsafe extern "C" fn(*const c_char, *mut PyObject, *mut PyObject) -> *mut PyObject,
    pub PyExc_PermissionError: *mut *mut PyObject,
    pub PyType_GetFlags: unsafe extern "C" fn(*mut PyObject) -> c_ulong,
    pub Py_DecRef: unsafe extern "C" fn(*mut PyObject),
    pub PyEval_GetFrame: unsafe extern "C" fn() -> *mut PyObject,
    pub PyFrame_GetCode: unsafe extern "C" fn(*mut PyObject) -> *mut PyObject,
    pub PyFrame_GetBack: unsafe extern "C" fn(*mut PyObject) -> *mut PyObject,
    pub PyObject_GetAttrString: unsafe extern "C" fn(*mut PyObject, *const c_char) -> *mut PyObject,
    pub PyImport_AppendInittab: unsafe extern "C" fn(*const c_char, unsafe extern "C" fn() -> *mut PyObject) -> c_int,
    pub PyModule_Create2: unsafe extern "C" fn(*mut c_void, c_int) -> *mut PyObject,
    pub PyLong_FromUnsignedLongLong: unsafe extern "C" fn(u64) -> *mut PyObject,
    pub Py_IncRef: unsafe extern "C" fn(*mut PyObject),
    pub PyOS_BeforeFork: unsafe extern "C" fn(),
    pub PyOS_AfterFork_Parent: unsafe extern "C" fn(),
    pub PyOS_AfterFork_Child: unsafe extern "C" fn(),
    pub PyEval_SaveThread: unsafe extern "C" fn() -> *mut c_void,
    pub PyEval_RestoreThread: unsafe extern "C" fn(*mut c_void),
    pub PyImport_ImportModule: unsafe extern "C" fn(*const c_char) -> *mut PyObject,
    pub PyObject_SetAttrString: unsafe extern "C" fn(*mut PyObject, *const c_char, *mut PyObject) -> c_int,
    pub PyObject_Call: unsafe extern "C" fn(*mut PyObject, *mut PyObject, *mut PyObject) -> *mut PyObject,
    pub PyCFunction_NewEx: unsafe extern "C" fn(*mut c_void, *mut PyObject, *mut PyObject) -> *mut PyObject,
    pub PySys_GetObject: unsafe extern "C" fn(*const c_char) -> *mut PyObject,
    pub PyModule_Type: *mut PyObject,
    pub PyExc_RuntimeError: *mut *mut PyObject,
    pub _Py_NoneStruct: *mut PyObject,
}

// SAFETY: the table holds function pointers and addresses of process-global CPython data; they
// are only used with the GIL held, which serialises every use.
unsafe impl Send for Api {}
// SAFETY: see above.
unsafe impl Sync for Api {}

static API: OnceLock<Api> = OnceLock::new();

fn sym(name: &CStr) -> Result<*mut c_void, String> {
    // SAFETY: RTLD_DEFAULT searches the global scope; `name` is NUL-terminated.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    if p.is_null() {
        Err(format!(
            "symbol {} not found (is this CPython 3.9+?)",
            name.to_string_lossy()
        ))
    } else {
        Ok(p)
    }
}

macro_rules! resolve {
    ($($name:ident),* ; $($data:ident),*) => {{
        Api {
            $(
                // SAFETY: the symbol has this C signature in the public API of CPython 3.9 and later.
                $name: unsafe { std::mem::transmute::<*mut c_void, _>(sym(&std::ffi::CString::new(stringify!($name)).unwrap_or_default())?) },
            )*
            $(
                $data: sym(&std::ffi::CString::new(stringify!($data)).unwrap_or_default())?.cast(),
            )*
        }
    }};
}

/// Resolve the API once. Errors name the missing symbol.
// The transmutes' target types are the struct fields' declared signatures.
#[allow(clippy::missing_transmute_annotations)]
pub fn load() -> Result<&'static Api, String> {
    if let Some(api) = API.get() {
        return Ok(api);
    }
    let api = resolve!(
        PySys_AddAuditHook, PyTuple_Size, PyTuple_GetItem, PyUnicode_AsUTF8AndSize, PyBytes_AsStringAndSize,
        PyLong_AsLongLong, PyErr_Occurred, PyErr_Clear, PyErr_SetString, PyErr_NewException, PyType_GetFlags,
        Py_DecRef, PyEval_GetFrame, PyFrame_GetCode, PyFrame_GetBack, PyObject_GetAttrString,
        PyImport_AppendInittab, PyModule_Create2, PyLong_FromUnsignedLongLong, Py_IncRef, PyOS_BeforeFork,
        PyOS_AfterFork_Parent, PyOS_AfterFork_Child, PyEval_SaveThread, PyEval_RestoreThread,
        PyImport_ImportModule, PyObject_SetAttrString, PyObject_Call, PyCFunction_NewEx, PySys_GetObject;
        PyExc_PermissionError, PyModule_Type, PyExc_RuntimeError, _Py_NoneStruct
    );
    Ok(API.get_or_init(|| api))
}

/// The already-loaded API (the hook only runs after [`load`] succeeded).
pub fn api() -> &'static Api {
    API.get().expect("guard API used before load")
}

const TPFLAGS_LONG_SUBCLASS: c_ulong = 1 << 24;
const TPFLAGS_TUPLE_SUBCLASS: c_ulong = 1 << 26;
const TPFLAGS_BYTES_SUBCLASS: c_ulong = 1 << 27;
const TPFLAGS_UNICODE_SUBCLASS: c_ulong = 1 << 28;
const TPFLAGS_TYPE_SUBCLASS: c_ulong = 1 << 31;
const TPFLAGS_HEAPTYPE: c_ulong = 1 << 9;

/// `Py_TYPE(o)`: the second word of every object header (after the refcount) in release builds.
///
/// # Safety
/// `o` must be a live Python object.
unsafe fn type_of(o: *mut PyObject) -> *mut PyObject {
    // SAFETY: PyObject starts with `Py_ssize_t ob_refcnt; PyTypeObject *ob_type;`.
    unsafe { *(o.cast::<*mut PyObject>().add(1)) }
}

/// Convert an object to a [`crate::decide::Value`] (shallow; tuples one level deep).
///
/// # Safety
/// GIL held; `o` is a live object or null.
pub unsafe fn to_value(o: *mut PyObject, depth: u32) -> crate::decide::Value {
    use crate::decide::Value;
    let api = api();
    if o.is_null() {
        return Value::None;
    }
    // SAFETY: GIL held and `o` live (caller's contract).
    unsafe {
        let ty = type_of(o);
        let flags = (api.PyType_GetFlags)(ty);
        if flags & TPFLAGS_UNICODE_SUBCLASS != 0 {
            let mut len: isize = 0;
            let p = (api.PyUnicode_AsUTF8AndSize)(o, &mut len);
            if p.is_null() {
                (api.PyErr_Clear)();
                return Value::Str(String::new());
            }
            let bytes = std::slice::from_raw_parts(p.cast::<u8>(), usize::try_from(len).unwrap_or(0));
            return Value::Str(String::from_utf8_lossy(bytes).into_owned());
        }
        if flags & TPFLAGS_BYTES_SUBCLASS != 0 {
            let mut p: *mut c_char = std::ptr::null_mut();
            let mut len: isize = 0;
            if (api.PyBytes_AsStringAndSize)(o, &mut p, &mut len) != 0 || p.is_null() {
                (api.PyErr_Clear)();
                return Value::Str(String::new());
            }
            let bytes = std::slice::from_raw_parts(p.cast::<u8>(), usize::try_from(len).unwrap_or(0));
            return Value::Str(String::from_utf8_lossy(bytes).into_owned());
        }
        if flags & TPFLAGS_LONG_SUBCLASS != 0 {
            let v = (api.PyLong_AsLongLong)(o);
            if !(api.PyErr_Occurred)().is_null() {
                (api.PyErr_Clear)();
                return Value::Object {
                    type_name: "int".into(),
                    builtin_type_or_module: false,
                };
            }
            return Value::Int(v);
        }
        if flags & TPFLAGS_TUPLE_SUBCLASS != 0 && depth == 0 {
            let n = (api.PyTuple_Size)(o).clamp(0, 4);
            return Value::Tuple(
                (0..n)
                    .map(|i| to_value((api.PyTuple_GetItem)(o, i), depth + 1))
                    .collect(),
            );
        }
        if o == (api.PyModule_Type) || ty == api.PyModule_Type {
            return Value::Object {
                type_name: "module".into(),
                builtin_type_or_module: true,
            };
        }
        if std::ptr::eq(o, ty) || flags & TPFLAGS_TYPE_SUBCLASS != 0 {
            // `o` is a type object: built-in unless it is a heap type (a class statement).
            let own_flags = (api.PyType_GetFlags)(o);
            return Value::Object {
                type_name: "type".into(),
                builtin_type_or_module: own_flags & TPFLAGS_HEAPTYPE == 0,
            };
        }
        Value::Object {
            type_name: type_name(ty),
            builtin_type_or_module: false,
        }
    }
}

/// # Safety
/// GIL held; `ty` is a live type object.
unsafe fn type_name(ty: *mut PyObject) -> String {
    let api = api();
    // SAFETY: GIL held; GetAttrString returns a new reference or null. (`PyType_GetName` would
    // do, but only exists from CPython 3.11.)
    unsafe {
        let name = (api.PyObject_GetAttrString)(ty, c"__name__".as_ptr());
        if name.is_null() {
            (api.PyErr_Clear)();
            return "object".into();
        }
        let v = match to_value(name, 1) {
            crate::decide::Value::Str(s) => s,
            _ => "object".into(),
        };
        (api.Py_DecRef)(name);
        v
    }
}

/// What a frame walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Walk {
    /// The first frame the walk did not skip: `(co_filename, co_name)`.
    Found(String, String),
    /// There is no Python frame at all (a C-level callback, a thread started with a C callable,
    /// or the runtime itself before any code ran).
    NoFrame,
    /// Every frame up to the limit was skipped.
    Limit,
}

/// One frame as the walk's `skip` sees it.
pub struct FrameView {
    code: *mut PyObject,
    /// `co_filename`.
    pub file: String,
    /// `co_name`.
    pub name: String,
}

impl FrameView {
    /// Whether the frame's code names `module` itself: as a name (`import x`, `x.y`), or in a
    /// string constant or a tuple of them (`importlib.import_module("x")`, `from . import x`):
    /// its top-level package, its last component, the whole dotted name, or a prefix ending in
    /// a dot (`"encodings." + name`). Code that only imports a name it was handed does not.
    #[must_use]
    pub fn mentions(&self, module: &str) -> bool {
        let top = module.split('.').next().unwrap_or(module);
        let last = module.rsplit('.').next().unwrap_or(module);
        let matches = |s: &str| {
            s == top
                || s == module
                || s == last
                || (s.ends_with('.') && module.starts_with(s))
                || module.starts_with(&format!("{s}."))
                // `from a.b.c import x` names `a.b.c` and imports `a` and `a.b` on the way.
                || s.starts_with(&format!("{module}."))
        };
        // SAFETY: the walk holds a reference to the code object while `skip` runs (GIL held).
        unsafe {
            for attr in [c"co_names", c"co_consts"] {
                if strings_of(self.code, attr, &matches) {
                    return true;
                }
            }
        }
        false
    }
}

/// Whether any string in the tuple attribute `attr` of `code` (or in a tuple inside it) matches.
///
/// # Safety
/// GIL held; `code` is a live code object.
unsafe fn strings_of(code: *mut PyObject, attr: &CStr, matches: &dyn Fn(&str) -> bool) -> bool {
    let api = api();
    // SAFETY: GIL held; GetAttrString returns a new reference or null; items are borrowed.
    unsafe {
        let tuple = (api.PyObject_GetAttrString)(code, attr.as_ptr());
        if tuple.is_null() {
            (api.PyErr_Clear)();
            return false;
        }
        let found = match to_value(tuple, 0) {
            crate::decide::Value::Tuple(_) => {
                let n = (api.PyTuple_Size)(tuple).clamp(0, 4096);
                (0..n).any(|i| {
                    let item = (api.PyTuple_GetItem)(tuple, i);
                    match to_value(item, 0) {
                        crate::decide::Value::Str(s) => matches(&s),
                        crate::decide::Value::Tuple(items) => items
                            .iter()
                            .any(|v| matches!(v, crate::decide::Value::Str(s) if matches(s))),
                        _ => false,
                    }
                })
            }
            _ => false,
        };
        (api.Py_DecRef)(tuple);
        found
    }
}

/// Walk frames from the innermost outwards, up to `limit`, and return the first one `skip`
/// does not skip.
///
/// # Safety
/// GIL held.
pub unsafe fn first_frame(limit: usize, skip: &dyn Fn(&FrameView) -> bool) -> Walk {
    let api = api();
    let attr = |code: *mut PyObject, name: &CStr| -> String {
        // SAFETY: GIL held; `code` is live; GetAttrString returns a new reference or null.
        unsafe {
            let v = (api.PyObject_GetAttrString)(code, name.as_ptr());
            if v.is_null() {
                (api.PyErr_Clear)();
                return String::new();
            }
            let text = match to_value(v, 1) {
                crate::decide::Value::Str(s) => s,
                _ => String::new(),
            };
            (api.Py_DecRef)(v);
            text
        }
    };
    let mut seen = 0usize;
    // SAFETY: GIL held; PyEval_GetFrame returns a borrowed frame or null; GetBack/GetCode
    // return new references, each released below.
    unsafe {
        let mut frame = (api.PyEval_GetFrame)();
        if frame.is_null() {
            return Walk::NoFrame;
        }
        let mut owned = false;
        let mut result = Walk::Limit;
        while !frame.is_null() && seen < limit {
            let code = (api.PyFrame_GetCode)(frame);
            if !code.is_null() {
                let view = FrameView {
                    code,
                    file: attr(code, c"co_filename"),
                    name: attr(code, c"co_name"),
                };
                let keep = !skip(&view);
                (api.Py_DecRef)(code);
                if keep {
                    result = Walk::Found(view.file, view.name);
                    break;
                }
                seen += 1;
            }
            let back = (api.PyFrame_GetBack)(frame);
            if owned {
                (api.Py_DecRef)(frame);
            }
            frame = back;
            owned = true;
        }
        if owned && !frame.is_null() {
            (api.Py_DecRef)(frame);
        }
        result
    }
}

/// The innermost `n` frames' `(co_filename, co_name)`.
///
/// # Safety
/// GIL held.
pub unsafe fn innermost(n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // SAFETY: GIL held (caller's contract); the closure records each frame and skips it.
    let _ = unsafe {
        first_frame(n, &|f: &FrameView| {
            OUT.with(|o| o.borrow_mut().push((f.file.clone(), f.name.clone())));
            true
        })
    };
    OUT.with(|o| std::mem::swap(&mut *o.borrow_mut(), &mut out));
    out
}

thread_local! {
    static OUT: std::cell::RefCell<Vec<(String, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `name` is in `sys.builtin_module_names`.
///
/// # Safety
/// GIL held.
pub unsafe fn is_builtin_module(name: &str) -> bool {
    let api = api();
    // SAFETY: GIL held; PySys_GetObject returns a borrowed reference or null.
    unsafe {
        let names = (api.PySys_GetObject)(c"builtin_module_names".as_ptr());
        if names.is_null() {
            return false;
        }
        match to_value(names, 0) {
            crate::decide::Value::Tuple(_) => {
                let n = (api.PyTuple_Size)(names).clamp(0, 4096);
                (0..n).any(|i| matches!(to_value((api.PyTuple_GetItem)(names, i), 1), crate::decide::Value::Str(s) if s == name))
            }
            _ => false,
        }
    }
}

/// The exception type denied events raise: `stockade.PolicyViolation(PermissionError)`.
///
/// # Safety
/// GIL held, interpreter initialised.
pub unsafe fn violation_type() -> *mut PyObject {
    static TYPE: std::sync::atomic::AtomicPtr<PyObject> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
    let cached = TYPE.load(std::sync::atomic::Ordering::Acquire);
    if !cached.is_null() {
        return cached;
    }
    let api = api();
    // SAFETY: GIL held; PermissionError is a live global; the new type is kept forever.
    unsafe {
        let base = *api.PyExc_PermissionError;
        let t = (api.PyErr_NewException)(c"stockade.PolicyViolation".as_ptr(), base, std::ptr::null_mut());
        if t.is_null() {
            (api.PyErr_Clear)();
            return base;
        }
        TYPE.store(t, std::sync::atomic::Ordering::Release);
        t
    }
}

/// Raise `exc(message)`.
///
/// # Safety
/// GIL held.
pub unsafe fn raise(exc: *mut PyObject, message: &str) {
    let text = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: GIL held; PyErr_SetString copies the message.
    unsafe { (api().PyErr_SetString)(exc, text.as_ptr()) };
}

/// Number of args and each one, converted.
///
/// # Safety
/// GIL held; `args` is a tuple or null.
pub unsafe fn args_of(args: *mut PyObject, max: isize) -> Vec<crate::decide::Value> {
    if args.is_null() {
        return Vec::new();
    }
    let api = api();
    // SAFETY: audit hooks always receive a tuple; items are borrowed.
    unsafe {
        let n = (api.PyTuple_Size)(args).clamp(0, max);
        (0..n).map(|i| to_value((api.PyTuple_GetItem)(args, i), 0)).collect()
    }
}
