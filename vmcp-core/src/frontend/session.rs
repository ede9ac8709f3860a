//! Client sessions (DESIGN §3.6): ids from the injected seeded RNG, idle expiry, the
//! `max_sessions` cap (least recently used evicted first), open GET streams, calls in flight
//! (for `notifications/cancelled`) and the lazily opened backend sessions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::frontend::upstream::Upstream;

/// Events buffered per GET stream; a client that stops reading loses notifications beyond it.
pub(super) const STREAM_BUFFER: usize = 32;

/// What [`ClientSession::push`] did with an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// Streams that queued it.
    pub delivered: usize,
    /// Streams whose buffer was full.
    pub dropped: usize,
}

/// A call in flight, as `notifications/cancelled` finds it.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    /// Woken when the client cancels.
    pub cancel: Notify,
}

struct State<C> {
    last_used: Instant,
    initialized: bool,
    streams: Vec<mpsc::Sender<Bytes>>,
    in_flight: BTreeMap<String, Arc<InFlight>>,
    upstreams: BTreeMap<String, Arc<Upstream<C>>>,
}

/// One client session.
pub(crate) struct ClientSession<C> {
    id: String,
    protocol_version: String,
    state: Mutex<State<C>>,
}

impl<C> std::fmt::Debug for ClientSession<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("protocol_version", &self.protocol_version)
            .finish_non_exhaustive()
    }
}

impl<C> ClientSession<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `Mcp-Session-Id`.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The negotiated protocol revision.
    pub(crate) fn protocol_version(&self) -> &str {
        &self.protocol_version
    }

    /// Record `notifications/initialized`.
    pub(crate) fn mark_initialized(&self) {
        self.lock().initialized = true;
    }

    fn touch(&self, now: Instant) {
        self.lock().last_used = now;
    }

    /// Attach a GET stream; returns its receiving end.
    pub(crate) fn open_stream(&self) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let mut state = self.lock();
        state.streams.retain(|s| !s.is_closed());
        state.streams.push(tx);
        rx
    }

    /// Whether a GET stream is open.
    pub(crate) fn has_stream(&self) -> bool {
        let mut state = self.lock();
        state.streams.retain(|s| !s.is_closed());
        !state.streams.is_empty()
    }

    /// Queue `event` on every open GET stream; returns how many got it and how many were full
    /// (their client does not read: the event is dropped there, memory stays bounded).
    pub(crate) fn push(&self, event: &Bytes) -> Pushed {
        let mut state = self.lock();
        state.streams.retain(|s| !s.is_closed());
        let mut pushed = Pushed::default();
        for stream in &state.streams {
            match stream.try_send(event.clone()) {
                Ok(()) => pushed.delivered += 1,
                Err(_) => {
                    pushed.dropped += 1;
                    tracing::warn!(session = %self.id, "GET stream full; notification dropped");
                }
            }
        }
        pushed
    }

    /// Open GET streams.
    fn stream_count(&self) -> usize {
        let mut state = self.lock();
        state.streams.retain(|s| !s.is_closed());
        state.streams.len()
    }

    /// Register a call under the client's request id (its JSON text).
    pub(crate) fn begin_call(&self, request_id: String) -> Arc<InFlight> {
        let call = Arc::new(InFlight::default());
        self.lock().in_flight.insert(request_id, Arc::clone(&call));
        call
    }

    /// The call ended.
    pub(crate) fn end_call(&self, request_id: &str) {
        self.lock().in_flight.remove(request_id);
    }

    /// Cancel the call with this request id; false when none is in flight.
    pub(crate) fn cancel_call(&self, request_id: &str) -> bool {
        match self.lock().in_flight.get(request_id) {
            Some(call) => {
                call.cancel.notify_one();
                true
            }
            None => false,
        }
    }

    /// The backend session to `backend`, created with `open` on first use.
    pub(crate) fn upstream<E>(
        &self,
        backend: &str,
        open: impl FnOnce() -> Result<Upstream<C>, E>,
    ) -> Result<Arc<Upstream<C>>, E> {
        let mut state = self.lock();
        if let Some(upstream) = state.upstreams.get(backend) {
            return Ok(Arc::clone(upstream));
        }
        let upstream = Arc::new(open()?);
        state
            .upstreams
            .insert(backend.to_owned(), Arc::clone(&upstream));
        Ok(upstream)
    }

    /// Drop the backend session to `backend` (its endpoint changed); returns it for closing.
    pub(crate) fn forget_upstream(&self, backend: &str) -> Option<Arc<Upstream<C>>> {
        self.lock().upstreams.remove(backend)
    }

    /// End the session: close its streams, hand back its backend sessions for closing.
    fn close(&self) -> Vec<Arc<Upstream<C>>> {
        let mut state = self.lock();
        state.streams.clear();
        for call in state.in_flight.values() {
            call.cancel.notify_one();
        }
        std::mem::take(&mut state.upstreams).into_values().collect()
    }
}

