//! `abs-sim`: a faithful simulator of an Audiobookshelf 2.36 server (REST + Socket.IO), for
//! tests, demo mode and benchmarks. See `docs/simulator.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), abs_sim::SimError> {
//! let sim = abs_sim::start(abs_sim::SimConfig::default()).await?;
//! let mut events = sim.events();
//! let alice = sim.add_user("alice", "pw", false)?;
//! let item = sim.item_ids()[0].clone();
//! let session = sim.start_session(&alice, &item, "phone-1")?;
//! events.wait_named("user_stream_update", std::time::Duration::from_secs(2)).await?;
//! sim.sync_session(&session, 42.0)?;
//! sim.close_session(&session)?;
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
#![recursion_limit = "256"]

mod api;
mod auth;
mod catalog;
mod config;
mod control;
mod emit;
mod error;
mod events;
#[cfg(feature = "front")]
pub mod front;
pub mod hostile;
mod http;
mod logs;
mod model;
mod payloads;
mod persist;
mod playback;
mod rest;
mod scan;
mod scenario;
mod server;
mod socket;
mod state;
mod tokens;
mod users;
mod witness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use api::Tokens;
pub use config::{Scenario, ServerVersion, SimConfig, UserSpec};
pub use error::SimError;
pub use events::{Audience, Events, SimEvent};
pub use logs::LogLevel;
pub use model::LogEvent;
pub use playback::DeviceSpec;
pub use tokens::Claims;
pub use witness::{Witness, WitnessRequest};

use crate::logs::log;
use crate::state::{Core, CoreRef, now_ms};

/// Starts a simulator: loads `--data-dir` state (or seeds root/root and the "Audiobooks"
/// library), creates the configured users, binds and serves until [`Sim::shutdown`].
pub async fn start(config: SimConfig) -> Result<Sim, SimError> {
    let db = match &config.data_dir {
        Some(dir) => persist::load(dir)?,
        None => None,
    };
    let fresh = db.is_none();
    let mut db = db.unwrap_or_default();
    if db.secret.is_empty() {
        db.secret = tokens::new_secret();
    }
    let listen = config.listen;
    let scenario = config.scenario;
    let core = Core::new(config, db);
    {
        let mut st = core.lock();
        let version = core.version_string();
        log(
            &core,
            &mut st,
            LogLevel::Info,
            "Server.js:180",
            "=== Starting Server ===",
        );
        log(
            &core,
            &mut st,
            LogLevel::Info,
            "Server.js:181",
            format!("[Server] Init v{version}"),
        );
        users::ensure_root(&mut st)?;
        for spec in core.cfg.users.clone() {
            let user_type = if spec.admin {
                model::UserType::Admin
            } else {
                model::UserType::User
            };
            let existing = st.find_user(&spec.username).map(|u| u.id.clone());
            match existing {
                Some(id) => {
                    if let Some(u) = st.user_mut(&id) {
                        u.password_hash = auth::hash_password(&u.password_salt, &spec.password);
                        if u.user_type != model::UserType::Root {
                            u.user_type = user_type;
                            u.permissions = model::Permissions::defaults_for(user_type);
                        }
                    }
                }
                None => {
                    let user =
                        users::new_user(&st, &spec.username, &spec.password, user_type, true)?;
                    st.db.users.push(user);
                }
            }
        }
        if fresh || st.db.libraries.is_empty() {
            let now = now_ms();
            let lib = catalog::default_library(now);
            let lib_id = lib.id.clone();
            st.db.libraries.push(lib);
            for i in 0..core.cfg.initial_books {
                catalog::add_book(&mut st.db, &lib_id, i, now);
            }
        }
        persist::save(&core, &st);
    }
    let server = server::Server::start(&core, listen).await?;
    let _ = core.server.set(server.clone());
    let task = match scenario {
        Scenario::Idle => None,
        Scenario::Demo => Some(tokio::spawn(scenario::run(core.clone()))),
        Scenario::Hostile => Some(tokio::spawn(hostile::run(core.clone()))),
    };
    if let Some(task) = task {
        core.background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
    }
    Ok(Sim {
        core: core.clone(),
        _guard: Arc::new(Guard { core }),
    })
}

