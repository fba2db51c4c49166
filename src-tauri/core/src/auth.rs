//! Signing in to an Audiobookshelf server and keeping the tokens fresh (abs-protocol.md §7).
//!
//! * [`discover`] finds the server (and its base path) from `GET /status`.
//! * [`AbsClient`] talks to one server: login (password), authorize (API key), refresh, logout.
//! * [`Session`] is what a sign-in yields: the token for the socket and REST, when it expires,
//!   and the rotating refresh token.
//! * [`TokenManager`] ties a client to the keyring: a rotated refresh token is stored *before*
//!   the new session is handed out, so a crash never leaves only a dead token behind.
//!
//! The server is not trusted: bodies are capped at [`MAX_BODY_BYTES`], every reply is decoded
//! into bounded models, redirects are never followed (a redirect to another host would carry the
//! password or token there), and every failure is an [`AuthError`], never a panic.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;

use crate::protocol::{LoginResponse, ServerStatus, UserType};
use crate::secret::Secret;
use crate::server_url::ServerUrl;
use crate::tls::TlsConfig;
use crate::token_store::{Account, AsyncTokenStore, StoreError};

/// Largest reply body read from the server; anything bigger is refused unread.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The most a refresh is brought forward before the access token expires (the socket checks
/// `exp` at `auth` time); shorter-lived tokens are refreshed in their last quarter instead.
pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Time allowed to open a TCP + TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a whole request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Sent with every request so server logs show what connected.
const USER_AGENT: &str = concat!("abs-tray/", env!("CARGO_PKG_VERSION"));
/// The longest `Location` or server message echoed into an error.
const MAX_ECHO_CHARS: usize = 200;

/// Why a sign-in step failed. Each variant has a one-line message for people and a stable
/// [`code`](AuthError::code) for the UI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// `POST /login` answered 401.
    #[error("wrong user name or password")]
    BadCredentials,
    /// `POST /api/authorize` refused the API key (unknown, expired or not active).
    #[error(
        "the server refused the API key (wrong, expired or not active): paste the whole key, or \
         ask an admin for an active one"
    )]
    InvalidApiKey,
    /// 429 from the auth rate limiter (40 requests / 10 min per IP by default).
    #[error("too many sign-in attempts; try again {}", retry_text(*.retry_after))]
    RateLimited {
        /// From `Retry-After`, when the server sent it.
        retry_after: Option<Duration>,
    },
    /// `POST /auth/refresh` answered 401: the saved sign-in is dead.
    #[error("the saved sign-in is no longer valid ({reason}); sign in again")]
    RefreshRejected {
        /// The server's `error` field (`Invalid refresh token`, `Refresh token expired`, ...).
        reason: String,
    },
    /// There is no saved credential for this account.
    #[error("not signed in")]
    NotSignedIn,
    /// The server rejected a token again within half its lifetime of the last refresh made for a
    /// rejection; another refresh would only spend the server's sign-in rate limit.
    #[error(
        "the server keeps refusing new tokens; trying again in {} seconds",
        retry_in.as_secs().max(1)
    )]
    TokenRefused {
        /// How long until a refresh may be tried again.
        retry_in: Duration,
    },
    /// Connection refused, DNS failure, network down.
    #[error("cannot reach the server: {reason}")]
    Unreachable {
        /// The innermost transport error.
        reason: String,
    },
    /// The server took longer than the request timeout.
    #[error("the server did not answer in time")]
    Timeout,
    /// The certificate does not chain to a trusted root (self-signed, private CA, pin mismatch).
    #[error(
        "the server's certificate is not trusted ({reason}); trust its CA or pin its certificate"
    )]
    UntrustedCertificate {
        /// What the TLS library said.
        reason: String,
    },
    /// The certificate is trusted but made out to other names than the one in the address:
    /// trusting a CA or pinning does not fix that, using a name the certificate lists does.
    #[error(
        "the server's certificate is not made out to {host}; use the address it was issued for (the name in the certificate)"
    )]
    HostMismatch {
        /// The host name (or IP address) that was asked for.
        host: String,
        /// What the TLS library said.
        reason: String,
    },
    /// Any other TLS failure (protocol mismatch, handshake failure, ...).
    #[error("the secure connection failed: {reason}")]
    Tls {
        /// What the TLS library said.
        reason: String,
    },
    /// The address answers, but not like Audiobookshelf (HTML, other JSON, 404).
    #[error("this address does not answer like an Audiobookshelf server; check the address")]
    NotAbs,
    /// `/status` says `isInit: false`: no root user yet.
    #[error("this Audiobookshelf server is not set up yet; finish its setup in a browser first")]
    NotSetUp,
    /// A 3xx answer; never followed, since it could carry credentials to another host.
    #[error("the server redirects to {location}; use that address instead")]
    Redirected {
        /// The `Location` header (shortened).
        location: String,
    },
    /// An HTTP status this step does not expect.
    #[error("the server answered HTTP {status}")]
    Http {
        /// The status code.
        status: u16,
    },
    /// A 2xx answer whose body is not what the server should send.
    #[error("the server's reply could not be understood: {reason}")]
    Decode {
        /// What was wrong (never the body itself).
        reason: String,
    },
    /// A body over [`MAX_BODY_BYTES`].
    #[error("the server's reply is larger than {} MiB", MAX_BODY_BYTES / (1024 * 1024))]
    TooLarge,
    /// The keyring refused to store or read the credential.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built (a bug or a broken TLS setup).
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

