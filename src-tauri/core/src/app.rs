//! The whole running notifier for one signed-in account, without Tauri: the settings file, the
//! keyring sign-in, the connection task, live state and the notification policy with its
//! delivery. The desktop shell calls [`App`]'s few methods and renders the [`View`] it
//! publishes on one watch channel; it never sees a token.
//!
//! Sign-in, sign-out and starting from the saved account run one at a time (a lifecycle lock),
//! so a slow server cannot make two accounts run at once. Everything else only touches a small
//! state behind a plain mutex, which is never held across an `await`.

mod error;
mod running;
mod view;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{Mutex as AsyncMutex, watch};

pub use self::running::probe_version;
use self::running::{Plan, Running};
use crate::auth::{AbsClient, Session, TokenManager, discover_first};
use crate::config::{AuthKind, Settings, SettingsFile};
use crate::connection::{ConnectionHandle, ConnectionStatus};
use crate::delivery::Delivery;
use crate::doctor::{self, Report};
use crate::live::Snapshot;
use crate::policy::{PolicySettings, pause_for, pause_until_tomorrow};
use crate::protocol::LogLevel;
use crate::secret::Secret;
use crate::server_url::{Scheme, ServerUrl, ServerUrlError};
use crate::tls::{TlsConfig, TlsError, TlsOptions, pin_presented};
use crate::token_store::{Account, AsyncTokenStore, MemoryStore};

pub use self::error::AppError;
pub use self::view::{AccountView, Problem, View};

/// How long sign-out waits for the server before it just deletes the local credential.
const SIGN_OUT_TIMEOUT: Duration = Duration::from_secs(10);
/// The length of "pause for an hour".
const PAUSE_HOUR: Duration = Duration::from_secs(60 * 60);

/// What [`App::start`] needs from the platform.
pub struct AppOptions {
    /// The settings file (the shell's default folder; a temporary one in tests).
    pub settings: SettingsFile,
    /// Where credentials live: the OS keyring in the app, a [`MemoryStore`] in tests.
    pub store: AsyncTokenStore,
    /// Native popups; `None` shows none (tests, headless use).
    pub delivery: Option<Delivery>,
}

/// The sign-in form as the window sends it: a user name and password, or an API key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInForm {
    /// The server's address as typed.
    pub server: String,
    /// The user name; absent (`null`) with an API key, which names its user.
    #[serde(default)]
    pub username: Option<String>,
    /// The password; one-way: [`Secret`] neither serializes nor prints.
    #[serde(default)]
    pub password: Option<Secret>,
    /// An API key, for accounts that sign in through OIDC.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// The SHA-256 fingerprint of the server certificate the user chose to trust (the doctor's
    /// [`Report::certificate`]); it is pinned only if the server still presents that certificate.
    #[serde(default)]
    pub trust_certificate: Option<String>,
}

/// The credential a form carries, checked before any request is made.
enum Credential<'a> {
    /// User name and password.
    Password {
        /// The user name, trimmed.
        username: &'a str,
        /// The password, as typed.
        password: &'a Secret,
    },
    /// An API key.
    ApiKey(&'a Secret),
}

impl SignInForm {
    /// The credential to sign in with; an API key wins when both are filled in.
    fn credential(&self) -> Result<Credential<'_>, AppError> {
        if let Some(key) = self
            .api_key
            .as_ref()
            .filter(|k| !k.expose().trim().is_empty())
        {
            return Ok(Credential::ApiKey(key));
        }
        let username = self.username.as_deref().unwrap_or_default().trim();
        match self.password.as_ref().filter(|p| !p.expose().is_empty()) {
            Some(password) if !username.is_empty() => {
                Ok(Credential::Password { username, password })
            }
            _ => Err(AppError::MissingCredentials),
        }
    }
}

/// How to pause popups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pause {
    /// For the next hour.
    Hour,
    /// Until tomorrow morning (08:00 local time).
    UntilTomorrow,
    /// Popups again from now on.
    Resume,
}

/// The running app; cheap to clone, all clones are the same app.
#[derive(Clone)]
pub struct App {
    /// Everything, shared with the task that forwards snapshots.
    inner: Arc<Inner>,
}

