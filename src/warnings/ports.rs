//! `check`'s port warnings, given only on a contradiction the manifest shows: a port a
//! service sets that no `expose` or check names, or an `expose` or `http` check port that
//! no service sets, when some service sets a port at all. A service that sets no port
//! anywhere (a config file, a built-in default) raises none.

use std::collections::BTreeSet;

use super::Found;
use crate::diagnostic::KeyPath;
use crate::manifest::Manifest;

/// A port a service sets to listen on, and where.
struct Listen {
    service: String,
    port: u16,
    /// The env variable that sets it (`PORT`), for a check's `${PORT}`.
    var: Option<String>,
    at: KeyPath,
}

/// Every port warning of `m`.
pub(super) fn ports(m: &Manifest, found: &mut Found) {
    let listens = listens(m);
    if listens.is_empty() {
        return;
    }
    let set = set_ports(m);
    check_ports(m, &set, found);
    exposed_ports(m, &set, found);
    unnamed(m, &listens, found);
}

/// The ports services listen on, as far as the manifest says: an env default whose name
/// says it is a port (`PORT`, `HTTP_PORT`) or an address (`LISTEN_ADDR`, `BIND`), and a
/// command's listening flag (`--port 8080`, `--listen=0.0.0.0:8080`) or bare address
/// (`0.0.0.0:8080`, `:8080`). A URL (`DATABASE_URL`) is a port the service talks to.
fn listens(m: &Manifest) -> Vec<Listen> {
    let mut found = Vec::new();
    for (service, svc) in &m.services {
        let at = KeyPath::root().key("services").key(service);
        for (var, value) in &svc.env {
            let upper = var.to_ascii_uppercase();
            let port = match upper.contains("PORT") {
                true => value.trim().parse::<u16>().ok().filter(|p| *p > 0),
                false => ["ADDR", "LISTEN", "BIND"]
                    .iter()
                    .any(|w| upper.contains(w))
                    .then(|| super::port_in(value))
                    .flatten(),
            };
            if let Some(port) = port {
                let (service, at) = (service.clone(), at.key("env").key(var));
                let var = Some(var.clone());
                found.push(Listen {
                    service,
                    port,
                    var,
                    at,
                });
            }
        }
        for (i, port) in command_ports(svc.command.as_deref().unwrap_or_default()) {
            let service = service.clone();
            let at = at.key("command").index(i);
            found.push(Listen {
                service,
                port,
                var: None,
                at,
            });
        }
    }
    found
}

/// The listening ports of a command's words, with each word's index.
fn command_ports(words: &[String]) -> Vec<(usize, u16)> {
    let flag = |w: &str| {
        let name = w.trim_start_matches('-').to_ascii_lowercase();
        w.starts_with("--")
            && ["port", "listen", "bind", "addr"]
                .iter()
                .any(|f| name.contains(f))
    };
    let address = |w: &str| w.contains(':') && !w.contains("://") && !w.starts_with('-');
    let mut found = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let at = match word.split_once('=') {
            Some((name, value)) if flag(name) => super::port_in(value).map(|p| (i, p)),
            _ if flag(word) => (words.get(i + 1))
                .and_then(|next| super::port_in(next))
                .map(|p| (i + 1, p)),
            _ if address(word) => super::port_in(word).map(|p| (i, p)),
            _ => None,
        };
        found.extend(at);
    }
    found
}

/// Every port the services' env defaults and command words name, however written (see
/// [`super::port_in`]): what an `expose` or a check may rightly ask.
fn set_ports(m: &Manifest) -> BTreeSet<u16> {
    m.services
        .values()
        .flat_map(|svc| svc.env.values().chain(svc.command.iter().flatten()))
        .filter_map(|value| super::port_in(value))
        .collect()
}

/// Each `http` check whose literal port no service sets.
fn check_ports(m: &Manifest, set: &BTreeSet<u16>, found: &mut Found) {
    for (name, check) in &m.checks {
        let Some(url) = &check.http else { continue };
        let Some(port) = crate::manifest::rules::literal_port(url) else {
            continue;
        };
        if port.parse().is_ok_and(|p: u16| set.contains(&p)) {
            continue;
        }
        let env_port = m.services.iter().find_map(|(service, svc)| {
            svc.env
                .iter()
                // A port's variable: PORT in its name, and a port number as its value
                // (not `REPORT_DIR=/tmp`, nor `PORT_RANGE=8000-9000`).
                .find(|(k, v)| k.contains("PORT") && v.parse::<u16>().is_ok_and(|p| p > 0))
                .map(|(var, value)| (service, var, value))
        });
        let hint = match env_port {
            Some((service, var, value)) => format!(
                " (service `{service}` has {var}={value}: write `${{{var}}}` in the URL and service = \"{service}\")"
            ),
            None => String::new(),
        };
        let reason = format!(
            "port {port} is no service's env default, so the check may ask the wrong port{hint}"
        );
        found.push((KeyPath::root().key("checks").key(name).key("http"), reason));
    }
}

/// Each `image.expose` port that no service sets.
fn exposed_ports(m: &Manifest, set: &BTreeSet<u16>, found: &mut Found) {
    for (i, port) in m.image.expose.iter().enumerate() {
        if set.contains(port) {
            continue;
        }
        let reason = format!(
            "port {port} is no service's env default nor in its command, so nothing may listen there"
        );
        found.push((KeyPath::root().key("image").key("expose").index(i), reason));
    }
}

/// Each port a service listens on that no `expose` and no check names.
fn unnamed(m: &Manifest, listens: &[Listen], found: &mut Found) {
    for listen in listens {
        let port = listen.port;
        let exposed = m.image.expose.contains(&port);
        let checked = m
            .checks
            .values()
            .filter_map(|c| c.http.as_deref())
            .any(|url| {
                let literal = crate::manifest::rules::literal_port(url);
                let by_var = listen
                    .var
                    .as_ref()
                    .is_some_and(|v| url.contains(&format!("${{{v}}}")));
                literal.is_some_and(|p| p == port.to_string()) || by_var
            });
        if exposed || checked {
            continue;
        }
        let reason = format!(
            "service `{}` listens on port {port}, which no `image.expose` and no check names: expose it (`expose = [{port}]`) or check it, or it is reached by nothing",
            listen.service
        );
        found.push((listen.at.clone(), reason));
    }
}
