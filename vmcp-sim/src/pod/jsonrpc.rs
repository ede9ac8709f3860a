//! The JSON-RPC side of a pod: what it reads from a request body and the replies it writes.
//!
//! Typed, so that a request costs no `serde_json::Value` tree: building, printing and dropping
//! those trees was most of a pod's CPU per call (docs/BENCHMARKS.md, issue 13). What is read and
//! written is exactly what the `Value` code read and wrote:
//!
//! * [`RpcMessage::parse`] takes a typed fast path only for a body that is a JSON object whose
//!   members have the expected types (and no duplicate keys); anything else goes through a
//!   `Value`, read as before. The tests compare both paths on tricky bodies.
//! * The replies print byte for byte what `serde_json::json!` printed: members in sorted key
//!   order (`serde_json::Map` is a `BTreeMap` here), pinned by the tests.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer};
use serde::{Deserialize as DeriveDeserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// What a pod needs from a JSON-RPC message body.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RpcMessage {
    /// `method`, when it is a string.
    pub(crate) method: Option<String>,
    /// `id` as sent, when the member is present (`Some(Value::Null)` for `"id": null`).
    pub(crate) id: Option<Value>,
    /// `params.protocolVersion`, when it is a string.
    pub(crate) protocol_version: Option<String>,
    /// `params.name`, when it is a string.
    pub(crate) name: Option<String>,
}

impl RpcMessage {
    /// The message in `body`; `None` when the body is not JSON.
    pub(crate) fn parse(body: &[u8]) -> Option<RpcMessage> {
        fast(body).or_else(|| by_value(body))
    }
}

/// The members of a request the fast path reads. Only used on a body that starts with `{` (a
/// derived struct would also accept a JSON array, positionally).
#[derive(DeriveDeserialize)]
struct WireMessage<'a> {
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
}

/// The members of `params` the fast path reads (only parsed when `params` is an object).
#[derive(DeriveDeserialize)]
struct WireParams<'a> {
    #[serde(default, borrow, rename = "protocolVersion")]
    protocol_version: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
}

/// A member that is present is `Some`, even when it is `null` (`Option` alone reads `null` as
/// absent, where `Value::get` sees `Some(Null)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn is_object(json: &[u8]) -> bool {
    json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The typed path; `None` whenever the body is not an object of the expected shape (the caller
/// then reads it through a `Value`).
fn fast(body: &[u8]) -> Option<RpcMessage> {
    if !is_object(body) {
        return None;
    }
    let message: WireMessage<'_> = serde_json::from_slice(body).ok()?;
    let (protocol_version, name) = match message.params {
        Some(raw) if is_object(raw.get().as_bytes()) => {
            let params: WireParams<'_> = serde_json::from_str(raw.get()).ok()?;
            (
                params.protocol_version.map(Cow::into_owned),
                params.name.map(Cow::into_owned),
            )
        }
        // An array, a scalar or null: `Value::pointer("/params/…")` finds nothing in those.
        _ => (None, None),
    };
    Some(RpcMessage {
        method: message.method.map(Cow::into_owned),
        id: message.id,
        protocol_version,
        name,
    })
}

/// Any JSON, read through a `Value` (what the pod always did).
fn by_value(body: &[u8]) -> Option<RpcMessage> {
    let message: Value = serde_json::from_slice(body).ok()?;
    let text = |pointer: &str| {
        message
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Some(RpcMessage {
        method: text("/method"),
        id: message.get("id").cloned(),
        protocol_version: text("/params/protocolVersion"),
        name: text("/params/name"),
    })
}

/// `{"id":…,"jsonrpc":"2.0","result":…}`.
#[derive(Serialize)]
struct ResultReply<'a, R> {
    id: &'a Value,
    jsonrpc: &'static str,
    result: R,
}

/// `{"error":{"code":…,"message":…},"id":…,"jsonrpc":"2.0"}`.
#[derive(Serialize)]
struct ErrorReply<'a> {
    error: ErrorMember<'a>,
    id: &'a Value,
    jsonrpc: &'static str,
}