/// What all clones of an [`App`] share.
struct Inner {
    /// The credential store for saved accounts.
    store: AsyncTokenStore,
    /// Native popups, handed to each run's notifier.
    delivery: Option<Delivery>,
    /// Held by sign-in, sign-out, start-up and shutdown, so they never interleave.
    lifecycle: Arc<AsyncMutex<()>>,
    /// The state behind the view.
    shared: Mutex<Shared>,
    /// The published view.
    view: watch::Sender<View>,
}

/// The app's state; the [`View`] is computed from it.
struct Shared {
    /// The settings file.
    file: SettingsFile,
    /// The file loaded (or is absent); false while a broken file is kept untouched.
    file_ok: bool,
    /// The settings as loaded (defaults when the file is broken).
    settings: Settings,
    /// The notification settings in force.
    policy: PolicySettings,
    /// `policy` as JSON, computed once per change rather than per snapshot.
    notifications: serde_json::Value,
    /// The settings file cannot be read.
    file_problem: Option<Problem>,
    /// The `[notifications]` table cannot be used (defaults are in force).
    policy_problem: Option<Problem>,
    /// The account cannot run as it should (trust settings, keyring); cleared once connected.
    run_problem: Option<Problem>,
    /// Who is signed in, as shown.
    account: Option<AccountView>,
    /// The account is the demo server's.
    demo: bool,
    /// The latest live snapshot of the running account.
    snapshot: Snapshot,
    /// Someone looks at the window.
    watching: bool,
    /// Counts runs, so a replaced run's snapshots are not shown.
    generation: u64,
    /// The running account.
    running: Option<Running>,
}

impl Shared {
    /// The view of this state.
    fn view(&self) -> View {
        View {
            account: self.account.clone(),
            last_server: self.settings.server_url.as_ref().map(ToString::to_string),
            demo: self.demo,
            paused_until_ms: self.policy.paused_until_ms,
            notifications: self.notifications.clone(),
            problem: self
                .file_problem
                .clone()
                .or_else(|| self.run_problem.clone())
                .or_else(|| Problem::of_connection(&self.snapshot.connection))
                .or_else(|| self.policy_problem.clone()),
            snapshot: self.snapshot.clone(),
        }
    }

    /// The saved server and user name, when an account is saved.
    fn saved_account(&self) -> Option<(ServerUrl, String)> {
        self.settings
            .server_url
            .clone()
            .zip(self.settings.username.clone())
    }

    /// Takes the running account out; its snapshots are no longer shown from now on.
    fn take_running(&mut self) -> Option<Running> {
        self.generation += 1;
        self.running.take()
    }

    /// Puts `policy` in force (the view, the running notifier).
    fn set_policy(&mut self, policy: PolicySettings) {
        self.notifications = serde_json::to_value(&policy).unwrap_or_default();
        if let Some(running) = &self.running {
            running.notifier.set_settings(policy.clone());
        }
        self.policy = policy;
    }

    /// Shows that nothing runs any more.
    fn stopped(&mut self) {
        self.snapshot = Snapshot::empty(ConnectionStatus::Stopped);
    }
}

impl Inner {
    /// The state, ignoring poisoning (every update leaves it consistent).
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes the view of `shared`.
    fn publish(&self, shared: &Shared) {
        self.view.send_replace(shared.view());
    }
}

