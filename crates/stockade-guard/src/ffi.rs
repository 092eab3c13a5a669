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
    pub PyObject_SetAttrString: unsafe extern "C" fn(*mut PyObject, *const c_char, *mut PyObject) -> c_int,
    pub PyObject_Call: unsafe extern "C" fn(*mut PyObject, *mut PyObject, *mut PyObject) -> *mut PyObject,
    pub PyCFunction_NewEx: unsafe extern "C" fn(*mut c_void, *mut PyObject, *mut PyObject) -> *mut PyObject,
    pub PySys_GetObject: unsafe extern "C" fn(*const c_char) -> *mut PyObject,
    pub PyDict_GetItemString: unsafe extern "C" fn(*mut PyObject, *const c_char) -> *mut PyObject,
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
        PyObject_SetAttrString, PyObject_Call, PyCFunction_NewEx, PySys_GetObject,
        PyDict_GetItemString;
        PyExc_PermissionError, PyModule_Type, PyExc_RuntimeError, _Py_NoneStruct
    );
    Ok(API.get_or_init(|| api))
}

/// The already-loaded API (the hook only runs after [`load`] succeeded).
pub fn api() -> &'static Api {
    API.get().expect("guard API used before load")
}

/// The longest path (with its NUL) a system call accepts.
const PATH_MAX: usize = 4096;

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

/// Read an object as a [`crate::decide::Value`] (shallow; tuples one level deep). Text is
/// borrowed from the object (a `str`'s cached UTF-8, a `bytes` buffer, a type's `tp_name`).
///
/// # Safety
/// GIL held; `o` is a live object or null, and stays alive (unchanged) for `'a`.
pub unsafe fn to_value<'a>(o: *mut PyObject, depth: u32) -> crate::decide::Value<'a> {
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
                return Value::Str("".into());
            }
            let bytes = std::slice::from_raw_parts(p.cast::<u8>(), usize::try_from(len).unwrap_or(0));
            // SAFETY: PyUnicode_AsUTF8AndSize yields strict UTF-8 (it fails on lone
            // surrogates instead): borrowed, neither copied nor validated again.
            return Value::Str(std::borrow::Cow::Borrowed(std::str::from_utf8_unchecked(bytes)));
        }
        if flags & TPFLAGS_BYTES_SUBCLASS != 0 {
            let mut p: *mut c_char = std::ptr::null_mut();
            let mut len: isize = 0;
            if (api.PyBytes_AsStringAndSize)(o, &mut p, &mut len) != 0 || p.is_null() {
                (api.PyErr_Clear)();
                return Value::Str("".into());
            }
            let bytes = std::slice::from_raw_parts(p.cast::<u8>(), usize::try_from(len).unwrap_or(0));
            // Text is borrowed (a source handed to `compile` as bytes is judged by its text).
            // Binary data longer than any path the kernel accepts (a module's bytecode handed
            // to `marshal.loads` on every import) is neither decoded nor copied: its first
            // byte already fails the UTF-8 check.
            return match std::str::from_utf8(bytes) {
                Ok(text) => Value::Str(std::borrow::Cow::Borrowed(text)),
                Err(_) if bytes.len() >= PATH_MAX => Value::Object {
                    type_name: "bytes".into(),
                    builtin_type_or_module: false,
                },
                Err(_) => Value::Str(String::from_utf8_lossy(bytes)),
            };
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

/// A type's `__name__`: its `tp_name` after the last dot, borrowed from the type.
///
/// # Safety
/// GIL held; `ty` is a live type object that stays alive for `'a`.
unsafe fn type_name<'a>(ty: *mut PyObject) -> std::borrow::Cow<'a, str> {
    // SAFETY: a type object starts with a PyVarObject header (refcount, type, size) and then
    // `const char *tp_name`, in every release build of CPython 3.9 and later; the string lives
    // as long as the type. (`PyType_GetName` would do, but only exists from 3.11, and it makes
    // a new object for static types.)
    let full = unsafe {
        let p = *(ty.cast::<*const c_char>().add(3));
        if p.is_null() {
            return "object".into();
        }
        CStr::from_ptr(p)
    };
    let text = String::from_utf8_lossy(full.to_bytes());
    match text {
        std::borrow::Cow::Borrowed(t) => std::borrow::Cow::Borrowed(t.rsplit('.').next().unwrap_or(t)),
        std::borrow::Cow::Owned(t) => std::borrow::Cow::Owned(t.rsplit('.').next().unwrap_or(&t).to_string()),
    }
}

/// What a frame walk found. Names are borrowed from the frames' code objects, which the live
/// stack keeps alive while the hook runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Walk<'a> {
    /// The first frame the walk did not skip: `co_filename`, `co_name`, and the addresses of
    /// those two str objects (0 when unknown).
    Found(&'a str, &'a str, (usize, usize)),
    /// There is no Python frame at all (a C-level callback, a thread started with a C callable,
    /// or the runtime itself before any code ran).
    NoFrame,
    /// Every frame up to the limit was skipped.
    Limit,
}

