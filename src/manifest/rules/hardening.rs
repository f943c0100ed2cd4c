//! The rules of a hardened image (`[image] read-only` and `user`): an init of buildkit-lite's
//! own, and with `user`, one non-root user with fixed ids that every service, task and
//! log service runs as.

use super::{Problems, user_name};
use crate::diagnostic::KeyPath;
use crate::manifest::{Image, Init, Partial};

/// Checks `[image] read-only` and `[image] user` against the rest of the manifest.
pub(super) fn validate(p: &mut Problems, m: &Partial, image: &Image) {
    let path = KeyPath::root().key("image");
    let needs_init = |key: &str| {
        format!(
            "`{key}` needs `init = \"runit\"`: the base's own runit keeps its state where the image is read-only and runs as root"
        )
    };
    if image.init == Init::Inherit {
        if image.read_only {
            p.add(path.key("read-only"), needs_init("read-only"));
        }
        if image.user.is_some() {
            p.add(path.key("user"), needs_init("user"));
        }
    }
    let Some(user) = &image.user else {
        return;
    };
    p.check(path.key("user"), user_name(user));
    if user == "root" {
        p.add(
            path.key("user"),
            "the image's user is the one non-root user it runs as: leave `user` out to run as root",
        );
    } else if !m.users.contains_key(user) {
        p.add(
            path.key("user"),
            format!("the image's user needs fixed ids, for `USER uid:gid` (Kubernetes' runAsNonRoot checks a number): add [users.{user}] with `uid = …`"),
        );
    }
    let others = |what: &str, name: &str, their: &str| {
        format!(
            "with [image] user = \"{user}\", every process runs as `{user}` and no process can change user: the {what} `{name}` names `{their}`; set it to `{user}` or leave it out"
        )
    };
    for (kind, table, named) in [
        ("service", "services", service_users(m)),
        ("task", "tasks", task_users(m)),
    ] {
        for (name, their) in named {
            if &their != user {
                let at = KeyPath::root().key(table).key(&name).key("user");
                p.add(at, others(kind, &name, &their));
            }
        }
    }
    if let Some(log) = m.log.as_ref().filter(|log| &log.user != user) {
        let at = KeyPath::root().key("log").key("user");
        let their = &log.user;
        p.add(at, format!("with [image] user = \"{user}\", the log services run as `{user}` too (no process can change user), not `{their}`: set it to `{user}` or leave it out"));
    }
}

/// `(service, user)` of the services that name a user.
fn service_users(m: &Partial) -> Vec<(String, String)> {
    (m.services.iter())
        .filter_map(|(name, s)| Some((name.clone(), s.user.clone()?)))
        .collect()
}

/// `(task, user)` of the tasks that name a user.
fn task_users(m: &Partial) -> Vec<(String, String)> {
    (m.tasks.iter())
        .filter_map(|(name, t)| Some((name.clone(), t.as_service().user?)))
        .collect()
}
