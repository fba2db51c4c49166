//! `login` and `logout`: the app's sign-in through [`TokenManager`] with the real keyring; the
//! settings file gets the server, user name, sign-in kind and trust choice, never a secret.
//!
//! Login checks what it was given before any request (address, user name, CA file, fingerprint),
//! signs in, saves the settings and then opens the live connection once: a reverse proxy that
//! refuses WebSockets would otherwise leave a sign-in that never receives an event. When the
//! settings cannot be saved, the sign-in is undone (server session ended, keyring entry deleted),
//! so a failed login leaves nothing behind.
//!
//! Logout ends the server session, deletes the keyring entry and clears the user name from the
//! settings (nothing then refers to a credential that is gone), but keeps the server address and
//! its trust settings, so the next `login` needs no URL. It succeeds once the credential is gone,
//! even when the settings cannot be updated (a warning says so; the next logout is then harmless).

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use abs_tray_core::auth::{AbsClient, Session, TokenManager, discover_first};
use abs_tray_core::config::AuthKind;
use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::{Scheme, ServerUrl};
use abs_tray_core::socket::{Socket, SocketError};
use abs_tray_core::tls::{TlsConfig, TlsOptions, pin_presented, same_fingerprint};
use abs_tray_core::token_store::Account;

use crate::LoginArgs;
use crate::error::CliError;
use crate::output;
use crate::setup::{self, Config};

/// Longest line read from standard input as a password or key.
const MAX_SECRET_BYTES: u64 = 64 * 1024;
/// How long logout waits for the server before it just deletes the local credential.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long login's one try of the live connection may take.
const LIVE_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why API keys need an exchange, shown after an API-key sign-in.
const API_KEY_NOTE: &str = "Note: API keys cannot open the live socket themselves. ABS Tray \
exchanges the key via /api/authorize for the user's legacy token, which the socket accepts; the \
key stays in the system keyring and is exchanged again at each start.";

/// What a reverse proxy must do so the live connection opens, in one sentence.
pub const PROXY_FIX: &str = "the reverse proxy in front of it must pass the Upgrade and Connection \
headers for /socket.io (nginx: proxy_set_header Upgrade $http_upgrade; proxy_set_header \
Connection \"upgrade\";); run `abs-tray-cli doctor` to check";

/// `abs-tray-cli login [URL] (--username NAME [--password-stdin] | --api-key-stdin)
/// [--ca-file PEM | --pin-sha256 HEX]`.
pub async fn login(args: LoginArgs) -> Result<(), CliError> {
    if let Some(username) = &args.username {
        check_username(username)?;
    }
    let mut config = Config::load()?;
    let candidates = match (&args.url, &config.settings.server_url) {
        (Some(typed), _) => ServerUrl::candidates(typed)?,
        (None, Some(saved)) => vec![saved.clone()],
        (None, None) => {
            return Err(CliError::Usage(
                "give the server address: abs-tray-cli login URL --username NAME".into(),
            ));
        }
    };
    let chosen = trust_choice(&args, &candidates)?;
    let kind = if args.api_key_stdin {
        AuthKind::ApiKey
    } else {
        AuthKind::Password
    };
    let secret = read_secret(&args, &candidates[0])?;

    let (candidates, tls, trust) = match chosen {
        Some(choice) => {
            let (url, options) = choice.apply(config.file.dir()).await?;
            let tls = options.build(config.file.dir()).map_err(CliError::from)?;
            (vec![url], tls, Some(options))
        }
        None => {
            let tls = config.trust_for(&candidates[0])?;
            (candidates, tls, None)
        }
    };
    let found = discover_first(&candidates, &tls).await?;
    let client = AbsClient::new(found.url.clone(), &tls)?;
    let (manager, session) = match kind {
        AuthKind::Password => {
            let username = args.username.clone().unwrap_or_default();
            let manager = TokenManager::new(
                client,
                setup::keyring(),
                Account::new(&found.url, &username),
            );
            let session = manager.sign_in(&secret).await?;
            (manager, session)
        }
        AuthKind::ApiKey => {
            // The key names its user: ask the server whose it is, then store it under that name.
            let owner = client.authorize(&secret).await?;
            let manager = TokenManager::new(
                client,
                setup::keyring(),
                Account::new(&found.url, &owner.username),
            );
            let session = manager.sign_in_with_api_key(&secret).await?;
            (manager, session)
        }
    };

    let previous = config.account().ok();
    let mut settings = config.settings.clone();
    match trust {
        Some(options) => settings.tls = options,
        // Trust settings belong to the server they were made for.
        None if !settings.is_saved_server(&found.url) => settings.tls = TlsOptions::default(),
        None => {}
    }
    settings.server_url = Some(found.url.clone());
    settings.username = Some(manager.account().username.clone());
    settings.auth_kind = kind;
    // Signing in again as the saved account changes nothing on disk: nothing to write.
    if settings != config.settings {
        if let Err(e) = config.file.save(&settings) {
            undo_sign_in(&manager).await;
            return Err(CliError::Failed(format!(
                "{e}; the sign-in was undone, nothing was kept"
            )));
        }
        config.settings = settings;
    }
    forget_previous(previous, manager.account()).await;

    let version = session
        .server_version
        .or(found.info.version)
        .map_or_else(|| "unknown version".to_owned(), |v| v.to_string());
    print_signed_in(&found.url, &session, kind, &version, &config)?;
    live_check(&found.url, &tls).await
}