#[derive(Serialize)]
struct ErrorMember<'a> {
    code: i64,
    message: &'a str,
}

/// `{}`.
#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct InitializeResult<'a> {
    capabilities: Capabilities,
    #[serde(rename = "protocolVersion")]
    protocol_version: &'a str,
    #[serde(rename = "serverInfo")]
    server_info: ServerInfo<'a>,
}

#[derive(Serialize)]
struct Capabilities {
    tools: Empty,
}

#[derive(Serialize)]
struct ServerInfo<'a> {
    name: &'a str,
    version: &'static str,
}

#[derive(Serialize)]
struct ToolsList<'a> {
    tools: Vec<Tool<'a>>,
}

#[derive(Serialize)]
struct Tool<'a> {
    description: String,
    #[serde(rename = "inputSchema")]
    input_schema: Schema,
    name: &'a str,
}

/// `{"properties":{"text":{"type":"string"}},"type":"object"}`.
#[derive(Serialize)]
struct Schema {
    properties: SchemaProperties,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct SchemaProperties {
    text: SchemaType,
}

#[derive(Serialize)]
struct SchemaType {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct CallResult<'a> {
    #[serde(rename = "_meta")]
    meta: CallMeta<'a>,
    content: [TextContent; 1],
    #[serde(rename = "isError")]
    is_error: bool,
}

#[derive(Serialize)]
struct CallMeta<'a> {
    #[serde(rename = "sim/pod")]
    pod: &'a str,
}

