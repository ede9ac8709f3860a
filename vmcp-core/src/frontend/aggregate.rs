//! Advertising policy and name-conflict resolution (DESIGN §3.6): pure functions from backend
//! health + cached catalogs to the merged lists a client sees.
//!
//! Stability: the input is ordered by backend name and every output list is sorted by exposed
//! name, so the same backends and items always give the same names, whatever order the backends
//! (or their items) were listed in.

use std::collections::BTreeMap;

use rmcp::model::JsonObject;

use crate::client::catalog::Catalog;
use crate::config::{AggregationConfig, ConflictResolution};
use crate::health::HealthStatus;

/// Whether a backend with this status is shown to clients: `healthy` and `degraded` (half-open
/// included, it is degraded), never `unhealthy`, `unauthenticated` or `unknown` (pending).
pub fn advertises(status: HealthStatus) -> bool {
    matches!(status, HealthStatus::Healthy | HealthStatus::Degraded)
}

/// The three listable kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `tools/list`, routed by `name`.
    Tools,
    /// `resources/list`, routed by `uri` (never renamed: a URI is an address).
    Resources,
    /// `prompts/list`, routed by `name`.
    Prompts,
}

impl Kind {
    /// All kinds, in a fixed order.
    pub const ALL: [Kind; 3] = [Kind::Tools, Kind::Resources, Kind::Prompts];

    /// The result field of the list method (`tools`, `resources`, `prompts`).
    pub const fn field(self) -> &'static str {
        match self {
            Kind::Tools => "tools",
            Kind::Resources => "resources",
            Kind::Prompts => "prompts",
        }
    }

    /// The item key that names and routes an item.
    pub const fn key(self) -> &'static str {
        match self {
            Kind::Resources => "uri",
            Kind::Tools | Kind::Prompts => "name",
        }
    }

    /// The `notifications/*/list_changed` method of this kind.
    pub const fn list_changed(self) -> &'static str {
        match self {
            Kind::Tools => "notifications/tools/list_changed",
            Kind::Resources => "notifications/resources/list_changed",
            Kind::Prompts => "notifications/prompts/list_changed",
        }
    }

    fn items(self, catalog: &Catalog) -> Option<&Vec<JsonObject>> {
        match self {
            Kind::Tools => catalog.tools.as_ref(),
            Kind::Resources => catalog.resources.as_ref(),
            Kind::Prompts => catalog.prompts.as_ref(),
        }
    }
}

/// One backend's input to aggregation.
#[derive(Clone, Debug)]
pub struct Offer<'a> {
    /// Backend name.
    pub backend: &'a str,
    /// Its cached catalog.
    pub catalog: &'a Catalog,
}

/// One item as the client sees it, with where it routes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The name (or URI) the client uses.
    pub exposed: String,
    /// The owning backend.
    pub backend: String,
    /// The name (or URI) the backend knows.
    pub original: String,
    /// The item to list: the backend's object with `name` replaced by `exposed`.
    pub item: JsonObject,
}

/// An item dropped because another backend won its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// What was listed.
    pub kind: Kind,
    /// The contested exposed name.
    pub exposed: String,
    /// The backend that lost it.
    pub backend: String,
    /// The backend that kept it.
    pub winner: String,
}

/// The merged view of a set of backends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aggregate {
    /// Per kind, entries sorted by exposed name, names unique.
    pub lists: BTreeMap<Kind, Vec<Entry>>,
    /// Items that lost a name clash (for the log).
    pub dropped: Vec<Dropped>,
}

impl Aggregate {
    /// The sorted entries of `kind` (empty when no backend offers any).
    pub fn list(&self, kind: Kind) -> &[Entry] {
        self.lists.get(&kind).map_or(&[], Vec::as_slice)
    }

    /// The entry with exposed name (or URI) `name`.
    pub fn find(&self, kind: Kind, name: &str) -> Option<&Entry> {
        let list = self.list(kind);
        list.binary_search_by(|e| e.exposed.as_str().cmp(name))
            .ok()
            .map(|i| &list[i])
    }
}

/// The exposed name of `original` on `backend` before clash resolution.
fn exposed_name(config: &AggregationConfig, kind: Kind, backend: &str, original: &str) -> String {
    if kind == Kind::Resources {
        return original.to_owned();
    }
    if let Some(name) = config.overrides.get(backend).and_then(|r| r.get(original)) {
        return name.clone();
    }
    match config.conflict_resolution {
        ConflictResolution::Prefix => format!("{backend}{}{original}", config.separator),
        ConflictResolution::Priority | ConflictResolution::Manual => original.to_owned(),
    }
}

