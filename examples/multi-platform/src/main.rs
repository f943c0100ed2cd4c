//! A tiny HTTP server with a health endpoint, the classic single-app image.
//!
//! - `GET /ping` answers `200 pong`, or `503 maintenance` while the file named by
//!   `MAINTENANCE_FILE` (default `/tmp/maintenance`) exists.
//! - Any other path answers `404`.
//! - Listens on `--port N` (default 8080). Logs each request to stdout and its start-up to
//!   stderr; on SIGTERM it logs a line and exits 0.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static TERMINATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: i32) {
    TERMINATE.store(true, Ordering::SeqCst);
}

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

const SIGTERM: i32 = 15;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = match args.iter().position(|a| a == "--port") {
        Some(i) => args.get(i + 1).cloned().unwrap_or_default(),
        None => "8080".to_string(),
    };
    let maintenance = std::env::var("MAINTENANCE_FILE").unwrap_or_else(|_| "/tmp/maintenance".into());
    // SAFETY: the handler only stores to an atomic.
    unsafe { signal(SIGTERM, on_sigterm) };

    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("healthcheck-app: cannot listen on port {port:?}: {e}");
            std::process::exit(1);
        }
    };
    listener.set_nonblocking(true).expect("non-blocking listener");
    eprintln!("healthcheck-app: listening on port {port} (stderr)");
    println!("healthcheck-app: ready (stdout)");

    while !TERMINATE.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => handle(stream, &maintenance),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => eprintln!("healthcheck-app: accept failed: {e}"),
        }
    }
    println!("healthcheck-app: SIGTERM received, shutting down");
}

fn handle(stream: TcpStream, maintenance: &str) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/ping" if std::path::Path::new(maintenance).exists() => ("503 Service Unavailable", "maintenance"),
        "/ping" => ("200 OK", "pong"),
        _ => ("404 Not Found", "not found"),
    };
    println!("healthcheck-app: {} -> {status}", request_line.trim_end());
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = (&stream).write_all(response.as_bytes());
}
