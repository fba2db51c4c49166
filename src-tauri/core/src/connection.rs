//! The one task that owns the Socket.IO connection to one ABS server and never silently dies.
//!
//! It publishes a [`ConnectionStatus`] on a watch channel, sends decoded [`ServerEvent`]s out on a
//! channel and takes [`Command`]s in. Nothing here is global: two servers are two of these tasks.
//!
//! Liveness is proven, not assumed: "connected" is published only after `init` arrived on the
//! socket, an application `ping` must be answered within a deadline, the server's own heartbeat
//! must keep coming, and a jump of the wall clock (suspend/resume) forces a fresh socket at once.
//!
//! Back as soon as the server is: every attempt starts with a cheap probe, one Engine.IO polling
//! handshake (`GET {base}/socket.io/?EIO=4&transport=polling`) with a 1 s timeout of its own, and
//! only a probe the server answers is followed by the full connect. A TCP connect would not do: a
//! frozen server's kernel still accepts it. Unanswered probes are repeated per [`Backoff`]: every
//! 0.25–0.5 s for the first 10 s of an outage, every 0.75–1.25 s up to 10 minutes, every 6–8 s
//! after that (about 1,050 requests in the first hour of an outage, 510 an hour after, none of
//! them a sign-in or a REST read), so the app is connected within about 1.3 s of the server
//! answering again for outages up to 10 minutes and within 8.5 s after. Failures after the
//! server answered (sign-in unanswered, the socket refused) wait 2 s, 4 s, … up to a minute
//! once the first 10 s of the outage are over.
//! Once a minute a probe may take the whole connect timeout, so a server behind a link too slow
//! for 1 s is still reached. A probe the server answers gets its Engine.IO session closed at once
//! (a second request); it never joins a namespace, so ABS logs nothing.

pub(crate) mod log_limit;

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::sleep_until;

use self::log_limit::LogLimit;
use crate::backoff::{Backoff, Failure};
use crate::clock::ClockWatch;
use crate::live::label::label;
use crate::protocol::{self, ClientEvent, DailyLogs, LogLevel, ServerEvent};
use crate::secret::Secret;
use crate::socket::{RawEvent, Socket, SocketError};

/// What the rest of the app knows about the connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Not connected; `retry_at_ms` (Unix ms) is when the next attempt starts.
    Offline {
        /// Why the last attempt or connection ended: one plain sentence for people.
        reason: String,
        /// What the system said (for a "Details" disclosure and logs), when there is more to it.
        detail: Option<String>,
        /// When the next attempt is due, in Unix milliseconds.
        retry_at_ms: Option<u64>,
    },
    /// Opening the socket.
    Connecting,
    /// Socket open, waiting for the server to accept the token.
    Authenticating,
    /// Authenticated and proven to deliver (`init` arrived).
    Connected {
        /// The signed-in user's id.
        user_id: String,
        /// The signed-in user's name.
        username: String,
        /// Admins see everyone's presence and sessions.
        is_admin: bool,
        /// The server's version, as `GET /status` reported it.
        server_version: Option<String>,
        /// Round trip of the last application ping, once one was answered.
        latency_ms: Option<u64>,
    },
    /// The server rejected our credentials and a refresh did not help; nothing is retried until
    /// the user signs in again (the server rate-limits sign-ins). Serialized as `signin_required`,
    /// the spelling the CLI's `--json` and the window use.
    #[serde(rename = "signin_required")]
    SignInRequired {
        /// What the server said, for people.
        reason: String,
    },
    /// The task ended (shut down).
    Stopped,
}

/// Why getting a token failed, which decides whether to retry.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum CredentialError {
    /// The credentials are gone or rejected: only the user can fix it.
    #[error("sign-in required: {0}")]
    SignInRequired(String),
    /// The server or the keyring is unreachable for now: try again later.
    #[error("{0}")]
    Unavailable(String),
}

/// Where the connection gets tokens and REST-only data; the auth layer implements it.
pub trait Credentials: Send + Sync + 'static {
    /// A token the socket accepts; `refresh` asks for a new one because the last was rejected.
    fn access_token(
        &self,
        refresh: bool,
    ) -> impl Future<Output = Result<Secret, CredentialError>> + Send;
    /// Today's server log lines through REST (`GET /api/logger-data`, servers 2.8 and later).
    fn daily_logs(&self) -> impl Future<Output = Result<DailyLogs, CredentialError>> + Send;
    /// The id of the user the last token belongs to, when known: an `init` for anyone else is
    /// a lying server (or a proxy mixing up sockets), and its identity must never be shown.
    fn user_id(&self) -> impl Future<Output = Option<String>> + Send {
        std::future::ready(None)
    }
}

