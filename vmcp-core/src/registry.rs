//! Backends and the versioned dynamic registry (DESIGN §3.4).
//!
//! * [`Backend`]: one MCP backend (name, URL, credentials). Credentials are [`Secret`]s, which
//!   never print.
//! * [`DynamicRegistry`]: the run-time set of backends, versioned and observable, so that the
//!   monitor and the status reporting loop learn about additions and removals at once.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::watch;

/// A credential value. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wrap a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for putting on the wire only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Credentials vMCP presents to one backend on every probe.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutgoingAuth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: Secret,
    },
    /// A custom header such as `X-API-Key: <value>`.
    Header {
        /// Header name.
        name: String,
        /// Header value.
        value: Secret,
    },
}

/// The userinfo of `url` (`user:pass` in `http://user:pass@host/`), if it has one.
fn url_userinfo(url: &str) -> Option<&str> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest[..end].rfind('@').map(|at| &rest[..at])
}

/// Headers the MCP client sets itself; credentials can never be sent in them (config validation
/// and the client both refuse such an auth header).
pub const CLIENT_MANAGED_HEADERS: &[&str] = &[
    "accept",
    "connection",
    "content-length",
    "content-type",
    "host",
    "mcp-protocol-version",
    "mcp-session-id",
    "transfer-encoding",
];

/// One MCP backend server.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    /// Unique name; reports sort by it.
    pub name: String,
    /// The Streamable-HTTP endpoint, e.g. `http://github-mcp:8080/mcp`.
    pub url: String,
    /// Outgoing credentials, if the backend needs them.
    pub auth: Option<OutgoingAuth>,
}

impl Backend {
    /// A backend without credentials.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            auth: None,
        }
    }

    /// Every credential string configured for this backend (the outgoing auth value, and the
    /// URL's userinfo and its parts), longest first so a secret containing another is scrubbed
    /// whole. For scrubbing echoed secrets out of messages; never for display.
    pub fn secrets(&self) -> Vec<&str> {
        let mut secrets = Vec::new();
        match &self.auth {
            Some(OutgoingAuth::Bearer { token }) => secrets.push(token.expose()),
            Some(OutgoingAuth::Header { value, .. }) => secrets.push(value.expose()),
            None => {}
        }
        if let Some(userinfo) = url_userinfo(&self.url) {
            secrets.push(userinfo);
            secrets.extend(userinfo.split(':'));
        }
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        secrets
    }

    /// Whether `other` is the same backend at a different endpoint (URL or credentials changed),
    /// which starts a new endpoint generation in the monitor.
    pub fn endpoint_differs(&self, other: &Backend) -> bool {
        self.url != other.url || self.auth != other.auth
    }
}

/// Why a batch of backends cannot become the registry's contents.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two backends in one batch share a name. Names key reports and health state, so they must
    /// be unique; silently keeping one of them would hide a configuration mistake.
    #[error("duplicate backend name {name:?}: backend names must be unique")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
}

/// The set of backends vMCP serves, changeable at run time and versioned.
///
/// Why versioned: the health monitor and the status reporting loop must notice additions, removals
/// and endpoint changes promptly (DESIGN §3.4; the 30 s delay of PR 4290 is the bug this avoids).
/// Every actual change bumps [`version`](Self::version) exactly once and notifies every
/// [`subscribe`](Self::subscribe)r, so nobody has to poll or diff the list to find out.
///
/// Thread-safe behind a `std::sync::Mutex` that is never held across an `.await`; backends are kept
/// in a `BTreeMap` so [`list`](Self::list) is sorted by name and deterministic.
#[derive(Debug)]
pub struct DynamicRegistry {
    backends: Mutex<BTreeMap<String, Backend>>,
    /// Holds the current version; bumped while `backends` is locked, so a version read under that
    /// lock always matches the contents.
    version: watch::Sender<u64>,
}

impl DynamicRegistry {
    /// A registry holding `backends`, at version 0.
    ///
    /// Fails when two backends share a name.
    pub fn new(backends: Vec<Backend>) -> Result<Self, RegistryError> {
        let map = Self::index(backends)?;
        let (version, _) = watch::channel(0);
        Ok(Self {
            backends: Mutex::new(map),
            version,
        })
    }

    /// An empty registry, at version 0.
    pub fn empty() -> Self {
        let (version, _) = watch::channel(0);
        Self {
            backends: Mutex::new(BTreeMap::new()),
            version,
        }
    }