/// Why a session id was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    /// No such session (never existed, expired, evicted or deleted): HTTP 404.
    Unknown,
}

/// All client sessions.
pub(super) struct SessionStore<C> {
    sessions: Mutex<BTreeMap<String, Arc<ClientSession<C>>>>,
    rng: Mutex<ChaCha8Rng>,
    idle_timeout: Duration,
    max_sessions: usize,
}

impl<C> std::fmt::Debug for SessionStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("sessions", &self.len())
            .finish_non_exhaustive()
    }
}

/// Backend sessions of ended client sessions, to be closed by the caller.
pub(super) type Closed<C> = Vec<Arc<Upstream<C>>>;

impl<C> SessionStore<C> {
    /// An empty store; ids are drawn from a ChaCha8 RNG seeded with `seed`.
    pub(super) fn new(seed: u64, idle_timeout: Duration, max_sessions: u32) -> Self {
        Self {
            sessions: Mutex::new(BTreeMap::new()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            idle_timeout,
            max_sessions: usize::try_from(max_sessions).unwrap_or(usize::MAX).max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Arc<ClientSession<C>>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open sessions.
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    fn new_id(&self) -> String {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let value: u128 = rng.random();
        format!("{value:032x}")
    }

    /// Create a session, evicting the least recently used one at the cap.
    pub(super) fn create(&self, protocol_version: String) -> (Arc<ClientSession<C>>, Closed<C>) {
        let now = crate::clock::monotonic_now();
        let mut closed = Vec::new();
        let mut sessions = self.lock();
        while sessions.len() >= self.max_sessions {
            let oldest = sessions
                .iter()
                .min_by_key(|(id, s)| (s.lock().last_used, (*id).clone()))
                .map(|(id, _)| id.clone());
            let Some(oldest) = oldest else { break };
            if let Some(session) = sessions.remove(&oldest) {
                tracing::info!(session = %oldest, "max_sessions reached; least recently used session evicted");
                closed.extend(session.close());
            }
        }
        let mut id = self.new_id();
        while sessions.contains_key(&id) {
            id = self.new_id();
        }
        let session = Arc::new(ClientSession {
            id: id.clone(),
            protocol_version,
            state: Mutex::new(State {
                last_used: now,
                initialized: false,
                streams: Vec::new(),
                in_flight: BTreeMap::new(),
                upstreams: BTreeMap::new(),
            }),
        });
        sessions.insert(id, Arc::clone(&session));
        (session, closed)
    }

    /// The live session `id`, marked as used now. An idle-expired session is removed here.
    pub(super) fn get(&self, id: &str) -> Result<Arc<ClientSession<C>>, (Lookup, Closed<C>)> {
        let now = crate::clock::monotonic_now();
        let mut sessions = self.lock();
        let Some(session) = sessions.get(id).cloned() else {
            return Err((Lookup::Unknown, Vec::new()));
        };
        if self.expired(&session, now) {
            sessions.remove(id);
            return Err((Lookup::Unknown, session.close()));
        }
        session.touch(now);
        Ok(session)
    }

    fn expired(&self, session: &ClientSession<C>, now: Instant) -> bool {
        let idle = now.saturating_duration_since(session.lock().last_used) >= self.idle_timeout;
        idle && !session.has_stream()
    }

    /// End session `id` (DELETE); false when unknown.
    pub(super) fn remove(&self, id: &str) -> Option<Closed<C>> {
        self.lock().remove(id).map(|s| s.close())
    }

    /// Remove every idle-expired session.
    pub(super) fn sweep(&self) -> Closed<C> {
        let now = crate::clock::monotonic_now();
        let mut sessions = self.lock();
        let expired: Vec<String> = sessions
            .iter()
            .filter(|(_, s)| self.expired(s, now))
            .map(|(id, _)| id.clone())
            .collect();
        let mut closed = Vec::new();
        for id in expired {
            if let Some(session) = sessions.remove(&id) {
                tracing::info!(session = %id, "client session expired");
                closed.extend(session.close());
            }
        }
        closed
    }

    /// Open GET streams over all sessions.
    pub(super) fn stream_count(&self) -> usize {
        self.all().iter().map(|s| s.stream_count()).sum()
    }

    /// Every live session, ordered by id.
    pub(super) fn all(&self) -> Vec<Arc<ClientSession<C>>> {
        self.lock().values().cloned().collect()
    }

    /// End every session.
    pub(super) fn clear(&self) -> Closed<C> {
        let sessions = std::mem::take(&mut *self.lock());
        sessions.into_values().flat_map(|s| s.close()).collect()
    }
}
