//! Where buildkit-lite puts things in the image, and the in-image paths a manifest may not
//! take for its own (the binary's `install-path`, the log directories): a leaf that both
//! validation and the plan read, so the list lives in one place.

/// The init program of `init = "runit"`.
pub const INIT_PATH: &str = "/usr/local/sbin/buildkit-lite-init";
/// runit service directories (one per service).
pub const SV_DIR: &str = "/etc/sv";
/// Where runsvdir looks for services (links into [`SV_DIR`]).
pub const SERVICE_DIR: &str = "/etc/service";
/// Where runit's `supervise` directories are, in a read-only or non-root image: a tmpfs at
/// run time (`--tmpfs /run`).
pub const RUNIT_STATE: &str = "/run/runit";
/// The init's own state at run time (when it is stopping, when each service exited), and
/// the FIFOs of `[log] stdout` in a read-only or non-root image.
pub const INIT_STATE: &str = "/run/buildkit-lite";
/// Start-up tasks' scripts (one per task), which the init runs before the services.
pub const TASKS_DIR: &str = "/etc/buildkit-lite/tasks";
/// Sensu's configuration: check definitions and plugins.
pub const SENSU_DIR: &str = "/etc/sensu";
/// Where Sensu check definitions go.
pub const SENSU_CONF_DIR: &str = "/etc/sensu/conf.d";
/// Sensu Go's `CheckConfig` resources of every check (`[sensu] format` with `go`).
pub const SENSU_GO_CHECKS: &str = "/etc/sensu/checks.yaml";
/// Where rendered and copied check plugins go.
pub const SENSU_PLUGIN_DIR: &str = "/etc/sensu/plugins";

/// What the image's own files need, with what each is: a manifest path equal to one of
/// these, inside one, or holding one would replace it.
const GENERATED: &[(&str, &str)] = &[
    (INIT_PATH, "buildkit-lite's init"),
    (SV_DIR, "the runit service directories"),
    (SERVICE_DIR, "the directory runsvdir supervises"),
    ("/etc/buildkit-lite", "the start-up tasks"),
    (SENSU_DIR, "the Sensu checks and plugins"),
    ("/usr/bin/sh", "the shell every run script uses"),
    ("/usr/bin/runsvdir", "runit's runsvdir"),
    ("/usr/bin/runsv", "runit's runsv"),
    ("/usr/bin/sv", "runit's sv"),
    ("/usr/bin/chpst", "runit's chpst"),
    ("/usr/bin/svlogd", "runit's svlogd"),
    ("/usr/bin/dash", "the shell /bin/sh is a link to"),
    ("/usr/bin/timeout", "timeout, which bounds tasks and checks"),
    ("/usr/bin/curl", "curl, which http checks run"),
];

/// System directories that are no place for log directories: a service's log directory
/// there could replace one of the base's own files (a service `passwd` with logs in /etc).
const SYSTEM_DIRS: &[&str] = &["/etc", "/usr", "/boot", "/dev", "/proc", "/sys"];

/// Paths no shipped file (`[files]`) may take, be inside or hold: the kernel's file
/// systems, which Docker mounts over the image, and the user database, which the image's
/// users are created in.
const NO_FILES: &[(&str, &str)] = &[
    ("/proc", "the kernel's process file system"),
    ("/sys", "the kernel's sysfs"),
    ("/dev", "the container's devices"),
    ("/etc/passwd", "the user database"),
    ("/etc/group", "the group database"),
    ("/etc/shadow", "the password database"),
    ("/etc/gshadow", "the group password database"),
];

/// The base's own directories, which no `[files]` entry may be: shipping one would set its
/// owner and mode, and `/lib`, `/bin` (links on a merged-`/usr` base) would pass them on
/// to `/usr/lib`, `/usr/bin`.
const BASE_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/usr",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libx32",
    "/usr/local",
    "/etc",
    "/var",
    "/var/lib",
    "/tmp",
    "/run",
    "/root",
    "/home",
];

/// `path`, when it is one of the base's own directories ([`BASE_DIRS`]).
pub fn base_dir(path: &str) -> Option<&'static str> {
    BASE_DIRS.iter().find(|dir| **dir == path).copied()
}

/// The path of [`NO_FILES`] that a shipped `path` would take, hide or be inside, if any.
pub fn no_files(path: &str) -> Option<(&'static str, &'static str)> {
    NO_FILES
        .iter()
        .find(|(taken, _)| overlap(path, taken))
        .copied()
}

/// `path` as it is on a merged-`/usr` base (`/bin/x` is `/usr/bin/x`).
fn merged_usr(path: &str) -> String {
    for top in ["/bin", "/sbin", "/lib", "/lib64"] {
        if path == top || path.starts_with(&format!("{top}/")) {
            return format!("/usr{path}");
        }
    }
    path.to_string()
}

/// Whether `a` and `b` are the same path or one holds the other.
pub fn overlap(a: &str, b: &str) -> bool {
    let (a, b) = (merged_usr(a), merged_usr(b));
    let holds = |outer: &str, inner: &str| {
        inner.starts_with(outer) && inner.as_bytes().get(outer.len()) == Some(&b'/')
    };
    a == b || holds(&a, &b) || holds(&b, &a)
}

/// What follows `dir/` in `path`, when `path` is inside `dir` (merged `/usr` seen).
pub fn below(path: &str, dir: &str) -> Option<String> {
    let (path, dir) = (merged_usr(path), merged_usr(dir));
    path.strip_prefix(&dir)?
        .strip_prefix('/')
        .map(str::to_string)
}

/// The generated path that an absolute in-image `path` would replace or hide, if any:
/// `Some((generated path, what it is))`.
pub fn collision(path: &str) -> Option<(&'static str, &'static str)> {
    GENERATED
        .iter()
        .find(|(generated, _)| overlap(path, generated))
        .copied()
}

/// The system directory that holds (or is) `path`, if any.
pub fn system_dir(path: &str) -> Option<&'static str> {
    let path = merged_usr(path);
    SYSTEM_DIRS
        .iter()
        .find(|dir| path == **dir || path.starts_with(&format!("{dir}/")))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_are_equal_inside_or_holding_and_see_merged_usr() {
        assert_eq!(collision(INIT_PATH).unwrap().0, INIT_PATH);
        assert_eq!(collision("/etc/sv/web").unwrap().0, SV_DIR);
        assert_eq!(collision("/etc").unwrap().0, SV_DIR);
        assert_eq!(collision("/bin/sv").unwrap().0, "/usr/bin/sv");
        assert_eq!(collision("/bin/sh").unwrap().0, "/usr/bin/sh");
        assert!(collision("/bin/app").is_none());
        assert!(collision("/etc/svc").is_none());
        assert!(collision("/usr/local/sbin/app").is_none());
        assert_eq!(system_dir("/etc/logs"), Some("/etc"));
        assert_eq!(system_dir("/lib/x"), Some("/usr"));
        assert_eq!(system_dir("/var/log"), None);
        assert_eq!(no_files("/etc").unwrap().0, "/etc/passwd");
        assert_eq!(no_files("/proc/self/x").unwrap().0, "/proc");
        assert!(no_files("/etc/app.toml").is_none());
    }
}
