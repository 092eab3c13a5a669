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

/// The pre-screen for runs that do not pass through the CLI (Pool, Session): `policy_flags` are
/// the launcher's policy options. Returns the `refused` result document as JSON, or None when the
/// policy does not ask for a pre-screen or the code passes; ValueError for an invalid policy.
#[pyfunction]
fn prescreen(py: Python<'_>, policy_flags: Vec<String>, code: String) -> PyResult<Option<String>> {
    py.allow_threads(|| stockade::prescreen_request(&policy_flags, &code))
        .map_err(pyo3::exceptions::PyValueError::new_err)
}

/// Whether the policy the launcher flags select asks for the pre-screen (`[check] prescreen`).
#[pyfunction]
fn policy_prescreens(policy_flags: Vec<String>) -> PyResult<bool> {
    stockade::policy_prescreens(&policy_flags).map_err(pyo3::exceptions::PyValueError::new_err)
}

#[pymodule]
fn _stockade(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(guard_linked, m)?)?;
    m.add_function(wrap_pyfunction!(prescreen, m)?)?;
    m.add_function(wrap_pyfunction!(policy_prescreens, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
