//! `test`'s look at the image's exposed ports from outside the container, as a user of the
//! image would reach them.
//!
//! The test container publishes every `EXPOSE`d port on the engine host's loopback only
//! (`--publish 127.0.0.1::PORT`), and the probe connects there. With a remote engine
//! (`DOCKER_HOST=tcp://HOST:…`, `ssh://HOST`, a context) it publishes on HOST (an address:
//! that one; a name: every address of the engine's host), and the probe connects to HOST.
//! Docker's proxy accepts the connection and forwards it to the container's own address,
//! where a service bound to 127.0.0.1 is not listening, so the proxy closes it at once. A port whose connection
//! stays open (or answers) is reachable. When one is not, the container's
//! `/proc/net/tcp` and `tcp6` say why: a listener on 127.0.0.1 or ::1 only, or none.
//! Nothing here prints.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

/// `docker port` output (`8080/tcp -> 127.0.0.1:49153`) as container port → host port.
pub fn published(docker_port: &str) -> BTreeMap<u16, u16> {
    docker_port
        .lines()
        .filter_map(|line| {
            let (inside, outside) = line.split_once(" -> ")?;
            let inside = inside.strip_suffix("/tcp")?.parse().ok()?;
            let outside = outside.rsplit_once(':')?.1.parse().ok()?;
            Some((inside, outside))
        })
        .collect()
}

/// Whether something in the container answers at `host:host_port` (the engine's host):
/// the connection is not closed at once.
pub fn answers(host: &str, host_port: u16) -> bool {
    use std::net::ToSocketAddrs;
    let Some(address) = (host, host_port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(700)));
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Where something listens on `port`, read from `/proc/net/tcp` and `/proc/net/tcp6`
/// (given together): the local addresses of the listening sockets, in words.
pub fn listeners(proc_net: &str, port: u16) -> Vec<&'static str> {
    let port_hex = format!("{port:04X}");
    let mut found: Vec<&'static str> = proc_net
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            let (address, p) = local.split_once(':')?;
            (state == "0A" && p == port_hex).then(|| address_in_words(address))
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// A `/proc/net/tcp{,6}` local address, as hex, in words.
fn address_in_words(hex: &str) -> &'static str {
    match hex {
        "0100007F" => "127.0.0.1",
        "00000000000000000000000001000000" => "::1",
        "00000000" => "0.0.0.0",
        "00000000000000000000000000000000" => "::",
        _ => "one address of the container",
    }
}

/// Why `port` does not answer from outside, and what to do, from where it listens.
pub fn why_not(port: u16, listeners: &[&str]) -> String {
    let inside_only =
        !listeners.is_empty() && listeners.iter().all(|a| matches!(*a, "127.0.0.1" | "::1"));
    if inside_only {
        format!(
            "port {port} answers only inside the container: the service listens on {}; listen on 0.0.0.0",
            listeners.join(" and ")
        )
    } else if listeners.is_empty() {
        format!("port {port} is exposed, and nothing in the container listens on it")
    } else {
        format!(
            "port {port} does not answer from outside the container (it listens on {})",
            listeners.join(" and ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_are_read_from_proc_net() {
        let proc_net = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0\n   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n   2: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 3 1 0 100 0 0 10 0\n  sl  local_address                         remote_address                        st\n   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 4\n";
        assert_eq!(listeners(proc_net, 8080), ["127.0.0.1", "::1"]);
        assert_eq!(listeners(proc_net, 80), ["0.0.0.0"]);
        assert!(listeners(proc_net, 9090).is_empty());
        assert_eq!(
            why_not(8080, &listeners(proc_net, 8080)),
            "port 8080 answers only inside the container: the service listens on 127.0.0.1 and ::1; listen on 0.0.0.0"
        );
    }

    #[test]
    fn docker_port_is_read() {
        let ports = published("8080/tcp -> 127.0.0.1:49153\n9000/tcp -> 127.0.0.1:49154\n");
        assert_eq!(ports.get(&8080), Some(&49153));
        assert_eq!(ports.get(&9000), Some(&49154));
    }
}
