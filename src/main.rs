//! The `lodestar` binary: a thin front over the library's CLI.

fn main() -> std::process::ExitCode {
    lodestar::cli::main()
}
