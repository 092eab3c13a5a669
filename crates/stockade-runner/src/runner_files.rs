//! The runner's files as they are placed in the jail (read-only, under `/sandbox`): the runner
//! itself and the value codec — the very file the caller's Python package decodes with, so both
//! sides share one encoder and one decoder.

use std::path::PathBuf;

use stockade_jail::GeneratedFile;

/// The runner in the jail.
pub const RUNNER_PATH: &str = "/sandbox/__stockade_runner__.py";
/// The codec in the jail (imported by the runner as `_stockade_codec`).
pub const CODEC_PATH: &str = "/sandbox/_stockade_codec.py";

const RUNNER: &str = include_str!("runner.py");
const CODEC: &str = include_str!("../../../python/stockade/_codec.py");

/// The runner's source.
#[must_use]
pub fn runner_source() -> &'static str {
    RUNNER
}

/// The codec's source.
#[must_use]
pub fn codec_source() -> &'static str {
    CODEC
}

/// The files to place in the jail (the runner is the program; this is the rest).
#[must_use]
pub fn support_files() -> Vec<GeneratedFile> {
    vec![GeneratedFile {
        path: PathBuf::from(CODEC_PATH),
        contents: CODEC.as_bytes().to_vec(),
        mode: 0o444,
    }]
}

/// stockade's own files in the jail: trusted by the guard like the standard library (and, for
/// the runner, allowed the runner's internal calls).
#[must_use]
pub fn internal_files() -> Vec<String> {
    vec![RUNNER_PATH.to_string(), CODEC_PATH.to_string()]
}
