//! What the tray shows at a glance: its icon state, status line, tooltip and the few
//! "who is listening" lines of its menu, computed from the live snapshot.
//!
//! Pure and cheap, so the shell can recompute it on every snapshot and only touch the tray
//! when the result differs (rebuilding a Linux tray menu is a D-Bus round trip).

use crate::connection::ConnectionStatus;
use crate::live::Snapshot;
use crate::policy::headline;
use crate::policy::text::is_bidi_control;

/// Most "who is listening" lines in the tray menu; the rest are counted.
pub const MAX_LISTENING_LINES: usize = 3;
/// Longest text of one menu line or tooltip line, in characters.
const MAX_LINE_CHARS: usize = 60;

/// The tray icon to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    /// Connected and notifying.
    Connected,
    /// Opening the connection or signing the socket in.
    Connecting,
    /// No connection; retrying.
    Offline,
    /// Nobody is signed in, or the server wants a new sign-in.
    SignIn,
    /// Connected, but popups are paused.
    Paused,
}

/// The signed-in account, as far as the tray needs it.
#[derive(Debug, Clone, Copy)]
pub struct AccountLabel<'a> {
    /// The server's address as saved.
    pub server: &'a str,
    /// The user name.
    pub username: &'a str,
}

/// Everything the tray displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glance {
    /// Which icon.
    pub state: TrayState,
    /// The disabled first menu item.
    pub status_line: String,
    /// The tooltip (several lines).
    pub tooltip: String,
    /// "Alice — Project Hail Mary (Pixel 8)" lines for admins, at most [`MAX_LISTENING_LINES`]
    /// plus one "and N more".
    pub listening: Vec<String>,
}

impl Glance {
    /// The tray's picture of `snapshot` for `account` (none: signed out), popups paused or not.
    pub fn of(account: Option<AccountLabel<'_>>, paused: bool, snapshot: &Snapshot) -> Self {
        let Some(account) = account else {
            return Self {
                state: TrayState::SignIn,
                status_line: "Not signed in".into(),
                tooltip: "ABS Tray: not signed in".into(),
                listening: Vec::new(),
            };
        };
        let (state, status_line) = match &snapshot.connection {
            ConnectionStatus::Connected { .. } if paused => {
                (TrayState::Paused, "Connected, notifications paused".into())
            }
            ConnectionStatus::Connected { .. } => (TrayState::Connected, "Connected".into()),
            ConnectionStatus::Connecting | ConnectionStatus::Authenticating => {
                (TrayState::Connecting, "Connecting…".into())
            }
            ConnectionStatus::Offline { .. } | ConnectionStatus::Stopped => {
                (TrayState::Offline, "Offline, retrying".into())
            }
            ConnectionStatus::SignInRequired { .. } => {
                (TrayState::SignIn, "Sign-in required".into())
            }
        };
        let live: Vec<_> = snapshot.listening.iter().filter(|s| !s.stale).collect();
        let mut listening: Vec<String> = live
            .iter()
            .take(MAX_LISTENING_LINES)
            .map(|s| {
                let device = s
                    .device
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                one_line(&format!("{} — {}{device}", s.user.username, s.title))
            })
            .collect();
        if live.len() > MAX_LISTENING_LINES {
            listening.push(format!("and {} more", live.len() - MAX_LISTENING_LINES));
        }
        let mut tooltip = vec![
            format!("ABS Tray: {status_line}"),
            one_line(&format!("{} on {}", account.username, account.server)),
        ];
        if !live.is_empty() {
            tooltip.push(format!("{} listening", live.len()));
        }
        if let Some(last) = snapshot
            .activity
            .last()
            .and_then(|a| headline(&a.happening))
        {
            tooltip.push(one_line(&format!("Last: {last}")));
        }
        Self {
            state,
            status_line,
            tooltip: tooltip.join("\n"),
            listening,
        }
    }
}

/// `text` on one line (control and bidi characters dropped) and cut to [`MAX_LINE_CHARS`].
fn one_line(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    if clean.chars().count() <= MAX_LINE_CHARS {
        return clean;
    }
    let mut cut: String = clean.chars().take(MAX_LINE_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::happening::Who;
    use crate::live::NowListening;

    const ACCOUNT: AccountLabel<'static> = AccountLabel {
        server: "https://abs.example.com",
        username: "root",
    };

    fn connected() -> ConnectionStatus {
        ConnectionStatus::Connected {
            user_id: "u0".into(),
            username: "root".into(),
            is_admin: true,
            server_version: Some("2.36.0".into()),
            latency_ms: None,
        }
    }

    fn session(user: &str, title: &str, stale: bool) -> NowListening {
        NowListening {
            session_id: format!("{user}-{title}"),
            user: Who {
                user_id: user.into(),
                username: user.into(),
            },
            item_id: "i".into(),
            episode_id: None,
            title: title.into(),
            author: None,
            device: Some("Pixel 8".into()),
            play_method: "direct_play",
            started_at_ms: 0,
            updated_at_ms: 0,
            position_s: 0.0,
            duration_s: 0.0,
            progress: None,
            listened_s: 0.0,
            stale,
            closing: false,
        }
    }

    #[test]
    fn each_connection_state_has_its_icon() {
        let cases = [
            (connected(), false, TrayState::Connected),
            (connected(), true, TrayState::Paused),
            (ConnectionStatus::Connecting, false, TrayState::Connecting),
            (
                ConnectionStatus::Authenticating,
                true,
                TrayState::Connecting,
            ),
            (
                ConnectionStatus::Offline {
                    reason: "x".into(),
                    detail: None,
                    retry_at_ms: None,
                },
                false,
                TrayState::Offline,
            ),
            (
                ConnectionStatus::SignInRequired { reason: "x".into() },
                false,
                TrayState::SignIn,
            ),
        ];
        for (status, paused, state) in cases {
            let glance = Glance::of(Some(ACCOUNT), paused, &Snapshot::empty(status.clone()));
            assert_eq!(glance.state, state, "{status:?}");
        }
        let signed_out = Glance::of(None, false, &Snapshot::empty(connected()));
        assert_eq!(signed_out.state, TrayState::SignIn);
    }

    #[test]
    fn listening_lines_skip_stale_sessions_and_count_the_rest() {
        let mut snapshot = Snapshot::empty(connected());
        snapshot.listening = Arc::from(vec![
            session("alice", "Project Hail Mary", false),
            session("bob", "Dune", false),
            session("carol", "Emma", true),
            session("dave", "Ulysses", false),
            session("erin", "Beloved", false),
        ]);
        let glance = Glance::of(Some(ACCOUNT), false, &snapshot);
        assert_eq!(
            glance.listening,
            [
                "alice — Project Hail Mary (Pixel 8)",
                "bob — Dune (Pixel 8)",
                "dave — Ulysses (Pixel 8)",
                "and 1 more",
            ]
        );
        assert!(glance.tooltip.contains("4 listening"), "{}", glance.tooltip);
        assert!(glance.tooltip.contains("root on https://abs.example.com"));
    }

    #[test]
    fn hostile_names_stay_on_one_short_line() {
        let mut snapshot = Snapshot::empty(connected());
        let name = format!("evil\nname\u{7}{}", "x".repeat(200));
        snapshot.listening = Arc::from(vec![session(&name, "t", false)]);
        let glance = Glance::of(Some(ACCOUNT), false, &snapshot);
        let line = &glance.listening[0];
        assert!(!line.contains('\n') && !line.contains('\u{7}'));
        assert_eq!(line.chars().count(), MAX_LINE_CHARS);
        assert!(line.ends_with('…'));
    }
}
