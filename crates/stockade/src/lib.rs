//! The `stockade` command line, as a library so that the Python package can run it in-process
//! (its `stockade` command, and `stockade supervise` in the launcher behind the Python API).

mod check;
mod cli;
mod learn;
mod serve;

pub use cli::run;
