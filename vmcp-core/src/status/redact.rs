//! Keeping credentials out of status reports.
//!
//! Reports are published (CRD status, logs, JSON lines), so nothing in them may carry a
//! credential. Backend credentials live in [`Secret`]s that never serialise; what remains are
//! credentials an operator wrote into a URL (`http://user:pass@host/`) and, defensively, secrets
//! echoed back inside error messages.

use crate::error;
use crate::registry::Backend;

pub use crate::error::{REDACTED, redact_url};

/// A message about `backend`, safe to publish: URL userinfo, credential query parameters and
/// `bearer …`/`authorization: …` values redacted anywhere in it, and every credential configured
/// for `backend` replaced by [`REDACTED`] should a client or server have echoed it back.
pub fn scrub_message(message: &str, backend: &Backend) -> String {
    error::scrub(&error::redact(message), &backend.secrets())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{OutgoingAuth, Secret};

    #[test]
    fn url_without_credentials_is_unchanged() {
        let url = "http://github-mcp:8080/mcp?x=a@b";
        assert_eq!(redact_url(url), url);
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn url_userinfo_and_credential_query_parameters_are_redacted() {
        assert_eq!(
            redact_url("https://user:p%40ss@host:8443/mcp"),
            "https://<redacted>@host:8443/mcp"
        );
        assert_eq!(redact_url("http://tok3n@host"), "http://<redacted>@host");
        assert_eq!(
            redact_url("http://host:8080/mcp?api_key=SUPERSECRET&x=1"),
            "http://host:8080/mcp?api_key=<redacted>&x=1"
        );
    }

    #[test]
    fn configured_secrets_are_scrubbed_from_messages() {
        let mut b = Backend::new("a", "http://alice:hunter2@a:8080/mcp");
        b.auth = Some(OutgoingAuth::Bearer {
            token: Secret::new("tok-123"),
        });
        let msg = "401: bad token tok-123 for alice (password hunter2) at http://alice:hunter2@a/";
        let scrubbed = scrub_message(msg, &b);
        for secret in ["tok-123", "alice", "hunter2"] {
            assert!(!scrubbed.contains(secret), "{scrubbed}");
        }
        assert!(
            scrubbed.starts_with("401: bad token <redacted> for <redacted>"),
            "{scrubbed}"
        );
    }

    #[test]
    fn empty_secret_does_not_mangle_messages() {
        let mut b = Backend::new("a", "http://a/mcp");
        b.auth = Some(OutgoingAuth::Header {
            name: "X-API-Key".into(),
            value: Secret::new(""),
        });
        assert_eq!(
            scrub_message("connection refused", &b),
            "connection refused"
        );
    }
}
