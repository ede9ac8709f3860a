//! The file shape of a scenario, as serde reads it: every table `deny_unknown_fields`, every
//! value that a later rule may complain about wrapped in [`Spanned`] so the complaint can point
//! at it.
//!
//! Why two layers (raw, then the model): serde checks the shape (unknown keys, types, duration
//! syntax, `[vmcp]` through `vmcp-core`), and the conversion in `parse` checks the rules that
//! relate values to each other (references, windows, keys an action does not use). The model
//! then holds only resolved, valid values.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use vmcp_core::config::duration::HumanDuration;
use vmcp_core::config::{AggregationConfig, FailureHandling, ServerConfig};

use super::behaviour::Behaviour;

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub name: Spanned<String>,
    pub description: Spanned<String>,
    pub seed: u64,
    pub duration: Spanned<HumanDuration>,
    pub tick: Option<Spanned<HumanDuration>>,
    pub min_latency: Option<Spanned<HumanDuration>>,
    pub max_latency: Option<Spanned<HumanDuration>>,
    pub reproduces_bug: Option<Spanned<String>>,
    pub fixed_schedule: Option<Spanned<String>>,
    pub vmcp: Option<FailureHandling>,
    pub swarm: Option<Spanned<super::swarm::RawSwarm>>,
    /// The front end's `server` block (as in the `vmcp` YAML file).
    pub server: Option<Spanned<ServerConfig>>,
    /// The front end's `aggregation` block.
    pub aggregation: Option<Spanned<AggregationConfig>>,
    #[serde(default)]
    pub backend: Vec<Spanned<RawBackend>>,
    #[serde(default)]
    pub client: Vec<Spanned<RawClient>>,
    #[serde(default)]
    pub event: Vec<Spanned<RawEvent>>,
    #[serde(default)]
    pub expect: Vec<Spanned<RawExpect>>,
}

/// One `[[backend]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackend {
    pub name: Spanned<String>,
    pub port: Option<Spanned<u16>>,
    pub path: Option<Spanned<String>>,
    pub behaviour: Option<Behaviour>,
    pub registered: Option<bool>,
    pub auth: Option<Spanned<RawAuth>>,
    pub require_auth: Option<bool>,
    pub count: Option<Spanned<i64>>,
    pub shared_host: Option<Spanned<bool>>,
    pub tools: Option<Spanned<Vec<Spanned<String>>>>,
    pub unknown_session_status: Option<Spanned<u16>>,
}

/// One `[[client]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClient {
    pub name: Spanned<String>,
    pub start: Option<Spanned<HumanDuration>>,
    pub stream: Option<bool>,
    pub list_tools: Option<Vec<Spanned<HumanDuration>>>,
    pub relist_on_change: Option<bool>,
    pub call_timeout: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub call: Vec<Spanned<RawCall>>,
}

/// One `[[client.call]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCall {
    pub tool: Spanned<String>,
    pub arguments: Option<serde_json::Map<String, serde_json::Value>>,
    pub at: Option<Spanned<HumanDuration>>,
    pub every: Option<Spanned<HumanDuration>>,
    pub from: Option<Spanned<HumanDuration>>,
    pub to: Option<Spanned<HumanDuration>>,
}

/// `auth = { type = "bearer", token = ... }` or `{ type = "header", name = ..., value = ... }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    #[serde(rename = "type")]
    pub type_: Spanned<String>,
    pub token: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub value: Option<Spanned<String>>,
}

/// One `[[event]]`: every key any action uses; `parse` refuses the ones its action does not.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvent {
    pub at: Spanned<HumanDuration>,
    pub id: Option<Spanned<String>>,
    pub action: Spanned<String>,
    pub backend: Option<Spanned<String>>,
    pub old_pod: Option<Spanned<String>>,
    pub stale_behaviour: Option<Spanned<Behaviour>>,
    pub behaviour: Option<Spanned<Behaviour>>,
    #[serde(rename = "for")]
    pub for_: Option<Spanned<HumanDuration>>,
    pub latency: Option<Spanned<HumanDuration>>,
    pub url: Option<Spanned<String>>,
    pub auth: Option<Spanned<RawAuth>>,
}

