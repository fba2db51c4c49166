//! The doctor: checks, one step at a time, everything between ABS Tray and a server, and says for
//! each step whether it works and what to change when it does not.
//!
//! The steps follow the path a connection takes: the address, name resolution, TCP, TLS, ABS's
//! `GET /status` (version, base path), the Socket.IO long-polling handshake, the WebSocket
//! upgrade, the socket sign-in and the clocks. Each has a time limit, and a step that needs an
//! earlier one that failed is reported as skipped rather than failing a second time. The usual
//! reverse-proxy fault (REST works, WebSocket upgrades do not) gets its own advice. The CLI's
//! `doctor` prints a [`Report`]; the desktop app can show the same verdicts.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use tokio::net::TcpStream;

use crate::auth::{AuthError, Discovery, ServerVersion, discover, discover_first};
use crate::credentials::SignedIn;
use crate::protocol::{self, ClientEvent, Init, ServerEvent};
use crate::secret::Secret;
use crate::server_url::{Scheme, ServerUrl};
use crate::socket::{Socket, SocketError};
use crate::tls::{self, TlsConfig};

mod cert;
mod report;

use cert::{CertFacts, date, pem_to_der, unix_now, untrusted};
pub use report::{Check, Report, Step, Verdict};

/// How long one step may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// Clock difference to the server above which the clock step warns (token expiry depends on it).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// A trusted certificate expiring sooner than this is a warning.
const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 60 * 60);
/// Largest body read from a probe (an Engine.IO handshake is ~120 bytes).
const MAX_PROBE_BYTES: usize = 64 * 1024;
/// Longest server-provided text echoed into a detail.
const MAX_ECHO_CHARS: usize = 160;

/// What the reverse proxy must do for WebSockets; the usual fault when REST works and the socket does not.
const PROXY_ADVICE: &str = "Your reverse proxy must pass WebSocket upgrades on {base}/socket.io/: forward the \
`Upgrade` and `Connection` headers over HTTP/1.1. nginx: `proxy_http_version 1.1; \
proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";`. Apache: enable \
mod_proxy_wstunnel and add `RewriteCond %{HTTP:Upgrade} websocket [NC]` + \
`RewriteRule ^/?(.*) ws://ABS_HOST:PORT/$1 [P,L]` (or `ProxyPass ... upgrade=websocket`). \
Caddy and Traefik forward them by default; on Cloudflare, turn WebSockets on.";

/// Runs every step against `input` (an address as people type it) with the given trust
/// settings. `signed_in` is the saved sign-in for this server, when there is one: the socket
/// sign-in step uses it (and may refresh and rotate its token, as the app would).
pub async fn diagnose(input: &str, tls: &TlsConfig, signed_in: Option<&SignedIn>) -> Report {
    diagnose_within(input, tls, signed_in, CHECK_TIMEOUT).await
}

/// [`diagnose`] with another time limit per step.
pub async fn diagnose_within(
    input: &str,
    tls: &TlsConfig,
    signed_in: Option<&SignedIn>,
    timeout: Duration,
) -> Report {
    let mut run = Run {
        tls,
        timeout,
        checks: Vec::with_capacity(Step::ALL.len()),
        server: None,
        certificate: None,
    };
    run.all(input, signed_in).await;
    for step in Step::ALL {
        if run.checks.iter().all(|c| c.name != step) {
            run.push(step, Verdict::Skipped, "not reached".to_owned(), None);
        }
    }
    run.checks
        .sort_by_key(|c| Step::ALL.iter().position(|s| *s == c.name));
    Report {
        server: run.server,
        checks: run.checks,
        certificate: run.certificate,
    }
}

/// The report when the saved trust settings themselves cannot be used: the TLS step fails with
/// the reason, and nothing else can be checked.
pub fn trust_unusable(server: &str, err: &tls::TlsError) -> Report {
    let checks = Step::ALL
        .into_iter()
        .map(|step| {
            if step == Step::Tls {
                Check {
                    name: step,
                    verdict: Verdict::Fail,
                    headline: Some(
                        "The saved trust settings for this server cannot be used: sign in again \
                         to choose what to trust."
                            .into(),
                    ),
                    detail: err.to_string(),
                    fix: Some(
                        "Fix or remove the trusted CA or pinned certificate in the settings."
                            .into(),
                    ),
                }
            } else {
                Check {
                    name: step,
                    verdict: Verdict::Skipped,
                    headline: None,
                    detail: "not checked: the trust settings cannot be used".into(),
                    fix: None,
                }
            }
        })
        .collect();
    Report {
        server: Some(server.to_owned()),
        checks,
        certificate: None,
    }
}