/// Shared credentials (the app also uses them for REST reads).
impl<C: Credentials> Credentials for std::sync::Arc<C> {
    fn access_token(
        &self,
        refresh: bool,
    ) -> impl Future<Output = Result<Secret, CredentialError>> + Send {
        (**self).access_token(refresh)
    }

    fn daily_logs(&self) -> impl Future<Output = Result<DailyLogs, CredentialError>> + Send {
        (**self).daily_logs()
    }

    fn user_id(&self) -> impl Future<Output = Option<String>> + Send {
        (**self).user_id()
    }
}

/// How long each step may take; tests shrink these to make failures fast.
#[derive(Debug, Clone)]
pub struct Timings {
    /// How often to ping while connected.
    pub ping_interval: Duration,
    /// How long a ping may go unanswered before the socket counts as dead.
    pub pong_timeout: Duration,
    /// Limit for TCP + TLS + WebSocket + namespace join.
    pub connect_timeout: Duration,
    /// Limit for the server's answer to `auth`.
    pub auth_timeout: Duration,
    /// How often to compare the clocks for suspend/resume.
    pub clock_check: Duration,
    /// Drift between the clocks that counts as a suspend.
    pub clock_jump: Duration,
    /// The longest wait between attempts.
    pub backoff_cap: Duration,
    /// How long an outage is retried quickly (a restart), whatever fails.
    pub quick_phase: Duration,
    /// Limit for one probe (the polling handshake before an attempt).
    pub probe_timeout: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(10),
            clock_check: Duration::from_secs(5),
            clock_jump: Duration::from_secs(10),
            backoff_cap: Duration::from_secs(60),
            quick_phase: Backoff::QUICK_PHASE,
            probe_timeout: Duration::from_secs(1),
        }
    }
}

/// Everything the task needs to reach one server.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// The server's Socket.IO address, e.g. `https://abs.example.com/audiobookshelf/socket.io/`.
    pub socket_url: String,
    /// TLS settings shared with REST; `None` uses the system roots.
    pub tls: Option<native_tls::TlsConnector>,
    /// The server's version from `GET /status`, shown with the status.
    pub server_version: Option<String>,
    /// Servers before 2.8 answer `fetch_daily_logs` on the socket; newer ones only over REST.
    pub socket_daily_logs: bool,
    /// Step limits.
    pub timings: Timings,
}

/// Why a command could not be carried out.
#[derive(Debug, Clone, Error, PartialEq, Serialize)]
#[serde(tag = "code", content = "message", rename_all = "snake_case")]
pub enum CommandError {
    /// There is no authenticated socket right now.
    #[error("not connected to the server")]
    NotConnected,
    /// The connection task has stopped.
    #[error("the connection has stopped")]
    #[serde(rename = "connection_stopped")]
    Stopped,
    /// The REST request behind the command failed.
    #[error("{0}")]
    #[serde(rename = "command_failed")]
    Failed(String),
}

impl CommandError {
    /// The stable snake_case identifier, the same as the serialized `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotConnected => "not_connected",
            Self::Stopped => "connection_stopped",
            Self::Failed(_) => "command_failed",
        }
    }
}

/// What the app asks the connection to do.
#[derive(Debug)]
enum Command {
    /// Send an event on the authenticated socket.
    Send(ClientEvent, oneshot::Sender<Result<(), CommandError>>),
    /// Fetch today's log lines (socket on old servers, REST on new ones); they arrive as an event.
    DailyLogs(oneshot::Sender<Result<(), CommandError>>),
    /// Drop the current socket (or the wait) and connect again now; also resumes after sign-in.
    ReconnectNow,
    /// End the wait (or the probe) and try now with a fresh schedule; nothing while connected.
    AttemptNow,
    /// Close the socket and end the task.
    Shutdown,
}

/// The app's side of a running connection; cheap to clone.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    /// Commands into the task.
    commands: mpsc::Sender<Command>,
    /// Latest status.
    status: watch::Receiver<ConnectionStatus>,
}

impl ConnectionHandle {
    /// The latest status, to render or to `changed().await` on.
    pub fn status(&self) -> watch::Receiver<ConnectionStatus> {
        self.status.clone()
    }

    /// Asks the server to stop scanning a library (admins only).
    pub async fn cancel_scan(&self, library_id: String) -> Result<(), CommandError> {
        self.send(ClientEvent::CancelScan { library_id }).await
    }