impl App {
    /// Loads the settings and, when an account is saved, starts running it from the stored
    /// credential. Never fails: a broken settings file or a locked keyring shows up as
    /// [`View::problem`], and a broken file is never overwritten. Call it inside a tokio
    /// runtime: the account's tasks run on it.
    pub fn start(options: AppOptions) -> App {
        let AppOptions {
            settings: mut file,
            store,
            delivery,
        } = options;
        let (settings, file_ok, file_problem) = match file.load() {
            Ok(settings) => (settings, true, None),
            Err(e) => {
                tracing::warn!(code = e.code(), "settings unreadable, kept untouched: {e}");
                (Settings::default(), false, Some(Problem::of(&e.into())))
            }
        };
        let (policy, policy_problem) = policy_of(&settings);
        let runtime = tokio::runtime::Handle::try_current();
        let saved = settings.server_url.clone().zip(settings.username.clone());
        let run_problem = (saved.is_some() && runtime.is_err()).then(|| {
            Problem::new(
                "no_runtime",
                "The app was started outside its async runtime: this is a bug, please report it.",
            )
        });
        let status = if saved.is_some() {
            ConnectionStatus::Connecting
        } else {
            ConnectionStatus::Stopped
        };
        let shared = Shared {
            file,
            file_ok,
            account: saved
                .as_ref()
                .map(|(url, username)| AccountView::new(url, username)),
            settings,
            notifications: serde_json::to_value(&policy).unwrap_or_default(),
            policy,
            file_problem,
            policy_problem,
            run_problem,
            demo: false,
            snapshot: Snapshot::empty(status),
            watching: false,
            generation: 0,
            running: None,
        };
        let (view, _) = watch::channel(shared.view());
        let lifecycle = Arc::new(AsyncMutex::new(()));
        // Taken now, before anyone can sign in, so the saved account cannot start after (and
        // replace) an account someone signs in to while the keyring is still being asked.
        let held = lifecycle.clone().try_lock_owned().ok();
        let app = App {
            inner: Arc::new(Inner {
                store,
                delivery,
                lifecycle,
                shared: Mutex::new(shared),
                view,
            }),
        };
        if let (Some((url, username)), Ok(runtime)) = (saved, runtime) {
            let resuming = app.clone();
            runtime.spawn(async move {
                let _held = match held {
                    Some(held) => held,
                    None => resuming.inner.lifecycle.clone().lock_owned().await,
                };
                resuming.resume(url, username).await;
            });
        }
        app
    }

    /// The view, to render now and to `changed().await` on.
    pub fn view(&self) -> watch::Receiver<View> {
        self.inner.view.subscribe()
    }

    /// Signs in with the form (user name and password, or an API key through
    /// `POST /api/authorize`), saves the server and user name in the settings (never a
    /// secret) and the credential in the store, then runs the account in place of any other.
    pub async fn sign_in(&self, form: SignInForm) -> Result<(), AppError> {
        let _lifecycle = self.inner.lifecycle.lock().await;
        let credential = form.credential()?;
        self.reload_if_broken()?;
        let candidates = ServerUrl::candidates(&form.server)?;
        let (tls, trust) = self
            .trust_for_sign_in(&candidates, form.trust_certificate.as_deref())
            .await?;
        let found = discover_first(&candidates, &tls).await?;
        let client = AbsClient::new(found.url.clone(), &tls)?;
        let (manager, session, kind) =
            sign_in_with(client, self.inner.store.clone(), credential).await?;
        let url = found.url;
        let account = manager.account().clone();
        let previous = self.save_account(&url, &account.username, kind, trust)?;
        let old = self.inner.lock().take_running();
        if let Some(old) = old {
            let (demo, signed_in) = (old.demo, old.signed_in.clone());
            old.stop().await;
            // Settings hold one account, so nothing would ever use or delete the old credential.
            if demo || signed_in.manager().account() != &account {
                self.end_session(signed_in.manager(), demo).await.ok();
            }
        }
        if let Some(previous) = previous.filter(|p| p != &account)
            && let Err(e) = self.inner.store.delete(&previous).await
        {
            tracing::warn!(
                code = e.code(),
                "could not delete the previous account's credential: {e}"
            );
        }
        let version = session.server_version.or(found.info.version);
        self.launch(
            Plan {
                url,
                manager,
                session: Some(session),
                version,
                tls,
                demo: false,
            },
            None,
        );
        Ok(())
    }

    /// The trust settings to sign in with: the saved ones for the saved server, the system's for
    /// another, or a newly pinned certificate when the user chose to trust the one the server
    /// presents (refused when the server now presents another). Returns the options to save.
    async fn trust_for_sign_in(
        &self,
        candidates: &[ServerUrl],
        accepted: Option<&str>,
    ) -> Result<(TlsConfig, Option<TlsOptions>), AppError> {
        let (dir, saved) = {
            let shared = self.inner.lock();
            let first = candidates.first().ok_or(ServerUrlError::Empty)?;
            (
                shared.file.dir().to_owned(),
                shared.settings.trust_for(shared.file.dir(), first),
            )
        };
        let Some(accepted) = accepted else {
            return Ok((saved?, None));
        };
        let https = candidates
            .iter()
            .find(|url| url.scheme() == Scheme::Https)
            .ok_or(TlsError::NotHttps)?;
        let options = pin_presented(&dir, https, accepted).await?;
        Ok((options.build(&dir)?, Some(options)))
    }