#[derive(Serialize)]
struct TextContent {
    text: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// Prints `value`. None of the reply types can fail to print (string keys only, no floats of
/// their own), so the empty string is unreachable.
fn print(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The `initialize` answer of pod `pod`.
pub(crate) fn initialize_reply(id: &Value, protocol_version: &str, pod: &str) -> String {
    print(&ResultReply {
        id,
        jsonrpc: "2.0",
        result: InitializeResult {
            capabilities: Capabilities { tools: Empty {} },
            protocol_version,
            server_info: ServerInfo {
                name: pod,
                version: "0.0.0-sim",
            },
        },
    })
}

/// The `tools/list` answer: every tool, in order, with the one input schema the pods use.
pub(crate) fn tools_list_reply(id: &Value, tools: &[String]) -> String {
    print(&ResultReply {
        id,
        jsonrpc: "2.0",
        result: ToolsList {
            tools: tools
                .iter()
                .map(|name| Tool {
                    description: format!("The simulated tool {name}."),
                    input_schema: Schema {
                        properties: SchemaProperties {
                            text: SchemaType { kind: "string" },
                        },
                        kind: "object",
                    },
                    name,
                })
                .collect(),
        },
    })
}

/// The answer to a `tools/call` of `tool` that pod `pod` ran.
pub(crate) fn call_reply(id: &Value, tool: &str, pod: &str) -> String {
    print(&ResultReply {
        id,
        jsonrpc: "2.0",
        result: CallResult {
            meta: CallMeta { pod },
            content: [TextContent {
                text: format!("{tool} served by {pod}"),
                kind: "text",
            }],
            is_error: false,
        },
    })
}

/// The `ping` answer: an empty result.
pub(crate) fn empty_reply(id: &Value) -> String {
    print(&ResultReply {
        id,
        jsonrpc: "2.0",
        result: Empty {},
    })
}

/// A JSON-RPC error answer.
pub(crate) fn error_reply(id: &Value, code: i64, message: &str) -> String {
    print(&ErrorReply {
        error: ErrorMember { code, message },
        id,
        jsonrpc: "2.0",
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Bodies whose reading is easy to get wrong: every one must read the same on both paths.
    const BODIES: &[&str] = &[
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"github_echo","arguments":{"text":"hi"}}}"#,
        r#"{"jsonrpc":"2.0","id":"a\u0041","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#,
        r#"  {"method":"notifications/initialized","jsonrpc":"2.0"}"#,
        r#"{"id":null,"method":"ping"}"#,
        r#"{"id":1.5e3,"method":"ping"}"#,
        r#"{"id":{"nested":[1,2]},"method":"ping"}"#,
        r#"{"id":1,"method":null}"#,
        r#"{"id":1,"method":42}"#,
        r#"{"id":1,"method":"tools/call","params":["x","y"]}"#,
        r#"{"id":1,"method":"tools/call","params":null}"#,
        r#"{"id":1,"method":"tools/call","params":"name"}"#,
        r#"{"id":1,"method":"tools/call","params":{"name":5}}"#,
        r#"{"id":1,"method":"tools/call","params":{"name":"a\"b\\c"}}"#,
        r#"{"id":1,"id":2,"method":"a","method":"b"}"#,
        r#"{"id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#,
        r#"{"result":{},"id":3,"jsonrpc":"2.0"}"#,
        r#"[{"id":1,"method":"ping"}]"#,
        r#""tools/call""#,
        "17",
        "null",
        "{}",
        "{\"method\":\"ping\"} trailing",
        "{\"method\":",
        "",
        "not json",
    ];

    #[test]
    fn both_paths_read_every_body_alike() {
        for body in BODIES {
            let typed = fast(body.as_bytes());
            let slow = by_value(body.as_bytes());
            if let Some(typed) = &typed {
                assert_eq!(Some(typed), slow.as_ref(), "body {body}");
            }
            assert_eq!(RpcMessage::parse(body.as_bytes()), slow, "body {body}");
        }
    }

    #[test]
    fn the_fast_path_takes_the_bodies_the_front_end_sends() {
        for body in &BODIES[..4] {
            assert!(fast(body.as_bytes()).is_some(), "body {body}");
        }
        let call = RpcMessage::parse(BODIES[0].as_bytes()).unwrap_or_default();
        assert_eq!(call.method.as_deref(), Some("tools/call"));
        assert_eq!(call.id, Some(json!(7)));
        assert_eq!(call.name.as_deref(), Some("github_echo"));
        let note = RpcMessage::parse(BODIES[2].as_bytes()).unwrap_or_default();
        assert_eq!(note.id, None);
        assert_eq!(
            RpcMessage::parse(BODIES[3].as_bytes())
                .unwrap_or_default()
                .id,
            Some(Value::Null)
        );
    }

    #[test]
    fn replies_print_what_the_value_code_printed() {
        for id in [json!(7), json!("s-1"), Value::Null, json!(1.5)] {
            assert_eq!(
                initialize_reply(&id, "2025-06-18", "github-pod-1"),
                json!({"jsonrpc": "2.0", "id": id, "result": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": { "tools": {} },
                    "serverInfo": { "name": "github-pod-1", "version": "0.0.0-sim" },
                }})
                .to_string()
            );
            let tools = ["search".to_owned(), "get_\"issue\"".to_owned()];
            let listed: Vec<Value> = tools
                .iter()
                .map(|name| {
                    json!({
                        "name": name,
                        "description": format!("The simulated tool {name}."),
                        "inputSchema": {
                            "type": "object",
                            "properties": { "text": { "type": "string" } },
                        },
                    })
                })
                .collect();
            assert_eq!(
                tools_list_reply(&id, &tools),
                json!({"jsonrpc": "2.0", "id": id, "result": { "tools": listed }}).to_string()
            );
            assert_eq!(
                tools_list_reply(&id, &[]),
                json!({"jsonrpc": "2.0", "id": id, "result": { "tools": [] }}).to_string()
            );
            assert_eq!(
                call_reply(&id, "search", "jira-pod-2"),
                json!({"jsonrpc": "2.0", "id": id, "result": {
                    "content": [{"type": "text", "text": "search served by jira-pod-2"}],
                    "isError": false,
                    "_meta": {"sim/pod": "jira-pod-2"},
                }})
                .to_string()
            );
            assert_eq!(
                empty_reply(&id),
                json!({"jsonrpc": "2.0", "id": id, "result": {}}).to_string()
            );
            assert_eq!(
                error_reply(&id, -32601, "method not found: \"x\""),
                json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32601, "message": "method not found: \"x\""}})
                .to_string()
            );
        }
    }
}