impl AuthError {
    /// A stable snake_case identifier for the UI (`{code, message}`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadCredentials => "bad_credentials",
            Self::InvalidApiKey => "invalid_api_key",
            Self::RateLimited { .. } => "rate_limited",
            Self::RefreshRejected { .. } => "refresh_rejected",
            Self::NotSignedIn => "not_signed_in",
            Self::TokenRefused { .. } => "token_refused",
            Self::Unreachable { .. } => "unreachable",
            Self::Timeout => "timeout",
            Self::UntrustedCertificate { .. } => "tls_untrusted",
            Self::HostMismatch { .. } => "tls_host_mismatch",
            Self::Tls { .. } => "tls",
            Self::NotAbs => "not_abs",
            Self::NotSetUp => "not_set_up",
            Self::Redirected { .. } => "redirected",
            Self::Http { .. } => "http_error",
            Self::Decode { .. } => "bad_reply",
            Self::TooLarge => "reply_too_large",
            Self::Store(e) => e.code(),
            Self::Client(_) => "client_setup",
        }
    }

    /// True when only the user can fix it by signing in again (retrying will not help).
    pub fn sign_in_required(&self) -> bool {
        matches!(
            self,
            Self::BadCredentials
                | Self::InvalidApiKey
                | Self::RefreshRejected { .. }
                | Self::NotSignedIn
        )
    }
}

/// "in N minutes" / "later", for [`AuthError::RateLimited`].
fn retry_text(retry_after: Option<Duration>) -> String {
    match retry_after.map(|d| d.as_secs()) {
        Some(secs) if secs >= 60 => format!("in {} minutes", secs.div_ceil(60)),
        Some(secs) => format!("in {secs} seconds"),
        None => "later".to_owned(),
    }
}

/// An ABS version such as `2.36.0`; decides which sign-in flow the server supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    /// Major part.
    pub major: u32,
    /// Minor part.
    pub minor: u32,
    /// Patch part (0 when absent).
    pub patch: u32,
}

impl ServerVersion {
    /// The first version with access + refresh tokens, `x-return-tokens` and API keys.
    pub const JWT_SESSIONS: Self = Self::new(2, 26, 0);

    /// Builds a version.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Reads `2.36.0`, `v2.36.0`, `2.36.0-beta.1`, `2.36`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let core = text.trim().trim_start_matches(['v', 'V']);
        let core = core.split(['-', '+', ' ']).next().unwrap_or(core);
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = parts.next().unwrap_or(Some(0))?;
        parts
            .next()
            .is_none()
            .then_some(Self::new(major, minor, patch))
    }

    /// Whether `/login` can return a refresh token (2.26+).
    pub fn has_refresh_tokens(self) -> bool {
        self >= Self::JWT_SESSIONS
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What `GET /status` tells before any sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// `serverVersion`, when the server sent a readable one.
    pub version: Option<ServerVersion>,
    /// `local`, `openid`, ...: which sign-in forms to offer.
    pub auth_methods: Vec<String>,
    /// False until the server's root user exists.
    pub initialized: bool,
}

/// A server found by [`discover`]: the address to use from now on and what it supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The address, with the base path that answered.
    pub url: ServerUrl,
    /// Version and sign-in methods.
    pub info: ServerInfo,
}

/// Finds the server: `GET {base}/status`; when that is not ABS and no base path was given, tries
/// `/audiobookshelf/status` (ABS's default `ROUTER_BASE_PATH`, and a common proxy sub-path).
pub async fn discover(url: &ServerUrl, tls: &TlsConfig) -> Result<Discovery, AuthError> {
    let first = AbsClient::new(url.clone(), tls)?.status().await;
    let (url, info) = match first {
        Ok(info) => (url.clone(), info),
        Err(AuthError::NotAbs) if url.base_path().is_empty() => {
            let alternative = url.with_base_path("/audiobookshelf");
            let info = AbsClient::new(alternative.clone(), tls)?.status().await?;
            (alternative, info)
        }
        Err(e) => return Err(e),
    };
    if !info.initialized {
        return Err(AuthError::NotSetUp);
    }
    Ok(Discovery { url, info })
}

/// [`discover`] over the addresses to try for what was typed ([`ServerUrl::candidates`]): the next
/// one is tried only when the one before could not talk to its port at all (no TLS there, nothing
/// listening), so a bare `host:13378` finds ABS's plain http. When none answers, the first
/// address's error is the one that explains.
pub async fn discover_first(
    candidates: &[ServerUrl],
    tls: &TlsConfig,
) -> Result<Discovery, AuthError> {
    let mut first_error = None;
    for url in candidates {
        let error = match discover(url, tls).await {
            Ok(found) => return Ok(found),
            Err(error) => error,
        };
        let no_answer = matches!(error, AuthError::Tls { .. } | AuthError::Unreachable { .. });
        match first_error {
            None if no_answer => first_error = Some(error),
            // The first address answered; a later one answering something else is the story.
            None => return Err(error),
            Some(_) if no_answer => {}
            Some(_) => return Err(error),
        }
    }
    Err(first_error.unwrap_or(AuthError::NotAbs))
}