    /// [`sign_in`](Self::sign_in) for the built-in demo server: ephemeral, the settings file
    /// and the keyring are not touched (the credential stays in memory); [`View::demo`] is true.
    /// A real account it replaces stays saved.
    pub async fn sign_in_demo(
        &self,
        server_url: &str,
        username: &str,
        password: &str,
    ) -> Result<(), AppError> {
        let _lifecycle = self.inner.lifecycle.lock().await;
        let url = ServerUrl::parse(server_url)?;
        let tls = TlsConfig::system()?;
        let found = discover_first(std::slice::from_ref(&url), &tls).await?;
        let client = AbsClient::new(found.url.clone(), &tls)?;
        let store = AsyncTokenStore::new(Arc::new(MemoryStore::new()));
        let manager = TokenManager::new(client, store, Account::new(&found.url, username));
        let session = manager.sign_in(&Secret::new(password)).await?;
        let old = self.inner.lock().take_running();
        if let Some(old) = old {
            let (demo, signed_in) = (old.demo, old.signed_in.clone());
            old.stop().await;
            if demo {
                self.end_session(signed_in.manager(), true).await.ok();
            }
        }
        let version = session.server_version.or(found.info.version);
        self.launch(
            Plan {
                url: found.url,
                manager,
                session: Some(session),
                version,
                tls,
                demo: true,
            },
            None,
        );
        Ok(())
    }

    /// The doctor's step-by-step report for an address as typed, with the saved trust settings
    /// when it is the saved server and the running sign-in when it is the running one.
    pub async fn diagnose(&self, server: &str) -> Report {
        let (tls, signed_in) = {
            let shared = self.inner.lock();
            match ServerUrl::parse(server) {
                Ok(url) => (
                    shared.settings.trust_for(shared.file.dir(), &url),
                    shared
                        .running
                        .as_ref()
                        .filter(|running| running.url.same_origin(&url))
                        .map(|running| running.signed_in.clone()),
                ),
                // The doctor explains what is wrong with the address itself.
                Err(_) => (TlsConfig::system(), None),
            }
        };
        match tls {
            Ok(tls) => doctor::diagnose(server, &tls, signed_in.as_deref()).await,
            Err(e) => doctor::trust_unusable(server, &e),
        }
    }

    /// Stops running, ends the server session (`POST /logout`, best effort), deletes the stored
    /// credential and forgets the user name (the server address stays, for the form).
    pub async fn sign_out(&self) -> Result<(), AppError> {
        let _lifecycle = self.inner.lifecycle.lock().await;
        let (running, saved) = {
            let mut shared = self.inner.lock();
            (shared.take_running(), shared.saved_account())
        };
        let demo = running.as_ref().is_some_and(|running| running.demo);
        let ended = match running {
            Some(running) => {
                let signed_in = running.signed_in.clone();
                running.stop().await;
                self.end_session(signed_in.manager(), demo).await
            }
            None => match saved {
                Some((url, username)) => self.end_saved_session(&url, &username).await,
                None => Ok(()),
            },
        };
        let mut guard = self.inner.lock();
        let shared = &mut *guard;
        shared.stopped();
        if let Err(e) = ended {
            // The credential is still stored: keep the account so signing out can be retried.
            shared.run_problem = Some(Problem::of(&e));
            self.inner.publish(shared);
            return Err(e);
        }
        let saved = if demo || shared.settings.username.is_none() {
            Ok(())
        } else {
            let mut settings = shared.settings.clone();
            settings.username = None;
            shared
                .file
                .save(&settings)
                .map(|()| shared.settings = settings)
        };
        shared.account = None;
        shared.demo = false;
        shared.run_problem = None;
        self.inner.publish(shared);
        Ok(saved?)
    }

    /// Pauses popups for an hour or until tomorrow morning, or resumes them; saved in the
    /// settings (not for the demo) and in force at once.
    pub fn pause(&self, pause: Pause) -> Result<(), AppError> {
        let now = chrono::Local::now();
        let until = match pause {
            Pause::Hour => Some(pause_for(&now, PAUSE_HOUR)),
            Pause::UntilTomorrow => Some(pause_until_tomorrow(&now)),
            Pause::Resume => None,
        };
        self.change_policy(|policy| policy.paused_until_ms = until)
    }