    /// Streams server log lines at `level` and above as `log` events (admins only).
    pub async fn set_log_listener(&self, level: LogLevel) -> Result<(), CommandError> {
        self.send(ClientEvent::SetLogListener { level }).await
    }

    /// Stops the `log` events.
    pub async fn remove_log_listener(&self) -> Result<(), CommandError> {
        self.send(ClientEvent::RemoveLogListener).await
    }

    /// Broadcasts a message to every signed-in client (admins only).
    pub async fn message_all_users(&self, message: String) -> Result<(), CommandError> {
        self.send(ClientEvent::MessageAllUsers { message }).await
    }

    /// Pings now; the measured latency appears in the status.
    pub async fn ping(&self) -> Result<(), CommandError> {
        self.send(ClientEvent::Ping).await
    }

    /// Fetches today's server log; the lines arrive as a [`ServerEvent::DailyLogs`].
    pub async fn daily_logs(&self) -> Result<(), CommandError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::DailyLogs(reply)).await?;
        answer.await.map_err(|_| CommandError::Stopped)?
    }

    /// Reconnects at once, dropping a working socket too: after the user signed in again.
    pub async fn reconnect_now(&self) -> Result<(), CommandError> {
        self.command(Command::ReconnectNow).await
    }

    /// Tries at once if offline (a network came back, the computer woke up): the wait or the
    /// probe in progress ends and the outage's schedule starts again from its quick phase. An
    /// attempt the server already answered goes on (with the fresh schedule should it fail).
    /// Does nothing while connected, and nothing while only a new sign-in can help.
    pub async fn attempt_now(&self) -> Result<(), CommandError> {
        self.command(Command::AttemptNow).await
    }

    /// Closes the socket and ends the task.
    pub async fn shutdown(&self) -> Result<(), CommandError> {
        self.command(Command::Shutdown).await
    }

    /// Sends an event and waits until the task wrote it to the socket.
    async fn send(&self, event: ClientEvent) -> Result<(), CommandError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Send(event, reply)).await?;
        answer.await.map_err(|_| CommandError::Stopped)?
    }

    /// Queues a command for the task.
    async fn command(&self, command: Command) -> Result<(), CommandError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| CommandError::Stopped)
    }
}

/// Starts the connection task; events come out of the returned receiver in server order.
pub fn spawn<C: Credentials>(
    config: ConnectionConfig,
    credentials: C,
) -> (
    ConnectionHandle,
    mpsc::Receiver<ServerEvent>,
    JoinHandle<()>,
) {
    let (status_tx, status) = watch::channel(ConnectionStatus::Connecting);
    let (commands, commands_rx) = mpsc::channel(32);
    // Bounded: a consumer that stops reading slows the socket down instead of growing memory.
    let (events_tx, events) = mpsc::channel(1024);
    let actor = Actor {
        backoff: Backoff::default()
            .quick_for(config.timings.quick_phase)
            .capped(config.timings.backoff_cap),
        probe: Probe::new(&config),
        config,
        credentials,
        status: status_tx,
        commands: commands_rx,
        events: events_tx,
        latency: None,
        malformed: LogLimit::new("malformed events from the server"),
    };
    let task = tokio::spawn(actor.run());
    (ConnectionHandle { commands, status }, events, task)
}

/// How one connection attempt ended, which decides what happens next.
#[derive(Debug)]
enum Ended {
    /// A transient failure after the server answered: wait per the backoff, then retry.
    Retry(Why),
    /// Nothing answered the probe: probe again per the backoff.
    Unanswered(Why),
    /// Retry at once (suspend/resume, user request).
    RetryNow(Why),
    /// Only the user can fix this.
    SignInRequired(String),
    /// Stop the task.
    Shutdown,
}

/// Why a connection ended, as the offline status shows it.
#[derive(Debug)]
struct Why {
    /// One plain sentence for people.
    reason: String,
    /// The system's own words, when there are any.
    detail: Option<String>,
}

impl Why {
    /// A reason that is already plain words.
    fn said(reason: &str) -> Self {
        Self {
            reason: reason.to_owned(),
            detail: None,
        }
    }
}

impl From<&SocketError> for Why {
    fn from(err: &SocketError) -> Self {
        Self {
            reason: err.plain(),
            detail: Some(err.to_string()),
        }
    }
}

/// Longest time spent delivering the events that arrived before a connection is given up.
const ARRIVED_LIMIT: Duration = Duration::from_secs(2);

/// An application ping waiting for its pong.
#[derive(Debug, Clone, Copy)]
struct PongDue {
    /// When the missing pong ends the connection.
    deadline: tokio::time::Instant,
    /// When the ping went out, for the round trip.
    sent: Instant,
}