/// The state of one diagnosis.
struct Run<'a> {
    /// Trust settings for TLS, REST and the socket.
    tls: &'a TlsConfig,
    /// Limit per step.
    timeout: Duration,
    /// Results so far.
    checks: Vec<Check>,
    /// The address in use, once known.
    server: Option<String>,
    /// The fingerprint of an untrusted certificate that could be pinned.
    certificate: Option<String>,
}

impl Run<'_> {
    /// Runs the steps in order, skipping what depends on a failed one.
    async fn all(&mut self, input: &str, signed_in: Option<&SignedIn>) {
        let Some(url) = self.address(input).await else {
            return self.skip_after(Step::Address);
        };
        self.server = Some(url.to_string());
        let Some(addrs) = self.dns(&url).await else {
            return self.skip_after(Step::Dns);
        };
        let Some(addr) = self.tcp(&addrs).await else {
            return self.skip_after(Step::Tcp);
        };
        if !self.tls(&url, addr).await {
            return self.skip_after(Step::Tls);
        }
        let Some(found) = self.status(&url).await else {
            return self.skip_after(Step::Status);
        };
        let url = found.url;
        self.server = Some(url.to_string());
        let polling = self.polling(&url).await;
        let websocket = self.websocket(&url, polling).await;
        match (websocket, signed_in) {
            (false, _) => self.skip(
                Step::SocketAuth,
                "needs a working WebSocket (see above)".into(),
            ),
            (true, None) => self.skip(Step::SocketAuth, not_signed_in()),
            (true, Some(signed_in)) => self.socket_auth(&url, signed_in).await,
        }
        self.clock(&url).await;
    }

    /// Records a result.
    fn push(&mut self, name: Step, verdict: Verdict, detail: String, fix: Option<String>) {
        self.checks.push(Check {
            name,
            verdict,
            headline: None,
            detail,
            fix,
        });
    }

    /// Records a success.
    fn ok(&mut self, step: Step, detail: String) {
        self.push(step, Verdict::Ok, detail, None);
    }

    /// Records a warning and its fix.
    fn warn(&mut self, step: Step, detail: String, fix: String) {
        self.push(step, Verdict::Warn, detail, Some(fix));
    }

    /// Records a failure: the one sentence people read first (what is wrong, what to do), what
    /// was seen, and the full fix.
    fn fail(&mut self, step: Step, headline: String, detail: String, fix: String) {
        self.checks.push(Check {
            name: step,
            verdict: Verdict::Fail,
            headline: Some(headline),
            detail,
            fix: Some(fix),
        });
    }

    /// Records a step that was not checked.
    fn skip(&mut self, step: Step, detail: String) {
        self.push(step, Verdict::Skipped, detail, None);
    }

    /// Marks every step after `failed` as skipped because it needs `failed`.
    fn skip_after(&mut self, failed: Step) {
        let later = Step::ALL.iter().skip_while(|s| **s != failed).skip(1);
        for step in later.copied().collect::<Vec<_>>() {
            self.skip(step, format!("needs the {} step to pass", failed.title()));
        }
    }

    /// The address parses; without a scheme, the one sign-in would use (https, or plain http
    /// when only that answers).
    async fn address(&mut self, input: &str) -> Option<ServerUrl> {
        match ServerUrl::candidates(input) {
            Ok(candidates) => {
                let (url, how) = self.pick(candidates).await?;
                let base = match url.base_path() {
                    "" => "no base path".to_owned(),
                    path => format!("base path {path}"),
                };
                self.ok(
                    Step::Address,
                    format!(
                        "{url} ({}, port {}, {base}){how}",
                        url.scheme().as_str(),
                        url.port()
                    ),
                );
                Some(url)
            }
            Err(e) => {
                self.fail(
                    Step::Address,
                    sentence(&e.to_string()),
                    e.to_string(),
                    "Type the address as you open ABS in a browser, e.g. https://abs.example.com or \
                     http://192.168.1.5:13378."
                        .into(),
                );
                None
            }
        }
    }

    /// Of the addresses to try for a bare `host[:port]`, the one that answers like ABS (as sign-in
    /// picks it), else the first, so the steps explain why it does not; with a note on the choice.
    async fn pick(&self, candidates: Vec<ServerUrl>) -> Option<(ServerUrl, &'static str)> {
        if candidates.len() < 2 {
            return candidates.into_iter().next().map(|url| (url, ""));
        }
        let found = tokio::time::timeout(self.timeout, discover_first(&candidates, self.tls)).await;
        let http = candidates.iter().find(|url| url.scheme() == Scheme::Http);
        match (found, http) {
            (Ok(Ok(found)), Some(http)) if found.url.same_origin(http) => Some((
                http.clone(),
                "; no scheme was typed and only plain http answers there",
            )),
            _ => candidates
                .into_iter()
                .next()
                .map(|url| (url, "; no scheme was typed, so https is checked")),
        }
    }

    /// The host name resolves to at least one address.
    async fn dns(&mut self, url: &ServerUrl) -> Option<Vec<SocketAddr>> {
        let host = bare_host(url);
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.ok(
                Step::Dns,
                format!("{host} is an IP address: nothing to look up"),
            );
            return Some(vec![SocketAddr::new(ip, url.port())]);
        }
        let fix = format!(
            "Check the spelling of {host}. If the name only exists inside your network or VPN \
             (a .local, .lan or tailnet name), connect to that network first, or use the \
             server's IP address."
        );
        let lookup = tokio::net::lookup_host((host.as_str(), url.port()));
        match tokio::time::timeout(self.timeout, lookup).await {
            Err(_) => {
                self.fail(
                    Step::Dns,
                    format!(
                        "No name server answered for {host}: check this computer's network \
                         connection."
                    ),
                    format!("no answer from the name server within {:?}", self.timeout),
                    fix,
                );
                None
            }
            Ok(Err(e)) => {
                self.fail(
                    Step::Dns,
                    unknown_host(&host),
                    format!("{host} cannot be resolved: {e}"),
                    fix,
                );
                None
            }
            Ok(Ok(found)) => {
                let mut addrs: Vec<SocketAddr> = Vec::new();
                for addr in found {
                    if !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                }
                if addrs.is_empty() {
                    self.fail(
                        Step::Dns,
                        unknown_host(&host),
                        format!("{host} has no address"),
                        fix,
                    );
                    return None;
                }
                let shown: Vec<String> = addrs.iter().take(4).map(|a| a.ip().to_string()).collect();
                self.ok(Step::Dns, format!("{host} → {}", shown.join(", ")));
                Some(addrs)
            }
        }
    }

    /// A TCP connection opens to one of the addresses (tried in order).
    async fn tcp(&mut self, addrs: &[SocketAddr]) -> Option<SocketAddr> {
        let mut last: Option<(SocketAddr, std::io::Error)> = None;
        let attempts = async {
            for addr in addrs {
                let started = Instant::now();
                match TcpStream::connect(addr).await {
                    Ok(_) => return Some((*addr, started.elapsed())),
                    Err(e) => last = Some((*addr, e)),
                }
            }
            None
        };
        let outcome = tokio::time::timeout(self.timeout, attempts).await;
        let port = addrs.first().map_or(0, SocketAddr::port);
        let fix_port = format!(
            "Check that Audiobookshelf (or its reverse proxy) is running and listens on port \
             {port}: ABS itself uses 13378 by default; behind a reverse proxy use its https \
             address without a port. Check firewalls between this computer and the server."
        );
        match outcome {
            Ok(Some((addr, took))) => {
                self.ok(
                    Step::Tcp,
                    format!("{addr} accepts connections ({} ms)", took.as_millis()),
                );
                Some(addr)
            }
            Ok(None) => {
                let (headline, detail) = match &last {
                    Some((addr, e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => (
                        format!(
                            "Nothing answers at {addr}: check that Audiobookshelf is running and \
                             that the port is right."
                        ),
                        format!("{addr} refused the connection: nothing listens on that port"),
                    ),
                    Some((addr, e)) => (
                        format!(
                            "Cannot connect to {addr}: check this computer's network and the \
                             server's firewall."
                        ),
                        format!("cannot connect to {addr}: {e}"),
                    ),
                    None => (
                        "The server name has no address to connect to: check the address.".into(),
                        "no address to connect to".to_owned(),
                    ),
                };
                self.fail(Step::Tcp, headline, detail, fix_port);
                None
            }
            Err(_) => {
                self.fail(
                    Step::Tcp,
                    format!(
                        "The server does not answer on port {port}: check that it is on and that \
                         no firewall blocks the port."
                    ),
                    format!(
                        "no answer within {:?}: the host is down, or a firewall drops the connection",
                        self.timeout
                    ),
                    fix_port,
                );
                None
            }
        }
    }

    /// The certificate is trusted (https), or plain http is acceptable. False stops the REST steps.
    async fn tls(&mut self, url: &ServerUrl, addr: SocketAddr) -> bool {
        if url.scheme() == Scheme::Http {
            match url.insecure_warning() {
                Some(warning) => self.warn(
                    Step::Tls,
                    warning,
                    "Put ABS behind https (a reverse proxy with a certificate) or reach it \
                     through a VPN."
                        .into(),
                ),
                None => self.skip(
                    Step::Tls,
                    "plain http on your own network: no certificate to check".into(),
                ),
            }
            return true;
        }
        let host = bare_host(url);
        let connector = tokio_native_tls::TlsConnector::from(self.tls.connector());
        let handshake = async {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            connector
                .connect(&host, tcp)
                .await
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(self.timeout, handshake).await {
            Err(_) => {
                self.fail(
                    Step::Tls,
                    "The secure connection did not start: check that this port serves https."
                        .into(),
                    format!("the TLS handshake did not finish within {:?}", self.timeout),
                    "Check that this port serves https (and not, e.g., SSH or plain http).".into(),
                );
                false
            }
            Ok(Ok(stream)) => {
                let facts = stream
                    .get_ref()
                    .peer_certificate()
                    .ok()
                    .flatten()
                    .and_then(|cert| cert.to_der().ok())
                    .and_then(|der| CertFacts::parse(&der));
                self.trusted(facts);
                true
            }
            Ok(Err(error)) => {
                // Look at what the server presents, without verifying, to say what is wrong with it.
                let facts = tokio::time::timeout(self.timeout, tls::fetch_certificate(url))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .and_then(|peer| pem_to_der(&peer.pem))
                    .and_then(|der| CertFacts::parse(&der));
                let (headline, detail, fix) = untrusted(&error, facts.as_ref(), &host, unix_now());
                self.certificate = facts
                    .filter(|facts| facts.pinnable(unix_now()))
                    .map(|facts| facts.fingerprint);
                self.fail(Step::Tls, headline, detail, fix);
                false
            }
        }
    }

    /// Reports a trusted certificate, warning when it expires soon.
    fn trusted(&mut self, facts: Option<CertFacts>) {
        let Some(facts) = facts else {
            self.ok(Step::Tls, "the certificate is trusted".into());
            return;
        };
        let until = date(facts.not_after);
        let left = facts.not_after.saturating_sub(unix_now());
        let warn_secs = i64::try_from(EXPIRY_WARNING.as_secs()).unwrap_or(i64::MAX);
        if left < warn_secs {
            self.warn(
                Step::Tls,
                format!(
                    "the certificate for {} expires in {} days ({until})",
                    facts.subject,
                    left / 86_400
                ),
                "Renew it soon (e.g. `certbot renew`) and reload the web server or proxy.".into(),
            );
        } else {
            self.ok(
                Step::Tls,
                format!(
                    "trusted certificate for {}, issued by {}, valid until {until}",
                    facts.subject, facts.issuer
                ),
            );
        }
    }

    /// `GET /status` (with base-path discovery, as sign-in does); also reports the base path.
    async fn status(&mut self, url: &ServerUrl) -> Option<Discovery> {
        let found = match tokio::time::timeout(self.timeout, discover(url, self.tls)).await {
            Err(_) => Err(AuthError::Timeout),
            Ok(result) => result,
        };
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                let fix = status_fix(&e, url);
                self.fail(Step::Status, status_headline(&e, url), e.to_string(), fix);
                return None;
            }
        };
        let methods = if found.info.auth_methods.is_empty() {
            String::new()
        } else {
            format!(", sign-in: {}", found.info.auth_methods.join(", "))
        };
        match found.info.version {
            Some(version) if version.has_refresh_tokens() => {
                self.ok(Step::Status, format!("Audiobookshelf {version}{methods}"))
            }
            Some(version) => self.warn(
                Step::Status,
                format!(
                    "Audiobookshelf {version} predates {}: it has legacy tokens only \
                     (non-expiring, not revocable){methods}",
                    ServerVersion::JWT_SESSIONS
                ),
                "Update Audiobookshelf to 2.26 or later for expiring access tokens and \
                 refresh-token rotation."
                    .into(),
            ),
            None => self.warn(
                Step::Status,
                format!("Audiobookshelf, version unknown{methods}"),
                "The server did not send a readable version; update Audiobookshelf.".into(),
            ),
        }
        if found.url.base_path() == url.base_path() {
            let at = match url.base_path() {
                "" => "at the root of the host".to_owned(),
                path => format!("under {path}"),
            };
            self.ok(Step::BasePath, format!("ABS answers {at}"));
        } else {
            self.ok(
                Step::BasePath,
                format!(
                    "nothing at {}, but ABS answers under {} (its default base path): {} is used",
                    url.rest("/status"),
                    found.url.base_path(),
                    found.url
                ),
            );
        }
        Some(found)
    }

    /// An HTTP client with the same trust and redirect rules as sign-in, for the raw probes.
    fn http(&self) -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .tls_backend_preconfigured(self.tls.connector())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .build()
            .map_err(|e| e.to_string())
    }

    /// The Engine.IO long-polling handshake answers `0{"sid":...}`.
    async fn polling(&mut self, url: &ServerUrl) -> bool {
        let endpoint = url.rest("/socket.io/?EIO=4&transport=polling");
        let client = match self.http() {
            Ok(client) => client,
            Err(e) => {
                self.fail(
                    Step::SocketPolling,
                    "ABS Tray could not set up its HTTP client: please report this bug.".into(),
                    e,
                    "This is a bug; please report it.".into(),
                );
                return false;
            }
        };
        let fetched = async {
            let response = client.get(&endpoint).send().await?;
            let status = response.status().as_u16();
            let body = read_capped(response).await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        let (status, body) = match tokio::time::timeout(self.timeout, fetched).await {
            Err(_) => {
                self.fail(
                    Step::SocketPolling,
                    socket_path_headline(url),
                    format!("GET {endpoint} got no answer within {:?}", self.timeout),
                    format!(
                        "Check that the reverse proxy forwards {}/socket.io/ to ABS and does \
                         not buffer it.",
                        url.base_path()
                    ),
                );
                return false;
            }
            Ok(Err(e)) => {
                self.fail(
                    Step::SocketPolling,
                    socket_path_headline(url),
                    format!("GET {endpoint} failed: {}", innermost(&e)),
                    "The REST check passed, so the proxy treats /socket.io/ differently: \
                     forward it to ABS like the rest."
                        .into(),
                );
                return false;
            }
            Ok(Ok(answer)) => answer,
        };
        let forward_fix = format!(
            "Forward {base}/socket.io/ to ABS too (the same upstream as the rest of {base}/), \
             without rewriting the path.",
            base = url.base_path()
        );
        match parse_open(status, &body) {
            Ok(open) => {
                let upgrades = open.upgrades.join(", ");
                if open.upgrades.iter().any(|u| u == "websocket") {
                    self.ok(
                        Step::SocketPolling,
                        format!(
                            "Engine.IO v4 session opened (upgrades: {upgrades}; ping every {} s)",
                            open.ping_interval / 1000
                        ),
                    );
                } else {
                    self.warn(
                        Step::SocketPolling,
                        format!(
                            "Engine.IO v4 session opened, but it offers no WebSocket upgrade (upgrades: [{upgrades}])"
                        ),
                        "ABS Tray uses WebSockets only; allow them on the server and proxy.".into(),
                    );
                }
                // Close the probe's session instead of leaving it to time out (best effort).
                let close = client
                    .post(format!("{endpoint}&sid={}", open.sid))
                    .header(reqwest::header::CONTENT_TYPE, "text/plain;charset=UTF-8")
                    .body("1")
                    .send();
                let _ = tokio::time::timeout(self.timeout, close).await;
                true
            }
            Err(detail) => {
                let fix = if status == 404 {
                    forward_fix
                } else {
                    format!("{forward_fix} Engine.IO v4 (socket.io 4) is what ABS 2.x speaks.")
                };
                self.fail(
                    Step::SocketPolling,
                    socket_path_headline(url),
                    format!("GET {endpoint}: {detail}"),
                    fix,
                );
                false
            }
        }
    }

    /// The WebSocket upgrade and the namespace join work; `polling` says whether REST-style
    /// Socket.IO requests reach ABS, which decides the advice.
    async fn websocket(&mut self, url: &ServerUrl, polling: bool) -> bool {
        let socket_url = url.socket_url();
        let connecting = Socket::connect(&socket_url, Some(self.tls.connector()), self.timeout);
        let error = match connecting.await {
            Ok(socket) => {
                socket.close().await;
                self.ok(
                    Step::Websocket,
                    "WebSocket upgrade and Socket.IO connect work".into(),
                );
                return true;
            }
            Err(error) => error,
        };
        let advice = PROXY_ADVICE.replace("{base}", url.base_path());
        let headline = if polling {
            websocket_refused_headline(url)
        } else {
            socket_path_headline(url)
        };
        let (detail, fix) = match &error {
            SocketError::Connect(text) if polling => (
                format!(
                    "REST and long-polling reach ABS, but the WebSocket upgrade fails: {}",
                    shorten(text)
                ),
                advice,
            ),
            SocketError::Timeout(_) | SocketError::Closed if polling => (
                format!(
                    "REST and long-polling reach ABS, but the WebSocket upgrade {}",
                    if matches!(error, SocketError::Closed) {
                        "was closed right away"
                    } else {
                        "got no answer"
                    }
                ),
                advice,
            ),
            _ if !polling => (
                format!("the WebSocket fails too: {}", shorten(&error.to_string())),
                format!(
                    "Forward {}/socket.io/ to ABS first (see above). {advice}",
                    url.base_path()
                ),
            ),
            _ => (
                shorten(&error.to_string()),
                "The server answered the upgrade, but not like socket.io 4; check that this \
                 address is Audiobookshelf 2.x and that nothing rewrites WebSocket frames."
                    .into(),
            ),
        };
        self.fail(Step::Websocket, headline, detail, fix);
        false
    }

    /// The saved sign-in authenticates a socket: `init` arrives.
    async fn socket_auth(&mut self, url: &ServerUrl, signed_in: &SignedIn) {
        let mut refreshed = false;
        loop {
            let session =
                match tokio::time::timeout(self.timeout, signed_in.session(refreshed)).await {
                    Err(_) => Err(AuthError::Timeout),
                    Ok(result) => result,
                };
            let session = match session {
                Ok(session) => session,
                Err(AuthError::NotSignedIn) => return self.skip(Step::SocketAuth, not_signed_in()),
                Err(e) => {
                    let (headline, fix) = if e.sign_in_required() {
                        (
                            "The saved sign-in is no longer valid: sign in again.".to_owned(),
                            "Sign in again.".to_owned(),
                        )
                    } else {
                        (
                            sentence(&format!("the saved sign-in cannot be used right now: {e}")),
                            format!("Fix the problem above ({}), then try again.", e.code()),
                        )
                    };
                    return self.fail(
                        Step::SocketAuth,
                        headline,
                        format!("the saved sign-in cannot be used: {e}"),
                        fix,
                    );
                }
            };
            let attempt = tokio::time::timeout(
                self.timeout,
                authenticate(url, self.tls, self.timeout, &session.access),
            )
            .await;
            match attempt {
                Ok(Ok(init)) => {
                    let admin = if init.users_online.is_some() {
                        ", admin"
                    } else {
                        ""
                    };
                    let after = if refreshed {
                        " after a token refresh"
                    } else {
                        ""
                    };
                    return self.ok(
                        Step::SocketAuth,
                        format!(
                            "the socket accepted the token{after}: signed in as {}{admin}",
                            init.username
                        ),
                    );
                }
                Ok(Err(AuthAttempt::Refused(_))) if !refreshed => refreshed = true,
                Ok(Err(AuthAttempt::Refused(said))) => {
                    return self.fail(
                        Step::SocketAuth,
                        "The server refuses the sign-in on the live connection: sign in again, \
                         and check this computer's clock."
                            .into(),
                        format!("the server refused the token even after a refresh ({said})"),
                        "Sign in again; if that does not help, check this computer's clock \
                         (see the clock step)."
                            .into(),
                    );
                }
                Ok(Err(AuthAttempt::Socket(e))) => {
                    return self.fail(
                        Step::SocketAuth,
                        "The live connection dropped during sign-in: try again, and check the \
                         proxy's WebSocket timeouts."
                            .into(),
                        shorten(&e.to_string()),
                        "The WebSocket worked a moment ago; try again, and check the proxy's \
                         WebSocket timeouts."
                            .into(),
                    );
                }
                Err(_) => {
                    return self.fail(
                        Step::SocketAuth,
                        "The server did not answer the sign-in on the live connection: check that \
                         the proxy does not buffer WebSocket frames."
                            .into(),
                        format!("no answer to the sign-in within {:?}", self.timeout),
                        "The server accepted the socket but did not answer `auth`: check that \
                         the proxy does not buffer WebSocket frames."
                            .into(),
                    );
                }
            }
        }
    }

    /// The server's `Date` header against this computer's clock.
    async fn clock(&mut self, url: &ServerUrl) {
        let Ok(client) = self.http() else {
            return self.skip(Step::Clock, "no HTTP client".into());
        };
        let before = SystemTime::now();
        let sent = tokio::time::timeout(self.timeout, client.get(url.rest("/status")).send()).await;
        let after = SystemTime::now();
        let response = match sent {
            Ok(Ok(response)) => response,
            _ => {
                return self.skip(
                    Step::Clock,
                    "the server did not answer a second time".into(),
                );
            }
        };
        let server = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        let Some(server) = server else {
            return self.skip(Step::Clock, "the server sent no Date header".into());
        };
        let round_trip = after.duration_since(before).unwrap_or_default();
        let local = before + round_trip / 2;
        // `Date` has whole seconds (truncated): the server's clock read somewhere in [date, date + 1 s).
        let skew = secs_between(local, server + Duration::from_millis(500));
        let limit = MAX_CLOCK_SKEW.as_secs_f64();
        if skew.abs() <= limit {
            self.ok(
                Step::Clock,
                format!(
                    "the server's clock agrees with this computer's (within {:.0} s)",
                    skew.abs().max(1.0)
                ),
            );
        } else {
            let direction = if skew > 0.0 { "behind" } else { "ahead of" };
            self.warn(
                Step::Clock,
                format!(
                    "this computer's clock is {:.0} s {direction} the server's",
                    skew.abs()
                ),
                "Turn on automatic time (NTP) on this computer and on the server: access-token \
                 expiry is judged by both clocks, so a wrong one makes sign-ins fail or refresh \
                 at the wrong time."
                    .into(),
            );
        }
    }
}