/// The result of a sign-in or refresh: everything needed to authenticate the socket and REST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user's id.
    pub user_id: String,
    /// The user's name as the server spells it.
    pub username: String,
    /// Root/admin see everybody's activity; others only their own.
    pub user_type: UserType,
    /// Token for the socket `auth` event and `Authorization: Bearer`: an access token (2.26+) or
    /// the legacy non-expiring `user.token` (older servers, API-key sign-in).
    pub access: Secret,
    /// The access token's `exp` by the server's clock; `None` for legacy tokens, which do not
    /// expire.
    pub access_expires_at: Option<SystemTime>,
    /// How long the access token lives (`exp - iat`); `None` for legacy tokens. Refreshes are
    /// paced by this and [`Session::received_at`], both independent of the server's clock.
    pub access_lifetime: Option<Duration>,
    /// When this computer received the access token.
    pub received_at: SystemTime,
    /// The rotating refresh token (2.26+ password sign-in only).
    pub refresh: Option<Secret>,
    /// The server's version, from the reply's `serverSettings`.
    pub server_version: Option<ServerVersion>,
}

impl Session {
    /// Whether the user sees admin-only events.
    pub fn is_admin(&self) -> bool {
        self.user_type.is_admin()
    }

    /// True in the last quarter of the access token's life (at most [`MAX_REFRESH_MARGIN`]
    /// before its end) or after it; never for legacy tokens.
    pub fn needs_refresh(&self, now: SystemTime) -> bool {
        needs_refresh(self.received_at, self.access_lifetime, now)
    }

    /// The credential to keep in the keyring after a password sign-in: the refresh token, or
    /// (servers before 2.26) the non-expiring legacy token. `None` when the access token expires
    /// and no refresh token came with it.
    pub fn long_lived_credential(&self) -> Option<&Secret> {
        match (&self.refresh, self.access_expires_at) {
            (Some(refresh), _) => Some(refresh),
            (None, None) => Some(&self.access),
            (None, Some(_)) => None,
        }
    }
}

/// How long before its end a token living `lifetime` is refreshed: a quarter of its life, at
/// most [`MAX_REFRESH_MARGIN`]. A fixed margin would make every use of a token that lives less
/// than the margin a refresh (ABS allows 40 auth requests per 10 minutes).
pub fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 4).min(MAX_REFRESH_MARGIN)
}

/// True when a token received at `received_at` that lives `lifetime` should be refreshed at
/// `now`: less than [`refresh_margin`] of its life is left, or none. Scheduled refreshes are
/// therefore at least three quarters of a lifetime apart however often the token is asked for.
/// `None` (a token that does not expire) never needs one. Measured on this computer's clock from
/// when the token arrived, so a clock set wrong does not turn every request into a refresh; a
/// clock set back makes the token look young, and a rejection then refreshes it.
pub fn needs_refresh(received_at: SystemTime, lifetime: Option<Duration>, now: SystemTime) -> bool {
    let Some(lifetime) = lifetime else {
        return false;
    };
    let age = now.duration_since(received_at).unwrap_or(Duration::ZERO);
    age + refresh_margin(lifetime) >= lifetime
}

/// How long a refresh asked for because the server rejected a token must wait, given when the
/// last such refresh ran: at most one per half-lifetime, so a server (or a proxy that drops the
/// `Authorization` header) that rejects every token cannot turn each poll into a refresh.
/// `None` when it may run now: the first one always may, and so may any for a token that does
/// not expire (re-authorizing an API key is not rate-limited).
pub fn rejected_refresh_wait(
    lifetime: Option<Duration>,
    last: Option<SystemTime>,
    now: SystemTime,
) -> Option<Duration> {
    let (lifetime, last) = (lifetime?, last?);
    // A clock set back since the last one: its age is unknown, so do not block on it.
    let since = now.duration_since(last).ok()?;
    (lifetime / 2)
        .checked_sub(since)
        .filter(|wait| !wait.is_zero())
}

/// A REST client for one server. Cheap to clone (connections are pooled and shared).
#[derive(Debug, Clone)]
pub struct AbsClient {
    http: reqwest::Client,
    url: ServerUrl,
}

/// A reply read in full (within the size cap).
struct Reply {
    /// HTTP status.
    status: StatusCode,
    /// Headers (`Location`, `Retry-After`).
    headers: HeaderMap,
    /// The body, at most [`MAX_BODY_BYTES`].
    body: Vec<u8>,
}

