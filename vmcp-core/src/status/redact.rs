//! Keeping credentials out of status reports.
//!
//! Reports are published (CRD status, logs, JSON lines), so nothing in them may carry a
//! credential. Backend credentials live in [`Secret`]s that never serialise; what remains are
//! credentials an operator wrote into a URL (`http://user:pass@host/`) and, defensively, secrets
//! echoed back inside error messages.

use std::borrow::Cow;

use crate::registry::{Backend, OutgoingAuth, Secret};

/// What replaces a URL's userinfo or a secret value.
pub const REDACTED: &str = "***";

/// `url` with any userinfo (`user:pass@`) replaced by [`REDACTED`]; unchanged otherwise.
///
/// Why the whole userinfo and not only the password: a lone user name is often a token
/// (`https://<token>@host`).
pub fn redact_url(url: &str) -> Cow<'_, str> {
    redact_userinfo_in_text(url)
}

/// `text` with the userinfo of every `scheme://userinfo@host` it contains replaced by
/// [`REDACTED`]. Error messages often embed the URL a client was talking to.
pub fn redact_userinfo_in_text(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut search_from = 0;
    while let Some(rel) = text[search_from..].find("://") {
        let authority_start = search_from + rel + 3;
        let authority_len = text[authority_start..]
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`') || c.is_whitespace()
            })
            .unwrap_or(text.len() - authority_start);
        let authority = &text[authority_start..authority_start + authority_len];
        if let Some(at) = authority.rfind('@') {
            out.push_str(&text[copied..authority_start]);
            out.push_str(REDACTED);
            copied = authority_start + at;
        }
        search_from = authority_start + authority_len;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// A message about `backend`, safe to publish: URL userinfo redacted anywhere in it, and every
/// credential configured for `backend` (outgoing auth secrets, URL user name and password)
/// replaced by [`REDACTED`] should a client or server have echoed it back.
pub fn scrub_message(message: &str, backend: &Backend) -> String {
    let mut scrubbed = redact_userinfo_in_text(message).into_owned();
    for secret in backend_secrets(backend) {
        if !secret.is_empty() && scrubbed.contains(secret.as_str()) {
            scrubbed = scrubbed.replace(secret.as_str(), REDACTED);
        }
    }
    scrubbed
}

/// The credential strings configured for `backend`, longest first so that a secret containing
/// another is replaced whole.
fn backend_secrets(backend: &Backend) -> Vec<String> {
    let mut secrets = Vec::new();
    match &backend.auth {
        Some(OutgoingAuth::Bearer { token }) => secrets.push(exposed(token)),
        Some(OutgoingAuth::Header { value, .. }) => secrets.push(exposed(value)),
        None => {}
    }
    if let Some(userinfo) = url_userinfo(&backend.url) {
        secrets.push(userinfo.to_owned());
        for part in userinfo.split(':') {
            secrets.push(part.to_owned());
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

fn exposed(secret: &Secret) -> String {
    secret.expose().to_owned()
}

/// The userinfo of `url` (`user:pass` in `http://user:pass@host/`), if it has one.
fn url_userinfo(url: &str) -> Option<&str> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    authority.rfind('@').map(|at| &authority[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_without_userinfo_is_unchanged_and_borrowed() {
        let url = "http://github-mcp:8080/mcp?x=a@b";
        assert!(matches!(redact_url(url), Cow::Borrowed(u) if u == url));
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn url_userinfo_is_redacted() {
        assert_eq!(
            redact_url("https://user:p%40ss@host:8443/mcp"),
            "https://***@host:8443/mcp"
        );
        assert_eq!(redact_url("http://tok3n@host"), "http://***@host");
        assert_eq!(redact_url("http://a:b@c@host/x"), "http://***@host/x");
    }

    #[test]
    fn userinfo_inside_messages_is_redacted_everywhere() {
        let msg = "POST http://u:pw@a/mcp failed; retried \"https://k@b:1/\" too";
        assert_eq!(
            redact_userinfo_in_text(msg),
            "POST http://***@a/mcp failed; retried \"https://***@b:1/\" too"
        );
        // An e-mail address is not a URL.
        assert_eq!(
            redact_userinfo_in_text("contact ops@example.com"),
            "contact ops@example.com"
        );
    }

    #[test]
    fn configured_secrets_are_scrubbed_from_messages() {
        let mut b = Backend::new("a", "http://alice:hunter2@a:8080/mcp");
        b.auth = Some(OutgoingAuth::Bearer {
            token: Secret::new("tok-123"),
        });
        let msg = "401: bad token tok-123 for alice (password hunter2)";
        assert_eq!(
            scrub_message(msg, &b),
            "401: bad token *** for *** (password ***)"
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