/// Refuses a user name that cannot be anyone's before it costs a rate-limited sign-in attempt.
/// The name is not echoed: it may hold terminal control sequences.
fn check_username(username: &str) -> Result<(), CliError> {
    if username.trim().is_empty() {
        return Err(CliError::Usage("the user name is empty".into()));
    }
    if username.chars().any(char::is_control) {
        return Err(CliError::Usage(
            "the user name contains a control character (a line break, tab or escape)".into(),
        ));
    }
    Ok(())
}

/// A trust choice made on the command line, checked before any request but the certificate fetch.
enum TrustChoice {
    /// `--ca-file`: also trust the CAs in this file (an absolute path).
    Ca {
        /// Where to connect (https).
        url: ServerUrl,
        /// The CA file, absolute so the saved setting works from any folder.
        file: PathBuf,
    },
    /// `--pin-sha256`: trust exactly the certificate with this fingerprint.
    Pin {
        /// Where to connect (https).
        url: ServerUrl,
        /// The fingerprint given.
        fingerprint: String,
    },
}

/// Reads `--ca-file` / `--pin-sha256`; both need an https address (a bare host means https).
fn trust_choice(
    args: &LoginArgs,
    candidates: &[ServerUrl],
) -> Result<Option<TrustChoice>, CliError> {
    if args.ca_file.is_none() && args.pin_sha256.is_none() {
        return Ok(None);
    }
    let url = candidates
        .iter()
        .find(|url| url.scheme() == Scheme::Https)
        .cloned()
        .ok_or_else(|| {
            CliError::Usage(
                "--ca-file and --pin-sha256 need an https:// address: plain http has no certificate"
                    .into(),
            )
        })?;
    if let Some(file) = &args.ca_file {
        let file = std::path::absolute(file).map_err(|e| {
            CliError::Usage(format!("cannot use the CA file {}: {e}", file.display()))
        })?;
        // Read now: a wrong file is a usage error, found before anything is sent.
        TlsOptions {
            extra_ca_pem: Some(file.clone()),
            pinned_cert_sha256: None,
        }
        .build(Path::new(""))
        .map_err(|e| CliError::Usage(e.to_string()))?;
        return Ok(Some(TrustChoice::Ca { url, file }));
    }
    let fingerprint = args.pin_sha256.clone().unwrap_or_default();
    // A fingerprint equals itself exactly when it is well formed.
    if !same_fingerprint(&fingerprint, &fingerprint) {
        return Err(CliError::Usage(
            "--pin-sha256 takes the certificate's SHA-256 fingerprint: 64 hex digits, colons allowed (abs-tray-cli doctor shows it)".into(),
        ));
    }
    Ok(Some(TrustChoice::Pin { url, fingerprint }))
}