impl PongDue {
    /// A ping sent now, answerable within `timeout`.
    fn from_now(timeout: Duration) -> Self {
        Self {
            deadline: tokio::time::Instant::now() + timeout,
            sent: Instant::now(),
        }
    }
}

/// The state owned by the connection task.
struct Actor<C> {
    /// Where to connect.
    config: ConnectionConfig,
    /// Where tokens come from.
    credentials: C,
    /// The retry schedule.
    backoff: Backoff,
    /// The cheap check before each attempt; `None` when no HTTP client could be built.
    probe: Option<Probe>,
    /// Status out.
    status: watch::Sender<ConnectionStatus>,
    /// Commands in.
    commands: mpsc::Receiver<Command>,
    /// Events out.
    events: mpsc::Sender<ServerEvent>,
    /// Last measured ping round trip.
    latency: Option<Duration>,
    /// Warnings about malformed events, so a flood of them cannot flood the log.
    malformed: LogLimit,
}

impl<C: Credentials> Actor<C> {
    /// Connects, serves and reconnects until shut down.
    async fn run(mut self) {
        loop {
            let ended = self.connect_and_serve().await;
            tracing::info!(?ended, "connection ended");
            let keep_going = match ended {
                Ended::Shutdown => false,
                Ended::SignInRequired(reason) => {
                    self.publish(ConnectionStatus::SignInRequired { reason });
                    self.backoff.reset();
                    self.idle(None).await
                }
                Ended::RetryNow(Why { reason, detail }) => {
                    self.backoff.reset();
                    self.publish(ConnectionStatus::Offline {
                        reason,
                        detail,
                        retry_at_ms: Some(unix_ms(SystemTime::now())),
                    });
                    true
                }
                Ended::Retry(why) => self.retry_later(why, Failure::Answered).await,
                Ended::Unanswered(why) => self.retry_later(why, Failure::Unanswered).await,
            };
            if !keep_going {
                break;
            }
        }
        self.publish(ConnectionStatus::Stopped);
    }

    /// Says why and when, and waits per the backoff; false when the task should end.
    async fn retry_later(&mut self, why: Why, failure: Failure) -> bool {
        let delay = self
            .backoff
            .next_delay(Instant::now(), failure, rand::random::<f64>());
        self.publish(ConnectionStatus::Offline {
            reason: why.reason,
            detail: why.detail,
            retry_at_ms: Some(unix_ms(SystemTime::now() + delay)),
        });
        self.idle(Some(delay)).await
    }

    /// Probes until the server answers once, or a command ends it; the status stays as it is
    /// (offline) meanwhile, so an outage does not blink between offline and connecting.
    async fn probe(&mut self) -> Result<(), Ended> {
        let Some(probe) = self.probe.as_mut() else {
            return Ok(());
        };
        loop {
            let asking = probe.ask(&self.config.timings);
            tokio::pin!(asking);
            loop {
                tokio::select! {
                    answer = &mut asking => return answer,
                    command = self.commands.recv() => match command {
                        // The probe may hang on a route that just changed: ask afresh.
                        Some(Command::AttemptNow) => {
                            self.backoff.reset();
                            break;
                        }
                        other => if let Some(ended) = while_not_connected(other) {
                            return Err(ended);
                        },
                    },
                }
            }
        }
    }

    /// One connection from opening to its end.
    async fn connect_and_serve(&mut self) -> Ended {
        if let Err(ended) = self.probe().await {
            return ended;
        }
        self.publish(ConnectionStatus::Connecting);
        let token = match self.credentials.access_token(false).await {
            Ok(token) => token,
            Err(err) => return ended_by(err),
        };
        let timings = self.config.timings.clone();
        let socket_url = self.config.socket_url.clone();
        let connecting = Socket::connect(
            &socket_url,
            self.config.tls.clone(),
            timings.connect_timeout,
        );
        tokio::pin!(connecting);
        let mut socket = loop {
            tokio::select! {
                socket = &mut connecting => match socket {
                    Ok(socket) => break socket,
                    Err(err) => return Ended::Retry(Why::from(&err)),
                },
                command = self.commands.recv() => match command {
                    Some(Command::AttemptNow) => self.backoff.reset(),
                    other => if let Some(ended) = while_not_connected(other) {
                        return ended;
                    },
                },
            }
        };
        self.publish(ConnectionStatus::Authenticating);
        let ended = match self.authenticate(&mut socket, token).await {
            Ok(init) => {
                let connected_at = Instant::now();
                let ended = self.serve(&mut socket, init).await;
                self.backoff.dropped_after(connected_at.elapsed());
                ended
            }
            Err(ended) => ended,
        };
        self.malformed.flush();
        socket.close().await;
        ended
    }