/// Why a socket sign-in attempt did not end in `init`.
enum AuthAttempt {
    /// `auth_failed` / `invalid_token`, with what the server said.
    Refused(String),
    /// The socket failed.
    Socket(SocketError),
}

impl From<SocketError> for AuthAttempt {
    fn from(error: SocketError) -> Self {
        Self::Socket(error)
    }
}

/// Opens a socket, sends `auth` and waits for `init` or a refusal, like the connection does.
async fn authenticate(
    url: &ServerUrl,
    tls: &TlsConfig,
    timeout: Duration,
    token: &Secret,
) -> Result<Init, AuthAttempt> {
    let mut socket = Socket::connect(&url.socket_url(), Some(tls.connector()), timeout).await?;
    let auth = ClientEvent::Auth(token.clone());
    let args: Vec<serde_json::Value> = auth.payload().into_iter().collect();
    let outcome = async {
        socket.emit(auth.name(), &args).await?;
        loop {
            let raw = socket.recv().await?;
            match protocol::decode(&raw.name, &raw.args) {
                Ok(ServerEvent::Init(init)) => return Ok(init),
                Ok(ServerEvent::AuthFailed(failed)) => {
                    return Err(AuthAttempt::Refused(
                        failed.message.unwrap_or_else(|| "no reason given".into()),
                    ));
                }
                Ok(ServerEvent::InvalidToken) => {
                    return Err(AuthAttempt::Refused("invalid_token".into()));
                }
                _ => {}
            }
        }
    }
    .await;
    socket.close().await;
    outcome
}

