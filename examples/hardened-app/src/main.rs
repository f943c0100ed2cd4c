//! A visit counter for a hardened image: it keeps its count in a file under `STATE_DIR`
//! (default `/var/lib/counter`, a volume), so it shows what a read-only root needs declared.
//!
//! - `GET /ping` answers `200 pong`; `GET /count` counts a visit and answers the count.
//! - At start it writes `STATE_DIR/started`; a directory it cannot write stops it with the
//!   path and the error (`Read-only file system`), which is what `test --hardened` shows.
//! - Listens on `--port N` (default 8080); exits 0 on SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static TERMINATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: i32) {
    TERMINATE.store(true, Ordering::SeqCst);
}

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = match args.iter().position(|a| a == "--port") {
        Some(i) => args.get(i + 1).cloned().unwrap_or_default(),
        None => "8080".to_string(),
    };
    let state = PathBuf::from(std::env::var("STATE_DIR").unwrap_or_else(|_| "/var/lib/counter".into()));
    let started = state.join("started");
    if let Err(e) = std::fs::write(&started, b"started\n") {
        eprintln!("counter: cannot write {}: {e}", started.display());
        std::process::exit(1);
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe { signal(15, on_sigterm) };
    let listener = TcpListener::bind(format!("0.0.0.0:{port}")).unwrap_or_else(|e| {
        eprintln!("counter: cannot listen on port {port:?}: {e}");
        std::process::exit(1);
    });
    listener.set_nonblocking(true).expect("non-blocking listener");
    println!("counter: listening on port {port}, state in {}", state.display());
    while !TERMINATE.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => answer(stream, &state),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => eprintln!("counter: accept failed: {e}"),
        }
    }
    println!("counter: SIGTERM received, shutting down");
}

/// One request: `/ping`, or `/count`, which adds one to `STATE_DIR/count`.
fn answer(stream: TcpStream, state: &Path) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = String::new();
    if BufReader::new(&stream).read_line(&mut request).is_err() {
        return;
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/ping" => ("200 OK", "pong".to_string()),
        "/count" => {
            let file = state.join("count");
            let count: u64 = std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0) + 1;
            match std::fs::write(&file, format!("{count}\n")) {
                Ok(()) => ("200 OK", count.to_string()),
                Err(e) => ("500 Internal Server Error", format!("cannot write {}: {e}", file.display())),
            }
        }
        _ => ("404 Not Found", "not found".to_string()),
    };
    println!("counter: {} -> {status}", request.trim_end());
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = (&stream).write_all(response.as_bytes());
}
