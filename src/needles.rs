//! The byte strings the request path looks for in bodies and stream chunks, each with its
//! memchr searcher built once (building one per call costs more than searching a short chunk;
//! `windows().any()` is O(n·m) on bodies that can be megabytes).
//!
//! Owns: those searchers. Must not interpret what is found.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// A needle with its searcher, built on first use.
pub(crate) struct Needle(LazyLock<Finder<'static>>);

impl Needle {
    pub(crate) fn find(&self, hay: &[u8]) -> Option<usize> {
        self.0.find(hay)
    }

    pub(crate) fn is_in(&self, hay: &[u8]) -> bool {
        self.find(hay).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.needle().len()
    }
}

macro_rules! needle {
    ($name:ident, $text:literal) => {
        pub(crate) static $name: Needle = Needle(LazyLock::new(|| Finder::new($text)));
    };
}

needle!(USAGE_KEY, b"\"usage\"");
needle!(EMPTY_CHOICES, b"\"choices\":[]");
needle!(TEMPERATURE_KEY, b"\"temperature\"");
needle!(SEED_KEY, b"\"seed\"");
needle!(STREAM_OPTIONS_KEY, b"\"stream_options\"");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_windows_found() {
        assert_eq!(USAGE_KEY.find(br#"{"a":1,"usage":{}}"#), Some(7));
        assert!(!USAGE_KEY.is_in(br#"{"usages":1,"content":"\"usage\" is"}"#));
        assert!(SEED_KEY.is_in(br#"{"seed":1}"#) && !SEED_KEY.is_in(b"seed"));
        assert_eq!(USAGE_KEY.len(), 7);
    }
}
