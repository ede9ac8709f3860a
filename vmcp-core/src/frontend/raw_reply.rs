//! A backend's reply to a forwarded request, its `result` kept as raw JSON text.
//!
//! The front end passes a backend's `result` to the client unchanged. Parsing it into a
//! `serde_json::Value` tree (through rmcp's buffered, untagged `JsonRpcMessage`) and encoding it
//! again cost several passes over every result and an allocation per JSON node on the call path.
//! Here the message is read in one pass: serde_json checks the `result` is well-formed JSON and
//! keeps its exact text as a [`RawValue`], which is written as is into the client's reply.
//!
//! The shape rules are rmcp's (`JsonRpcMessage`), so a reply is accepted or refused exactly as
//! the probe's parser (`client::session::find_reply`) does it: a message is classified by which
//! of `method`, `id`, `result` and `error` it carries, `jsonrpc` must be `"2.0"`, a response
//! needs a string or integer `id` and an object `result`, an error a JSON-RPC error object.
//! Requests and notifications the backend interleaves (in a batch or an SSE stream) are skipped.

use std::fmt;

use rmcp::model::{ErrorData, JsonRpcVersion2_0, RequestId};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::client::session;
use crate::error::{BackendError, ProbeStep};

/// How a backend answered one of our requests.
#[derive(Debug)]
pub(crate) enum RawReply {
    /// The `result` object, as the backend wrote it.
    Result(Box<RawValue>),
    /// The `error` object.
    Error(ErrorData),
}

/// One message of a backend's reply body.
enum Message {
    /// A response (`id` always set) or an error (`id` absent or null when the server could not
    /// read the request).
    Reply {
        id: Option<RequestId>,
        reply: RawReply,
    },
    /// A server request or notification: not an answer to anything we sent.
    Other,
}

/// The keys that decide a message's shape; any other key is skipped.
enum Field {
    Jsonrpc,
    Id,
    Method,
    Result,
    Error,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC message key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Field, E> {
                Ok(match key {
                    "jsonrpc" => Field::Jsonrpc,
                    "id" => Field::Id,
                    "method" => Field::Method,
                    "result" => Field::Result,
                    "error" => Field::Error,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MessageVisitor)
    }
}

struct MessageVisitor;

/// Fails on a key seen twice (as serde's derived structs do, and so rmcp's message types).
fn once<T, E: de::Error>(slot: &Option<T>, key: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(key));
    }
    Ok(())
}

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC 2.0 message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message, A::Error> {
        let mut jsonrpc: Option<JsonRpcVersion2_0> = None;
        let mut method: Option<IgnoredAny> = None;
        let mut id: Option<Option<RequestId>> = None;
        let mut result: Option<Box<RawValue>> = None;
        let mut error: Option<ErrorData> = None;
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Jsonrpc => {
                    once(&jsonrpc, "jsonrpc")?;
                    jsonrpc = Some(map.next_value()?);
                }
                Field::Method => {
                    // Only its presence counts; rmcp keeps a request's or notification's
                    // method in a map, where a repeated key is no error.
                    method = Some(map.next_value()?);
                }
                Field::Id => {
                    once(&id, "id")?;
                    id = Some(map.next_value()?);
                }
                Field::Result => {
                    once(&result, "result")?;
                    result = Some(map.next_value()?);
                }
                Field::Error => {
                    once(&error, "error")?;
                    error = Some(map.next_value()?);
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if jsonrpc.is_none() {
            return Err(de::Error::missing_field("jsonrpc"));
        }
        let null_id = || de::Error::custom("id must be a string or an integer, not null");
        match (method.is_some(), id, result, error) {
            // A server request: it needs a real id, as rmcp's request type does.
            (true, Some(id), None, None) => match id {
                Some(_) => Ok(Message::Other),
                None => Err(null_id()),
            },
            (true, None, None, None) => Ok(Message::Other),
            (false, id, Some(result), None) => {
                let id = match id {
                    Some(Some(id)) => id,
                    Some(None) => return Err(null_id()),
                    None => return Err(de::Error::missing_field("id")),
                };
                if !result.get().starts_with('{') {
                    return Err(de::Error::custom("result must be an object"));
                }
                Ok(Message::Reply {
                    id: Some(id),
                    reply: RawReply::Result(result),
                })
            }
            (false, id, None, Some(error)) => Ok(Message::Reply {
                id: id.flatten(),
                reply: RawReply::Error(error),
            }),
            _ => Err(de::Error::custom("unrecognized JSON-RPC message")),
        }
    }
}

