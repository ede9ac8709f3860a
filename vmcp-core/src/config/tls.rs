//! The `operational.tls` block: how the certificates of `https://` backends are verified
//! (DESIGN §3.7).
//!
//! ```yaml
//! operational:
//!   tls:
//!     ca_file: /etc/vmcp/backend-ca.pem   # camelCase alias: caFile
//! ```
//!
//! Without `ca_file`, backends are verified against the platform trust store (read once at
//! start-up). With it, only the certificates in that PEM file are trusted, as `curl --cacert`
//! does: a private CA then cannot be bypassed by any public one. The file is read and checked at
//! load time, so a missing, oversized or certificate-less file is a config error naming the key,
//! never a failing probe later.
//!
//! TLS itself is the `tls` cargo feature of vmcp-core (on by default). A build without it refuses
//! `ca_file` and `https://` backends with an error that names the feature.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Largest accepted `ca_file`: the limit of every input file ([`super::file::MAX_FILE_BYTES`]); a
/// bundle of every public root is about 200 KiB, so 1 MiB leaves room while keeping a wrong path
/// (a log file, `/dev/zero`) from filling memory.
pub const MAX_CA_FILE_BYTES: u64 = super::file::MAX_FILE_BYTES;

/// The `operational.tls` block as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file of CA certificates that replaces the platform trust store for `https://`
    /// backends. Relative paths are resolved against the config file's directory.
    #[serde(alias = "caFile", skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Whether nothing is set (the block is then not printed back).
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none()
    }

    /// Read and check the CA file, if one is set. `key` is the block's key path (for errors),
    /// `base_dir` the directory relative paths are joined to.
    pub fn resolve(&self, key: &str, base_dir: Option<&Path>) -> Result<TlsSettings, ConfigError> {
        let Some(path) = &self.ca_file else {
            return Ok(TlsSettings::default());
        };
        let key = format!("{key}.ca_file");
        let path = match base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path.clone(),
        };
        let ca = load_ca_bundle(&key, &path)?;
        Ok(TlsSettings { ca: Some(ca) })
    }
}

/// The resolved TLS settings the client is built with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// The configured CA bundle; `None`: the platform trust store.
    pub ca: Option<CaBundle>,
}

/// The certificates of a `ca_file`, checked at load time.
#[derive(Clone, PartialEq, Eq)]
pub struct CaBundle {
    /// Where they came from (for messages).
    pub path: PathBuf,
    /// Each certificate, DER-encoded, in file order. Never empty.
    pub certificates: Vec<Vec<u8>>,
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaBundle")
            .field("path", &self.path)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

#[cfg(feature = "tls")]
fn load_ca_bundle(key: &str, path: &Path) -> Result<CaBundle, ConfigError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let shown = path.display();
    let invalid = |message: String| ConfigError::Invalid {
        key: key.to_owned(),
        message,
    };
    // The input-file rules of every config file (regular file, 1 MiB); the error names the path.
    let bytes = super::file::read_file_bytes(path).map_err(|e| invalid(e.to_string()))?;
    let mut certificates = Vec::new();
    for (index, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = cert.map_err(|e| {
            invalid(format!(
                "{shown}: PEM block {} is not a valid certificate: {e}",
                index + 1
            ))
        })?;
        certificates.push(cert.as_ref().to_vec());
    }
    if certificates.is_empty() {
        return Err(invalid(format!(
            "{shown} contains no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    // Each one must be usable as a trust anchor, or the client would silently trust fewer CAs
    // than the file lists.
    let mut roots = rustls::RootCertStore::empty();
    for (index, der) in certificates.iter().enumerate() {
        roots
            .add(CertificateDer::from(der.as_slice()))
            .map_err(|e| {
                invalid(format!(
                    "{shown}: certificate {} cannot be used as a CA: {e}",
                    index + 1
                ))
            })?;
    }
    Ok(CaBundle {
        path: path.to_owned(),
        certificates,
    })
}

#[cfg(not(feature = "tls"))]
fn load_ca_bundle(key: &str, path: &Path) -> Result<CaBundle, ConfigError> {
    // The key itself is unusable in this build: that is the one error worth reporting.
    Err(ConfigError::invalid_value(
        key,
        format!("{:?}", path.display().to_string()),
        "is set, but this vmcp was built without TLS support (cargo feature `tls` of vmcp-core)",
    ))
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
