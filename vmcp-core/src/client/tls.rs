//! TLS to `https://` backends (DESIGN §3.7), cargo feature `tls`: rustls with the *ring*
//! provider, through hyper-rustls.
//!
//! * [`client_config`] builds the rustls configuration: the configured `ca_file` certificates, or
//!   the platform trust store (rustls-native-certs) when none is configured. Reading the platform
//!   store is file I/O: the binary calls this once at start-up, before its runtime runs, never on
//!   the probe path.
//! * [`https_connector`] wraps hyper-util's `HttpConnector` (which still serves `http://`
//!   backends) in hyper-rustls. The client wraps that in the counting connector like any other,
//!   so `connect_timeout` bounds TCP connect *and* handshake, and the per-backend connection
//!   counters count TLS connections.
//! * [`failure_in`] finds a rustls error in a transport error chain and classifies it into a
//!   [`TlsFailure`] (category `tls`), by type, never by message text.
//!
//! The simulation never gets here: turmoil has no TLS, and the client stays generic over its
//! connector.

use std::error::Error as StdError;
use std::sync::Arc;

use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, RootCertStore};

use crate::config::TlsSettings;
use crate::error::{TlsFailure, sanitize};

/// The production connector with TLS: `https://` through rustls, `http://` as plain TCP.
pub type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The TLS client configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A certificate of the configured CA bundle was refused as a trust anchor (the config
    /// loader checks this first, so only a hand-built [`TlsSettings`] gets here).
    #[error("CA certificate {index} of {path} cannot be used: {source}")]
    BadCaCertificate {
        /// 1-based position in the file.
        index: usize,
        /// The CA file.
        path: String,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the configuration (no usable protocol version for the provider).
    #[error("cannot configure TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// The rustls client configuration for `settings` (see the module docs). Reads the platform
/// trust store when no CA file is configured: call it at start-up, off the runtime.
pub(crate) fn client_config(settings: &TlsSettings) -> Result<rustls::ClientConfig, TlsSetupError> {
    let roots = match &settings.ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for (index, der) in ca.certificates.iter().enumerate() {
                roots
                    .add(CertificateDer::from(der.clone()))
                    .map_err(|source| TlsSetupError::BadCaCertificate {
                        index: index + 1,
                        path: ca.path.display().to_string(),
                        source,
                    })?;
            }
            roots
        }
        None => platform_roots(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The platform's trust store. Unreadable entries are skipped with a warning; an empty store is
/// not fatal (a deployment with only `http://` backends needs none), but every `https://` probe
/// will then fail with an unknown issuer, so it is logged.
fn platform_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "skipping part of the platform trust store");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::warn!(
            ignored,
            "skipped unusable certificates of the platform trust store"
        );
    }
    if added == 0 {
        tracing::warn!(
            "the platform trust store has no usable CA certificate: https backends will fail \
             with an unknown issuer unless operational.tls.ca_file is set"
        );
    } else {
        tracing::debug!(added, "loaded the platform trust store");
    }
    roots
}

/// hyper-util's `HttpConnector` (TCP_NODELAY, any scheme) under hyper-rustls, HTTP/1.1 only
/// (the probe and the front end speak HTTP/1.1).
pub(crate) fn https_connector(config: rustls::ClientConfig) -> HttpsConnector {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    // hyper-rustls hands `http://` URIs to this connector and does TLS for `https://` itself.
    http.enforce_http(false);
    HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

/// The TLS failure in `err`'s chain, if any. tokio-rustls reports handshake errors as an
/// `io::Error` wrapping the `rustls::Error`; `io::Error::source` skips the wrapped error, so the
/// walk looks inside I/O errors with `get_ref`.
pub(crate) fn failure_in(err: &(dyn StdError + 'static)) -> Option<TlsFailure> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(classify(tls));
        }
        current = match e.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => io.source(),
            },
            None => e.source(),
        };
    }
    None
}

/// Map a rustls error onto the reported vocabulary.
pub(crate) fn classify(err: &rustls::Error) -> TlsFailure {
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => TlsFailure::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::NameMismatch(sanitize(&cert.to_string()))
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsFailure::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsFailure::NotYetValid
            }
            CertificateError::Revoked => TlsFailure::Revoked,
            other => TlsFailure::InvalidCertificate(sanitize(&other.to_string())),
        },
        other => TlsFailure::Handshake(sanitize(&other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CaBundle;

    #[test]
    fn a_refused_ca_certificate_is_named_by_its_1_based_position() {
        let settings = TlsSettings {
            ca: Some(CaBundle {
                path: "/etc/ca.pem".into(),
                certificates: vec![vec![0x30, 0x03, 0x01, 0x02, 0x03]],
            }),
        };
        let err = client_config(&settings).unwrap_err();
        assert!(
            matches!(&err, TlsSetupError::BadCaCertificate { index: 1, path, .. } if path == "/etc/ca.pem"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("CA certificate 1 of /etc/ca.pem cannot be used: "),
            "{err}"
        );
    }

    /// The platform store holds every usable certificate of the machine's trust store, and the
    /// warnings say what happened: unusable ones skipped (only when there were some), an empty
    /// store (only when it is empty). Compared with what rustls-native-certs finds on this
    /// machine. (The debug line about a loaded store is not checked: another test's subscriber
    /// may filter debug events out of the whole process.)
    #[test]
    fn the_platform_store_is_loaded_and_its_state_logged() {
        let mut expected = RootCertStore::empty();
        let (added, ignored) =
            expected.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let (roots, events) = crate::status::test_support::capture(platform_roots);
        assert_eq!(roots.len(), expected.len());
        assert_eq!(roots.len(), added);
        let events: Vec<String> = events.into_iter().map(|(_, text)| text).collect();
        let logged = |text: &str| events.iter().any(|e| e.contains(text));
        assert_eq!(
            logged("skipped unusable certificates"),
            ignored > 0,
            "{ignored} ignored: {events:?}"
        );
        assert_eq!(
            logged("has no usable CA certificate"),
            added == 0,
            "{events:?}"
        );
    }

    /// The environment variable that marks the child process of the test below.
    const CHILD: &str = "VMCP_TLS_TEST_CHILD";

    /// Runs in a child process of `an_unusable_platform_certificate_is_logged`, whose
    /// environment points the platform store at one unusable certificate (a test cannot change
    /// its own process's environment safely while other tests run).
    #[test]
    #[ignore = "run by an_unusable_platform_certificate_is_logged, in a child process"]
    fn platform_store_with_one_unusable_certificate() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let (roots, events) = crate::status::test_support::capture(platform_roots);
        assert_eq!(roots.len(), 0);
        let logged = |text: &str| events.iter().any(|(_, e)| e.contains(text));
        assert!(logged("skipped unusable certificates"), "{events:?}");
        assert!(logged("ignored=1"), "{events:?}");
        assert!(logged("has no usable CA certificate"), "{events:?}");
    }

    /// A store with a certificate rustls cannot use logs how many it skipped, and that none is
    /// left.
    #[test]
    fn an_unusable_platform_certificate_is_logged() {
        let file =
            std::env::temp_dir().join(format!("vmcp-unusable-ca-{}.pem", std::process::id()));
        std::fs::write(
            &file,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "client::tls::tests::platform_store_with_one_unusable_certificate",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env("SSL_CERT_FILE", &file)
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&file);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
