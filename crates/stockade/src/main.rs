//! `stockade`: run untrusted Python inside a Linux jail. See the README for exit codes.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(stockade::run(std::env::args_os()))
}