    /// Checks the Settings form's notification settings against [`PolicySettings`], saves them
    /// in the `[notifications]` table (not for the demo) and puts them in force at once. A form
    /// without `paused_until_ms` keeps the current pause.
    pub fn save_notification_settings(&self, settings: serde_json::Value) -> Result<(), AppError> {
        if !settings.is_object() {
            return Err(AppError::InvalidSettings("expected an object".into()));
        }
        let keep_pause = settings.get("paused_until_ms").is_none();
        let mut new: PolicySettings = serde_json::from_value(settings)
            .map_err(|e| AppError::InvalidSettings(e.to_string()))?;
        self.change_policy(|policy| {
            if keep_pause {
                new.paused_until_ms = policy.paused_until_ms;
            }
            *policy = new;
        })
    }

    /// Asks the server to stop scanning a library (admins).
    pub async fn cancel_scan(&self, library_id: String) -> Result<(), AppError> {
        let connection = self.admin_connection()?;
        Ok(connection.cancel_scan(library_id).await?)
    }

    /// Sends a message to every signed-in client (admins); surrounding whitespace is dropped.
    pub async fn broadcast(&self, message: String) -> Result<(), AppError> {
        let message = message.trim();
        if message.is_empty() {
            return Err(AppError::EmptyMessage);
        }
        let connection = self.admin_connection()?;
        Ok(connection.message_all_users(message.to_owned()).await?)
    }

    /// Follows the server log from `level` (0 trace to 6 note) up (admins); `None` stops it.
    pub async fn set_log_level(&self, level: Option<u8>) -> Result<(), AppError> {
        match level {
            Some(code) => {
                let level =
                    LogLevel::from_code(code.into()).ok_or(AppError::InvalidLogLevel(code))?;
                let connection = self.admin_connection()?;
                Ok(connection.set_log_listener(level).await?)
            }
            None => Ok(self.connection()?.remove_log_listener().await?),
        }
    }

    /// Drops the connection and connects again at once; when nothing runs (the saved trust
    /// settings failed at start, say), starts the saved account again.
    pub async fn reconnect(&self) -> Result<(), AppError> {
        if let Ok(connection) = self.connection() {
            return Ok(connection.reconnect_now().await?);
        }
        let _lifecycle = self.inner.lifecycle.lock().await;
        let saved = {
            let shared = self.inner.lock();
            if shared.running.is_some() {
                // Someone signed in while we waited: that is running now.
                return Ok(());
            }
            shared.saved_account()
        };
        let (url, username) = saved.ok_or(AppError::NotSignedIn)?;
        self.resume(url, username).await;
        Ok(())
    }

    /// The window is open (or not); while it is, an admin's live positions are polled.
    pub fn set_watching(&self, watching: bool) {
        let mut shared = self.inner.lock();
        shared.watching = watching;
        if let Some(running) = &shared.running {
            running.live.set_watching(watching);
        }
    }

    /// The Audiobookshelf web app of the running account (a plain address, no token).
    pub fn server_page(&self) -> Option<String> {
        let shared = self.inner.lock();
        match &shared.running {
            Some(running) => Some(running.url.rest("/")),
            None => shared
                .account
                .as_ref()
                .and_then(|_| shared.settings.server_url.as_ref())
                .map(|url| url.rest("/")),
        }
    }

    /// Closes the connection politely (the server sees the user go offline at once).
    pub async fn shutdown(&self) {
        let _lifecycle = self.inner.lifecycle.lock().await;
        let running = self.inner.lock().take_running();
        if let Some(running) = running {
            running.stop().await;
        }
        let mut shared = self.inner.lock();
        shared.stopped();
        self.inner.publish(&shared);
    }