/// Parse a JSON reply body (one message or a batch) and pick the answer to `id`: the response
/// with that id, or an error with that id or without one (it answers a request the server could
/// not read: ours). Other messages are skipped; `Ok(None)` when none answers `id`.
pub(crate) fn find_raw_reply(
    step: ProbeStep,
    bytes: &[u8],
    id: &RequestId,
) -> Result<Option<RawReply>, BackendError> {
    let messages: Vec<Message> = session::parse_messages(step, bytes)?;
    Ok(messages.into_iter().find_map(|message| match message {
        Message::Reply {
            id: Some(theirs),
            reply,
        } if theirs == *id => Some(reply),
        Message::Reply {
            id: None,
            reply: reply @ RawReply::Error(_),
        } => Some(reply),
        Message::Reply { .. } | Message::Other => None,
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;
    use crate::client::session::{RpcReply, find_reply};

    /// What a parse decided, comparable across the two parsers: the result as a JSON value,
    /// the error, nothing, or a refusal (its message aside).
    #[derive(Debug, PartialEq)]
    enum Decision {
        Result(Value),
        Error(ErrorData),
        NoReply,
        Refused,
    }

    fn raw(text: &str, id: &RequestId) -> Decision {
        match find_raw_reply(ProbeStep::Forward, text.as_bytes(), id) {
            Ok(Some(RawReply::Result(raw))) => {
                Decision::Result(serde_json::from_str(raw.get()).expect("raw result is JSON"))
            }
            Ok(Some(RawReply::Error(error))) => Decision::Error(error),
            Ok(None) => Decision::NoReply,
            Err(BackendError::Protocol { .. }) => Decision::Refused,
            Err(other) => panic!("unexpected error kind {other:?}"),
        }
    }

    fn typed(text: &str, id: &RequestId) -> Decision {
        match find_reply(ProbeStep::Forward, text.as_bytes(), id) {
            Ok(Some(RpcReply::Result(object))) => Decision::Result(Value::Object(object)),
            Ok(Some(RpcReply::Error(error))) => Decision::Error(error),
            Ok(None) => Decision::NoReply,
            Err(BackendError::Protocol { .. }) => Decision::Refused,
            Err(other) => panic!("unexpected error kind {other:?}"),
        }
    }

    #[test]
    fn keeps_the_result_text_exactly_as_the_backend_wrote_it() {
        // Key order, spacing and number spelling survive (a Value round trip would sort the
        // keys and re-spell 1.0e0).
        let text = r#"{"jsonrpc":"2.0","id":7,"result":{"z": 1.0e0, "a":[true,{"y":null}] }}"#;
        match find_raw_reply(ProbeStep::Forward, text.as_bytes(), &RequestId::Number(7)) {
            Ok(Some(RawReply::Result(raw))) => {
                assert_eq!(raw.get(), r#"{"z": 1.0e0, "a":[true,{"y":null}] }"#);
            }
            other => panic!("expected the raw result, got {other:?}"),
        }
    }

    #[test]
    fn picks_our_answer_and_skips_the_rest() {
        let id = RequestId::Number(2);
        let batch = r#"[
            {"jsonrpc":"2.0","method":"notifications/progress","params":{"p":1}},
            {"jsonrpc":"2.0","id":"x","method":"sampling/createMessage"},
            {"jsonrpc":"2.0","id":1,"result":{"other":true}},
            {"jsonrpc":"2.0","id":2,"result":{"mine":true}}
        ]"#;
        assert_eq!(
            raw(batch, &id),
            Decision::Result(serde_json::json!({"mine": true}))
        );
        let string_id = RequestId::String("2".into());
        assert_eq!(raw(batch, &string_id), Decision::NoReply);
        let error = r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error"}}"#;
        assert!(matches!(raw(error, &id), Decision::Error(e) if e.code.0 == -32700));
        let other = r#"{"jsonrpc":"2.0","id":8,"error":{"code":-1,"message":"x"}}"#;
        assert_eq!(raw(other, &id), Decision::NoReply);
    }

    #[test]
    fn refuses_what_rmcp_refuses() {
        let id = RequestId::Number(1);
        for text in [
            "",
            "null",
            "{}",
            "[1,2]",
            "\u{0}",
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"1.0","id":1,"result":{}}"#,
            r#"{"id":1,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":[]}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":"text"}"#,
            r#"{"jsonrpc":"2.0","id":null,"result":{}}"#,
            r#"{"jsonrpc":"2.0","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"message":"no code"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"id":1,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"unterminated":}"#,
        ] {
            assert_eq!(raw(text, &id), Decision::Refused, "{text:?}");
            assert_eq!(typed(text, &id), Decision::Refused, "rmcp accepts {text:?}");
        }
        assert!(matches!(
            find_raw_reply(ProbeStep::Forward, b"\xff", &id),
            Err(BackendError::Protocol { .. })
        ));
    }

    /// A JSON-RPC-like message: any subset of the shape keys, each with a value of some type.
    fn message() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            Just("null"),
            Just("1"),
            Just("2"),
            Just("-3"),
            Just("1.5"),
            Just("\"1\""),
            Just("\"2.0\""),
            Just("\"x\""),
            Just("true"),
            Just("[]"),
            Just("{}"),
            Just(r#"{"b":2,"a":[1,{"c":null}]}"#),
            Just(r#"{"code":-32000,"message":"down"}"#),
            Just(r#"{"code":1,"message":"m","data":{"k":"v"}}"#),
        ];
        let key = prop_oneof![
            Just("jsonrpc"),
            Just("id"),
            Just("method"),
            Just("result"),
            Just("error"),
            Just("params"),
            Just("extra"),
        ];
        let jsonrpc = prop_oneof![Just(Some("\"2.0\"")), Just(Some("\"1.0\"")), Just(None)];
        (jsonrpc, proptest::collection::vec((key, value), 0..5)).prop_map(|(version, pairs)| {
            let mut fields: Vec<String> = version
                .map(|v| format!("\"jsonrpc\":{v}"))
                .into_iter()
                .collect();
            fields.extend(pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")));
            format!("{{{}}}", fields.join(","))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The one-pass parser decides every message (and batch) as the probe's rmcp-based
        /// parser does, and keeps the same result.
        #[test]
        fn agrees_with_the_rmcp_parser(
            messages in proptest::collection::vec(message(), 1..4),
            batch in any::<bool>(),
            ours in prop_oneof![Just(RequestId::Number(1)), Just(RequestId::Number(2)), Just(RequestId::String("1".into()))],
        ) {
            let text = if batch {
                format!("[{}]", messages.join(","))
            } else {
                messages[0].clone()
            };
            prop_assert_eq!(raw(&text, &ours), typed(&text, &ours), "{}", text);
        }
    }
}
