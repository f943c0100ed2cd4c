//! Attaching the SBOM to a pushed image (`--push`): an OCI artifact whose `subject` is the
//! image's manifest, found through the registry's referrers API or, on a registry without
//! one (Debian's `docker-registry` 2.8), through the OCI 1.1 referrers tag `sha256-<hex>`.
//!
//! The registry is spoken to with `oci-client`, with the engine's credentials
//! (`~/.docker/config.json` and its credential helpers, through `docker_credential`), and
//! over plain HTTP only for a loopback registry, as `docker` itself does.
//!
//! The artifact's manifest is written here, byte for byte (the same SBOM and image give
//! the same artifact digest), with the empty config of OCI 1.1 and the SBOM as its one
//! layer. After pushing it, the referrers are read back: a registry with the API lists it
//! already; otherwise it is added to the referrers tag's index, which is pushed again.

use camino::Utf8Path;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{ImageIndexEntry, OciImageIndex};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::host::docker;

/// The SBOM's media type, and the artifact's type.
const SBOM_TYPE: &str = "application/vnd.cyclonedx+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";
/// What an image's manifest may be, as a registry serves it.
const IMAGE_TYPES: &[&str] = &[
    MANIFEST_TYPE,
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Attaches `sbom` to the pushed image `image` (`<repository>@sha256:…`); returns the
/// artifact's digest.
pub fn attach(image: &str, sbom: &Utf8Path) -> Result<String, Error> {
    let failed = |reason: String| Error::AttachFailed {
        image: image.to_string(),
        reason,
    };
    let bytes = std::fs::read(sbom).map_err(|e| failed(format!("reading {sbom}: {e}")))?;
    let subject: Reference = image.parse().map_err(|e| failed(format!("{e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(format!("starting the registry client: {e}")))?;
    runtime
        .block_on(attach_async(&subject, bytes))
        .map_err(|e| failed(e.to_string()))
}

/// [`attach`], in the registry client's runtime.
async fn attach_async(
    subject: &Reference,
    sbom: Vec<u8>,
) -> Result<String, Box<dyn std::error::Error>> {
    let client = client_for(subject);
    let auth = credentials(subject.resolve_registry())?;
    client.auth(subject, &auth, RegistryOperation::Push).await?;
    let (image_manifest, image_digest) = client
        .pull_manifest_raw(subject, &auth, IMAGE_TYPES)
        .await?;
    let media_type = media_type_of(&image_manifest)?;
    let artifact = artifact_manifest(&sbom, &media_type, &image_digest, image_manifest.len());
    let artifact_digest = sha256(&artifact);
    client.push_blob(subject, EMPTY, &sha256(EMPTY)).await?;
    let layer = sha256(&sbom);
    client.push_blob(subject, sbom, &layer).await?;
    let at = subject.clone_with_digest(artifact_digest.clone());
    client
        .push_manifest_raw(&at, artifact.clone(), MANIFEST_TYPE.parse()?)
        .await?;
    let referrers = client.pull_referrers(subject, None).await?;
    if !referrers
        .manifests
        .iter()
        .any(|m| m.digest == artifact_digest)
    {
        // No referrers API (or not yet this one): the referrers tag's index gains it.
        let index = with_referrer(referrers, &artifact_digest, artifact.len());
        let tag = image_digest.replacen(':', "-", 1);
        let at = Reference::with_tag(subject.registry().into(), subject.repository().into(), tag);
        client
            .push_manifest_raw(&at, serde_json::to_vec(&index)?, INDEX_TYPE.parse()?)
            .await?;
    }
    Ok(artifact_digest)
}

/// A client speaking HTTPS, or plain HTTP to a loopback registry.
fn client_for(reference: &Reference) -> Client {
    let registry = reference.resolve_registry().to_string();
    let protocol = match docker::loopback_host(&registry) {
        true => ClientProtocol::HttpsExcept(vec![registry]),
        false => ClientProtocol::Https,
    };
    Client::new(ClientConfig {
        protocol,
        ..Default::default()
    })
}

/// The engine's credentials for `registry`, as `docker login` left them (in the config
/// file or a credential helper); none is anonymous. An identity token (an OAuth refresh
/// token, as some clouds' logins leave) is refused with a clear error: the registry client
/// cannot trade it for an access token.
fn credentials(registry: &str) -> Result<RegistryAuth, Box<dyn std::error::Error>> {
    // Docker Hub's credentials are stored under its old index address.
    let server = match registry {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "https://index.docker.io/v1/",
        other => other,
    };
    match docker_credential::get_credential(server) {
        Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
            Ok(RegistryAuth::Basic(user, password))
        }
        Ok(docker_credential::DockerCredential::IdentityToken(_)) => Err(format!(
            "the engine's credentials for {registry} are an identity token, which buildkit-lite cannot use yet: `docker login {registry}` with a user name and a password or access token"
        )
        .into()),
        Err(_) => Ok(RegistryAuth::Anonymous),
    }
}

/// The `mediaType` an image's manifest names.
fn media_type_of(manifest: &[u8]) -> Result<String, Box<dyn std::error::Error>> {
    let value: serde_json::Value = serde_json::from_slice(manifest)?;
    match value["mediaType"].as_str() {
        Some(media_type) => Ok(media_type.to_string()),
        None => Err("the image's manifest names no mediaType".into()),
    }
}

/// The artifact's manifest: the empty config, the SBOM as its layer, the image as subject.
fn artifact_manifest(sbom: &[u8], subject_type: &str, subject: &str, size: usize) -> Vec<u8> {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": SBOM_TYPE,
        "config": {"mediaType": EMPTY_TYPE, "digest": sha256(EMPTY), "size": EMPTY.len()},
        "layers": [{
            "mediaType": SBOM_TYPE,
            "digest": sha256(sbom),
            "size": sbom.len(),
            "annotations": {"org.opencontainers.image.title": "sbom.cdx.json"},
        }],
        "subject": {"mediaType": subject_type, "digest": subject, "size": size},
    });
    // serde_json's maps are sorted: the same inputs give the same bytes.
    serde_json::to_vec(&manifest).unwrap_or_default()
}

/// The referrers tag's index, with the artifact added once.
fn with_referrer(mut index: OciImageIndex, digest: &str, size: usize) -> OciImageIndex {
    index.schema_version = 2;
    index.media_type = Some(INDEX_TYPE.to_string());
    index.manifests.retain(|m| m.digest != digest);
    index.manifests.push(ImageIndexEntry {
        media_type: MANIFEST_TYPE.to_string(),
        digest: digest.to_string(),
        size: size as i64,
        platform: None,
        annotations: None,
        artifact_type: Some(SBOM_TYPE.to_string()),
    });
    index
}

/// `sha256:<hex>` of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", super::hex(&Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_sbom_and_image_give_the_same_artifact() {
        let sbom = br#"{"bomFormat":"CycloneDX"}"#;
        let one = artifact_manifest(sbom, MANIFEST_TYPE, "sha256:ab", 10);
        assert_eq!(one, artifact_manifest(sbom, MANIFEST_TYPE, "sha256:ab", 10));
        let value: serde_json::Value = serde_json::from_slice(&one).unwrap();
        assert_eq!(value["artifactType"], SBOM_TYPE);
        assert_eq!(value["subject"]["digest"], "sha256:ab");
        assert_eq!(value["layers"][0]["digest"], sha256(sbom));
    }
}