/// The detail for a skipped socket sign-in without a saved sign-in.
fn not_signed_in() -> String {
    "not signed in to this server: sign in to also check that the socket accepts your token".into()
}

/// `text` as a sentence: capitalised, ending in a full stop.
pub fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?', '…']) {
        out.push('.');
    }
    out
}

/// The headline for a host name that does not resolve.
fn unknown_host(host: &str) -> String {
    format!(
        "The server name {host} cannot be found: check its spelling, or connect to the network \
         it is on."
    )
}

/// The headline for a `/socket.io/` path that does not reach ABS.
fn socket_path_headline(url: &ServerUrl) -> String {
    format!(
        "The live connection ({}/socket.io/) does not reach Audiobookshelf: forward it to ABS in \
         the reverse proxy.",
        url.base_path()
    )
}

/// The headline for WebSocket upgrades refused while the rest of ABS answers (the proxy fault).
pub fn websocket_refused_headline(url: &ServerUrl) -> String {
    format!(
        "The server refuses live connections (WebSocket), usually a reverse proxy setting: let \
         it pass the Upgrade and Connection headers on {}/socket.io/.",
        url.base_path()
    )
}

/// The headline for a failed `GET /status`.
fn status_headline(error: &AuthError, url: &ServerUrl) -> String {
    match error {
        AuthError::NotAbs => format!(
            "{url} does not answer like Audiobookshelf: check the address, its port and base path."
        ),
        AuthError::Http {
            status: 401 | 403 | 407,
        } => "Something in front of Audiobookshelf asks for its own sign-in: let ABS Tray \
              through to the server."
            .into(),
        AuthError::Http { status } => format!(
            "The server answers HTTP {status} instead of Audiobookshelf: check that ABS runs and \
             that the proxy points at it."
        ),
        AuthError::Timeout => "The server accepted the connection but did not answer: restart it \
                               or check the proxy in front of it."
            .into(),
        other => sentence(&other.to_string()),
    }
}

