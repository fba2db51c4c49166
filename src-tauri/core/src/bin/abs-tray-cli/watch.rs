//! `watch`: the app's connection (keyring sign-in, [`SignedIn`], the connection task), live state
//! and notification policy, printed to the terminal until Ctrl-C, as readable lines or one JSON
//! object per line; with `--notify` the policy's popups are also shown on the desktop.
//!
//! A status whose only change is the measured ping latency is not printed again (it changes
//! every 30 s). When the status becomes "sign-in required" the command stops with exit code 3:
//! nothing will happen until someone signs in again. A connection that keeps failing the same
//! way gets one hint on stderr to run `doctor` (with the proxy fix when the WebSocket is refused).

use std::sync::Arc;
use std::time::Duration;

use abs_tray_core::auth::ServerVersion;
use abs_tray_core::connection::{self, ConnectionConfig, ConnectionStatus, Timings};
use abs_tray_core::covers::CoverCache;
use abs_tray_core::credentials::SignedIn;
use abs_tray_core::delivery::{AppIdentity, Delivery, Opener};
use abs_tray_core::live::{self, LiveSettings};
use abs_tray_core::machine::MachineWatch;
use abs_tray_core::notifier::{self, Outputs};
use abs_tray_core::policy::{Decision, Outcome, PolicySettings};
use abs_tray_core::protocol::ServerEvent;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::CliError;
use crate::events;
use crate::login;
use crate::output;
use crate::setup::Config;

/// How long a clean shutdown may take before the command just ends.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
/// The first version whose daily log is only available over REST.
const REST_DAILY_LOGS: ServerVersion = ServerVersion::new(2, 8, 0);

/// A status line of `--json`: `{"type":"status","state":...}`.
#[derive(Serialize)]
struct StatusLine<'a> {
    /// Always `status`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The status, flattened (`state` and its fields).
    #[serde(flatten)]
    status: &'a ConnectionStatus,
}

/// An event line of `--json`: `{"type":"event","name":...,"data":...}`.
#[derive(Serialize)]
struct EventLine<'a> {
    /// Always `event`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The Socket.IO event name.
    name: &'a str,
    /// The decoded payload (see [`events::data`]).
    data: serde_json::Value,
}

/// A decision line of `--json`: `{"type":"notification","title":...,"body":...,"outcome":...}`.
#[derive(Serialize)]
struct NotificationLine<'a> {
    /// Always `notification`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The popup's title.
    title: &'a str,
    /// The popup's body.
    body: &'a str,
    /// Its category (`sessions`, `presence`, ...).
    category: abs_tray_core::happening::Category,
    /// `shown`, `held` or `suppressed:<reason>`.
    outcome: String,
}

/// Opens clicked popups in the browser; there is no window to open from a terminal.
struct BrowserOpener;

impl Opener for BrowserOpener {
    fn open_url(&self, url: &str) {
        if let Err(err) = std::process::Command::new("xdg-open").arg(url).spawn() {
            tracing::warn!(%err, "could not open the browser");
        }
    }

    fn open_window(&self) {}
}