impl AbsClient {
    /// A client for `url` trusting what `tls` trusts; never follows redirects.
    pub fn new(url: ServerUrl, tls: &TlsConfig) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.connector())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| AuthError::Client(e.to_string()))?;
        Ok(Self { http, url })
    }

    /// The server this client talks to.
    pub fn url(&self) -> &ServerUrl {
        &self.url
    }

    /// `GET /status`: version and sign-in methods. Anything that is not ABS's JSON is
    /// [`AuthError::NotAbs`].
    pub async fn status(&self) -> Result<ServerInfo, AuthError> {
        let reply = self.send(self.http.get(self.url.rest("/status"))).await?;
        if !reply.status.is_success() {
            return Err(match reply.status.as_u16() {
                300..=399 => redirected(&reply.headers),
                // A proxy asking for its own credentials: say so rather than "not ABS".
                status @ (401 | 403 | 407) => AuthError::Http { status },
                400..=499 => AuthError::NotAbs,
                status => AuthError::Http { status },
            });
        }
        let status: ServerStatus =
            serde_json::from_slice(&reply.body).map_err(|_| AuthError::NotAbs)?;
        let is_abs = match status.app.as_deref() {
            Some(app) => app == "audiobookshelf",
            // Servers from before `app` was added still send a version.
            None => status.server_version.is_some(),
        };
        if !is_abs {
            return Err(AuthError::NotAbs);
        }
        Ok(ServerInfo {
            version: status
                .server_version
                .as_deref()
                .and_then(ServerVersion::parse),
            auth_methods: status.auth_methods,
            initialized: status.is_init,
        })
    }

    /// `POST /login` with `x-return-tokens: true`. On 2.26+ this yields an expiring access token
    /// and a refresh token; older servers send only the legacy `user.token`, used as a
    /// non-expiring access token without a refresh token.
    pub async fn login(&self, username: &str, password: &Secret) -> Result<Session, AuthError> {
        let body = serde_json::json!({ "username": username, "password": password.expose() });
        let request = self
            .http
            .post(self.url.rest("/login"))
            .header("x-return-tokens", "true")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let reply = self.send(request).await?;
        match reply.status.as_u16() {
            200..=299 => session_from(&reply.body, TokenSource::Login, SystemTime::now()),
            401 => Err(AuthError::BadCredentials),
            404 => Err(AuthError::NotAbs),
            _ => Err(common_failure(&reply)),
        }
    }

    /// `POST /api/authorize` with `Bearer <token>` (an API key, or a legacy/access token):
    /// returns the legacy `user.token`, which the socket accepts (an API key itself cannot
    /// authenticate the socket).
    pub async fn authorize(&self, token: &Secret) -> Result<Session, AuthError> {
        let request = self
            .http
            .post(self.url.rest("/api/authorize"))
            .bearer_auth(token.expose());
        let reply = self.send(request).await?;
        match reply.status.as_u16() {
            200..=299 => session_from(&reply.body, TokenSource::Authorize, SystemTime::now()),
            401 | 403 => Err(AuthError::InvalidApiKey),
            404 => Err(AuthError::NotAbs),
            _ => Err(common_failure(&reply)),
        }
    }

    /// `POST /auth/refresh` with `x-refresh-token`: a new access token and the rotated refresh
    /// token (the old one keeps working only for the server's grace period). Store the new
    /// refresh token before using the session: [`TokenManager::refresh_and_store`] does.
    pub async fn refresh(&self, refresh: &Secret) -> Result<Session, AuthError> {
        let request = self
            .http
            .post(self.url.rest("/auth/refresh"))
            .header("x-refresh-token", refresh.expose());
        let reply = self.send(request).await?;
        match reply.status.as_u16() {
            200..=299 => session_from(&reply.body, TokenSource::Refresh, SystemTime::now()),
            401 => Err(AuthError::RefreshRejected {
                reason: error_field(&reply.body).unwrap_or_else(|| "Unauthorized".to_owned()),
            }),
            _ => Err(common_failure(&reply)),
        }
    }

    /// `POST /logout` with `x-refresh-token`: ends that refresh session on the server.
    pub async fn logout(&self, refresh: &Secret) -> Result<(), AuthError> {
        let request = self
            .http
            .post(self.url.rest("/logout"))
            .header("x-refresh-token", refresh.expose());
        let reply = self.send(request).await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(common_failure(&reply))
        }
    }

    /// An authenticated `GET` of a JSON API (`/api/users/online`, `/api/tasks`, ...).
    /// 401 means the token is no longer good: [`AuthError::sign_in_required`] is then false, as a
    /// refresh may still fix it; the caller decides.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: &Secret,
    ) -> Result<T, AuthError> {
        let request = self
            .http
            .get(self.url.rest(path))
            .bearer_auth(token.expose());
        let reply = self.send(request).await?;
        if !reply.status.is_success() {
            return Err(common_failure(&reply));
        }
        serde_json::from_slice(&reply.body).map_err(|e| decode_error(&e))
    }

    /// An authenticated `GET` of raw bytes (a cover image), at most [`MAX_BODY_BYTES`].
    pub async fn get_bytes(&self, path: &str, token: &Secret) -> Result<Vec<u8>, AuthError> {
        let request = self
            .http
            .get(self.url.rest(path))
            .bearer_auth(token.expose());
        let reply = self.send(request).await?;
        if !reply.status.is_success() {
            return Err(common_failure(&reply));
        }
        Ok(reply.body)
    }

    /// Sends a request and reads the whole body, refusing more than [`MAX_BODY_BYTES`].
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Reply, AuthError> {
        let mut response = request.send().await.map_err(transport_error)?;
        if response
            .content_length()
            .is_some_and(|len| len > MAX_BODY_BYTES as u64)
        {
            return Err(AuthError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(AuthError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body,
        })
    }
}

