//! What a diagnosis yields: a verdict per step, with what was seen and what to change.

use serde::{Deserialize, Serialize};

/// The outcome of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Works.
    Ok,
    /// Works, but something should be changed.
    Warn,
    /// Does not work; the fix says what to do.
    Fail,
    /// Not checked: it does not apply, or a step it needs failed.
    Skipped,
}

impl Verdict {
    /// Lowercase name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Skipped => "skipped",
        }
    }
}

/// The steps, in the order they run; the serialized name is stable for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The address parses as a server URL.
    Address,
    /// The host name resolves.
    Dns,
    /// A TCP connection opens.
    Tcp,
    /// The certificate is trusted (https), or plain http is acceptable.
    Tls,
    /// `GET /status` answers like Audiobookshelf, with a usable version.
    Status,
    /// Where on the host ABS answers (root or `/audiobookshelf`).
    BasePath,
    /// `GET {base}/socket.io/?EIO=4&transport=polling` opens an Engine.IO session.
    SocketPolling,
    /// The WebSocket upgrade and the Socket.IO namespace join work.
    Websocket,
    /// The saved sign-in authenticates a socket (`init` arrives).
    SocketAuth,
    /// The server's clock agrees with ours (token expiry depends on both).
    Clock,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Self; 10] = [
        Self::Address,
        Self::Dns,
        Self::Tcp,
        Self::Tls,
        Self::Status,
        Self::BasePath,
        Self::SocketPolling,
        Self::Websocket,
        Self::SocketAuth,
        Self::Clock,
    ];

    /// The stable snake_case identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Address => "address",
            Self::Dns => "dns",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Status => "status",
            Self::BasePath => "base_path",
            Self::SocketPolling => "socket_polling",
            Self::Websocket => "websocket",
            Self::SocketAuth => "socket_auth",
            Self::Clock => "clock",
        }
    }

    /// A short name for people.
    pub fn title(self) -> &'static str {
        match self {
            Self::Address => "address",
            Self::Dns => "name resolution",
            Self::Tcp => "TCP connection",
            Self::Tls => "TLS certificate",
            Self::Status => "Audiobookshelf status",
            Self::BasePath => "base path",
            Self::SocketPolling => "Socket.IO polling",
            Self::Websocket => "WebSocket upgrade",
            Self::SocketAuth => "socket sign-in",
            Self::Clock => "clock",
        }
    }
}

/// One step's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Which step.
    pub name: Step,
    /// How it went.
    pub verdict: Verdict,
    /// For a failure: one sentence saying what is wrong and what to do, shown first.
    pub headline: Option<String>,
    /// What was seen, for people.
    pub detail: String,
    /// What to change, when something should be.
    pub fix: Option<String>,
}

/// Every step's result, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The address as understood (after base-path discovery), when it parsed.
    pub server: Option<String>,
    /// One entry per [`Step`], in [`Step::ALL`] order.
    pub checks: Vec<Check>,
    /// The SHA-256 fingerprint (`AB:CD:…`) of a certificate this computer does not trust but that
    /// can be pinned (self-signed, private CA, a name mismatch): the trust choice offered.
    pub certificate: Option<String>,
}

impl Report {
    /// The worst verdict: fail, else warn, else ok (skipped steps do not count).
    pub fn verdict(&self) -> Verdict {
        let has = |v: Verdict| self.checks.iter().any(|c| c.verdict == v);
        if has(Verdict::Fail) {
            Verdict::Fail
        } else if has(Verdict::Warn) {
            Verdict::Warn
        } else {
            Verdict::Ok
        }
    }

    /// True when the server could not be reached at all (name resolution or TCP failed), as
    /// opposed to reached but misbehaving.
    pub fn unreachable(&self) -> bool {
        self.checks
            .iter()
            .any(|c| matches!(c.name, Step::Dns | Step::Tcp) && c.verdict == Verdict::Fail)
    }

    /// The result of one step.
    pub fn check(&self, step: Step) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == step)
    }

    /// The first failed step, which is what to fix first.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.verdict == Verdict::Fail)
    }

    /// The first failed step's sentence: what is wrong and what to do, in plain words.
    pub fn headline(&self) -> Option<&str> {
        self.first_failure()?.headline.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_roll_up_and_unreachable_means_dns_or_tcp() {
        let check = |name, verdict| Check {
            name,
            verdict,
            headline: None,
            detail: String::new(),
            fix: None,
        };
        let mut report = Report {
            server: None,
            certificate: None,
            checks: vec![
                check(Step::Address, Verdict::Ok),
                check(Step::Tls, Verdict::Skipped),
            ],
        };
        assert_eq!(report.verdict(), Verdict::Ok);
        report.checks.push(check(Step::Clock, Verdict::Warn));
        assert_eq!(report.verdict(), Verdict::Warn);
        report.checks.push(check(Step::Websocket, Verdict::Fail));
        assert_eq!(report.verdict(), Verdict::Fail);
        assert!(!report.unreachable());
        report.checks.push(check(Step::Tcp, Verdict::Fail));
        assert!(report.unreachable());
        assert_eq!(
            report.first_failure().map(|c| c.name),
            Some(Step::Websocket)
        );
    }
}