    /// Sends `auth` and waits for `init`; one refresh is allowed when the token is rejected.
    async fn authenticate(
        &mut self,
        socket: &mut Socket,
        token: Secret,
    ) -> Result<protocol::Init, Ended> {
        let auth_timeout = self.config.timings.auth_timeout;
        let mut deadline = tokio::time::Instant::now() + auth_timeout;
        emit(socket, &ClientEvent::Auth(token))
            .await
            .map_err(retry)?;
        let mut refreshed = false;
        loop {
            tokio::select! {
                received = socket.recv() => match self.decode(received.map_err(retry)?) {
                    Some(ServerEvent::Init(init)) => {
                        let expected = self.credentials.user_id().await;
                        if expected.is_some_and(|id| id != init.user_id) {
                            return Err(wrong_user());
                        }
                        self.forward(ServerEvent::Init(init.clone())).await?;
                        return Ok(init);
                    }
                    Some(ServerEvent::AuthFailed(_) | ServerEvent::InvalidToken) if !refreshed => {
                        refreshed = true;
                        let token = self.credentials.access_token(true).await.map_err(ended_by)?;
                        emit(socket, &ClientEvent::Auth(token)).await.map_err(retry)?;
                        deadline = tokio::time::Instant::now() + auth_timeout;
                    }
                    Some(ServerEvent::AuthFailed(failed)) => {
                        // The server's words end up in the window: one short line of plain text.
                        let said = failed.message.map_or_else(|| "no reason given".into(), |m| label(&m));
                        return Err(Ended::SignInRequired(format!("the server rejected the sign-in ({said}): sign in again")));
                    }
                    Some(ServerEvent::InvalidToken) => {
                        return Err(Ended::SignInRequired("the server rejected the sign-in: sign in again".into()));
                    }
                    // Events the same `auth` caused (an admin's own `user_online`) may come first.
                    Some(event) => self.forward(event).await?,
                    None => {}
                },
                () = sleep_until(deadline) => {
                    return Err(Ended::Retry(Why {
                        reason: "The server did not answer the sign-in on the live connection: ABS Tray tries again soon.".to_owned(),
                        detail: Some(format!("no answer to auth within {auth_timeout:?}")),
                    }));
                }
                command = self.commands.recv() => match command {
                    Some(Command::AttemptNow) => self.backoff.reset(),
                    other => if let Some(ended) = while_not_connected(other) {
                        return Err(ended);
                    },
                },
            }
        }
    }

    /// Delivers events and keeps proving the socket alive until something ends it.
    ///
    /// Whatever ends the connection from this side (a deadline, a clock jump, a failed write, a
    /// request) first delivers the events that already arrived: after a freeze every timer is
    /// due at once, and `select!` may pick one before the socket's buffered frames.
    async fn serve(&mut self, socket: &mut Socket, init: protocol::Init) -> Ended {
        let timings = self.config.timings.clone();
        let server_version = self.config.server_version.clone();
        let connected = |latency: Option<Duration>| ConnectionStatus::Connected {
            user_id: init.user_id.clone(),
            username: label(&init.username),
            is_admin: init.users_online.is_some(),
            server_version: server_version.clone(),
            latency_ms: latency.map(|l| u64::try_from(l.as_millis()).unwrap_or(u64::MAX)),
        };
        self.publish(connected(self.latency));

        let start = tokio::time::Instant::now();
        let mut next_ping = start + timings.ping_interval;
        let mut pong_due: Option<PongDue> = None;
        let mut clock = ClockWatch::now(timings.clock_jump);
        let mut clock_timer =
            tokio::time::interval_at(start + timings.clock_check, timings.clock_check);
        loop {
            let pong_deadline = pong_due.map(|due| due.deadline);
            let ended = tokio::select! {
                received = socket.recv() => match received {
                    // The socket judged its heartbeat only after reading what had arrived.
                    Err(err) => return Ended::Retry(Why::from(&err)),
                    Ok(raw) => self.received(raw, &init.user_id, &mut pong_due).await.err(),
                },
                () = sleep_until(next_ping) => {
                    next_ping += timings.ping_interval;
                    if pong_due.is_none() {
                        match emit(socket, &ClientEvent::Ping).await {
                            Ok(()) => {
                                pong_due = Some(PongDue::from_now(timings.pong_timeout));
                                None
                            }
                            Err(err) => Some(Ended::Retry(Why::from(&err))),
                        }
                    } else {
                        None
                    }
                }
                () = sleep_until(pong_deadline.unwrap_or(start)), if pong_deadline.is_some() => {
                    // The pong may be among the frames that arrived unseen (this process was
                    // frozen): only a pong still missing after reading them is a dead server.
                    if let Err(ended) = self.deliver_arrived(socket, &init.user_id, &mut pong_due).await {
                        return ended;
                    }
                    pong_due.is_some().then(|| {
                        tracing::info!(timeout = ?timings.pong_timeout, "no pong in time");
                        Ended::Retry(Why::said("The server stopped answering: ABS Tray reconnects as soon as it answers again."))
                    })
                }
                _ = clock_timer.tick() => clock.check().then(|| {
                    Ended::RetryNow(Why::said("The computer woke from sleep: reconnecting."))
                }),
                command = self.commands.recv() => match command {
                    Some(Command::Send(event, reply)) => {
                        let sent = emit(socket, &event).await;
                        if matches!(event, ClientEvent::Ping) && sent.is_ok() && pong_due.is_none() {
                            pong_due = Some(PongDue::from_now(timings.pong_timeout));
                        }
                        let failed = sent.as_ref().err().map(Why::from);
                        let _ = reply.send(sent.map_err(|err| CommandError::Failed(err.to_string())));
                        failed.map(Ended::Retry)
                    }
                    Some(Command::DailyLogs(reply)) => self.daily_logs(socket, reply).await.err(),
                    other => while_not_connected(other),
                },
            };
            match ended {
                None => {}
                // Failures of our own writes and requests to reconnect leave frames unread.
                Some(ended @ (Ended::Retry(_) | Ended::RetryNow(_))) => {
                    return match self
                        .deliver_arrived(socket, &init.user_id, &mut pong_due)
                        .await
                    {
                        Ok(()) => ended,
                        Err(worse) => worse,
                    };
                }
                // A consumer that is gone or a socket signed in as someone else: nothing more.
                Some(ended) => return ended,
            }
        }
    }