/// Which endpoint a login-shaped reply came from; decides which token is the session's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenSource {
    /// `/login`: access + refresh (2.26+) or legacy token.
    Login,
    /// `/auth/refresh`: access + rotated refresh.
    Refresh,
    /// `/api/authorize`: legacy token only.
    Authorize,
}

/// Builds a [`Session`] from a login/refresh/authorize body that arrived at `received_at`.
fn session_from(
    body: &[u8],
    source: TokenSource,
    received_at: SystemTime,
) -> Result<Session, AuthError> {
    let reply: LoginResponse = serde_json::from_slice(body).map_err(|e| decode_error(&e))?;
    let user = reply.user;
    let missing = |what: &str| AuthError::Decode {
        reason: format!("the reply has no {what}"),
    };
    let (access, timing, refresh) = match (source, user.access_token) {
        (TokenSource::Authorize, _) | (TokenSource::Login, None) => {
            let legacy = user.token.ok_or_else(|| missing("user.token"))?;
            (legacy, None, None)
        }
        (TokenSource::Refresh, None) => return Err(missing("user.accessToken")),
        (_, Some(access)) => {
            let timing = token_timing(&access, received_at)?;
            (access, timing, user.refresh_token)
        }
    };
    Ok(Session {
        user_id: user.id,
        username: user.username,
        user_type: user.user_type,
        access,
        access_expires_at: timing.map(|(exp, _)| exp),
        access_lifetime: timing.map(|(_, lifetime)| lifetime),
        received_at,
        refresh,
        server_version: reply
            .server_settings
            .and_then(|s| s.version)
            .as_deref()
            .and_then(ServerVersion::parse),
    })
}

/// The claims this client reads from a JWT without verifying it (it has no key to verify with).
#[derive(Deserialize)]
struct PeekClaims {
    /// Issued at, seconds since the epoch.
    #[serde(default)]
    iat: Option<f64>,
    /// Expiry, seconds since the epoch.
    #[serde(default)]
    exp: Option<f64>,
    /// `access`, `refresh`, `api`, or absent (legacy token).
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// Decodes a JWT's claims WITHOUT verifying its signature: only the server can verify, the client
/// just needs `exp` to schedule a refresh and `type` to know what it holds.
fn peek_claims(token: &Secret) -> Result<PeekClaims, AuthError> {
    jsonwebtoken::dangerous::insecure_decode::<PeekClaims>(token.expose())
        .map(|data| data.claims)
        .map_err(|_| AuthError::Decode {
            reason: "the token is not a readable JWT".to_owned(),
        })
}

/// A JWT time claim as a time; an error when it is out of range.
fn claim_time(secs: f64, what: &str) -> Result<SystemTime, AuthError> {
    if (0.0..1e12).contains(&secs) {
        Ok(UNIX_EPOCH + Duration::from_secs_f64(secs))
    } else {
        Err(AuthError::Decode {
            reason: format!("the access token's {what} is out of range"),
        })
    }
}

/// An access token's `exp` and lifetime (`exp - iat`; without `iat`, what is left of it at
/// `received_at`); `None` when it has no `exp`. `iat` is whole seconds, so a token may live up
/// to a second less than that; the refresh margin (a quarter) covers it.
fn token_timing(
    token: &Secret,
    received_at: SystemTime,
) -> Result<Option<(SystemTime, Duration)>, AuthError> {
    let claims = peek_claims(token)?;
    let Some(exp) = claims
        .exp
        .map(|exp| claim_time(exp, "expiry"))
        .transpose()?
    else {
        return Ok(None);
    };
    let issued = match claims.iat {
        Some(iat) => claim_time(iat, "issue time")?,
        None => received_at,
    };
    match exp.duration_since(issued) {
        Ok(lifetime) if !lifetime.is_zero() => Ok(Some((exp, lifetime))),
        _ => Err(AuthError::Decode {
            reason: "the access token expires as soon as it is issued (is this computer's clock \
                     right?)"
                .to_owned(),
        }),
    }
}

/// True when `token` is a refresh token (`type: "refresh"`), as opposed to a legacy token or an
/// API key, so a stored credential can be resumed the right way.
pub fn is_refresh_token(token: &Secret) -> bool {
    peek_claims(token).is_ok_and(|claims| claims.kind.as_deref() == Some("refresh"))
}

/// A JSON error description without any of the body's content.
fn decode_error(error: &serde_json::Error) -> AuthError {
    use serde_json::error::Category;
    let what = match error.classify() {
        Category::Syntax | Category::Eof => "not valid JSON",
        Category::Data => "unexpected content",
        Category::Io => "unreadable",
    };
    AuthError::Decode {
        reason: format!("{what} (line {}, column {})", error.line(), error.column()),
    }
}

/// The `error` field of a 401 JSON body (`{"error":"Invalid refresh token"}`).
fn error_field(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| shorten(&b.error))
}

