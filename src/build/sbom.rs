//! The CycloneDX 1.5 SBOM of an image, as JSON: the app, the crates compiled into its
//! binaries (and, as `"scope": "excluded"`, the build-time-only ones), the Debian packages
//! installed in the image, and the base image. Pure: the facts come from `contents.rs`.
//!
//! The document is written with serde_json from types of this file rather than with the
//! `cyclonedx-bom` crate: it is a handful of fields, its bytes must be the same for the same
//! inputs (serde_json's maps are sorted, and nothing here reads a clock or a random
//! source: the serial number is derived from the content, the timestamp is the build's
//! `SOURCE_DATE_EPOCH` or commit time), and the tests validate it against CycloneDX's
//! official 1.5 schema.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A crate in the image's binaries, or used only to build them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// The SHA-256 `Cargo.lock` has for a registry crate.
    pub checksum: Option<String>,
    /// The license expression of its Cargo.toml.
    pub license: Option<String>,
    /// The features in use.
    pub features: Vec<String>,
    /// Compiled into a shipped binary (else only used to build: a build dependency, a
    /// proc macro, or what only they need).
    pub shipped: bool,
    /// One of the app's own packages (whose bins are shipped).
    pub app: bool,
    /// The purls of the crates it depends on.
    pub depends_on: Vec<String>,
}

impl Crate {
    pub fn purl(&self) -> String {
        purl_cargo(&self.name, &self.version)
    }
}

/// `pkg:cargo/NAME@VERSION`.
pub fn purl_cargo(name: &str, version: &str) -> String {
    format!("pkg:cargo/{}@{}", encode(name), encode(version))
}

/// A Debian package installed in the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deb {
    pub name: String,
    pub version: String,
    pub arch: String,
}

/// The base image: its reference, and its registry digest or, for a local image, its ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub name: String,
    pub digest: String,
}

/// What the SBOM says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    /// The app's name (`app.name`) and version (its package's, from Cargo.toml).
    pub app: String,
    pub version: String,
    /// Why no crates are listed, when they could not be read.
    pub crates_unlisted: Option<String>,
    pub crates: Vec<Crate>,
    pub debs: Vec<Deb>,
    pub base: Base,
    /// `SOURCE_DATE_EPOCH`, else the commit time, in seconds; none outside git.
    pub created: Option<i64>,
}

/// The SBOM as pretty-printed JSON with a final newline: the same contents give the same
/// bytes.
pub fn document(contents: &Contents) -> String {
    let mut doc = body(contents);
    let digest = Sha256::digest(doc.to_string().as_bytes());
    doc["serialNumber"] = json!(format!("urn:uuid:{}", uuid(&digest)));
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// The document without its serial number.
fn body(c: &Contents) -> Value {
    let app_ref = format!("app:{}", c.app);
    let mut components: Vec<Value> = c.crates.iter().map(crate_component).collect();
    components.extend(c.debs.iter().map(deb_component));
    components.push(json!({
        "type": "container",
        "bom-ref": format!("base:{}", c.base.name),
        "name": c.base.name,
        "version": c.base.digest,
    }));
    let mut dependencies = vec![json!({
        "ref": app_ref,
        "dependsOn": c.crates.iter().filter(|k| k.app).map(Crate::purl).collect::<Vec<_>>(),
    })];
    dependencies.extend(
        c.crates
            .iter()
            .map(|k| json!({ "ref": k.purl(), "dependsOn": k.depends_on })),
    );
    let mut metadata = json!({
        "tools": { "components": [{
            "type": "application",
            "name": "buildkit-lite",
            "version": env!("CARGO_PKG_VERSION"),
        }]},
        "component": {
            "type": "container",
            "bom-ref": app_ref,
            "name": c.app,
            "version": c.version,
        },
    });
    if let Some(seconds) = c.created {
        metadata["timestamp"] = json!(rfc3339(seconds));
    }
    if let Some(why) = &c.crates_unlisted {
        metadata["properties"] =
            json!([{ "name": "buildkit-lite:crates-not-listed", "value": why }]);
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": dependencies,
    })
}

fn crate_component(k: &Crate) -> Value {
    let mut component = json!({
        "type": if k.app { "application" } else { "library" },
        "bom-ref": k.purl(),
        "name": k.name,
        "version": k.version,
        "purl": k.purl(),
        "scope": if k.shipped { "required" } else { "excluded" },
    });
    if let Some(sum) = &k.checksum {
        component["hashes"] = json!([{ "alg": "SHA-256", "content": sum }]);
    }
    if let Some(license) = &k.license {
        component["licenses"] = json!([{ "expression": license }]);
    }
    if !k.features.is_empty() {
        component["properties"] =
            json!([{ "name": "cargo:features", "value": k.features.join(",") }]);
    }
    component
}

