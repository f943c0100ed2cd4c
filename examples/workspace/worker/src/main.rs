//! The workspace's background worker: logs a tick every second into the shipped
//! `/var/lib/workspace` state directory's file and to stdout; on SIGTERM it logs a line and
//! exits 0.

use std::time::Duration;

fn main() {
    shared::watch_sigterm();
    println!("{}", shared::greeting("worker"));
    let mut tick = 0u64;
    while !shared::terminating() {
        tick += 1;
        println!("worker: tick {tick}");
        if let Err(e) = std::fs::write("/var/lib/workspace/ticks", format!("{tick}\n")) {
            eprintln!("worker: cannot write /var/lib/workspace/ticks: {e}");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    println!("worker: SIGTERM received, shutting down");
}