/// One frame as the walk's `skip` sees it.
pub struct FrameView<'a> {
    code: *mut PyObject,
    /// `co_filename`.
    pub file: &'a str,
    /// `co_name`.
    pub name: &'a str,
    /// The addresses of the `co_filename` and `co_name` str objects.
    pub ids: (usize, usize),
}

impl FrameView<'_> {
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

/// Where `co_filename` and `co_name` live in a code object, read once from the code type's
/// member table (`tp_members`): the frame walk reads them in place instead of a generic
/// attribute lookup that builds and hashes a name string each time.
struct CodeMembers {
    code_type: usize,
    filename: isize,
    name: isize,
}

static CODE_MEMBERS: OnceLock<Option<CodeMembers>> = OnceLock::new();

/// `T_OBJECT` and `T_OBJECT_EX` (structmember.h): a `PyObject *` field.
const T_OBJECT: c_int = 6;
const T_OBJECT_EX: c_int = 16;

/// `PyMemberDef` (the same layout in CPython 3.9 to 3.13).
#[repr(C)]
struct MemberDef {
    name: *const c_char,
    kind: c_int,
    offset: isize,
    flags: c_int,
    doc: *const c_char,
}

/// A code object's `co_filename` or `co_name`, borrowed; `None` when this interpreter's code
/// type does not describe it as an object member (the caller then asks by attribute).
///
/// # Safety
/// GIL held; `code` is a live code object.
unsafe fn code_member(code: *mut PyObject, which: &CStr) -> Option<*mut PyObject> {
    // SAFETY: `code` is live, so is its type.
    let ty = unsafe { type_of(code) };
    let members = CODE_MEMBERS.get_or_init(|| {
        // SAFETY: `tp_members` is word 30 of every CPython 3.9-3.13 type object (after the
        // PyVarObject header and the slots up to `tp_methods`); the table ends with a null name.
        unsafe {
            let mut m = *(ty.cast::<*const MemberDef>().add(30));
            let (mut filename, mut name) = (None, None);
            while !m.is_null() && !(*m).name.is_null() {
                let object = (*m).kind == T_OBJECT || (*m).kind == T_OBJECT_EX;
                match CStr::from_ptr((*m).name).to_bytes() {
                    b"co_filename" if object => filename = Some((*m).offset),
                    b"co_name" if object => name = Some((*m).offset),
                    _ => {}
                }
                m = m.add(1);
            }
            Some(CodeMembers {
                code_type: ty as usize,
                filename: filename?,
                name: name?,
            })
        }
    });
    let m = members.as_ref().filter(|m| m.code_type == ty as usize)?;
    let offset = match which.to_bytes() {
        b"co_filename" => m.filename,
        b"co_name" => m.name,
        _ => return None,
    };
    // SAFETY: `offset` is the member's offset in this very type's instances.
    let v = unsafe { *(code.cast::<u8>().offset(offset).cast::<*mut PyObject>()) };
    (!v.is_null()).then_some(v)
}