/// Merge `offers` (any order) into sorted, clash-free lists.
pub fn aggregate(offers: &[Offer<'_>], config: &AggregationConfig) -> Aggregate {
    // Clash order: position in `priority`, then backend name, then original name.
    let rank = |backend: &str| {
        config
            .priority
            .iter()
            .position(|p| p == backend)
            .unwrap_or(usize::MAX)
    };
    let mut result = Aggregate::default();
    for kind in Kind::ALL {
        let mut candidates: BTreeMap<String, Vec<(usize, String, String, JsonObject)>> =
            BTreeMap::new();
        for offer in offers {
            let Some(items) = kind.items(offer.catalog) else {
                continue;
            };
            for item in items {
                let Some(original) = item.get(kind.key()).and_then(|v| v.as_str()) else {
                    continue;
                };
                let exposed = exposed_name(config, kind, offer.backend, original);
                candidates.entry(exposed).or_default().push((
                    rank(offer.backend),
                    offer.backend.to_owned(),
                    original.to_owned(),
                    item.clone(),
                ));
            }
        }
        let mut entries = Vec::with_capacity(candidates.len());
        for (exposed, mut contenders) in candidates {
            contenders.sort_by(|a, b| (a.0, &a.1, &a.2).cmp(&(b.0, &b.1, &b.2)));
            let mut contenders = contenders.into_iter();
            let Some((_, backend, original, mut item)) = contenders.next() else {
                continue;
            };
            for (_, loser, _, _) in contenders {
                result.dropped.push(Dropped {
                    kind,
                    exposed: exposed.clone(),
                    backend: loser,
                    winner: backend.clone(),
                });
            }
            if kind != Kind::Resources {
                item.insert("name".to_owned(), exposed.clone().into());
            }
            entries.push(Entry {
                exposed,
                backend,
                original,
                item,
            });
        }
        if !entries.is_empty() {
            result.lists.insert(kind, entries);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PartialFailureMode;

    fn item(key: &str, name: &str) -> JsonObject {
        let mut object = JsonObject::new();
        object.insert(key.to_owned(), name.into());
        object.insert("description".to_owned(), format!("{name} desc").into());
        object
    }

    fn tools(names: &[&str]) -> Catalog {
        Catalog {
            tools: Some(names.iter().map(|n| item("name", n)).collect()),
            ..Catalog::default()
        }
    }

    fn names(aggregate: &Aggregate, kind: Kind) -> Vec<(String, String, String)> {
        aggregate
            .list(kind)
            .iter()
            .map(|e| (e.exposed.clone(), e.backend.clone(), e.original.clone()))
            .collect()
    }

    fn triple(exposed: &str, backend: &str, original: &str) -> (String, String, String) {
        (exposed.into(), backend.into(), original.into())
    }

    #[test]
    fn advertising_follows_status() {
        assert!(advertises(HealthStatus::Healthy));
        assert!(advertises(HealthStatus::Degraded));
        assert!(!advertises(HealthStatus::Unhealthy));
        assert!(!advertises(HealthStatus::Unauthenticated));
        assert!(!advertises(HealthStatus::Unknown));
    }

    #[test]
    fn prefix_names_every_tool_and_keeps_the_rest_of_the_item() {
        let github = tools(&["search", "issue"]);
        let jira = tools(&["search"]);
        let offers = [
            Offer {
                backend: "jira",
                catalog: &jira,
            },
            Offer {
                backend: "github",
                catalog: &github,
            },
        ];
        let merged = aggregate(&offers, &AggregationConfig::default());
        assert_eq!(
            names(&merged, Kind::Tools),
            vec![
                triple("github_issue", "github", "issue"),
                triple("github_search", "github", "search"),
                triple("jira_search", "jira", "search"),
            ]
        );
        let entry = merged.find(Kind::Tools, "jira_search").unwrap();
        assert_eq!(entry.item["name"], "jira_search");
        assert_eq!(entry.item["description"], "search desc");
        assert!(merged.dropped.is_empty());
        let dotted = AggregationConfig {
            separator: ".".into(),
            ..AggregationConfig::default()
        };
        assert!(
            aggregate(&offers, &dotted)
                .find(Kind::Tools, "jira.search")
                .is_some()
        );
    }

    #[test]
    fn names_are_stable_whatever_the_answer_order() {
        let a1 = tools(&["x", "y", "z"]);
        let a2 = tools(&["z", "x", "y"]);
        let b1 = tools(&["y", "w"]);
        let b2 = tools(&["w", "y"]);
        for strategy in [
            ConflictResolution::Prefix,
            ConflictResolution::Priority,
            ConflictResolution::Manual,
        ] {
            let config = AggregationConfig {
                conflict_resolution: strategy,
                priority: vec!["b".into()],
                ..AggregationConfig::default()
            };
            let one = aggregate(
                &[
                    Offer {
                        backend: "a",
                        catalog: &a1,
                    },
                    Offer {
                        backend: "b",
                        catalog: &b1,
                    },
                ],
                &config,
            );
            let two = aggregate(
                &[
                    Offer {
                        backend: "b",
                        catalog: &b2,
                    },
                    Offer {
                        backend: "a",
                        catalog: &a2,
                    },
                ],
                &config,
            );
            assert_eq!(one, two, "{strategy:?}");
            let exposed: Vec<String> = one
                .list(Kind::Tools)
                .iter()
                .map(|e| e.exposed.clone())
                .collect();
            let mut sorted = exposed.clone();
            sorted.sort();
            assert_eq!(exposed, sorted);
        }
    }

    #[test]
    fn priority_keeps_the_first_listed_backend_and_reports_the_others() {
        let a = tools(&["search", "only_a"]);
        let b = tools(&["search"]);
        let offers = [
            Offer {
                backend: "a",
                catalog: &a,
            },
            Offer {
                backend: "b",
                catalog: &b,
            },
        ];
        let config = AggregationConfig {
            conflict_resolution: ConflictResolution::Priority,
            priority: vec!["b".into(), "a".into()],
            ..AggregationConfig::default()
        };
        let merged = aggregate(&offers, &config);
        assert_eq!(
            names(&merged, Kind::Tools),
            vec![
                triple("only_a", "a", "only_a"),
                triple("search", "b", "search")
            ]
        );
        assert_eq!(
            merged.dropped,
            vec![Dropped {
                kind: Kind::Tools,
                exposed: "search".into(),
                backend: "a".into(),
                winner: "b".into(),
            }]
        );
        // Without a priority list the alphabetically first backend wins.
        let unlisted = AggregationConfig {
            priority: Vec::new(),
            ..config
        };
        assert_eq!(
            aggregate(&offers, &unlisted)
                .find(Kind::Tools, "search")
                .unwrap()
                .backend,
            "a"
        );
    }

    #[test]
    fn manual_overrides_rename_and_resolve_clashes() {
        let a = tools(&["search"]);
        let b = tools(&["search"]);
        let offers = [
            Offer {
                backend: "a",
                catalog: &a,
            },
            Offer {
                backend: "b",
                catalog: &b,
            },
        ];
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "b".to_owned(),
            BTreeMap::from([("search".to_owned(), "b_find".to_owned())]),
        );
        let config = AggregationConfig {
            conflict_resolution: ConflictResolution::Manual,
            overrides,
            partial_failure_mode: PartialFailureMode::BestEffort,
            ..AggregationConfig::default()
        };
        let merged = aggregate(&offers, &config);
        assert_eq!(
            names(&merged, Kind::Tools),
            vec![
                triple("b_find", "b", "search"),
                triple("search", "a", "search")
            ]
        );
        assert!(merged.dropped.is_empty());
    }

    #[test]
    fn resources_keep_their_uri_and_prompts_are_prefixed() {
        let a = Catalog {
            resources: Some(vec![item("uri", "file:///a")]),
            prompts: Some(vec![item("name", "greet")]),
            ..Catalog::default()
        };
        let b = Catalog {
            resources: Some(vec![item("uri", "file:///a"), item("uri", "file:///b")]),
            ..Catalog::default()
        };
        let merged = aggregate(
            &[
                Offer {
                    backend: "b",
                    catalog: &b,
                },
                Offer {
                    backend: "a",
                    catalog: &a,
                },
            ],
            &AggregationConfig::default(),
        );
        assert_eq!(
            names(&merged, Kind::Resources),
            vec![
                triple("file:///a", "a", "file:///a"),
                triple("file:///b", "b", "file:///b")
            ]
        );
        assert_eq!(
            names(&merged, Kind::Prompts),
            vec![triple("a_greet", "a", "greet")]
        );
        assert_eq!(merged.dropped.len(), 1);
        assert!(merged.list(Kind::Tools).is_empty());
    }
}
