//! `BackendError::step`: every error raised inside a probe step names that step (reports and
//! logs say "initialize: …", "tools/list: …"), and the two that belong to no step say so.

use std::time::Duration;

use vmcp_core::error::{BackendError, ProbeStep, UnavailableCause};

const STEPS: [ProbeStep; 6] = [
    ProbeStep::Prepare,
    ProbeStep::Initialize,
    ProbeStep::Initialized,
    ProbeStep::ListTools,
    ProbeStep::Ping,
    ProbeStep::DeleteSession,
];

/// One error of every variant that carries a step, raised in `step`.
fn in_step(step: ProbeStep) -> Vec<BackendError> {
    vec![
        BackendError::AuthenticationFailed { step },
        BackendError::AuthorizationFailed { step },
        BackendError::Rejected { step, status: 405 },
        BackendError::SessionTerminated { step },
        BackendError::Unavailable {
            step,
            cause: UnavailableCause::ConnectionRefused,
        },
        BackendError::Timeout {
            step,
            after: Duration::from_secs(10),
        },
        BackendError::Protocol {
            step,
            detail: "not JSON".to_owned(),
        },
        BackendError::BodyTooLarge {
            step,
            limit: 1 << 20,
        },
        BackendError::Rpc {
            step,
            code: -32601,
            message: "method not found".to_owned(),
        },
    ]
}

#[test]
fn errors_raised_in_a_step_name_it() {
    for step in STEPS {
        for err in in_step(step) {
            assert_eq!(err.step(), Some(step), "{err:?}");
            assert!(
                err.to_string().starts_with(&format!("{step}: ")),
                "the message names the step: {err}"
            );
        }
    }
}

#[test]
fn cancellation_and_a_bad_endpoint_belong_to_no_step() {
    assert_eq!(BackendError::Cancelled.step(), None);
    let invalid = BackendError::InvalidEndpoint {
        detail: "credentials in the URL".to_owned(),
    };
    assert_eq!(invalid.step(), None);
}
