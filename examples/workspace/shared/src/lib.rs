//! What both binaries share: stopping cleanly on SIGTERM, and how they greet.

use std::sync::atomic::{AtomicBool, Ordering};

static TERMINATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: i32) {
    TERMINATE.store(true, Ordering::SeqCst);
}

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

/// Starts watching for SIGTERM; [`terminating`] tells when it came.
pub fn watch_sigterm() {
    // SAFETY: the handler only stores to an atomic.
    unsafe { signal(15, on_sigterm) };
}

pub fn terminating() -> bool {
    TERMINATE.load(Ordering::SeqCst)
}

pub fn greeting(who: &str) -> String {
    format!("{who}: hello from the shared crate")
}