impl RawEvent {
    /// The optional keys that are present, with their value spans.
    pub(super) fn present_keys(&self) -> Vec<(&'static str, Range<usize>)> {
        let mut keys = Vec::new();
        push(&mut keys, "backend", &self.backend);
        push(&mut keys, "old_pod", &self.old_pod);
        push(&mut keys, "stale_behaviour", &self.stale_behaviour);
        push(&mut keys, "behaviour", &self.behaviour);
        push(&mut keys, "for", &self.for_);
        push(&mut keys, "latency", &self.latency);
        push(&mut keys, "url", &self.url);
        push(&mut keys, "auth", &self.auth);
        keys
    }
}

/// One `[[expect]]`: every key any kind uses; `parse` refuses the ones its kind does not.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    pub kind: Spanned<String>,
    pub description: Option<Spanned<String>>,
    pub from: Option<Spanned<HumanDuration>>,
    pub to: Option<Spanned<HumanDuration>>,
    pub by: Option<Spanned<HumanDuration>>,
    pub after: Option<Spanned<String>>,
    pub within: Option<Spanned<HumanDuration>>,
    pub counter: Option<Spanned<String>>,
    pub min: Option<Spanned<u64>>,
    pub max: Option<Spanned<u64>>,
    pub equals: Option<Spanned<RawEquals>>,
    pub backend: Option<Spanned<String>>,
    pub status: Option<Spanned<String>>,
    pub crd_status: Option<Spanned<String>>,
    pub reason: Option<Spanned<String>>,
    pub circuit: Option<Spanned<String>>,
    pub category: Option<Spanned<String>>,
    pub phase: Option<Spanned<String>>,
    pub present: Option<Spanned<bool>>,
    pub on: Option<Spanned<String>>,
    pub message: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub pod: Option<Spanned<String>>,
    pub client: Option<Spanned<String>>,
    pub tool: Option<Spanned<String>>,
    pub outcome: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub authorized: Option<Spanned<bool>>,
    pub max_latency: Option<Spanned<HumanDuration>>,
    pub at: Option<Spanned<HumanDuration>>,
    pub contains: Option<Spanned<Vec<String>>>,
    pub excludes: Option<Spanned<Vec<String>>>,
}

/// `equals`: a count (kind `count`) or a list of tool names (kind `tools`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawEquals {
    Count(u64),
    Names(Vec<String>),
}

impl RawExpect {
    /// The optional keys that are present (except `description`, which every kind accepts),
    /// with their value spans.
    pub(super) fn present_keys(&self) -> Vec<(&'static str, Range<usize>)> {
        let mut keys = Vec::new();
        push(&mut keys, "from", &self.from);
        push(&mut keys, "to", &self.to);
        push(&mut keys, "by", &self.by);
        push(&mut keys, "after", &self.after);
        push(&mut keys, "within", &self.within);
        push(&mut keys, "counter", &self.counter);
        push(&mut keys, "min", &self.min);
        push(&mut keys, "max", &self.max);
        push(&mut keys, "equals", &self.equals);
        push(&mut keys, "backend", &self.backend);
        push(&mut keys, "on", &self.on);
        push(&mut keys, "pod", &self.pod);
        push(&mut keys, "client", &self.client);
        push(&mut keys, "tool", &self.tool);
        push(&mut keys, "outcome", &self.outcome);
        push(&mut keys, "method", &self.method);
        push(&mut keys, "authorized", &self.authorized);
        push(&mut keys, "max_latency", &self.max_latency);
        push(&mut keys, "at", &self.at);
        push(&mut keys, "contains", &self.contains);
        push(&mut keys, "excludes", &self.excludes);
        keys.extend(self.backend_condition_keys());
        push(&mut keys, "phase", &self.phase);
        keys
    }

    /// The backend condition keys that are present (they need `backend` as their subject).
    pub(super) fn backend_condition_keys(&self) -> Vec<(&'static str, Range<usize>)> {
        let mut keys = Vec::new();
        push(&mut keys, "present", &self.present);
        push(&mut keys, "status", &self.status);
        push(&mut keys, "crd_status", &self.crd_status);
        push(&mut keys, "reason", &self.reason);
        push(&mut keys, "circuit", &self.circuit);
        push(&mut keys, "category", &self.category);
        push(&mut keys, "message", &self.message);
        push(&mut keys, "url", &self.url);
        keys
    }
}

fn push<T>(
    keys: &mut Vec<(&'static str, Range<usize>)>,
    key: &'static str,
    value: &Option<Spanned<T>>,
) {
    if let Some(value) = value {
        keys.push((key, value.span()));
    }
}