/// `abs-tray-cli watch [--json] [--notify]`.
pub async fn watch(json: bool, notify: bool) -> Result<(), CliError> {
    let config = Config::load()?;
    let (url, _) = config.account()?;
    let manager = config.manager()?;
    let version = abs_tray_core::app::probe_version(manager.client()).await;
    let tls = config.trust_for(&url)?;
    let connection_config = ConnectionConfig {
        socket_url: url.socket_url(),
        tls: Some(tls.connector()),
        server_version: version.map(|v| v.to_string()),
        socket_daily_logs: version.is_some_and(|v| v < REST_DAILY_LOGS),
        timings: Timings::default(),
    };
    let signed_in = Arc::new(SignedIn::new(manager, None));
    let (handle, mut server_events, task) = connection::spawn(connection_config, signed_in.clone());
    // Back at once when the network returns or the machine wakes (Linux: the system bus).
    let _machine = MachineWatch::nudging(handle.clone());

    // Every event is printed and also feeds live state, whose facts feed the policy.
    let (live_tx, live_rx) = mpsc::channel(1024);
    let (print_tx, mut events) = mpsc::channel(1024);
    tokio::spawn(async move {
        while let Some(event) = server_events.recv().await {
            if print_tx.send(event.clone()).await.is_err() || live_tx.send(event).await.is_err() {
                break;
            }
        }
    });
    let (_live, happenings, _live_task) = live::spawn(
        live_rx,
        handle.status(),
        signed_in.clone(),
        LiveSettings::default(),
    );
    let policy_settings: PolicySettings = config
        .settings
        .notifications
        .clone()
        .try_into()
        .unwrap_or_else(|err| {
            tracing::warn!(%err, "notification settings unreadable; using the defaults");
            PolicySettings::default()
        });
    let (decision_tx, mut decisions) = mpsc::channel(256);
    let outputs = Outputs {
        delivery: notify.then(|| Delivery::start(AppIdentity::default(), Arc::new(BrowserOpener))),
        covers: notify
            .then(abs_tray_core::config::default_dir)
            .and_then(Result::ok)
            .map(|dir| (CoverCache::new(dir.join("covers")), signed_in.clone())),
        decisions: Some(decision_tx),
    };
    let (_notifier, _notifier_task) = notifier::spawn(
        happenings,
        handle.status(),
        policy_settings,
        url.clone(),
        outputs,
    );

    let mut printer = Printer { json, last: None };
    let mut hint = DoctorHint::default();
    let mut status = handle.status();
    let stop = stop_signal();
    tokio::pin!(stop);

    let first = status.borrow_and_update().clone();
    let mut outcome = printer.status(&first).map_err(CliError::from);
    while outcome.is_ok() {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                let current = status.borrow_and_update().clone();
                outcome = printer.status(&current).map_err(CliError::from);
                if let Some(hint) = hint.after(&current) {
                    eprintln!("hint: {}", output::one_line(&hint));
                }
                match current {
                    ConnectionStatus::SignInRequired { reason } => {
                        outcome = outcome.and(Err(CliError::SignInRequired(format!(
                            "{reason}; run `abs-tray-cli login` again"
                        ))));
                    }
                    ConnectionStatus::Stopped => break,
                    _ => {}
                }
            }
            event = events.recv() => match event {
                Some(event) => outcome = printer.event(&event).map_err(CliError::from),
                None => break,
            },
            Some(decision) = decisions.recv() => outcome = printer.decision(&decision).map_err(CliError::from),
            () = &mut stop => break,
        }
    }
    // Close the socket politely (the server sees the user go offline at once).
    let _ = handle.shutdown().await;
    let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, task).await;
    outcome
}

/// Notices a connection that keeps failing the same way, and says so once per run.
#[derive(Debug, Default)]
struct DoctorHint {
    /// The reason of the last offline status since the last connection.
    last: Option<String>,
    /// Whether the hint was given.
    given: bool,
}

impl DoctorHint {
    /// The hint to give after `status`: on the second offline status in a row with the same
    /// reason, once.
    fn after(&mut self, status: &ConnectionStatus) -> Option<String> {
        match status {
            ConnectionStatus::Offline { reason, detail, .. } => {
                let again = self.last.as_deref() == Some(reason.as_str());
                self.last = Some(reason.clone());
                if !again || self.given {
                    return None;
                }
                self.given = true;
                let refused = detail.as_deref().is_some_and(login::websocket_refused);
                Some(if refused {
                    format!(
                        "the server keeps refusing the live connection (WebSocket): {}",
                        login::PROXY_FIX
                    )
                } else {
                    "the connection keeps failing the same way; run `abs-tray-cli doctor` to see \
                     why and what to change"
                        .to_owned()
                })
            }
            ConnectionStatus::Connected { .. } => {
                self.last = None;
                None
            }
            _ => None,
        }
    }
}

/// Resolves on Ctrl-C (or SIGTERM on Unix).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Writes statuses and events in the chosen format.
struct Printer {
    /// One JSON object per line.
    json: bool,
    /// The last printed status, latency left out, to skip latency-only updates.
    last: Option<ConnectionStatus>,
}

impl Printer {
    /// Prints a status unless only its latency changed.
    fn status(&mut self, status: &ConnectionStatus) -> std::io::Result<()> {
        let comparable = without_latency(status);
        if self.last.as_ref() == Some(&comparable) {
            return Ok(());
        }
        self.last = Some(comparable);
        if self.json {
            let line = StatusLine {
                kind: "status",
                status,
            };
            output::line(&serde_json::to_string(&line).map_err(std::io::Error::other)?)
        } else {
            output::line(&format!(
                "status: {}",
                output::one_line(&describe_status(status))
            ))
        }
    }

    /// Prints an event.
    fn event(&mut self, event: &ServerEvent) -> std::io::Result<()> {
        if self.json {
            let line = EventLine {
                kind: "event",
                name: event.name(),
                data: events::data(event),
            };
            output::line(&serde_json::to_string(&line).map_err(std::io::Error::other)?)
        } else {
            output::line(&format!(
                "event {}: {}",
                output::one_line(event.name()),
                output::one_line(&events::describe(event))
            ))
        }
    }
}

