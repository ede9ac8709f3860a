//! A backend turned into what goes on the wire: the parsed endpoint and the credential header.
//!
//! Validation happens here, before any traffic, so a bad URL or header name is a clear typed
//! error ([`BackendError::InvalidEndpoint`]) whose message never contains the credential.

use std::fmt;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::Full;

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
    /// The `Host` header, built once: the value hyper-util would otherwise format on every
    /// request (the host, with the port unless it is the scheme's default).
    host: Option<HeaderValue>,
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
        let host = host_header(&uri);
        Ok(Self { uri, auth, host })
    }

    /// One Streamable-HTTP request to this endpoint: `Accept` for JSON and SSE, a JSON
    /// `Content-Type` on POST, the credential, and the session headers when a session exists.
    /// The one request builder of the probe's session and the front end's backend sessions.
    pub(crate) fn request(
        &self,
        method: Method,
        body: Bytes,
        session_id: Option<&HeaderValue>,
        protocol_version: Option<&HeaderValue>,
    ) -> Request<Full<Bytes>> {
        let is_post = method == Method::POST;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        // Host, Accept, Content-Type, a credential and the two session headers: one allocation.
        headers.reserve(6);
        if let Some(host) = &self.host {
            headers.insert(header::HOST, host.clone());
        }
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        if is_post {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if let Some((name, value)) = &self.auth {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(id) = session_id {
            headers.insert(MCP_SESSION_ID.clone(), id.clone());
        }
        if let Some(version) = protocol_version {
            headers.insert(MCP_PROTOCOL_VERSION.clone(), version.clone());
        }
        request
    }
}

/// What a Streamable-HTTP client must accept.
const ACCEPT: &str = "application/json, text/event-stream";
/// `Mcp-Session-Id`.
pub(crate) static MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `MCP-Protocol-Version`.
pub(crate) static MCP_PROTOCOL_VERSION: HeaderName =
    HeaderName::from_static("mcp-protocol-version");

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("uri", &self.uri)
            .field("auth", &self.auth.as_ref().map(|(name, _)| name))
            .finish_non_exhaustive()
    }
}

/// The `Host` header for `uri` as hyper-util writes it for HTTP/1 (`host`, or `host:port` when
/// the port is not the scheme's default); `None` when it cannot be a header value (hyper-util
/// then builds it itself).
fn host_header(uri: &Uri) -> Option<HeaderValue> {
    let host = uri.host()?;
    let default_port = match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    };
    let value = match uri.port_u16() {
        Some(port) if Some(port) != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    HeaderValue::from_str(&value).ok()
}

fn invalid(detail: impl Into<String>) -> BackendError {
    BackendError::InvalidEndpoint {
        detail: detail.into(),
    }
}

/// Parse and check a backend URL: absolute, `http` (or `https` with the `tls` feature), with a
/// host, without credentials in it. Whether the connector can do TLS is the connector's business:
/// the simulation's plain connector refuses an `https://` URL when it connects.
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
        Some("https") if cfg!(feature = "tls") => {}
        Some(other) => {
            return Err(invalid(format!(
                "unsupported scheme {other:?} (the client speaks {})",
                if cfg!(feature = "tls") {
                    "http and https"
                } else {
                    "plain http: this build has no `tls` feature"
                }
            )));
        }
        None => return Err(invalid(format!("{url:?} is not an absolute URL"))),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid(format!("{url:?} has no host")));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(url: &str) -> Option<String> {
        let uri: Uri = url.parse().expect("a valid URI");
        host_header(&uri).map(|v| v.to_str().expect("ASCII").to_owned())
    }

    #[test]
    fn the_host_header_names_the_port_unless_it_is_the_scheme_default() {
        assert_eq!(host("http://svc:8080/mcp").as_deref(), Some("svc:8080"));
        assert_eq!(host("http://svc/mcp").as_deref(), Some("svc"));
        assert_eq!(host("http://svc:80/mcp").as_deref(), Some("svc"));
        assert_eq!(host("https://svc:443/mcp").as_deref(), Some("svc"));
        assert_eq!(host("https://svc:80/mcp").as_deref(), Some("svc:80"));
        assert_eq!(host("http://svc:443/mcp").as_deref(), Some("svc:443"));
        assert_eq!(host("http://[::1]:9000/mcp").as_deref(), Some("[::1]:9000"));
    }

    #[test]
    fn requests_carry_the_precomputed_host() {
        let target = Target::new(&Backend::new("svc", "http://svc.default:8080/mcp"))
            .expect("a valid backend");
        let request = target.request(Method::POST, Bytes::new(), None, None);
        assert_eq!(
            request
                .headers()
                .get(header::HOST)
                .map(HeaderValue::as_bytes),
            Some(&b"svc.default:8080"[..])
        );
    }

    use crate::registry::Secret;

    fn target() -> Target {
        let mut backend = Backend::new("gh", "http://gh:8080/mcp");
        backend.auth = Some(OutgoingAuth::Bearer {
            token: Secret::new("t0ken"),
        });
        Target::new(&backend).unwrap()
    }

    #[test]
    fn requests_carry_accept_credential_and_session_headers() {
        let t = target();
        let session = HeaderValue::from_static("s-1");
        let version = HeaderValue::from_static("2025-06-18");
        let post = t.request(
            Method::POST,
            Bytes::from_static(b"{}"),
            Some(&session),
            Some(&version),
        );
        assert_eq!(post.method(), Method::POST);
        assert_eq!(post.uri(), "http://gh:8080/mcp");
        let h = post.headers();
        assert_eq!(h[header::ACCEPT], "application/json, text/event-stream");
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
        assert_eq!(h[header::AUTHORIZATION], "Bearer t0ken");
        assert!(h[header::AUTHORIZATION].is_sensitive());
        assert_eq!(h["mcp-session-id"], "s-1");
        assert_eq!(h["mcp-protocol-version"], "2025-06-18");

        // No body, no Content-Type; no session yet, no session headers.
        let delete = t.request(Method::DELETE, Bytes::new(), None, None);
        assert_eq!(delete.method(), Method::DELETE);
        let h = delete.headers();
        assert!(h.get(header::CONTENT_TYPE).is_none());
        assert!(h.get("mcp-session-id").is_none() && h.get("mcp-protocol-version").is_none());
        assert_eq!(h[header::AUTHORIZATION], "Bearer t0ken");
    }

    #[test]
    fn debug_shows_the_credential_header_name_only() {
        let shown = format!("{:?}", target());
        assert_eq!(
            shown,
            "Target { uri: http://gh:8080/mcp, auth: Some(\"authorization\"), .. }"
        );
        assert!(!shown.contains("t0ken"));
    }

    /// `https://` needs the `tls` feature: accepted with it; without it refused, naming the
    /// missing feature (checked in both builds).
    #[test]
    fn https_is_accepted_only_with_the_tls_feature() {
        let result = parse_endpoint("https://svc:8443/mcp");
        if cfg!(feature = "tls") {
            assert_eq!(
                result.map(|uri| uri.to_string()),
                Ok("https://svc:8443/mcp".to_owned())
            );
        } else {
            let err = result.unwrap_err().to_string();
            assert!(
                err.contains("unsupported scheme \"https\" (the client speaks plain http: this build has no `tls` feature)"),
                "{err}"
            );
        }
    }
}