    /// Add `backend`, or replace the backend of the same name.
    ///
    /// Returns whether anything changed: upserting an identical backend is a no-op and does not
    /// bump the version (config reloads re-upsert everything; that must not look like churn).
    pub fn upsert(&self, backend: Backend) -> bool {
        let mut backends = self.lock();
        if backends.get(&backend.name) == Some(&backend) {
            return false;
        }
        backends.insert(backend.name.clone(), backend);
        self.bump();
        true
    }

    /// Remove the backend called `name`. Returns whether it was present (and the version bumped).
    pub fn remove(&self, name: &str) -> bool {
        let mut backends = self.lock();
        if backends.remove(name).is_none() {
            return false;
        }
        self.bump();
        true
    }

    /// Make `backends` the whole contents (a config reload).
    ///
    /// The version is bumped once if anything changed, however many backends were added, removed
    /// or modified, so subscribers see one change per reload. Returns whether anything changed.
    /// Fails, leaving the registry untouched, when two backends share a name.
    pub fn replace_all(&self, backends: Vec<Backend>) -> Result<bool, RegistryError> {
        let new = Self::index(backends)?;
        let mut current = self.lock();
        if *current == new {
            return Ok(false);
        }
        *current = new;
        self.bump();
        Ok(true)
    }

    /// All backends, sorted by name.
    pub fn list(&self) -> Vec<Backend> {
        self.lock().values().cloned().collect()
    }

    /// The version and the backends (sorted by name) read together, so the list is exactly the
    /// contents at that version.
    pub fn versioned_list(&self) -> (u64, Vec<Backend>) {
        let backends = self.lock();
        (*self.version.borrow(), backends.values().cloned().collect())
    }

    /// The backend called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Backend> {
        self.lock().get(name).cloned()
    }

    /// How many backends are registered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no backend is registered.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The current version: 0 for the initial contents, +1 for every change since.
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    /// A receiver that is notified on every version bump and reads the current version, so the
    /// monitor and the reporting loop notice changes without polling.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn index(backends: Vec<Backend>) -> Result<BTreeMap<String, Backend>, RegistryError> {
        let mut map = BTreeMap::new();
        for backend in backends {
            if map.contains_key(&backend.name) {
                return Err(RegistryError::DuplicateName { name: backend.name });
            }
            map.insert(backend.name.clone(), backend);
        }
        Ok(map)
    }

    /// Locks the contents. A panic while the lock was held cannot leave the map half-updated
    /// (every mutation is a single map operation), so a poisoned lock is safe to keep using.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Backend>> {
        crate::sync::lock(&self.backends)
    }

    /// Called with the contents locked, so versions and contents stay in step.
    fn bump(&self) {
        self.version.send_modify(|v| *v = v.saturating_add(1));
    }
}

