//! `login` and `logout`: the app's sign-in through [`TokenManager`] with the real keyring; the
//! settings file gets the server, user name and sign-in kind, never a secret.
//!
//! Logout ends the server session, deletes the keyring entry and clears the user name from the
//! settings (nothing then refers to a credential that is gone), but keeps the server address and
//! its trust settings, so the next `login` needs no URL.

use std::io::{BufRead, IsTerminal, Read};
use std::time::Duration;

use abs_tray_core::auth::{AbsClient, Session, TokenManager, discover};
use abs_tray_core::config::AuthKind;
use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsOptions;
use abs_tray_core::token_store::Account;

use crate::LoginArgs;
use crate::error::CliError;
use crate::output;
use crate::setup::{self, Config};

/// Longest line read from standard input as a password or key.
const MAX_SECRET_BYTES: u64 = 64 * 1024;
/// How long logout waits for the server before it just deletes the local credential.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why API keys need an exchange, shown after an API-key sign-in.
const API_KEY_NOTE: &str = "Note: API keys cannot open the live socket themselves. ABS Tray \
exchanges the key via /api/authorize for the user's legacy token, which the socket accepts; the \
key stays in the system keyring and is exchanged again at each start.";

/// `abs-tray-cli login [URL] (--username NAME [--password-stdin] | --api-key-stdin)`.
pub async fn login(args: LoginArgs) -> Result<(), CliError> {
    let mut config = Config::load()?;
    let url = match (&args.url, &config.settings.server_url) {
        (Some(url), _) | (None, Some(url)) => url.clone(),
        (None, None) => {
            return Err(CliError::Usage(
                "give the server address: abs-tray-cli login URL --username NAME".into(),
            ));
        }
    };
    let kind = if args.api_key_stdin {
        AuthKind::ApiKey
    } else {
        AuthKind::Password
    };
    let secret = read_secret(&args, &url)?;

    let tls = config.trust_for(&url)?;
    let found = discover(&url, &tls).await?;
    if let Some(warning) = found.url.insecure_warning() {
        eprintln!("warning: {}", output::one_line(&warning));
    }
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
    let settings = &mut config.settings;
    if !settings
        .server_url
        .as_ref()
        .is_some_and(|saved| saved.same_origin(&found.url))
    {
        // Trust settings belong to the server they were made for.
        settings.tls = TlsOptions::default();
    }
    settings.server_url = Some(found.url.clone());
    settings.username = Some(manager.account().username.clone());
    settings.auth_kind = kind;
    config.file.save(&config.settings)?;
    forget_previous(previous, manager.account()).await;

    let version = session
        .server_version
        .or(found.info.version)
        .map_or_else(|| "unknown version".to_owned(), |v| v.to_string());
    print_signed_in(&found.url, &session, kind, &version, &config)?;
    Ok(())
}

/// Prints who signed in, where, and where things were kept.
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
    config.file.save(&config.settings)?;
    output::line(&format!(
        "Signed out {} from {url}: the credential was deleted from the system keyring. The server address is kept for the next login.",
        output::one_line(&username)
    ))?;
    Ok(())
}
