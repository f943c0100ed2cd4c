//! One binary, two roles, as many real images have:
//!
//! - `multiapp serve --port N`: an HTTP server; `GET /health` answers `200 ok`, `GET /env`
//!   answers the values of GREETING, APP_ENV and PORT as the process sees them.
//! - `multiapp work`: a worker that prints a line every `WORK_INTERVAL` seconds (default 2).
//!
//! Both log SIGTERM and exit 0.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static TERMINATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: i32) {
    TERMINATE.store(true, Ordering::SeqCst);
}

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

fn main() {
    // SAFETY: the handler only stores to an atomic.
    unsafe { signal(15, on_sigterm) };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(args.get(2).map(String::as_str).unwrap_or("8081")),
        Some("work") => work(),
        _ => {
            eprintln!("usage: multiapp serve --port N | multiapp work");
            std::process::exit(2);
        }
    }
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| "(unset)".into())
}

fn serve(port: &str) {
    let listener = TcpListener::bind(format!("0.0.0.0:{port}")).unwrap_or_else(|e| {
        eprintln!("api: cannot listen on port {port:?}: {e}");
        std::process::exit(1)
    });
    listener.set_nonblocking(true).expect("non-blocking listener");
    eprintln!("api: listening on port {port}");
    while !TERMINATE.load(Ordering::SeqCst) {
        let Ok((stream, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let _ = stream.set_nonblocking(false);
        let mut reader = BufReader::new(&stream);
        let mut request = String::new();
        let _ = reader.read_line(&mut request);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
            line.clear();
        }
        let body = match request.split_whitespace().nth(1) {
            Some("/health") => "ok".to_string(),
            Some("/env") => format!(
                "GREETING={}\nAPP_ENV={}\nPORT={}\n",
                var("GREETING"),
                var("APP_ENV"),
                var("PORT")
            ),
            _ => "not found".to_string(),
        };
        println!("api: {}", request.trim_end());
        let status = if body == "not found" { "404 Not Found" } else { "200 OK" };
        let _ = (&stream).write_all(
            format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    println!("api: SIGTERM received, shutting down");
}

fn work() {
    let every: u64 = std::env::var("WORK_INTERVAL").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    eprintln!("worker: started, one job every {every}s");
    let mut job = 0u64;
    let mut next = Instant::now();
    while !TERMINATE.load(Ordering::SeqCst) {
        if Instant::now() >= next {
            job += 1;
            println!("worker: job {job} done");
            next += Duration::from_secs(every);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("worker: SIGTERM received, finishing");
}