impl TrustChoice {
    /// The address and the trust settings to sign in with; pinning fetches the server's
    /// certificate and stores it in `config_dir` only when it has the given fingerprint.
    async fn apply(self, config_dir: &Path) -> Result<(ServerUrl, TlsOptions), CliError> {
        match self {
            Self::Ca { url, file } => Ok((
                url,
                TlsOptions {
                    extra_ca_pem: Some(file),
                    pinned_cert_sha256: None,
                },
            )),
            Self::Pin { url, fingerprint } => {
                let options = pin_presented(config_dir, &url, &fingerprint).await?;
                Ok((url, options))
            }
        }
    }
}

/// Ends the server session and deletes the keyring entry of a sign-in that could not be saved;
/// what could not be undone is said on stderr.
async fn undo_sign_in(manager: &TokenManager) {
    match tokio::time::timeout(LOGOUT_TIMEOUT, manager.sign_out()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!(
            "warning: {}",
            output::one_line(&format!(
                "the new sign-in could not be removed from the system keyring: {e}"
            ))
        ),
        Err(_) => {
            tracing::warn!("the server did not answer the logout in time");
            if let Err(e) = setup::keyring().delete(manager.account()).await {
                eprintln!(
                    "warning: {}",
                    output::one_line(&format!(
                        "the new sign-in could not be removed from the system keyring: {e}"
                    ))
                );
            }
        }
    }
}

/// Opens the live connection once, as `watch` and the app will: a server (or proxy) that refuses
/// it leaves the sign-in useless, which must be said now rather than by a silent `watch`.
async fn live_check(url: &ServerUrl, tls: &TlsConfig) -> Result<(), CliError> {
    let socket_url = url.socket_url();
    // The time limit covers every step: name, connection, upgrade, namespace join.
    let error = match Socket::connect(&socket_url, Some(tls.connector()), LIVE_CHECK_TIMEOUT).await
    {
        Ok(socket) => {
            socket.close().await;
            return Ok(());
        }
        Err(error) => error,
    };
    tracing::debug!(%error, "the live connection check failed");
    Err(CliError::LiveRefused(live_failure(&error)))
}

/// One sentence for a failed live connection after a successful sign-in.
fn live_failure(error: &SocketError) -> String {
    let text = error.to_string();
    if websocket_refused(&text) {
        format!(
            "signed in and kept, but the server refuses the live connection (WebSocket), so no \
             events will arrive: {PROXY_FIX}"
        )
    } else {
        format!(
            "signed in and kept, but the live connection did not open ({}); run `abs-tray-cli \
             doctor` to see why",
            output::one_line(&text)
        )
    }
}

/// Whether a WebSocket open failed because the HTTP server answered the upgrade with a refusal
/// (engine.io's 400 when `Upgrade`/`Connection` were dropped, or 426), the proxy fault.
pub fn websocket_refused(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("http error: 400") || lower.contains("http error: 426")
}

/// Prints who signed in, where, how the connection travels, and where things were kept.
fn print_signed_in(
    url: &ServerUrl,
    session: &Session,
    kind: AuthKind,
    version: &str,
    config: &Config,
) -> Result<(), CliError> {
    let role = if session.is_admin() {
        "admin"
    } else {
        "not an admin"
    };
    let how = match kind {
        AuthKind::Password => "",
        AuthKind::ApiKey => " with an API key",
    };
    output::line(&format!(
        "Signed in to {url}{how} as {} ({role}).",
        output::one_line(&session.username)
    ))?;
    output::line(&format!("Server: Audiobookshelf {version}."))?;
    if let Some(note) = url.transport_note() {
        output::line(&note)?;
    }
    let kept = match (kind, &session.refresh) {
        (AuthKind::ApiKey, _) => "the API key",
        (AuthKind::Password, Some(_)) => "the refresh token",
        (AuthKind::Password, None) => {
            "the server's non-expiring legacy token (this server predates 2.26)"
        }
    };
    output::line(&format!(
        "Saved: {kept} in the system keyring; server and user name in {}.",
        config.file.path().display()
    ))?;
    if kind == AuthKind::ApiKey {
        output::line(API_KEY_NOTE)?;
    }
    Ok(())
}

