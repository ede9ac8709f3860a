//! Typed classification of transport errors (hyper, hyper-util, the connector, I/O) into
//! [`BackendError`]s. Decided by types and error kinds, never by message text: the text of these
//! errors is only used, redacted, as a detail.

use std::error::Error as StdError;

use crate::client::connector::ConnectTimeout;
use crate::error::{
    BackendError, ProbeStep, UnavailableCause, sanitize, unavailable_cause_from_io,
};

/// Classify an error from `Client::request` (connect, send, or receiving the response head).
pub(crate) fn classify_request_error(
    step: ProbeStep,
    err: &hyper_util::client::legacy::Error,
) -> BackendError {
    if err.is_connect() {
        return BackendError::Unavailable {
            step,
            cause: connect_cause(err),
        };
    }
    classify_chain(step, err)
}

/// Classify an error while reading a response body.
pub(crate) fn classify_body_error(step: ProbeStep, err: &hyper::Error) -> BackendError {
    classify_chain(step, err)
}

fn connect_cause(err: &(dyn StdError + 'static)) -> UnavailableCause {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(timeout) = e.downcast_ref::<ConnectTimeout>() {
            return UnavailableCause::ConnectTimeout(timeout.0);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(cause) = unavailable_cause_from_io(io) {
                // EOF while connecting still means the connection failed.
                return match cause {
                    UnavailableCause::ClosedEarly => UnavailableCause::ConnectionReset,
                    other => other,
                };
            }
        }
        current = e.source();
    }
    UnavailableCause::ConnectFailed(sanitize(&innermost_message(err)))
}

/// Walk the chain: hyper's own error kinds first (they are the most precise), then I/O kinds.
fn classify_chain(step: ProbeStep, err: &(dyn StdError + 'static)) -> BackendError {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
                return BackendError::protocol(step, format!("malformed HTTP response: {h}"));
            }
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                // hyper reports a connection that closed under us as canceled/closed/incomplete;
                // look one level deeper for a reset, which is a connection-level failure.
                if let Some(cause) = io_cause(h) {
                    return BackendError::Unavailable { step, cause };
                }
                return BackendError::Unavailable {
                    step,
                    cause: UnavailableCause::ClosedEarly,
                };
            }
            if h.is_timeout() {
                // hyper's own read timeouts are not configured; treat like a dead connection.
                return BackendError::Unavailable {
                    step,
                    cause: UnavailableCause::ClosedEarly,
                };
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(cause) = unavailable_cause_from_io(io) {
                return BackendError::Unavailable { step, cause };
            }
        }
        current = e.source();
    }
    // Nothing typed: a failure below HTTP we cannot name more precisely.
    BackendError::Unavailable {
        step,
        cause: UnavailableCause::Transport(sanitize(&innermost_message(err))),
    }
}

fn io_cause(err: &(dyn StdError + 'static)) -> Option<UnavailableCause> {
    let mut current = err.source();
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return unavailable_cause_from_io(io);
        }
        current = e.source();
    }
    None
}

fn innermost_message(err: &(dyn StdError + 'static)) -> String {
    let mut current: &(dyn StdError + 'static) = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}