    /// Starts the saved account from the stored credential; the lifecycle lock is held.
    async fn resume(&self, url: ServerUrl, username: String) {
        let trust = {
            let shared = self.inner.lock();
            shared.settings.trust_for(shared.file.dir(), &url)
        };
        let prepared = trust.map_err(AppError::from).and_then(|tls| {
            let client = AbsClient::new(url.clone(), &tls)?;
            Ok((tls, client))
        });
        let (tls, client) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                tracing::warn!(code = e.code(), "cannot start the saved account: {e}");
                let mut shared = self.inner.lock();
                shared.run_problem = Some(Problem::of(&e));
                let problem = Problem::of(&e);
                shared.snapshot = Snapshot::empty(ConnectionStatus::Offline {
                    reason: problem.message.clone(),
                    detail: problem.detail.clone(),
                    retry_at_ms: None,
                });
                self.inner.publish(&shared);
                return;
            }
        };
        let account = Account::new(&url, &username);
        // Asked once up front so a locked keyring is named in the view; the connection keeps
        // retrying meanwhile and clears the problem once it is through.
        let problem = match self.inner.store.get(&account).await {
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(code = e.code(), "the keyring did not answer: {e}");
                Some(Problem::of(&e.into()))
            }
        };
        let manager = TokenManager::new(client, self.inner.store.clone(), account);
        let version = probe_version(manager.client()).await;
        self.launch(
            Plan {
                url,
                manager,
                session: None,
                version,
                tls,
                demo: false,
            },
            problem,
        );
    }

    /// Runs `plan` and shows it; the previous run must have been taken out already.
    fn launch(&self, plan: Plan, problem: Option<Problem>) {
        let account = AccountView::new(&plan.url, &plan.manager.account().username);
        let mut guard = self.inner.lock();
        let shared = &mut *guard;
        if let Some(stray) = shared.take_running() {
            tracing::warn!("an account was still running; stopping it");
            tokio::spawn(stray.stop());
        }
        let running = Running::spawn(
            plan,
            shared.policy.clone(),
            self.inner.delivery.clone(),
            shared.file.dir(),
            shared.watching,
        );
        let snapshots = running.live.snapshot();
        shared.generation += 1;
        let generation = shared.generation;
        shared.demo = running.demo;
        shared.account = Some(account);
        shared.run_problem = problem;
        shared.snapshot = snapshots.borrow().clone();
        shared.running = Some(running);
        self.inner.publish(shared);
        drop(guard);
        tokio::spawn(forward(Arc::downgrade(&self.inner), generation, snapshots));
    }

    /// Saves the signed-in account in the settings (with the trust the user just chose, if any);
    /// returns the account saved before.
    fn save_account(
        &self,
        url: &ServerUrl,
        username: &str,
        kind: AuthKind,
        trust: Option<TlsOptions>,
    ) -> Result<Option<Account>, AppError> {
        let mut guard = self.inner.lock();
        let shared = &mut *guard;
        let previous = shared
            .saved_account()
            .map(|(url, username)| Account::new(&url, &username));
        let mut settings = shared.settings.clone();
        if !settings
            .server_url
            .as_ref()
            .is_some_and(|saved| saved.same_origin(url))
        {
            // Trust settings belong to the server they were made for.
            settings.tls = TlsOptions::default();
        }
        if let Some(trust) = trust {
            settings.tls = trust;
        }
        settings.server_url = Some(url.clone());
        settings.username = Some(username.to_owned());
        settings.auth_kind = kind;
        shared.file.save(&settings)?;
        shared.settings = settings;
        Ok(previous)
    }

    /// Ends a run's server session and deletes its credential; an unanswered logout still
    /// deletes the credential of a saved account.
    async fn end_session(&self, manager: &TokenManager, demo: bool) -> Result<(), AppError> {
        match tokio::time::timeout(SIGN_OUT_TIMEOUT, manager.sign_out()).await {
            Ok(ended) => Ok(ended?),
            Err(_) => {
                tracing::warn!("the server did not answer the logout in time");
                if demo {
                    // The demo's credential lives in memory and goes with its run.
                    Ok(())
                } else {
                    Ok(self.inner.store.delete(manager.account()).await?)
                }
            }
        }
    }

    /// Signs out the saved account when it is not running (its start failed).
    async fn end_saved_session(&self, url: &ServerUrl, username: &str) -> Result<(), AppError> {
        let account = Account::new(url, username);
        let client = {
            let shared = self.inner.lock();
            shared.settings.trust_for(shared.file.dir(), url)
        }
        .ok()
        .and_then(|tls| AbsClient::new(url.clone(), &tls).ok());
        match client {
            Some(client) => {
                let manager = TokenManager::new(client, self.inner.store.clone(), account);
                self.end_session(&manager, false).await
            }
            // Without usable trust settings the server cannot be told; the credential still goes.
            None => Ok(self.inner.store.delete(&account).await?),
        }
    }

    /// Changes the notification settings: saved first (unless in the demo), then in force.
    fn change_policy(&self, change: impl FnOnce(&mut PolicySettings)) -> Result<(), AppError> {
        let mut guard = self.inner.lock();
        let shared = &mut *guard;
        let mut policy = shared.policy.clone();
        change(&mut policy);
        if !shared.demo {
            let table = toml::Table::try_from(&policy)
                .map_err(|e| AppError::InvalidSettings(e.to_string()))?;
            let mut settings = shared.settings.clone();
            settings.notifications = table;
            shared.file.save(&settings)?;
            shared.settings = settings;
        }
        shared.policy_problem = None;
        shared.set_policy(policy);
        self.inner.publish(shared);
        Ok(())
    }

    /// Loads a settings file that failed to load before (someone may have fixed it by hand);
    /// still broken, it stays untouched and the error says where.
    fn reload_if_broken(&self) -> Result<(), AppError> {
        let mut guard = self.inner.lock();
        let shared = &mut *guard;
        if shared.file_ok {
            return Ok(());
        }
        match shared.file.load() {
            Ok(settings) => {
                let (policy, policy_problem) = policy_of(&settings);
                shared.settings = settings;
                shared.file_ok = true;
                shared.file_problem = None;
                shared.policy_problem = policy_problem;
                shared.set_policy(policy);
                self.inner.publish(shared);
                Ok(())
            }
            Err(e) => {
                let e = AppError::from(e);
                shared.file_problem = Some(Problem::of(&e));
                self.inner.publish(shared);
                Err(e)
            }
        }
    }

    /// The running account's connection.
    fn connection(&self) -> Result<ConnectionHandle, AppError> {
        self.inner
            .lock()
            .running
            .as_ref()
            .map(|running| running.connection.clone())
            .ok_or(AppError::NotSignedIn)
    }

    /// The running account's connection, when it is connected as an admin.
    fn admin_connection(&self) -> Result<ConnectionHandle, AppError> {
        self.inner
            .lock()
            .running
            .as_ref()
            .ok_or(AppError::NotSignedIn)?
            .admin_connection()
    }
}