    /// Handles one event on the connected socket: a pong ends the wait for it, anything else
    /// goes out; an `init` for another account ends the connection.
    async fn received(
        &mut self,
        raw: RawEvent,
        user_id: &str,
        pong_due: &mut Option<PongDue>,
    ) -> Result<(), Ended> {
        match self.decode(raw) {
            Some(ServerEvent::Init(again)) if again.user_id != user_id => Err(wrong_user()),
            Some(ServerEvent::Pong) => {
                if let Some(due) = pong_due.take() {
                    let latency = due.sent.elapsed();
                    self.latency = Some(latency);
                    let mut status = self.status.borrow().clone();
                    if let ConnectionStatus::Connected { latency_ms, .. } = &mut status {
                        *latency_ms = Some(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX));
                    }
                    self.publish(status);
                }
                Ok(())
            }
            Some(event) => self.forward(event).await,
            None => Ok(()),
        }
    }

    /// Handles the events that have already arrived, without waiting for more; bounded, so a
    /// server that keeps talking cannot keep a connection that is being given up.
    async fn deliver_arrived(
        &mut self,
        socket: &mut Socket,
        user_id: &str,
        pong_due: &mut Option<PongDue>,
    ) -> Result<(), Ended> {
        let until = tokio::time::Instant::now() + ARRIVED_LIMIT;
        while tokio::time::Instant::now() < until {
            let Some(raw) = socket.recv_arrived().await else {
                break;
            };
            self.received(raw, user_id, pong_due).await?;
        }
        Ok(())
    }

    /// Fetches today's log lines the way this server supports.
    async fn daily_logs(
        &mut self,
        socket: &mut Socket,
        reply: oneshot::Sender<Result<(), CommandError>>,
    ) -> Result<(), Ended> {
        if self.config.socket_daily_logs {
            let sent = emit(socket, &ClientEvent::FetchDailyLogs).await;
            let failed = sent.as_ref().err().map(Why::from);
            let _ = reply.send(sent.map_err(|err| CommandError::Failed(err.to_string())));
            return failed.map_or(Ok(()), |reason| Err(Ended::Retry(reason)));
        }
        match self.credentials.daily_logs().await {
            Ok(logs) => {
                let _ = reply.send(Ok(()));
                self.forward(ServerEvent::DailyLogs(logs)).await
            }
            Err(err) => {
                let _ = reply.send(Err(CommandError::Failed(err.to_string())));
                Ok(())
            }
        }
    }

    /// Waits between attempts (forever when `delay` is `None`), answering commands meanwhile.
    /// Returns false when the task should end.
    async fn idle(&mut self, delay: Option<Duration>) -> bool {
        let wake = delay.map(|d| tokio::time::Instant::now() + d);
        loop {
            tokio::select! {
                () = sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)), if wake.is_some() => return true,
                command = self.commands.recv() => match command {
                    // Without a wake-up only a new sign-in helps, which `ReconnectNow` brings.
                    Some(Command::AttemptNow) if wake.is_none() => {}
                    Some(Command::AttemptNow) => {
                        self.backoff.reset();
                        return true;
                    }
                    other => match while_not_connected(other) {
                        None => {}
                        Some(Ended::Shutdown) => return false,
                        Some(_) => {
                            self.backoff.reset();
                            return true;
                        }
                    },
                },
            }
        }
    }

    /// Decodes a raw event; a malformed one is skipped (and logged, within limits), never fatal.
    fn decode(&mut self, raw: RawEvent) -> Option<ServerEvent> {
        protocol::decode(&raw.name, &raw.args)
            .inspect_err(|err| {
                if self.malformed.allow() {
                    tracing::warn!(%err, "ignored a malformed event from the server");
                }
            })
            .ok()
    }

    /// Sends an event out; a consumer that went away ends the task.
    async fn forward(&mut self, event: ServerEvent) -> Result<(), Ended> {
        self.events.send(event).await.map_err(|_| Ended::Shutdown)
    }

    /// Publishes a status when it differs from the current one.
    fn publish(&self, status: ConnectionStatus) {
        self.status.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }
}