impl Printer {
    /// Prints a notification decision.
    fn decision(&mut self, decision: &Decision) -> std::io::Result<()> {
        let notification = &decision.notification;
        let outcome = match &decision.outcome {
            Outcome::Shown => "shown".to_owned(),
            Outcome::Held { .. } => "held".to_owned(),
            Outcome::Suppressed(reason) => format!(
                "suppressed:{}",
                serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        };
        if self.json {
            let line = NotificationLine {
                kind: "notification",
                title: &notification.title,
                body: &notification.body,
                category: notification.category,
                outcome,
            };
            output::line(&serde_json::to_string(&line).map_err(std::io::Error::other)?)
        } else {
            output::line(&format!(
                "notification ({outcome}): {} — {}",
                output::one_line(&notification.title),
                output::one_line(&notification.body)
            ))
        }
    }
}

/// The status with the latency cleared, for comparisons.
fn without_latency(status: &ConnectionStatus) -> ConnectionStatus {
    match status {
        ConnectionStatus::Connected {
            user_id,
            username,
            is_admin,
            server_version,
            ..
        } => ConnectionStatus::Connected {
            user_id: user_id.clone(),
            username: username.clone(),
            is_admin: *is_admin,
            server_version: server_version.clone(),
            latency_ms: None,
        },
        other => other.clone(),
    }
}

/// One readable sentence for a status.
fn describe_status(status: &ConnectionStatus) -> String {
    match status {
        ConnectionStatus::Offline {
            reason,
            retry_at_ms,
            ..
        } => {
            let retry = retry_at_ms
                .and_then(|at| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .ok()?;
                    let now = u64::try_from(now.as_millis()).ok()?;
                    Some(format!(
                        "; retrying in {:.1} s",
                        at.saturating_sub(now) as f64 / 1000.0
                    ))
                })
                .unwrap_or_default();
            format!("offline ({reason}){retry}")
        }
        ConnectionStatus::Connecting => "connecting".into(),
        ConnectionStatus::Authenticating => "authenticating".into(),
        ConnectionStatus::Connected {
            username,
            is_admin,
            server_version,
            ..
        } => {
            let role = if *is_admin { "admin" } else { "not an admin" };
            let version = server_version
                .as_deref()
                .map(|v| format!(", Audiobookshelf {v}"))
                .unwrap_or_default();
            format!("connected as {username} ({role}{version})")
        }
        ConnectionStatus::SignInRequired { reason } => format!("sign-in required ({reason})"),
        ConnectionStatus::Stopped => "stopped".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_status_lines_carry_the_type_and_the_state() {
        let status = ConnectionStatus::SignInRequired {
            reason: "Invalid refresh token".into(),
        };
        let line = serde_json::to_string(&StatusLine {
            kind: "status",
            status: &status,
        })
        .unwrap();
        assert_eq!(
            line,
            r#"{"type":"status","state":"signin_required","reason":"Invalid refresh token"}"#
        );
    }

    #[test]
    fn the_doctor_hint_comes_once_when_failures_repeat() {
        let offline = |reason: &str, detail: &str| ConnectionStatus::Offline {
            reason: reason.into(),
            detail: Some(detail.into()),
            retry_at_ms: None,
        };
        let refused = offline(
            "The server refuses live connections",
            "could not open the WebSocket: HTTP error: 400 Bad Request",
        );
        let mut hint = DoctorHint::default();
        assert_eq!(hint.after(&refused), None);
        assert_eq!(hint.after(&ConnectionStatus::Connecting), None);
        let said = hint.after(&refused).unwrap();
        assert!(
            said.contains("Upgrade and Connection") && said.contains("abs-tray-cli doctor"),
            "{said}"
        );
        for _ in 0..3 {
            assert_eq!(hint.after(&refused), None);
        }
        // Other failures, alternating: not the same way twice in a row.
        let mut hint = DoctorHint::default();
        let down = offline("Cannot reach the server", "connection refused");
        assert_eq!(hint.after(&down), None);
        assert_eq!(hint.after(&refused), None);
        assert_eq!(hint.after(&down), None);
        assert!(hint.after(&down).unwrap().contains("abs-tray-cli doctor"));
    }

    #[test]
    fn latency_only_changes_are_not_repeated() {
        let connected = |latency| ConnectionStatus::Connected {
            user_id: "u".into(),
            username: "alice".into(),
            is_admin: false,
            server_version: None,
            latency_ms: latency,
        };
        assert_eq!(without_latency(&connected(Some(3))), connected(None));
        assert_eq!(
            describe_status(&connected(Some(3))),
            "connected as alice (not an admin)"
        );
    }
}