/// Signs in with the form's credential; the API key names its user, so its owner is asked first.
async fn sign_in_with(
    client: AbsClient,
    store: AsyncTokenStore,
    credential: Credential<'_>,
) -> Result<(TokenManager, Session, AuthKind), AppError> {
    let url = client.url().clone();
    match credential {
        Credential::Password { username, password } => {
            let manager = TokenManager::new(client, store, Account::new(&url, username));
            let session = manager.sign_in(password).await?;
            Ok((manager, session, AuthKind::Password))
        }
        Credential::ApiKey(key) => {
            let owner = client.authorize(key).await?;
            let manager = TokenManager::new(client, store, Account::new(&url, &owner.username));
            let session = manager.sign_in_with_api_key(key).await?;
            Ok((manager, session, AuthKind::ApiKey))
        }
    }
}

/// The notification settings of the file, or the defaults and a problem when they do not fit.
fn policy_of(settings: &Settings) -> (PolicySettings, Option<Problem>) {
    match settings.notifications.clone().try_into::<PolicySettings>() {
        Ok(policy) => (policy, None),
        Err(e) => {
            tracing::warn!(%e, "notification settings unreadable; using the defaults");
            let problem = Problem::new(
                "invalid_settings",
                format!(
                    "The [notifications] settings are not valid ({e}): the defaults are in force \
                     until you save them again."
                ),
            );
            (PolicySettings::default(), Some(problem))
        }
    }
}

/// Shows each new snapshot of run `generation` until that run is replaced or ends.
async fn forward(inner: Weak<Inner>, generation: u64, mut snapshots: watch::Receiver<Snapshot>) {
    while snapshots.changed().await.is_ok() {
        let Some(inner) = inner.upgrade() else {
            break;
        };
        let snapshot = snapshots.borrow_and_update().clone();
        let mut shared = inner.lock();
        if shared.generation != generation {
            break;
        }
        if matches!(snapshot.connection, ConnectionStatus::Connected { .. }) {
            shared.run_problem = None;
        }
        shared.snapshot = snapshot;
        inner.publish(&shared);
    }
}