/// Walk frames from the innermost outwards, up to `limit`, and return the first one `skip`
/// does not skip. Allocates nothing.
///
/// # Safety
/// GIL held, and the result used only while the current stack is live (inside the hook).
pub unsafe fn first_frame<'a>(limit: usize, skip: &dyn Fn(&FrameView<'a>) -> bool) -> Walk<'a> {
    let api = api();
    // A member's text and the address of its str object.
    let attr = |code: *mut PyObject, name: &CStr| -> (&'a str, usize) {
        // SAFETY: GIL held; `code` is live.
        if let Some(member) = unsafe { code_member(code, name) } {
            // SAFETY: the member is a str the code object owns (it lives as long as the code).
            return match unsafe { to_value(member, 1) } {
                crate::decide::Value::Str(std::borrow::Cow::Borrowed(s)) => (s, member as usize),
                _ => ("", 0),
            };
        }
        // SAFETY: GIL held; `code` is live; GetAttrString returns a new reference or null.
        // Our reference is kept, not released: on an interpreter whose code type does not list
        // the member (none of 3.9-3.13) the attribute might be a fresh object, and the borrowed
        // text must outlive this walk. No identity either (0): such text is not cached.
        unsafe {
            let v = (api.PyObject_GetAttrString)(code, name.as_ptr());
            if v.is_null() {
                (api.PyErr_Clear)();
                return ("", 0);
            }
            match to_value(v, 1) {
                crate::decide::Value::Str(std::borrow::Cow::Borrowed(s)) => (s, 0),
                _ => ("", 0),
            }
        }
    };
    let mut seen = 0usize;
    // SAFETY: GIL held; PyEval_GetFrame returns a borrowed frame or null; GetBack/GetCode
    // return new references, each released below (the stack keeps them alive meanwhile).
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
                let (file, file_id) = attr(code, c"co_filename");
                let (name, name_id) = attr(code, c"co_name");
                let view = FrameView {
                    code,
                    file,
                    name,
                    ids: (file_id, name_id),
                };
                let keep = !skip(&view);
                (api.Py_DecRef)(code);
                if keep {
                    result = Walk::Found(view.file, view.name, view.ids);
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

/// The addresses of the innermost frame's `co_filename` and `co_name` str objects, their text
/// not read: what the frame-trust cache is keyed by. `None` without a Python frame, or when the
/// code type does not describe those members (the walk then answers).
///
/// # Safety
/// GIL held.
pub unsafe fn innermost_ids() -> Option<(usize, usize)> {
    let api = api();
    // SAFETY: GIL held; PyEval_GetFrame returns a borrowed frame or null, PyFrame_GetCode a new
    // reference (released below; the frame keeps the code and its members alive meanwhile).
    unsafe {
        let frame = (api.PyEval_GetFrame)();
        if frame.is_null() {
            return None;
        }
        let code = (api.PyFrame_GetCode)(frame);
        if code.is_null() {
            return None;
        }
        let ids = code_member(code, c"co_filename").zip(code_member(code, c"co_name"));
        (api.Py_DecRef)(code);
        ids.map(|(file, name)| (file as usize, name as usize))
    }
}

/// Whether the innermost frames are, in order, `(co_filename, co_name)` as `expected` lists
/// them (`None`: any name).
///
/// # Safety
/// GIL held.
pub unsafe fn innermost_are(expected: &[(&str, Option<&str>)]) -> bool {
    let at = std::cell::Cell::new(0usize);
    let ok = std::cell::Cell::new(true);
    // SAFETY: GIL held (caller's contract); the closure compares each frame and skips it.
    let _ = unsafe {
        first_frame(expected.len(), &|f: &FrameView| {
            let i = at.get();
            let (file, name) = expected[i];
            ok.set(ok.get() && f.file == file && name.is_none_or(|n| f.name == n));
            at.set(i + 1);
            true
        })
    };
    ok.get() && at.get() == expected.len()
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

/// Take a reference to an object (keep it alive).
///
/// # Safety
/// GIL held; `o` is a live object.
pub unsafe fn keep(o: usize) {
    // SAFETY: caller's contract.
    unsafe { (api().Py_IncRef)(o as *mut PyObject) };
}

/// Release a reference taken with [`keep`]. Only for objects whose deallocation runs no Python
/// code (str).
///
/// # Safety
/// GIL held; a reference to `o` is owned.
pub unsafe fn release(o: usize) {
    // SAFETY: caller's contract.
    unsafe { (api().Py_DecRef)(o as *mut PyObject) };
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

/// The first (up to [`MAX_ARGS`]) items of an argument tuple, read without copying.
pub struct Args<'a> {
    items: [crate::decide::Value<'a>; MAX_ARGS],
    len: usize,
}

/// How many of an event's arguments the guard reads (no event it decides has more).
pub const MAX_ARGS: usize = 6;

impl<'a> std::ops::Deref for Args<'a> {
    type Target = [crate::decide::Value<'a>];
    fn deref(&self) -> &Self::Target {
        &self.items[..self.len]
    }
}

/// An event's argument tuple (its first [`MAX_ARGS`] items), each item read in place (text
/// borrowed) the first time a decision asks for it: an import's decision reads the module name
/// and not the three lists that follow it, `exec` and `marshal.loads` read none.
pub struct LazyArgs<'a> {
    tuple: *mut PyObject,
    len: usize,
    items: [std::cell::OnceCell<crate::decide::Value<'a>>; MAX_ARGS],
}

impl<'a> crate::decide::Args<'a> for LazyArgs<'a> {
    fn arg(&self, i: usize) -> Option<&crate::decide::Value<'a>> {
        let cell = self.items.get(i).filter(|_| i < self.len)?;
        // SAFETY: `args_of`'s contract: the GIL is held and the tuple is alive and unchanged for
        // 'a (a `LazyArgs` never leaves the hook: the raw pointer keeps it on this thread);
        // `i` is below the tuple's size, and its item is borrowed from it.
        Some(cell.get_or_init(|| unsafe { to_value((api().PyTuple_GetItem)(self.tuple, i as isize), 0) }))
    }
}

impl<'a> LazyArgs<'a> {
    /// Every argument, read now (for the trail, when a decision is recorded).
    pub fn all(self) -> Args<'a> {
        for i in 0..self.len {
            crate::decide::Args::arg(&self, i);
        }
        Args {
            items: self.items.map(|c| c.into_inner().unwrap_or_default()),
            len: self.len,
        }
    }
}

/// The arguments of an event or a call, to be read in place when asked for (text borrowed).
///
/// # Safety
/// GIL held, while the result lives too; `args` is a tuple or null, alive (unchanged) for `'a`.
pub unsafe fn args_of<'a>(args: *mut PyObject) -> LazyArgs<'a> {
    let len = if args.is_null() {
        0
    } else {
        // SAFETY: audit hooks always receive a tuple (caller's contract).
        usize::try_from(unsafe { (api().PyTuple_Size)(args) })
            .unwrap_or(0)
            .min(MAX_ARGS)
    };
    LazyArgs {
        tuple: args,
        len,
        items: Default::default(),
    }
}