/// After switching to another account, removes the old account's keyring entry: settings hold
/// one account, so nothing would ever use or delete it otherwise.
async fn forget_previous(previous: Option<(ServerUrl, String)>, current: &Account) {
    let Some((url, username)) = previous else {
        return;
    };
    let old = Account::new(&url, &username);
    if &old != current
        && let Err(e) = setup::keyring().delete(&old).await
    {
        tracing::warn!(
            code = e.code(),
            "could not delete the previous account's credential: {e}"
        );
    }
}

/// The password or API key: from standard input when asked, else a prompt on a terminal.
fn read_secret(args: &LoginArgs, url: &ServerUrl) -> Result<Secret, CliError> {
    let what = if args.api_key_stdin {
        "API key"
    } else {
        "password"
    };
    if args.password_stdin || args.api_key_stdin {
        return read_stdin_line(what);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "standard input is not a terminal: pipe the password in with --password-stdin (or an API key with --api-key-stdin)".into(),
        ));
    }
    let username = args.username.as_deref().unwrap_or_default();
    let prompt = format!("Password for {} at {url}: ", output::one_line(username));
    let password = rpassword::prompt_password(prompt)
        .map_err(|e| CliError::Failed(format!("cannot read the password: {e}")))?;
    non_empty(Secret::new(password), what)
}

/// The first line of standard input, without its line ending.
fn read_stdin_line(what: &str) -> Result<Secret, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(MAX_SECRET_BYTES)
        .read_line(&mut line)
        .map_err(|e| {
            CliError::Failed(format!("cannot read the {what} from standard input: {e}"))
        })?;
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    non_empty(Secret::new(trimmed), what)
}

/// Refuses an empty secret before it costs a rate-limited sign-in attempt.
fn non_empty(secret: Secret, what: &str) -> Result<Secret, CliError> {
    if secret.expose().is_empty() {
        Err(CliError::Usage(format!("the {what} is empty")))
    } else {
        Ok(secret)
    }
}

/// `abs-tray-cli logout`.
pub async fn logout() -> Result<(), CliError> {
    let mut config = Config::load()?;
    let Ok((url, username)) = config.account() else {
        output::line("Not signed in; nothing to do.")?;
        return Ok(());
    };
    let account = Account::new(&url, &username);
    match config.manager() {
        Ok(manager) => match tokio::time::timeout(LOGOUT_TIMEOUT, manager.sign_out()).await {
            Ok(result) => result?,
            Err(_) => {
                tracing::warn!("the server did not answer the logout in time");
                setup::keyring().delete(&account).await?;
            }
        },
        // Without usable trust settings the server cannot be told; the local credential still goes.
        Err(e) => {
            tracing::warn!(
                "cannot reach the server to end its session: {}",
                e.message().unwrap_or("unknown reason")
            );
            setup::keyring().delete(&account).await?;
        }
    }
    config.settings.username = None;
    // Signed out is signed out: the credential is gone whatever the settings file does.
    if let Err(e) = config.file.save(&config.settings) {
        eprintln!(
            "warning: {}",
            output::one_line(&format!(
                "{e}; it still names {username}, which is harmless (the credential is gone)"
            ))
        );
    }
    output::line(&format!(
        "Signed out {} from {url}: the credential was deleted from the system keyring. The server address is kept for the next login.",
        output::one_line(&username)
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_that_cannot_be_anyones_are_usage_errors() {
        for bad in ["", "  ", "ali\nce", "bob\u{1b}[2J", "tab\there", "nul\0"] {
            let err = check_username(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
        // The name is not echoed: it could drive the terminal.
        let err = check_username("bob\u{1b}[2J").unwrap_err();
        assert!(!err.message().unwrap().contains('\u{1b}'));
        for good in ["root", "Émile Zola", "a.b-c_d@e"] {
            check_username(good).unwrap();
        }
    }

    #[test]
    fn the_proxy_fault_is_told_apart() {
        assert!(websocket_refused(
            "could not open the WebSocket: HTTP error: 400 Bad Request"
        ));
        assert!(!websocket_refused(
            "could not open the WebSocket: IO error: Connection refused (os error 111)"
        ));
        let said = live_failure(&SocketError::Connect("HTTP error: 400 Bad Request".into()));
        assert!(
            said.contains("proxy_set_header Upgrade $http_upgrade")
                && said.contains("abs-tray-cli doctor"),
            "{said}"
        );
    }
}
