//! Which backend a client-visible tool name routes to: the front end's own aggregation rules
//! (`vmcp_core::frontend::aggregate`) applied to every backend's declared tool set, so a call's
//! trace entry names its backend even when the call never reached one (a fast-fail).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use vmcp_core::client::Catalog;
use vmcp_core::frontend::{self as aggregate, Kind, Offer};

use crate::scenario::Scenario;

/// Exposed tool name → owning backend, for every backend of `scenario` offering its tools.
pub fn tool_routes(scenario: &Scenario) -> BTreeMap<String, String> {
    let catalogs: Vec<(String, Catalog)> = scenario
        .backends
        .iter()
        .map(|b| {
            let tools = b
                .served_tools()
                .into_iter()
                .map(|name| {
                    let mut item = Map::new();
                    item.insert("name".to_owned(), Value::String(name));
                    item
                })
                .collect();
            (
                b.name.clone(),
                Catalog {
                    tools: Some(tools),
                    resources: None,
                    prompts: None,
                },
            )
        })
        .collect();
    let offers: Vec<Offer<'_>> = catalogs
        .iter()
        .map(|(backend, catalog)| Offer { backend, catalog })
        .collect();
    aggregate::aggregate(&offers, &scenario.frontend.aggregation)
        .list(Kind::Tools)
        .iter()
        .map(|e| (e.exposed.clone(), e.backend.clone()))
        .collect()
}