/// Failures every endpoint maps the same way: redirects, rate limiting, other statuses.
fn common_failure(reply: &Reply) -> AuthError {
    match reply.status.as_u16() {
        300..=399 => redirected(&reply.headers),
        429 => AuthError::RateLimited {
            retry_after: reply
                .headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        status => AuthError::Http { status },
    }
}

/// [`AuthError::Redirected`] naming where the server wanted to send us.
fn redirected(headers: &HeaderMap) -> AuthError {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| "another address".to_owned(), shorten);
    AuthError::Redirected { location }
}

/// At most [`MAX_ECHO_CHARS`] characters of server-provided text.
fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_ECHO_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// Classifies a transport failure: timeout, untrusted certificate, other TLS, unreachable.
fn transport_error(error: reqwest::Error) -> AuthError {
    if error.is_timeout() {
        return AuthError::Timeout;
    }
    let mut innermost = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<native_tls::Error>() {
            let host = error.url().and_then(|url| url.host_str()).unwrap_or("");
            return tls_error(&tls.to_string(), host);
        }
        innermost = cause.to_string();
        source = cause.source();
    }
    if error.is_body() || error.is_decode() {
        return AuthError::Decode {
            reason: "the connection broke while reading the reply".to_owned(),
        };
    }
    AuthError::Unreachable { reason: innermost }
}

/// Tells an untrusted certificate and one made out to other names (asking for `host`) from other
/// TLS failures. OpenSSL appends the verify result in parentheses, e.g. `(self-signed
/// certificate)` or `(hostname mismatch)`.
fn tls_error(text: &str, host: &str) -> AuthError {
    let lower = text.to_ascii_lowercase();
    if ["hostname mismatch", "ip address mismatch"]
        .iter()
        .any(|needle| lower.contains(needle))
    {
        return AuthError::HostMismatch {
            host: shorten(host),
            reason: shorten(text),
        };
    }
    let untrusted = ["certificate verify failed", "not trusted", "untrusted"]
        .iter()
        .any(|needle| lower.contains(needle));
    if !untrusted {
        return AuthError::Tls {
            reason: shorten(text),
        };
    }
    let reason = text
        .rfind('(')
        .and_then(|start| text[start + 1..].strip_suffix(')'))
        .filter(|r| !r.is_empty())
        .unwrap_or("certificate verify failed");
    AuthError::UntrustedCertificate {
        reason: shorten(reason),
    }
}

/// Sign-in for one account with its credential in the keyring: the only place that writes or
/// reads stored tokens, and the one that keeps their order right.
#[derive(Debug, Clone)]
pub struct TokenManager {
    client: AbsClient,
    store: AsyncTokenStore,
    account: Account,
}

impl TokenManager {
    /// The manager for `account` on `client`'s server, storing in `store`.
    pub fn new(client: AbsClient, store: AsyncTokenStore, account: Account) -> Self {
        Self {
            client,
            store,
            account,
        }
    }

    /// The account whose credential this manages.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The REST client.
    pub fn client(&self) -> &AbsClient {
        &self.client
    }

    /// Password sign-in; stores the refresh token (or a pre-2.26 legacy token) before returning.
    pub async fn sign_in(&self, password: &Secret) -> Result<Session, AuthError> {
        let session = self.client.login(&self.account.username, password).await?;
        if let Some(credential) = session.long_lived_credential() {
            self.store.set(&self.account, credential).await?;
        }
        Ok(session)
    }

    /// API-key sign-in (`/api/authorize`); stores the key itself, which is what can be
    /// re-authorized later (the legacy token it yields is not revocable by the user).
    pub async fn sign_in_with_api_key(&self, api_key: &Secret) -> Result<Session, AuthError> {
        let session = self.client.authorize(api_key).await?;
        self.store.set(&self.account, api_key).await?;
        Ok(session)
    }

    /// Refreshes, and writes the NEW refresh token to the keyring BEFORE returning the session,
    /// so a crash right after can never leave only the old (soon dead) token stored. If storing
    /// fails, the session is not handed out. A rejected refresh deletes nothing and reports
    /// [`AuthError::RefreshRejected`] ([`AuthError::sign_in_required`] is true).
    pub async fn refresh_and_store(&self, refresh: &Secret) -> Result<Session, AuthError> {
        let session = self.client.refresh(refresh).await?;
        if let Some(new_refresh) = &session.refresh {
            self.store.set(&self.account, new_refresh).await?;
        }
        Ok(session)
    }

    /// Starts from the stored credential: a refresh token is refreshed (and the rotated one
    /// stored); a legacy token or API key is re-authorized. [`AuthError::NotSignedIn`] when
    /// nothing is stored.
    pub async fn resume(&self) -> Result<Session, AuthError> {
        let stored = self
            .store
            .get(&self.account)
            .await?
            .ok_or(AuthError::NotSignedIn)?;
        if is_refresh_token(&stored) {
            self.refresh_and_store(&stored).await
        } else {
            self.client.authorize(&stored).await
        }
    }