/// The cheap check before an attempt: whether the server answers on its Socket.IO path at all.
struct Probe {
    /// No proxy (the WebSocket uses none), no pooled connections, no redirects followed.
    client: reqwest::Client,
    /// `{base}/socket.io/?EIO=4&transport=polling`.
    url: url::Url,
    /// When a probe last had the whole connect timeout.
    patient_at: Option<Instant>,
}

impl Probe {
    /// How often one probe may take the whole connect timeout, for links slower than a probe's.
    const PATIENT_EVERY: Duration = Duration::from_secs(60);

    /// The probe for `config`'s server; `None` (attempts go straight to the connect) when its
    /// address or TLS settings cannot make an HTTP client, which the connect then reports.
    fn new(config: &ConnectionConfig) -> Option<Self> {
        let mut url = url::Url::parse(&config.socket_url).ok()?;
        let scheme = match url.scheme() {
            "ws" | "http" => "http",
            "wss" | "https" => "https",
            _ => return None,
        };
        url.set_scheme(scheme).ok()?;
        url.set_query(Some("EIO=4&transport=polling"));
        url.set_fragment(None);
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(tls) = config.tls.clone() {
            builder = builder.tls_backend_preconfigured(tls);
        }
        match builder.build() {
            Ok(client) => Some(Self {
                client,
                url,
                patient_at: None,
            }),
            Err(err) => {
                tracing::warn!(%err, "no HTTP client for probing; attempts connect at once");
                None
            }
        }
    }

    /// One probe: `Ok` when the server answered (any status below 500; a proxy's 502 means the
    /// server behind it did not), otherwise how the attempt ended. Its timeout is chosen when
    /// it is created, so a probe abandoned before it ran still counts as the patient one.
    fn ask(&mut self, timings: &Timings) -> impl Future<Output = Result<(), Ended>> + '_ {
        let now = Instant::now();
        let patient = self
            .patient_at
            .is_none_or(|at| now.saturating_duration_since(at) >= Self::PATIENT_EVERY);
        let limit = if patient {
            self.patient_at = Some(now);
            timings.connect_timeout.max(timings.probe_timeout)
        } else {
            timings.probe_timeout
        };
        self.ask_within(limit)
    }

    /// One probe with the timeout `limit`.
    async fn ask_within(&self, limit: Duration) -> Result<(), Ended> {
        let asking = async {
            let response = self.client.get(self.url.clone()).send().await?;
            let status = response.status();
            let sid = if status.is_success() {
                session_id(response).await
            } else {
                None
            };
            Ok::<_, reqwest::Error>((status, sid))
        };
        match tokio::time::timeout(limit, asking).await {
            Err(_) => Err(Ended::Unanswered(Why::from(&SocketError::Timeout(limit)))),
            Ok(Ok((status, _))) if status.is_server_error() => {
                let said = SocketError::Connect(format!("HTTP error: {status}"));
                Err(Ended::Unanswered(Why::from(&said)))
            }
            Ok(Ok((_, sid))) => {
                if let Some(sid) = sid {
                    self.close_session(sid, limit);
                }
                Ok(())
            }
            Ok(Err(err)) => {
                let why = Why::from(&SocketError::Connect(error_chain(&err)));
                if unanswered(&err) {
                    Err(Ended::Unanswered(why))
                } else {
                    // TLS refused, garbage instead of HTTP: something answered, and asking it
                    // every second would cost it a handshake each time.
                    Err(Ended::Retry(why))
                }
            }
        }
    }
}