impl Default for DynamicRegistry {
    fn default() -> Self {
        Self::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(backends: &[Backend]) -> Vec<&str> {
        backends.iter().map(|b| b.name.as_str()).collect()
    }

    #[test]
    fn new_lists_sorted_by_name_at_version_zero() {
        let reg = DynamicRegistry::new(vec![
            Backend::new("zeta", "http://z/mcp"),
            Backend::new("alpha", "http://a/mcp"),
            Backend::new("Mid", "http://m/mcp"),
        ])
        .unwrap();
        assert_eq!(names(&reg.list()), ["Mid", "alpha", "zeta"]);
        assert_eq!(reg.version(), 0);
        assert_eq!(reg.len(), 3);
        assert!(!reg.is_empty());
        assert_eq!(reg.get("alpha").unwrap().url, "http://a/mcp");
        assert_eq!(reg.get("missing"), None);
    }

    #[test]
    fn new_rejects_duplicate_names() {
        let err = DynamicRegistry::new(vec![
            Backend::new("a", "http://a1/mcp"),
            Backend::new("a", "http://a2/mcp"),
        ])
        .unwrap_err();
        assert_eq!(err, RegistryError::DuplicateName { name: "a".into() });
        assert_eq!(
            err.to_string(),
            "duplicate backend name \"a\": backend names must be unique"
        );
    }

    #[test]
    fn upsert_bumps_only_on_actual_change() {
        let reg = DynamicRegistry::empty();
        assert!(reg.is_empty());
        assert!(reg.upsert(Backend::new("a", "http://a/mcp")));
        assert_eq!(reg.version(), 1);
        // Identical: no-op, no bump.
        assert!(!reg.upsert(Backend::new("a", "http://a/mcp")));
        assert_eq!(reg.version(), 1);
        // URL change.
        assert!(reg.upsert(Backend::new("a", "http://a2/mcp")));
        assert_eq!(reg.version(), 2);
        // Credential change alone is a change too.
        let mut with_auth = Backend::new("a", "http://a2/mcp");
        with_auth.auth = Some(OutgoingAuth::Bearer {
            token: Secret::new("t"),
        });
        assert!(reg.upsert(with_auth.clone()));
        assert_eq!(reg.version(), 3);
        assert_eq!(reg.get("a"), Some(with_auth));
    }

    #[test]
    fn remove_bumps_only_when_present() {
        let reg = DynamicRegistry::new(vec![Backend::new("a", "http://a/mcp")]).unwrap();
        assert!(!reg.remove("b"));
        assert_eq!(reg.version(), 0);
        assert!(reg.remove("a"));
        assert_eq!(reg.version(), 1);
        assert!(!reg.remove("a"));
        assert_eq!(reg.version(), 1);
        assert!(reg.list().is_empty());
    }

    #[test]
    fn replace_all_bumps_once_per_effective_reload() {
        let reg = DynamicRegistry::new(vec![
            Backend::new("a", "http://a/mcp"),
            Backend::new("b", "http://b/mcp"),
        ])
        .unwrap();
        // Same contents in another order: no change.
        assert!(
            !reg.replace_all(vec![
                Backend::new("b", "http://b/mcp"),
                Backend::new("a", "http://a/mcp"),
            ])
            .unwrap()
        );
        assert_eq!(reg.version(), 0);
        // Remove a, change b, add c: one bump.
        assert!(
            reg.replace_all(vec![
                Backend::new("c", "http://c/mcp"),
                Backend::new("b", "http://b2/mcp"),
            ])
            .unwrap()
        );
        assert_eq!(reg.version(), 1);
        assert_eq!(names(&reg.list()), ["b", "c"]);
        assert_eq!(reg.get("b").unwrap().url, "http://b2/mcp");
    }

    #[test]
    fn replace_all_with_duplicates_leaves_registry_untouched() {
        let reg = DynamicRegistry::new(vec![Backend::new("a", "http://a/mcp")]).unwrap();
        let err = reg
            .replace_all(vec![
                Backend::new("x", "http://x/mcp"),
                Backend::new("x", "http://y/mcp"),
            ])
            .unwrap_err();
        assert_eq!(err, RegistryError::DuplicateName { name: "x".into() });
        assert_eq!(names(&reg.list()), ["a"]);
        assert_eq!(reg.version(), 0);
    }

    #[test]
    fn versioned_list_matches_contents() {
        let reg = DynamicRegistry::default();
        reg.upsert(Backend::new("b", "http://b/mcp"));
        reg.upsert(Backend::new("a", "http://a/mcp"));
        let (version, list) = reg.versioned_list();
        assert_eq!(version, 2);
        assert_eq!(names(&list), ["a", "b"]);
    }

    #[tokio::test]
    async fn subscribers_are_notified_of_changes_not_of_no_ops() {
        let reg = DynamicRegistry::empty();
        let mut rx = reg.subscribe();
        assert!(!rx.has_changed().unwrap());
        assert!(reg.upsert(Backend::new("a", "http://a/mcp")));
        assert!(rx.has_changed().unwrap());
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), 1);
        // No-op upsert and removal of an unknown name: no notification.
        reg.upsert(Backend::new("a", "http://a/mcp"));
        reg.remove("zzz");
        assert!(!rx.has_changed().unwrap());
        // A burst of changes is seen as the latest version.
        reg.remove("a");
        reg.upsert(Backend::new("b", "http://b/mcp"));
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), 3);
    }

    #[test]
    fn debug_never_shows_credentials() {
        let mut b = Backend::new("a", "http://a/mcp");
        b.auth = Some(OutgoingAuth::Header {
            name: "X-API-Key".into(),
            value: Secret::new("s3cr3t-value"),
        });
        let reg = DynamicRegistry::new(vec![b]).unwrap();
        let shown = format!("{reg:?}");
        assert!(shown.contains("X-API-Key"));
        assert!(!shown.contains("s3cr3t-value"));
    }
}