/// What to do about a failed `GET /status`.
fn status_fix(error: &AuthError, url: &ServerUrl) -> String {
    match error {
        AuthError::NotAbs => format!(
            "{} does not answer like Audiobookshelf: check the host, the port and the base \
             path (behind a proxy at a sub-path, include it, e.g. https://host/audiobookshelf).",
            url.rest("/status")
        ),
        AuthError::NotSetUp => {
            "Open the server in a browser and create the root user first.".into()
        }
        AuthError::Redirected { .. } => {
            "Use the address the server redirects to (often https:// instead of http://, or a \
             trailing path)."
                .into()
        }
        AuthError::Http {
            status: 401 | 403 | 407,
        } => "Something in front of ABS (basic auth, Authelia, Authentik, Cloudflare Access) asks \
              for its own sign-in: let /status, /login, /auth/, /api/ and /socket.io/ through to \
              ABS, or connect to ABS directly."
            .into(),
        AuthError::Http { .. } => {
            "The proxy answers but ABS does not: check that Audiobookshelf runs and that the \
             proxy points at the right port (13378 by default)."
                .into()
        }
        AuthError::Timeout => "The server accepted the connection but sent no HTTP answer: it may \
                               be overloaded or stuck; restart it or check the proxy."
            .into(),
        _ => "Check the server and the proxy in front of it.".into(),
    }
}

