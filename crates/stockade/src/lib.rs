//! The `stockade` command line, as a library so that the Python package can run it in-process
//! (its `stockade` command and the launcher behind `stockade.run`).

mod check;
mod cli;
mod learn;

pub use cli::{policy_prescreens, prescreen_request, run};
