//! One signed-in account at work: the connection task, live state and the notifier, wired the
//! way `abs-tray-cli watch` wires them, and stopped politely.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::AppError;
use crate::auth::{AbsClient, ServerVersion, Session, TokenManager};
use crate::connection::{self, ConnectionConfig, ConnectionHandle, ConnectionStatus, Timings};
use crate::covers::CoverCache;
use crate::credentials::SignedIn;
use crate::delivery::Delivery;
use crate::live::{self, LiveHandle, LiveSettings};
use crate::machine::MachineWatch;
use crate::notifier::{self, NotifierHandle, Outputs};
use crate::policy::PolicySettings;
use crate::server_url::ServerUrl;
use crate::tls::TlsConfig;

/// How long the version probe before connecting may take (the connection itself retries forever).
const STATUS_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a polite shutdown may take before the connection task is aborted.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
/// The first version whose daily log is only available over REST.
const REST_DAILY_LOGS: ServerVersion = ServerVersion::new(2, 8, 0);
/// Folder (inside the configuration folder) of the popups' cover cache.
const COVERS_DIR: &str = "covers";

/// What is needed to start running an account that has signed in (or will, from the keyring).
pub(super) struct Plan {
    /// The server, after base-path discovery.
    pub url: ServerUrl,
    /// The sign-in whose store holds the account's credential.
    pub manager: TokenManager,
    /// A fresh session, or `None` to start from the stored credential.
    pub session: Option<Session>,
    /// The server's version, when known.
    pub version: Option<ServerVersion>,
    /// Trust settings shared by REST and the socket.
    pub tls: TlsConfig,
    /// The built-in demo server's ephemeral account.
    pub demo: bool,
}

/// What the app keeps of a running account.
pub(super) struct Running {
    /// The account's server.
    pub url: ServerUrl,
    /// The demo server's account (nothing saved).
    pub demo: bool,
    /// Commands and status of the connection task.
    pub connection: ConnectionHandle,
    /// Snapshots and the "someone looks" switch of live state.
    pub live: LiveHandle,
    /// The notification settings in force.
    pub notifier: NotifierHandle,
    /// Tokens, shared by the connection, REST reads, covers and the doctor.
    pub signed_in: Arc<SignedIn>,
    /// The connection task; live state and the notifier end after it, as their inputs close.
    task: JoinHandle<()>,
    /// Asks the connection to attempt at once when the network comes back or the machine wakes.
    _machine: MachineWatch,
}

impl Running {
    /// Starts the connection, live state and the notifier for `plan`; must run inside a runtime.
    pub fn spawn(
        plan: Plan,
        policy: PolicySettings,
        delivery: Option<Delivery>,
        config_dir: &Path,
        watching: bool,
    ) -> Self {
        let config = ConnectionConfig {
            socket_url: plan.url.socket_url(),
            tls: Some(plan.tls.connector()),
            server_version: plan.version.map(|v| v.to_string()),
            socket_daily_logs: plan.version.is_some_and(|v| v < REST_DAILY_LOGS),
            timings: Timings::default(),
        };
        let signed_in = Arc::new(SignedIn::new(plan.manager, plan.session));
        let (connection, events, task) = connection::spawn(config, signed_in.clone());
        let machine = MachineWatch::nudging(connection.clone());
        let (live, happenings, _live_task) = live::spawn(
            events,
            connection.status(),
            signed_in.clone(),
            LiveSettings::default(),
        );
        live.set_watching(watching);
        // Covers only decorate popups, so without delivery there is nothing to fetch them for.
        let covers = delivery.as_ref().map(|_| {
            (
                CoverCache::new(config_dir.join(COVERS_DIR)),
                signed_in.clone(),
            )
        });
        let outputs = Outputs {
            delivery,
            covers,
            decisions: None,
        };
        let (notifier, _notifier_task) = notifier::spawn(
            happenings,
            connection.status(),
            policy,
            plan.url.clone(),
            outputs,
        );
        Self {
            url: plan.url,
            demo: plan.demo,
            connection,
            live,
            notifier,
            signed_in,
            task,
            _machine: machine,
        }
    }

    /// The connection, when it is up and signed in as an admin.
    pub fn admin_connection(&self) -> Result<ConnectionHandle, AppError> {
        match &*self.connection.status().borrow() {
            ConnectionStatus::Connected { is_admin: true, .. } => Ok(self.connection.clone()),
            ConnectionStatus::Connected { .. } => Err(AppError::NotAdmin),
            _ => Err(connection::CommandError::NotConnected.into()),
        }
    }

    /// Closes the socket politely (the server sees the user go offline at once) and waits a
    /// little for the task to end; a task that does not is aborted.
    pub async fn stop(self) {
        if self.connection.shutdown().await.is_err() {
            tracing::debug!("the connection had already stopped");
        }
        let mut task = self.task;
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, &mut task)
            .await
            .is_err()
        {
            tracing::warn!("the connection did not stop in time; aborting it");
            task.abort();
        }
    }
}

/// The server's version from `GET /status`, or `None` when it does not answer in time (the
/// connection then starts anyway and retries on its own).
pub async fn probe_version(client: &AbsClient) -> Option<ServerVersion> {
    match tokio::time::timeout(STATUS_PROBE_TIMEOUT, client.status()).await {
        Ok(Ok(info)) => info.version,
        Ok(Err(e)) => {
            tracing::warn!(
                code = e.code(),
                "server status unknown, connecting anyway: {e}"
            );
            None
        }
        Err(_) => None,
    }
}