    /// Signs out: ends the refresh session on the server when there is one (best effort: an
    /// unreachable server must not keep the user signed in) and deletes the stored credential.
    pub async fn sign_out(&self) -> Result<(), AuthError> {
        if let Some(stored) = self.store.get(&self.account).await?
            && is_refresh_token(&stored)
            && let Err(e) = self.client.logout(&stored).await
        {
            tracing::warn!(code = e.code(), "server logout failed: {e}");
        }
        self.store.delete(&self.account).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> Secret {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        Secret::new(format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"HS256","typ":"JWT"}"#),
            b64(claims)
        ))
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn versions_parse_loosely_and_compare() {
        assert_eq!(
            ServerVersion::parse("2.36.0"),
            Some(ServerVersion::new(2, 36, 0))
        );
        assert_eq!(
            ServerVersion::parse(" v2.25.1-beta.2 "),
            Some(ServerVersion::new(2, 25, 1))
        );
        assert_eq!(
            ServerVersion::parse("2.26"),
            Some(ServerVersion::new(2, 26, 0))
        );
        for bad in ["", "2", "2.x.0", "2.1.2.3", "abc"] {
            assert_eq!(ServerVersion::parse(bad), None, "{bad}");
        }
        assert!(!ServerVersion::new(2, 25, 9).has_refresh_tokens());
        assert!(ServerVersion::new(2, 26, 0).has_refresh_tokens());
        assert_eq!(ServerVersion::new(2, 36, 0).to_string(), "2.36.0");
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn a_long_lived_token_is_refreshed_five_minutes_before_its_end() {
        let hour = Some(60 * MIN);
        assert_eq!(refresh_margin(60 * MIN), MAX_REFRESH_MARGIN);
        assert!(!needs_refresh(at(0), hour, at(3600 - 301)));
        assert!(needs_refresh(at(0), hour, at(3600 - 300)));
        assert!(needs_refresh(at(0), hour, at(3600 - 1)));
        assert!(needs_refresh(at(0), hour, at(20_000)));
        assert!(!needs_refresh(at(0), None, at(u32::MAX.into())));
    }

    #[test]
    fn a_short_lived_token_is_refreshed_in_its_last_quarter() {
        let minute = Some(MIN);
        assert_eq!(refresh_margin(MIN), Duration::from_secs(15));
        assert!(!needs_refresh(at(1000), minute, at(1000)));
        assert!(!needs_refresh(at(1000), minute, at(1044)));
        assert!(needs_refresh(at(1000), minute, at(1045)));
        assert!(needs_refresh(at(1000), minute, at(5000)));
        // A clock set back since the token came: it looks young, a rejection refreshes it.
        assert!(!needs_refresh(at(1000), minute, at(10)));
    }

    #[test]
    fn polling_every_five_seconds_for_three_minutes_refreshes_a_minute_token_four_times() {
        // The storm of issue 11: a 60 s token asked for every 5 s (the window's poll).
        let lifetime = Some(MIN);
        let mut received = at(0);
        let mut refreshes = Vec::new();
        for t in (0..=180).step_by(5) {
            if needs_refresh(received, lifetime, at(t)) {
                received = at(t);
                refreshes.push(t);
            }
        }
        assert_eq!(refreshes, [45, 90, 135, 180]);
        assert!(refreshes.windows(2).all(|w| w[1] - w[0] >= 30));
    }

    #[test]
    fn refreshes_after_rejections_are_one_per_half_lifetime() {
        let minute = Some(MIN);
        assert_eq!(rejected_refresh_wait(minute, None, at(50)), None);
        assert_eq!(
            rejected_refresh_wait(minute, Some(at(50)), at(50)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            rejected_refresh_wait(minute, Some(at(50)), at(70)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(rejected_refresh_wait(minute, Some(at(50)), at(80)), None);
        assert_eq!(rejected_refresh_wait(minute, Some(at(50)), at(20)), None);
        // Tokens that do not expire are re-authorized, which is not rate-limited.
        assert_eq!(rejected_refresh_wait(None, Some(at(50)), at(50)), None);
    }

    #[test]
    fn sessions_read_the_expiry_without_verifying() {
        let body = format!(
            r#"{{"user":{{"id":"u1","username":"alice","type":"admin","isActive":true,
                "token":"legacy","accessToken":"{}","refreshToken":"r1"}},
                "serverSettings":{{"version":"2.36.0"}}}}"#,
            jwt(r#"{"userId":"u1","type":"access","iat":1000,"exp":4600}"#).expose()
        );
        let s = session_from(body.as_bytes(), TokenSource::Login, at(1001)).unwrap();
        assert_eq!(s.access_expires_at, Some(at(4600)));
        assert_eq!(s.access_lifetime, Some(Duration::from_secs(3600)));
        assert_eq!(s.received_at, at(1001));
        assert_eq!(s.refresh, Some(Secret::new("r1")));
        assert!(s.is_admin());
        assert_eq!(s.server_version, Some(ServerVersion::new(2, 36, 0)));
        assert_eq!(s.long_lived_credential(), Some(&Secret::new("r1")));
        assert!(s.needs_refresh(at(4301)));
        assert!(!s.needs_refresh(at(4300)));
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("r1") && !debug.contains("legacy"),
            "{debug}"
        );
    }

    #[test]
    fn legacy_login_uses_the_non_expiring_token() {
        let body = r#"{"user":{"id":"u1","username":"bob","type":"user","isActive":true,"token":"legacy"}}"#;
        let s = session_from(body.as_bytes(), TokenSource::Login, at(0)).unwrap();
        assert_eq!(s.access, Secret::new("legacy"));
        assert_eq!(s.access_expires_at, None);
        assert_eq!(s.refresh, None);
        assert_eq!(s.long_lived_credential(), Some(&Secret::new("legacy")));
        assert!(!s.needs_refresh(at(u32::MAX.into())));
    }