/// Stops a simulator whose last handle is dropped without [`Sim::shutdown`].
struct Guard {
    core: CoreRef,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for t in self
            .core
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
        if let Some(server) = self.core.server.get() {
            server.abort_now(&self.core);
        }
    }
}

/// A running simulator. Clones share it; it stops with [`Sim::shutdown`] or when the last clone
/// is dropped. Users may be given by name or id wherever a `user` is asked for.
#[derive(Clone)]
pub struct Sim {
    core: CoreRef,
    _guard: Arc<Guard>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("addr", &self.addr())
            .field("server_version", &self.server_version())
            .field("listening", &self.is_listening())
            .finish()
    }
}

impl Sim {
    fn server(&self) -> Result<&Arc<server::Server>, SimError> {
        self.core.server.get().ok_or(SimError::Shutdown)
    }

    /// The bound address (stays the same across [`Sim::restart_after`]).
    pub fn addr(&self) -> SocketAddr {
        self.core
            .server
            .get()
            .map_or(self.core.cfg.listen, |s| s.addr())
    }

    /// `http://IP:PORT` (127.0.0.1 when bound to an unspecified address).
    pub fn base_url(&self) -> String {
        let addr = self.addr();
        let ip = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        format!("http://{ip}:{}", addr.port())
    }

    /// The version the simulator pretends to be.
    pub fn server_version(&self) -> ServerVersion {
        self.core.version()
    }

    /// True while the port is open (false between stop and restart).
    pub fn is_listening(&self) -> bool {
        self.core.server.get().is_some_and(|s| s.is_listening())
    }

    /// Resolves once the simulator listens (at once, or when [`Sim::restart_after`] brings it back).
    pub async fn listening(&self) {
        if let Some(server) = self.core.server.get() {
            server.listening().await;
        }
    }

    /// Subscribes to what the simulator emits from now on.
    pub fn events(&self) -> Events {
        Events::new(self.core.events.subscribe())
    }

    /// The id of a user given by name or id.
    pub fn user_id(&self, user: &str) -> Option<String> {
        api::lookup_user(&self.core, user)
    }

    /// The id of the first library ("Audiobooks").
    pub fn library_id(&self) -> String {
        api::first_library(&self.core).unwrap_or_default()
    }

    /// Ids of the items of the first library, in creation order.
    pub fn item_ids(&self) -> Vec<String> {
        api::item_ids(&self.core, &self.library_id())
    }

    /// The HS256 secret, to craft tokens (expired, foreign, ...) in tests.
    pub fn jwt_secret(&self) -> String {
        self.core.lock().db.secret.clone()
    }

    /// Mints tokens for a user as `/login` would (a refresh session is created).
    pub fn tokens(&self, user: &str) -> Result<Tokens, SimError> {
        api::issue_tokens(&self.core, user)
    }