impl Probe {
    /// Ends the Engine.IO session the probe opened (a `1` close packet, as engine.io's own
    /// polling client does), so the server frees it now instead of after its ping timeout.
    /// In the background: the full connect does not wait for it.
    fn close_session(&self, sid: String, limit: Duration) {
        let mut url = self.url.clone();
        url.query_pairs_mut().append_pair("sid", &sid);
        let closing = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain;charset=UTF-8")
            .body("1")
            .send();
        tokio::spawn(async move {
            if let Ok(Err(err)) = tokio::time::timeout(limit, closing).await {
                tracing::debug!(%err, "the probe's Engine.IO session was not closed");
            }
        });
    }
}

/// The session id of an Engine.IO open packet (`0{"sid":...}`), reading at most 4 KiB.
async fn session_id(mut response: reqwest::Response) -> Option<String> {
    /// The open packet's one field needed here.
    #[derive(serde::Deserialize)]
    struct Open {
        /// The session to close.
        sid: String,
    }
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > 4096 {
            return None;
        }
    }
    let open: Open = serde_json::from_slice(body.strip_prefix(b"0")?).ok()?;
    Some(open.sid)
}

/// Whether a failed request means nothing answered at all: refused, reset or hung up on,
/// unreachable, timed out, or the name not found (no network).
fn unanswered(err: &reqwest::Error) -> bool {
    use std::io::ErrorKind::{
        AddrNotAvailable, ConnectionAborted, ConnectionRefused, ConnectionReset, HostUnreachable,
        NetworkDown, NetworkUnreachable, NotConnected, TimedOut,
    };
    if err.is_timeout() {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                AddrNotAvailable
                    | ConnectionAborted
                    | ConnectionRefused
                    | ConnectionReset
                    | HostUnreachable
                    | NetworkDown
                    | NetworkUnreachable
                    | NotConnected
                    | TimedOut
            )
        {
            return true;
        }
        // hyper's words for a lookup that failed and for a peer that hung up before answering
        // (a proxy whose server is down); neither is a type reqwest exposes.
        let text = cause.to_string();
        if text.starts_with("dns error") || text.contains("connection closed before message") {
            return true;
        }
        source = cause.source();
    }
    false
}

/// An error with its causes, as one line: reqwest's own text leaves out what the system said.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Handles a command that arrives without an authenticated socket: requests are answered "not
/// connected"; reconnect and shutdown end what is in progress.
fn while_not_connected(command: Option<Command>) -> Option<Ended> {
    match command {
        Some(Command::Send(_, reply) | Command::DailyLogs(reply)) => {
            let _ = reply.send(Err(CommandError::NotConnected));
            None
        }
        Some(Command::ReconnectNow) => Some(Ended::RetryNow(Why::said("Reconnecting, as asked."))),
        // Connected or already connecting: there is nothing to hurry.
        Some(Command::AttemptNow) => None,
        Some(Command::Shutdown) | None => Some(Ended::Shutdown),
    }
}

/// Sends a client event on the socket.
async fn emit(socket: &mut Socket, event: &ClientEvent) -> Result<(), SocketError> {
    let args: Vec<serde_json::Value> = event.payload().into_iter().collect();
    socket.emit(event.name(), &args).await
}

/// The end of a socket the server signed in as someone else: like a rejected token, only a new
/// sign-in can settle it. The other account's name is not repeated anywhere.
fn wrong_user() -> Ended {
    tracing::warn!("the server answered the sign-in for a different account; socket dropped");
    Ended::SignInRequired(
        "the server signed this app in as a different account: sign in again".into(),
    )
}

/// A socket failure as a retry.
fn retry(err: SocketError) -> Ended {
    Ended::Retry(Why::from(&err))
}

/// A credential failure as the end of an attempt.
fn ended_by(err: CredentialError) -> Ended {
    match err {
        CredentialError::SignInRequired(reason) => Ended::SignInRequired(reason),
        CredentialError::Unavailable(reason) => Ended::Retry(Why {
            reason: "The server cannot renew the sign-in right now: ABS Tray tries again soon."
                .to_owned(),
            detail: Some(reason),
        }),
    }
}

/// Milliseconds since the Unix epoch, as the UI expects.
fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
