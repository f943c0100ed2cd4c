//! The workspace's HTTP API, listening on `--port N` (default 8080):
//! - `GET /ping` answers `200 pong`;
//! - `GET /sqlite` answers the version of the SQLite compiled into the binary;
//! - `GET /config` answers the shipped `/etc/workspace/api.toml`.
//! Logs each request to stdout; on SIGTERM it logs a line and exits 0.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = match args.iter().position(|a| a == "--port") {
        Some(i) => args.get(i + 1).cloned().unwrap_or_default(),
        None => "8080".to_string(),
    };
    shared::watch_sigterm();
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("api: cannot listen on port {port:?}: {e}");
            std::process::exit(1);
        }
    };
    listener.set_nonblocking(true).expect("non-blocking listener");
    println!("{}", shared::greeting("api"));
    println!("api: listening on port {port}, SQLite {}", sqlite_version());
    while !shared::terminating() {
        match listener.accept() {
            Ok((stream, _)) => handle(stream),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => eprintln!("api: accept failed: {e}"),
        }
    }
    println!("api: SIGTERM received, shutting down");
}

/// The version of SQLite, asked of an in-memory database.
fn sqlite_version() -> String {
    let db = rusqlite::Connection::open_in_memory().expect("an in-memory database");
    db.query_row("select sqlite_version()", [], |row| row.get(0))
        .expect("sqlite_version()")
}

fn handle(stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut line = String::new();
    while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/ping" => ("200 OK", "pong".to_string()),
        "/sqlite" => ("200 OK", format!("SQLite {}", sqlite_version())),
        "/config" => match std::fs::read_to_string("/etc/workspace/api.toml") {
            Ok(text) => ("200 OK", text),
            Err(e) => ("500 Internal Server Error", e.to_string()),
        },
        _ => ("404 Not Found", "not found".to_string()),
    };
    println!("api: {} -> {status}", request_line.trim_end());
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = (&stream).write_all(response.as_bytes());
}
