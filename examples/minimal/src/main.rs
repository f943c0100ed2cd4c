//! The smallest service: says hello, then a heartbeat line every five seconds.

use std::time::Duration;

fn main() {
    println!("minimal: hello from buildkit-lite's minimal example");
    let mut beat = 0u64;
    loop {
        std::thread::sleep(Duration::from_secs(5));
        beat += 1;
        println!("minimal: heartbeat {beat}");
    }
}
