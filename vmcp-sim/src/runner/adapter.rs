//! The scenario → world translation: what a scenario file says about a backend (its behaviour,
//! credentials, what happens to a replaced pod) as the simulated world's pod types.
//!
//! Why a module of its own: the scenario model (`crate::scenario`) describes what the author
//! wants, the world (`crate::World`) what a pod does; the runner only sequences events, and the
//! mapping between the two vocabularies lives here, in one place.

use http::StatusCode;
use vmcp_core::registry::OutgoingAuth;

use crate::pod::{PodBehaviour, ReplyMode, RequiredAuth};
use crate::scenario::{BackendSpec, Behaviour, OldPod};
use crate::world::PodRetirement;

/// What the pods of a `require_auth` backend demand: exactly the credentials the backend is
/// declared with, or (declared without credentials) a token vMCP never sends.
pub(super) fn required_auth(spec: &BackendSpec) -> Option<RequiredAuth> {
    if !spec.require_auth {
        return None;
    }
    Some(demanded(spec.auth.as_ref()))
}

/// The header check an auth proxy makes for `auth` (`None`: a token vMCP never sends).
pub(super) fn demanded(auth: Option<&OutgoingAuth>) -> RequiredAuth {
    match auth {
        Some(OutgoingAuth::Bearer { token }) => RequiredAuth {
            header: http::header::AUTHORIZATION,
            value: format!("Bearer {}", token.expose()),
        },
        Some(OutgoingAuth::Header { name, value }) => RequiredAuth {
            header: http::HeaderName::from_bytes(name.as_bytes())
                .unwrap_or(http::header::AUTHORIZATION),
            value: value.expose().to_owned(),
        },
        None => RequiredAuth {
            header: http::header::AUTHORIZATION,
            value: "Bearer <credentials vmcp was not given>".to_owned(),
        },
    }
}

/// A scenario behaviour as a pod behaviour and the pod's reply framing (`sse` is a healthy pod
/// answering in SSE; an out-of-range status code becomes 500).
pub(super) fn to_pod(behaviour: Behaviour) -> (PodBehaviour, ReplyMode) {
    let json = ReplyMode::Json;
    match behaviour {
        Behaviour::Healthy => (PodBehaviour::Healthy, json),
        Behaviour::Sse => (PodBehaviour::Healthy, ReplyMode::Sse),
        Behaviour::Hang => (PodBehaviour::Hang, json),
        Behaviour::Close => (PodBehaviour::Close, json),
        Behaviour::Refuse => (PodBehaviour::Refuse, json),
        Behaviour::LegacySse => (PodBehaviour::LegacySse, json),
        Behaviour::ForgetSessions => (PodBehaviour::ForgetSessions, json),
        Behaviour::Status {
            code,
            only_initialize,
        } => (
            PodBehaviour::Status {
                code: StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                only_initialize,
            },
            json,
        ),
        Behaviour::Slow(d) => (PodBehaviour::Slow(d), json),
        Behaviour::StartingFor(d) => (PodBehaviour::StartingFor(d), json),
    }
}

/// What happens to the pod a `replace_pod` event replaces.
pub(super) fn pod_retirement(old_pod: &OldPod) -> PodRetirement {
    match old_pod {
        OldPod::Terminate => PodRetirement::Terminate,
        OldPod::Stale(b) => PodRetirement::Stale(to_pod(*b).0),
        OldPod::Blackhole => PodRetirement::Blackhole,
    }
}
