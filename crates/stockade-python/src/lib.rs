//! `stockade._stockade`: the thin native half of the Python package.
//!
//! It only converts arguments and runs the `stockade` command line in-process (the package's
//! `stockade` command, and the launcher process `stockade.run` starts — never the caller's own
//! interpreter, which may have threads). The same shared object also carries the guard: the jail
//! loads it with `LD_PRELOAD`, and its constructor (from `stockade-guard`) installs the audit
//! hook before the jailed interpreter initialises.

use pyo3::prelude::*;

/// Run the `stockade` command line with `argv` (argv[0] is the program name); returns the exit
/// code. Must be called from a single-threaded process (the launcher): the jail is entered with
/// `clone`, which refuses otherwise.
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.allow_threads(|| stockade::run(argv))
}

/// The guard's report: whether its constructor ran in this process (it does nothing outside a
/// jail, where `STOCKADE_GUARD_CONFIG` is unset).
#[pyfunction]
fn guard_linked() -> bool {
    stockade_guard::linked()
}

#[pymodule]
fn _stockade(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(guard_linked, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
