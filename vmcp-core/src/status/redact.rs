//! Keeping credentials out of status reports.
//!
//! Reports are published (CRD status, logs, JSON lines), so nothing in them may carry a
//! credential. Backend credentials live in [`Secret`]s that never serialise; what remains are
//! credentials an operator wrote into a URL (`http://user:pass@host/`) and, defensively, secrets
//! echoed back inside error messages.

use crate::redact::{redact, scrub};
use crate::registry::Backend;

/// A message about `backend`, safe to publish: URL userinfo, credential query parameters and
/// `bearer …`/`authorization: …` values redacted anywhere in it, and every credential configured
/// for `backend` replaced by [`REDACTED`] should a client or server have echoed it back.
pub(crate) fn scrub_message(message: &str, backend: &Backend) -> String {
    scrub(&redact(message), &backend.secrets())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{OutgoingAuth, Secret};

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
