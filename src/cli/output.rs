//! The only place the CLI writes to stdout (the workspace denies `print_stdout` elsewhere).
#![allow(clippy::print_stdout)]

use std::io::Write;

/// A line on stdout.
pub(crate) fn line(s: impl AsRef<str>) {
    println!("{}", s.as_ref());
}

/// Text on stdout without a newline, flushed at once (streamed answers).
pub(crate) fn chunk(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// A line on stderr (notes that should not mix with piped output).
pub(crate) fn note(s: impl AsRef<str>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", s.as_ref());
}
