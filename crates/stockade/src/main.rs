//! `stockade`: run untrusted Python inside a Linux jail. See the README for exit codes.

// `stockade check` parses files on every core; glibc's malloc serialises those threads on its
// arenas (0.66 s → 0.45 s on the CPython stdlib with two threads). The jail paths allocate little.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(stockade::run(std::env::args_os()))
}
