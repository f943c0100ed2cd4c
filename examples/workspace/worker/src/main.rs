//! The workspace's background worker: logs a tick every second into the shipped
//! `/var/lib/workspace` state directory's file and to stdout; on SIGTERM it logs a line and
//! exits 0. `worker migrate DIR` is the start-up task: it writes the state's schema version
//! into `DIR/schema` and exits.

use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("migrate") {
        migrate(args.get(2).map_or("/var/lib/workspace", String::as_str));
        return;
    }
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

/// The start-up task: records the state's schema version, or fails with status 1.
fn migrate(dir: &str) {
    let file = format!("{dir}/schema");
    match std::fs::write(&file, "version 1\n") {
        Ok(()) => println!("worker: migrate: {file} is at schema version 1"),
        Err(e) => {
            eprintln!("worker: migrate: cannot write {file}: {e}");
            std::process::exit(1);
        }
    }
}
