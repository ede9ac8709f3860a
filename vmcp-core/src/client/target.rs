//! A backend turned into what goes on the wire: the parsed endpoint and the credential header.
//!
//! Validation happens here, before any traffic, so a bad URL or header name is a clear typed
//! error ([`BackendError::InvalidEndpoint`]) whose message never contains the credential.

use std::fmt;

use http::Uri;
use http::header::{self, HeaderName, HeaderValue};

use crate::error::BackendError;
use crate::registry::{Backend, OutgoingAuth};

/// Headers the client sets itself; a configured credential header may not replace them.
/// The wire form of one backend.
#[derive(Clone)]
pub struct Target {
    /// The absolute endpoint URI.
    pub uri: Uri,
    /// The credential header, marked sensitive (hyper never logs or indexes it).
    pub auth: Option<(HeaderName, HeaderValue)>,
}

impl Target {
    /// Validate `backend` and build its wire form.
    pub fn new(backend: &Backend) -> Result<Self, BackendError> {
        let uri = parse_endpoint(&backend.url)?;
        let auth = match &backend.auth {
            None => None,
            Some(OutgoingAuth::Bearer { token }) => {
                let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose()))
                    .map_err(|_| invalid("the bearer token is not a valid header value"))?;
                value.set_sensitive(true);
                Some((header::AUTHORIZATION, value))
            }
            Some(OutgoingAuth::Header { name, value }) => {
                let header_name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| invalid(format!("{name:?} is not a valid header name")))?;
                if crate::registry::CLIENT_MANAGED_HEADERS.contains(&header_name.as_str()) {
                    return Err(invalid(format!(
                        "header {header_name} is set by the client and cannot carry credentials"
                    )));
                }
                let mut header_value = HeaderValue::from_str(value.expose()).map_err(|_| {
                    invalid(format!(
                        "the value of header {header_name} is not a valid header value"
                    ))
                })?;
                header_value.set_sensitive(true);
                Some((header_name, header_value))
            }
        };
        Ok(Self { uri, auth })
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("uri", &self.uri)
            .field("auth", &self.auth.as_ref().map(|(name, _)| name))
            .finish_non_exhaustive()
    }
}

fn invalid(detail: impl Into<String>) -> BackendError {
    BackendError::InvalidEndpoint {
        detail: detail.into(),
    }
}

/// Parse and check a backend URL: absolute, with a host, without credentials in it.
pub(crate) fn parse_endpoint(url: &str) -> Result<Uri, BackendError> {
    // Checked on the raw text first so that no error message (not even http's) can echo
    // credentials embedded in the URL.
    if let Some(rest) = url.split_once("://").map(|(_, rest)| rest) {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(invalid(
                "credentials in the URL are not supported; configure outgoing auth instead",
            ));
        }
    }
    let uri: Uri = url
        .parse()
        .map_err(|e| invalid(format!("{}: {e}", crate::redact::redact(url))))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(invalid(format!(
                "unsupported scheme {other:?} (the client speaks plain http)"
            )));
        }
        None => return Err(invalid(format!("{url:?} is not an absolute URL"))),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid(format!("{url:?} has no host")));
    }
    Ok(uri)
}
