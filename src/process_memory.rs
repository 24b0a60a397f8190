//! Process-wide memory settings, applied first thing in `main` by both faces.
//!
//! mimalloc asks the kernel for transparent huge pages on its arenas (`MADV_HUGEPAGE`), and
//! with THP in `madvise` mode (Debian's default) every 2 MiB of arena the heap touches
//! becomes resident whole: `lodestar serve` idled at ~26 MiB RSS of which 12 MiB were huge
//! pages around a heap of a few MiB. A router that shares a laptop with a model server has no
//! use for them (its heap is small; the TLB gain is not measurable on a request), so the
//! process opts out of THP.
//!
//! Owns: that opt-out. Must not allocate policy (what the engine caches is its own business).

/// Turn transparent huge pages off for this process (Linux; elsewhere nothing to do).
/// Best effort: a kernel that refuses leaves things as they were.
pub fn avoid_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}