fn deb_component(d: &Deb) -> Value {
    let purl = format!(
        "pkg:deb/debian/{}@{}?arch={}",
        encode(&d.name),
        encode(&d.version),
        encode(&d.arch)
    );
    json!({
        "type": "library",
        "bom-ref": purl,
        "name": d.name,
        "version": d.version,
        "purl": purl,
    })
}

/// What `buildkit-lite sbom` shows of an SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Crates compiled into the binaries, and crates used only to build them.
    pub shipped: usize,
    pub build_only: usize,
    pub debs: usize,
    /// The base image and its digest (or ID).
    pub base: Option<(String, String)>,
    pub created: Option<String>,
}

/// The counts of an SBOM `document`; `None` when it is no CycloneDX JSON.
pub fn summary(document: &str) -> Option<Summary> {
    let doc: Value = serde_json::from_str(document).ok()?;
    (doc["bomFormat"] == "CycloneDX").then_some(())?;
    let components = doc["components"].as_array()?;
    let purl = |c: &Value, kind: &str| c["purl"].as_str().is_some_and(|p| p.starts_with(kind));
    let crates = components.iter().filter(|c| purl(c, "pkg:cargo/"));
    let shipped = crates.clone().filter(|c| c["scope"] != "excluded").count();
    let base = components
        .iter()
        .find(|c| c["type"] == "container")
        .and_then(|c| {
            Some((
                c["name"].as_str()?.to_string(),
                c["version"].as_str()?.to_string(),
            ))
        });
    Some(Summary {
        shipped,
        build_only: crates.count() - shipped,
        debs: components.iter().filter(|c| purl(c, "pkg:deb/")).count(),
        base,
        created: doc["metadata"]["timestamp"].as_str().map(str::to_string),
    })
}

/// Percent-encodes all but the unreserved characters (purl's rule for names and versions:
/// Debian's `1:2.3+dfsg-1` becomes `1%3A2.3%2Bdfsg-1`).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A UUID (version 5 style: name-based, from a SHA hash) from `digest`.
fn uuid(digest: &[u8]) -> String {
    let mut b: [u8; 16] = digest[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = super::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `seconds` since the epoch as RFC 3339 in UTC (`2026-12-04T20:37:38Z`).
pub fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents() -> Contents {
        Contents {
            app: "demo".into(),
            version: "0.1.0".into(),
            crates_unlisted: None,
            crates: vec![
                Crate {
                    name: "demo".into(),
                    version: "0.1.0".into(),
                    checksum: None,
                    license: Some("MIT".into()),
                    features: vec![],
                    shipped: true,
                    app: true,
                    depends_on: vec!["pkg:cargo/itoa@1.0.0".into()],
                },
                Crate {
                    name: "itoa".into(),
                    version: "1.0.0".into(),
                    checksum: Some("ab".repeat(32)),
                    license: Some("MIT OR Apache-2.0".into()),
                    features: vec!["std".into()],
                    shipped: true,
                    app: false,
                    depends_on: vec![],
                },
            ],
            debs: vec![Deb {
                name: "libc6".into(),
                version: "2.36-9+deb12u10".into(),
                arch: "amd64".into(),
            }],
            base: Base {
                name: "debian:bookworm-slim".into(),
                digest: "sha256:00".into(),
            },
            created: Some(1_764_880_658),
        }
    }

    #[test]
    fn the_same_contents_give_the_same_bytes_and_other_contents_another_serial() {
        let one = document(&contents());
        assert_eq!(one, document(&contents()));
        let mut other = contents();
        other.debs[0].version = "2.36-9+deb12u11".into();
        let serial = |doc: &str| {
            let v: Value = serde_json::from_str(doc).unwrap();
            v["serialNumber"].as_str().unwrap().to_string()
        };
        assert_ne!(serial(&one), serial(&document(&other)));
        assert!(serial(&one).starts_with("urn:uuid:"));
        let v: Value = serde_json::from_str(&one).unwrap();
        assert_eq!(v["metadata"]["timestamp"], "2025-12-04T20:37:38Z");
        assert_eq!(
            v["components"][2]["purl"],
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64"
        );
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