    /// How many HTTP requests this path got so far (`/login`, `/auth/refresh`, `/socket.io/`, ...;
    /// `/audiobookshelf/x` counts as `/x`, the query is ignored), so tests can prove that a client
    /// stopped asking.
    pub fn request_count(&self, path: &str) -> usize {
        self.core
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Ids of the open playback sessions, in start order.
    pub fn open_session_ids(&self) -> Vec<String> {
        self.core
            .lock()
            .sessions
            .iter()
            .map(|s| s.id.clone())
            .collect()
    }

    /// Creates an active user (type admin or user); emits `user_added` to admins.
    pub fn add_user(&self, name: &str, password: &str, admin: bool) -> Result<String, SimError> {
        api::add_user(&self.core, name, password, admin)
    }

    /// Deletes a user; emits `user_removed` to admins.
    pub fn remove_user(&self, user: &str) -> Result<(), SimError> {
        api::remove_user(&self.core, user)
    }

    /// Activates or deactivates a user (inactive: login 401, socket `auth_failed 'Invalid user'`).
    pub fn set_user_active(&self, user: &str, active: bool) -> Result<(), SimError> {
        api::set_user_active(&self.core, user, active)
    }

    /// Starts a direct-play session like `POST /api/items/:id/play` (closing the user's open
    /// session on the same device first); returns the session id.
    pub fn start_session(
        &self,
        user: &str,
        item: &str,
        device: impl Into<DeviceSpec>,
    ) -> Result<String, SimError> {
        api::start_session(&self.core, user, item, device.into())
    }

    /// Syncs a session to `current_time` seconds like `POST /api/session/:id/sync`.
    pub fn sync_session(&self, session: &str, current_time: f64) -> Result<(), SimError> {
        api::sync_session(&self.core, session, current_time)
    }

    /// Closes a session like `POST /api/session/:id/close` without a body.
    pub fn close_session(&self, session: &str) -> Result<(), SimError> {
        api::close_session(&self.core, session)
    }

    /// Finishes a book: sync to the end + close if the user has it open, else marks it finished
    /// like `PATCH /api/me/progress/:id {isFinished:true}` (`user_updated`).
    pub fn finish_book(&self, user: &str, item: &str) -> Result<(), SimError> {
        api::finish_book(&self.core, user, item)
    }

    /// Starts a library scan (`task_started`); returns the task id.
    pub fn start_scan(&self, library: &str) -> Result<String, SimError> {
        api::start_scan(&self.core, library)
    }

    /// The file watcher saw files change in a library: a `watcher-scan` task starts
    /// (`task_started`, to every authenticated socket); end it with [`Sim::finish_scan`].
    /// Returns the task id.
    pub fn start_watcher_scan(&self, library: &str) -> Result<String, SimError> {
        api::start_watcher_scan(&self.core, library)
    }

    /// Ends a scan with that many added, updated and missing items. A library scan sends
    /// `items_updated`, `items_added` and `task_finished`; a watcher scan `item_updated` and
    /// `item_added` one by one and `task_finished` whose results call the missing `removed`.
    pub fn finish_scan(
        &self,
        task: &str,
        added: u32,
        updated: u32,
        missing: u32,
    ) -> Result<(), SimError> {
        api::finish_scan(&self.core, task, added, updated, missing)
    }

    /// Adds `n` books outside a scan (`item_added` each); returns their ids.
    pub fn add_items(&self, library: &str, n: usize) -> Result<Vec<String>, SimError> {
        api::add_items(&self.core, library, n)
    }

    /// `admin_message` to every authenticated socket.
    pub fn admin_message(&self, text: &str) {
        api::admin_message(&self.core, text);
    }

    /// `backup_applied` (no payload, `42["backup_applied"]`) to every authenticated socket, as
    /// after a backup restore.
    pub fn backup_applied(&self) {
        api::backup_applied(&self.core);
    }

    /// Emits any event with any payload to every authenticated socket, bypassing the model: for
    /// hostile-server tests (wrong types, floods) and benchmarks. Returns how many sockets got it.
    pub fn emit_raw(&self, name: &str, payload: &serde_json::Value) -> usize {
        api::emit_raw(&self.core, name, payload)
    }

    /// Logs a server line (daily log, `log` listeners, stderr).
    pub fn emit_log(&self, level: LogLevel, message: &str) {
        api::emit_log(&self.core, level, message);
    }

    /// Ends the user's refresh sessions (what `POST /logout?allDevices=1` does) and makes their
    /// access tokens fail at once, as if they had expired: a real server only waits for that.
    pub fn revoke_tokens(&self, user: &str) -> Result<(), SimError> {
        api::revoke_tokens(&self.core, user)
    }

    /// Makes every access token issued so far invalid, as if expired.
    pub fn expire_access_tokens(&self) {
        api::expire_access_tokens(&self.core);
    }

    /// Cuts every TCP connection (sockets see a transport close; the server emits
    /// `user_offline` for each authenticated socket).
    pub fn drop_sockets(&self) {
        api::drop_sockets(&self.core);
    }

    /// Stops like a restarting server (port closed, connections cut, open sessions and sockets
    /// forgotten without events) and listens again on the same port after `after`.
    pub async fn restart_after(&self, after: Duration) -> Result<(), SimError> {
        let server = self.server()?.clone();
        server.restart_after(&self.core, after).await;
        Ok(())
    }

    /// Stalls (or resumes) the server: connections are accepted but nothing is answered.
    pub fn stall(&self, on: bool) {
        api::stall(&self.core, on);
    }

    /// Waits until `path` got at least `count` requests in all (see [`Sim::request_count`]).
    pub async fn wait_requests(
        &self,
        path: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<usize, SimError> {
        let mut seq = self.core.request_seq.subscribe();
        let reached = async {
            loop {
                let n = self.request_count(path);
                if n >= count {
                    return Ok(n);
                }
                if seq.changed().await.is_err() {
                    return Err(SimError::Shutdown);
                }
            }
        };
        tokio::time::timeout(timeout, reached)
            .await
            .map_err(|_| SimError::Timeout(format!("{count} requests to {path}")))?
    }

    /// Renames an item without telling anyone (like a metadata edit); sessions started later
    /// carry the new title. For hostile titles in tests.
    pub fn set_item_title(&self, item: &str, title: &str) -> Result<(), SimError> {
        let mut st = self.core.lock();
        let found = st
            .db
            .items
            .iter_mut()
            .find(|i| i.id == item)
            .ok_or_else(|| SimError::UnknownItem(item.to_string()))?;
        found.title = title.to_string();
        Ok(())
    }

    /// Hostile: sockets still connect (Engine.IO open and Socket.IO connect are answered), but
    /// `auth` is never answered.
    pub fn ignore_auth(&self, on: bool) {
        self.core.lock().hostile.ignore_auth = on;
    }

    /// Hostile: `auth` with a valid token is answered with `init` for `user` (name or id)
    /// instead of the token's owner; `None` answers truthfully again.
    pub fn init_as(&self, user: Option<&str>) -> Result<(), SimError> {
        let id = user
            .map(|u| {
                self.user_id(u)
                    .ok_or_else(|| SimError::UnknownUser(u.to_string()))
            })
            .transpose()?;
        self.core.lock().hostile.init_as = id;
        Ok(())
    }

    /// Hostile: every `auth` is answered with `auth_failed {message}` (a refusal in the server's
    /// own words, whatever they are); `None` checks tokens again.
    pub fn reject_auth(&self, message: Option<&str>) {
        self.core.lock().hostile.reject_auth = message.map(str::to_string);
    }

    /// Hostile: `POST /login` answers `307 Temporary Redirect` to `{base_url}/login` (another
    /// host, say a [`Witness`]); `None` signs in normally again.
    pub fn redirect_login(&self, base_url: Option<&str>) {
        self.core.lock().hostile.login_redirect = base_url.map(str::to_string);
    }

    /// Hostile: `GET /status`, `/api/me` and `/api/users/online` answer JSON with invalid UTF-8
    /// at the start of its first string.
    pub fn invalid_utf8(&self, on: bool) {
        self.core.lock().hostile.invalid_utf8 = on;
    }

    /// Hostile: `n` synthetic users ([`hostile::synthetic_user_id`]) count as online in
    /// `init.usersOnline` and `GET /api/users/online`; 0 for none.
    pub fn fake_users_online(&self, n: usize) {
        self.core.lock().hostile.fake_online = n;
    }

    /// Stops listening for good and saves the state.
    pub async fn shutdown(&self) {
        api::shutdown(&self.core).await;
    }
}
