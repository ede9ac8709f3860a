//! What a client reads from a `tools/call` result: whether it is a tool error (`isError`) and
//! which pod ran it (`_meta["sim/pod"]`, set by the simulated pods).
//!
//! Typed for the usual shape, as the rest of the client's JSON (see `wire`); a result of any
//! other shape is read through a `serde_json::Value` exactly as before. The tests compare both.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::wire::is_object;
use crate::pod::POD_META;

/// A `tools/call` result as the client sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct CallResult {
    /// `isError` is `true`.
    pub(super) is_error: bool,
    /// `_meta["sim/pod"]`, when it is a string.
    pub(super) pod: Option<String>,
}

impl CallResult {
    /// Reads `result`.
    pub(super) fn read(result: &RawValue) -> CallResult {
        typed(result.get()).unwrap_or_else(|| by_value(result.get()))
    }
}

#[derive(Deserialize)]
struct Members<'a> {
    #[serde(default, rename = "isError")]
    is_error: Option<bool>,
    #[serde(default, borrow, rename = "_meta")]
    meta: Option<&'a RawValue>,
}

/// `_meta`; the key is [`POD_META`] (the test below ties the two).
#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(default, borrow, rename = "sim/pod")]
    pod: Option<Cow<'a, str>>,
}

/// The typed read; `None` for a result of another shape (not an object, a member of another
/// type, duplicate keys).
fn typed(json: &str) -> Option<CallResult> {
    if !is_object(json.as_bytes()) {
        return None;
    }
    let members: Members<'_> = serde_json::from_str(json).ok()?;
    let pod = match members.meta {
        Some(meta) if is_object(meta.get().as_bytes()) => {
            serde_json::from_str::<Meta<'_>>(meta.get())
                .ok()?
                .pod
                .map(Cow::into_owned)
        }
        // An array, a scalar or null holds no `sim/pod` member.
        _ => None,
    };
    Some(CallResult {
        is_error: members.is_error == Some(true),
        pod,
    })
}

/// Any JSON, through a `Value` (what the client always did).
fn by_value(json: &str) -> CallResult {
    let Ok(result) = serde_json::from_str::<Value>(json) else {
        return CallResult::default();
    };
    CallResult {
        is_error: result.get("isError").and_then(Value::as_bool) == Some(true),
        pod: result
            .get("_meta")
            .and_then(|meta| meta.get(POD_META))
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESULTS: &[&str] = &[
        r#"{"_meta":{"sim/pod":"github-pod-1"},"content":[{"text":"x","type":"text"}],"isError":false}"#,
        r#"{"content":[],"isError":true}"#,
        r#"{"isError":null,"_meta":null}"#,
        r#"{"isError":"true","_meta":{"sim/pod":"p"}}"#,
        r#"{"_meta":["sim/pod"]}"#,
        r#"{"_meta":{"sim/pod":7}}"#,
        r#"{"_meta":{"sim/pod":"a\"b"}}"#,
        r#"{"_meta":{"sim/pod":"a","sim/pod":"b"}}"#,
        r#"{"isError":false,"isError":true}"#,
        r#"[true]"#,
        "null",
        "{}",
    ];

    #[test]
    fn both_reads_agree_on_every_result() {
        for json in RESULTS {
            let raw = RawValue::from_string((*json).to_owned()).unwrap_or_else(|e| panic!("{e}"));
            if let Some(typed) = typed(json) {
                assert_eq!(typed, by_value(json), "result {json}");
            }
            assert_eq!(CallResult::read(&raw), by_value(json), "result {json}");
        }
    }

    #[test]
    fn the_pods_results_take_the_typed_read() {
        assert_eq!(POD_META, "sim/pod", "the key Meta is renamed to");
        let pod = crate::pod::call_reply_for_test("github_echo", "github-pod-1");
        let reply: Value = serde_json::from_str(&pod).unwrap_or_default();
        let result = reply["result"].to_string();
        assert_eq!(
            typed(&result),
            Some(CallResult {
                is_error: false,
                pod: Some("github-pod-1".to_owned()),
            })
        );
    }
}
