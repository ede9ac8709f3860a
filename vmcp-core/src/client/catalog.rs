//! The capability cache (DESIGN §3.6): what each backend offers, as its last good probe listed
//! it.
//!
//! Why the probe fills it: a client's `initialize` and `*/list` must never wait on a backend (one
//! slow backend would stall session creation for everyone, ToolHive #5861). The probe already
//! opens a full MCP session on its own schedule, so it lists tools, resources and prompts (all
//! pages) there, and the front end answers clients from this cache.
//!
//! Items are kept as the backend sent them (raw JSON objects), so fields this crate does not
//! model (`outputSchema`, `annotations`, `_meta`, …) reach clients unchanged. The cache is keyed
//! by backend name and remembers the endpoint URL it was filled from: an endpoint change drops
//! the entry (a new endpoint may offer something else).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rmcp::model::JsonObject;
use tokio::sync::watch;

/// What one backend offers. `None` for a kind the backend did not advertise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// `tools/list` items (each has a string `name`).
    pub tools: Option<Vec<JsonObject>>,
    /// `resources/list` items (each has a string `uri`).
    pub resources: Option<Vec<JsonObject>>,
    /// `prompts/list` items (each has a string `name`).
    pub prompts: Option<Vec<JsonObject>>,
}

/// One cached catalog and the endpoint it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CatalogEntry {
    /// The backend URL the probe listed.
    pub url: String,
    /// What it listed.
    pub catalog: Catalog,
}

struct Inner {
    entries: Mutex<BTreeMap<String, CatalogEntry>>,
    changes: watch::Sender<u64>,
}

/// The shared cache: written by the probe, read by the front end. Cloning shares it.
#[derive(Clone)]
pub(crate) struct CatalogCache {
    inner: Arc<Inner>,
}

impl Default for CatalogCache {
    fn default() -> Self {
        let (changes, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                entries: Mutex::new(BTreeMap::new()),
                changes,
            }),
        }
    }
}

impl std::fmt::Debug for CatalogCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogCache")
            .field("backends", &self.lock().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl CatalogCache {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, CatalogEntry>> {
        // A map of plain data stays consistent even if a holder panicked.
        self.inner.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.inner.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Store what a successful probe of `backend` at `url` listed. Signals a change only when
    /// the catalog differs from the cached one.
    pub(crate) fn update(&self, backend: &str, url: &str, catalog: Catalog) {
        let entry = CatalogEntry {
            url: url.to_owned(),
            catalog,
        };
        let changed = {
            let mut entries = self.lock();
            if entries.get(backend) == Some(&entry) {
                false
            } else {
                entries.insert(backend.to_owned(), entry);
                true
            }
        };
        if changed {
            self.bump();
        }
    }

    /// Forget `backend` (removed, or its endpoint changed).
    pub(crate) fn remove(&self, backend: &str) {
        let removed = self.lock().remove(backend).is_some();
        if removed {
            self.bump();
        }
    }

    /// The cached catalog of `backend` (the front end reads whole snapshots).
    #[cfg(test)]
    fn get(&self, backend: &str) -> Option<CatalogEntry> {
        self.lock().get(backend).cloned()
    }

    /// Every cached catalog, ordered by backend name.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, CatalogEntry> {
        self.lock().clone()
    }

    /// A receiver bumped whenever a catalog changed or was removed.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> JsonObject {
        let mut object = JsonObject::new();
        object.insert("name".into(), name.into());
        object
    }

    #[test]
    fn only_real_changes_are_signalled() {
        let cache = CatalogCache::default();
        let changes = cache.changes();
        let catalog = Catalog {
            tools: Some(vec![tool("a")]),
            ..Catalog::default()
        };
        cache.update("b", "http://b/mcp", catalog.clone());
        assert!(changes.has_changed().unwrap());
        let mut changes = cache.changes();
        changes.mark_unchanged();
        cache.update("b", "http://b/mcp", catalog.clone());
        assert!(!changes.has_changed().unwrap(), "same catalog: no change");
        cache.update("b", "http://b2/mcp", catalog);
        assert!(changes.has_changed().unwrap(), "new endpoint: a change");
        changes.mark_unchanged();
        cache.remove("b");
        assert!(changes.has_changed().unwrap());
        assert!(cache.get("b").is_none());
        changes.mark_unchanged();
        cache.remove("b");
        assert!(
            !changes.has_changed().unwrap(),
            "removing nothing changes nothing"
        );
    }

    #[test]
    fn debug_lists_the_cached_backends() {
        let cache = CatalogCache::default();
        assert_eq!(format!("{cache:?}"), "CatalogCache { backends: [] }");
        cache.update("b", "http://b/mcp", Catalog::default());
        cache.update("a", "http://a/mcp", Catalog::default());
        assert_eq!(
            format!("{cache:?}"),
            "CatalogCache { backends: [\"a\", \"b\"] }"
        );
    }
}
