//! The shared core of a simulator instance: configuration, the state behind one mutex (the
//! real server's single JS thread), and the event broadcast.
//!
//! Every mutation and every socket emit happens while holding the state lock, so the order in
//! which clients see events is the order in which the state changed, as on the real server.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use socketioxide::extract::SocketRef;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::config::{ServerVersion, SimConfig};
use crate::events::SimEvent;
use crate::hostile::Modes;
use crate::model::{
    ApiKey, Author, Device, Item, Library, LogEvent, PlaybackSession, RefreshSession, Task, User,
};
use crate::server::Server;

/// Milliseconds since the epoch (`Date.now()`).
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Seconds since the epoch (JWT `iat`).
pub(crate) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A connected socket (`SocketAuthority.clients[socket.id]`).
pub(crate) struct Client {
    pub sid: String,
    pub socket: SocketRef,
    pub user_id: Option<String>,
    pub connected_at: i64,
}

/// The part of the state a real server keeps in its database (and `--data-dir` persists).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Db {
    pub secret: String,
    pub users: Vec<User>,
    pub refresh_sessions: Vec<RefreshSession>,
    pub api_keys: Vec<ApiKey>,
    pub libraries: Vec<Library>,
    pub authors: Vec<Author>,
    pub items: Vec<Item>,
    pub devices: Vec<Device>,
}

/// Everything mutable.
#[derive(Default)]
pub(crate) struct State {
    pub db: Db,
    /// Connected sockets in connection order.
    pub clients: Vec<Client>,
    /// `Logger.socketListeners`: socket id and level, in registration order.
    pub log_listeners: Vec<(String, u8)>,
    /// Open playback sessions in start order.
    pub sessions: Vec<PlaybackSession>,
    /// Closed sessions that listened, for `GET /api/me/listening-sessions` (`rest::me`).
    pub closed_sessions: Vec<PlaybackSession>,
    /// Tasks in progress.
    pub tasks: Vec<Task>,
    /// Today's log lines at or above the server log level.
    pub daily_logs: VecDeque<LogEvent>,
    /// Auth rate limiter: window start and hits per IP.
    pub rate: HashMap<IpAddr, (Instant, u32)>,
    /// jtis of access tokens issued so far, with their user.
    pub issued_access: Vec<(String, String)>,
    /// Access-token jtis made invalid by `expire_access_tokens` / `revoke_tokens`.
    pub revoked_access: HashSet<String>,
    /// Hostile behaviours switched on through the Rust API.
    pub hostile: Modes,
}

impl State {
    pub fn user(&self, id: &str) -> Option<&User> {
        self.db.users.iter().find(|u| u.id == id)
    }

    pub fn user_mut(&mut self, id: &str) -> Option<&mut User> {
        self.db.users.iter_mut().find(|u| u.id == id)
    }

    /// By id, else by (case-insensitive) username.
    pub fn find_user(&self, name_or_id: &str) -> Option<&User> {
        self.user(name_or_id).or_else(|| {
            self.db
                .users
                .iter()
                .find(|u| u.username.eq_ignore_ascii_case(name_or_id))
        })
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.db.items.iter().find(|i| i.id == id)
    }

    pub fn library(&self, id: &str) -> Option<&Library> {
        self.db.libraries.iter().find(|l| l.id == id)
    }

    pub fn client(&self, sid: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.sid == sid)
    }

    pub fn session(&self, id: &str) -> Option<&PlaybackSession> {
        self.sessions.iter().find(|s| s.id == id)
    }

    /// Forgets what a process restart forgets.
    pub fn clear_volatile(&mut self) {
        self.clients.clear();
        self.log_listeners.clear();
        self.sessions.clear();
        self.tasks.clear();
        self.rate.clear();
    }
}

/// The shared core; cheap to clone through `Arc`.
pub(crate) struct Core {
    pub cfg: SimConfig,
    pub state: Mutex<State>,
    pub events: broadcast::Sender<SimEvent>,
    /// The listening side, set once bound.
    pub server: OnceLock<Arc<Server>>,
    /// Background tasks (scenario) to stop on shutdown.
    pub background: Mutex<Vec<JoinHandle<()>>>,
    /// HTTP requests served per path (base path stripped), so tests can prove a client stayed quiet.
    pub requests: Mutex<HashMap<String, usize>>,
    /// Bumped on every HTTP request, so tests can await one instead of polling the counts.
    pub request_seq: watch::Sender<u64>,
}

/// `Arc<Core>`, the handle given to REST handlers, socket handlers and the Rust API.
pub(crate) type CoreRef = Arc<Core>;

impl Core {
    pub fn new(cfg: SimConfig, db: Db) -> CoreRef {
        let (events, _) = broadcast::channel(8192);
        Arc::new(Core {
            cfg,
            state: Mutex::new(State {
                db,
                ..State::default()
            }),
            events,
            server: OnceLock::new(),
            background: Mutex::new(Vec::new()),
            requests: Mutex::new(HashMap::new()),
            request_seq: watch::channel(0).0,
        })
    }

    /// Locks the state (a poisoned lock is still usable: every mutation is self-contained).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn version(&self) -> ServerVersion {
        self.cfg.server_version
    }

    pub fn version_string(&self) -> String {
        self.cfg.server_version.to_string()
    }
}