    #[test]
    fn lying_replies_are_errors() {
        let cases: [&[u8]; 5] = [
            b"<!DOCTYPE html><html>login</html>",
            b"{}",
            b"{\"user\":{\"id\":\"u1\",\"username\":\"a\",\"type\":\"user\",\"isActive\":true}}",
            b"{\"user\":{\"id\":\"u1\",\"username\":\"a\",\"type\":\"user\",\"isActive\":true,\"accessToken\":\"not-a-jwt\"}}",
            b"\xff\xfe",
        ];
        for body in cases {
            let err = session_from(body, TokenSource::Login, at(0)).unwrap_err();
            assert_eq!(err.code(), "bad_reply", "{err:?}");
        }
        let no_access =
            br#"{"user":{"id":"u1","username":"a","type":"user","isActive":true,"token":"t"}}"#;
        assert_eq!(
            session_from(no_access, TokenSource::Refresh, at(0))
                .unwrap_err()
                .code(),
            "bad_reply"
        );
    }

    #[test]
    fn decode_errors_never_echo_the_body() {
        let body = br#"{"user":{"id":5,"username":"secret-looking-value"}}"#;
        let err = session_from(body, TokenSource::Login, at(0)).unwrap_err();
        assert!(!err.to_string().contains("secret-looking"), "{err}");
    }

    #[test]
    fn refresh_tokens_are_told_apart_from_legacy_tokens_and_keys() {
        assert!(is_refresh_token(&jwt(r#"{"userId":"u","type":"refresh"}"#)));
        assert!(!is_refresh_token(&jwt(r#"{"userId":"u","iat":1}"#)));
        assert!(!is_refresh_token(&jwt(r#"{"keyId":"k","type":"api"}"#)));
        assert!(!is_refresh_token(&Secret::new("opaque")));
    }

    #[test]
    fn expiry_out_of_range_is_refused() {
        assert!(token_timing(&jwt(r#"{"exp":-5}"#), at(0)).is_err());
        assert!(token_timing(&jwt(r#"{"exp":1e300}"#), at(0)).is_err());
        assert!(token_timing(&jwt(r#"{"iat":-1,"exp":5}"#), at(0)).is_err());
        assert_eq!(token_timing(&jwt(r#"{"iat":5}"#), at(0)).unwrap(), None);
    }

    #[test]
    fn the_lifetime_comes_from_iat_or_from_arrival() {
        // iat and exp: the server's clock does not matter, only their difference.
        assert_eq!(
            token_timing(&jwt(r#"{"iat":100,"exp":160}"#), at(9_999)).unwrap(),
            Some((at(160), MIN))
        );
        // No iat: what is left at arrival.
        assert_eq!(
            token_timing(&jwt(r#"{"exp":160}"#), at(100)).unwrap(),
            Some((at(160), MIN))
        );
        // A token that lives no time at all would make every use a refresh: refused.
        for claims in [r#"{"iat":160,"exp":160}"#, r#"{"iat":170,"exp":160}"#] {
            let err = token_timing(&jwt(claims), at(0)).unwrap_err();
            assert_eq!(err.code(), "bad_reply", "{claims}");
        }
        let err = token_timing(&jwt(r#"{"exp":160}"#), at(200)).unwrap_err();
        assert!(err.to_string().contains("clock"), "{err}");
    }

    #[test]
    fn tls_messages_are_classified() {
        let openssl = "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:2091: (self-signed certificate)";
        assert_eq!(
            tls_error(openssl, "h"),
            AuthError::UntrustedCertificate {
                reason: "self-signed certificate".into()
            }
        );
        assert_eq!(tls_error("wrong version number", "h").code(), "tls");
        let mismatch = "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:2091: (hostname mismatch)";
        let err = tls_error(mismatch, "abs.lan");
        assert_eq!(err.code(), "tls_host_mismatch");
        assert!(err.to_string().contains("abs.lan"), "{err}");
        assert_eq!(
            tls_error(
                "certificate verify failed (IP address mismatch)",
                "10.0.0.2"
            )
            .code(),
            "tls_host_mismatch"
        );
    }

    #[test]
    fn codes_and_messages() {
        let e = AuthError::RateLimited {
            retry_after: Some(Duration::from_secs(90)),
        };
        assert_eq!(e.code(), "rate_limited");
        assert_eq!(
            e.to_string(),
            "too many sign-in attempts; try again in 2 minutes"
        );
        let e = AuthError::RefreshRejected {
            reason: "Invalid refresh token".into(),
        };
        assert!(e.sign_in_required());
        assert!(!AuthError::Timeout.sign_in_required());
        let store = AuthError::from(StoreError::Locked {
            detail: String::new(),
        });
        assert_eq!(store.code(), "keyring_locked");
        assert_eq!(store.to_string(), "the system keyring is locked");
        assert_eq!(
            shorten(&"x".repeat(500)).chars().count(),
            MAX_ECHO_CHARS + 1
        );
    }
}