/// What the Engine.IO open packet announces.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Open {
    /// The session id.
    sid: String,
    /// Transports the session can upgrade to.
    #[serde(default)]
    upgrades: Vec<String>,
    /// The server's heartbeat interval, ms.
    #[serde(default)]
    ping_interval: u64,
}

/// Reads a polling handshake answer; the error says what came instead.
fn parse_open(status: u16, body: &[u8]) -> Result<Open, String> {
    let text = String::from_utf8_lossy(body);
    if status == 400 && text.contains("\"code\"") {
        return Err(format!(
            "Engine.IO refused the handshake: {}",
            shorten(&text)
        ));
    }
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}, not an Engine.IO handshake"));
    }
    text.strip_prefix('0')
        .and_then(|json| serde_json::from_str::<Open>(json).ok())
        .ok_or_else(|| {
            format!(
                "the answer is not an Engine.IO v4 open packet: {}",
                shorten(&text)
            )
        })
}

/// Reads a response body, at most [`MAX_PROBE_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_PROBE_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_PROBE_BYTES {
            break;
        }
    }
    Ok(body)
}

/// The innermost cause of a request failure (reqwest's own text is generic).
fn innermost(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = cause.to_string();
        source = cause.source();
    }
    shorten(&text)
}

/// The host without IPv6 brackets, for lookups, SNI and name checks.
fn bare_host(url: &ServerUrl) -> String {
    url.host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

/// `later - earlier` in seconds, negative when `later` is earlier.
fn secs_between(earlier: SystemTime, later: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// At most [`MAX_ECHO_CHARS`] characters of foreign text, on one line.
fn shorten(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_ECHO_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_io_handshakes_are_read() {
        let open = parse_open(
            200,
            br#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        )
        .unwrap();
        assert_eq!(open.sid, "abc");
        assert_eq!(open.upgrades, ["websocket"]);
        assert!(
            parse_open(404, b"Cannot GET")
                .unwrap_err()
                .contains("HTTP 404")
        );
        assert!(
            parse_open(
                400,
                br#"{"code":5,"message":"Unsupported protocol version"}"#
            )
            .unwrap_err()
            .contains("Unsupported protocol version")
        );
        assert!(
            parse_open(200, b"<html>proxy</html>")
                .unwrap_err()
                .contains("not an Engine.IO")
        );
    }

    #[test]
    fn foreign_text_is_shortened_to_one_line() {
        assert_eq!(shorten("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(
            shorten(&"x".repeat(500)).chars().count(),
            MAX_ECHO_CHARS + 1
        );
    }

    #[tokio::test]
    async fn a_bad_address_fails_first_and_skips_the_rest() {
        let report = diagnose("ftp://abs.example", &TlsConfig::system().unwrap(), None).await;
        assert_eq!(report.checks.len(), Step::ALL.len());
        assert_eq!(report.checks[0].verdict, Verdict::Fail);
        assert!(
            report.checks[1..]
                .iter()
                .all(|c| c.verdict == Verdict::Skipped)
        );
        assert!(!report.unreachable());
        assert_eq!(report.verdict(), Verdict::Fail);
    }
}
