//! `abs-tray-cli`: ABS Tray from a terminal, on the same code paths as the app: sign in with the
//! system keyring, watch the live connection, sign out, and diagnose a server.
//!
//! Exit codes: one per kind of failure in every command, listed in [`EXIT_CODES`] (`--help`).

mod diagnose;
mod error;
mod events;
mod login;
mod output;
mod setup;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::error::CliError;

/// One exit code per kind of failure, the same in every command (also in the README).
const EXIT_CODES: &str = "Exit codes (the same in every command):
  0  done
  1  failed for another reason: the settings file, the keyring, an untrusted certificate, a
     server that does not behave like Audiobookshelf
  2  usage: the command line or what it names cannot work (an address that is not http(s), an
     empty user name, an unreadable CA file); nothing was sent to the server
  3  sign-in required: wrong password, refused API key, a saved sign-in the server ended
  4  the server cannot be reached (name, connection, time-out)
  5  the live connection (WebSocket) does not open although the server answers, usually a
     reverse proxy that drops the Upgrade headers: `login` signed in and kept the sign-in,
     `doctor` shows the fix";

/// Environment variable holding the log filter (`warn` when unset), e.g. `ABS_TRAY_LOG=debug`.
const LOG_ENV: &str = "ABS_TRAY_LOG";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "abs-tray-cli",
    version,
    about = "ABS Tray from a terminal: sign in to Audiobookshelf, watch live events, diagnose a server.",
    after_help = format!(
        "Logs go to stderr; set {LOG_ENV} (e.g. debug) to see more.\n\n{EXIT_CODES}"
    )
)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Sign in and keep the credential in the system keyring (settings keep no secret).
    Login(LoginArgs),
    /// Connect with the saved sign-in; print status changes and events until Ctrl-C.
    Watch {
        /// One JSON object per line instead of readable lines.
        #[arg(long)]
        json: bool,
        /// Also show the notifications as desktop popups (a headless notifier without the tray).
        #[arg(long)]
        notify: bool,
    },
    /// Sign out: end the server session and delete the credential from the keyring.
    Logout,
    /// Check step by step what stands between ABS Tray and a server, and what to fix.
    Doctor {
        /// Server address (default: the saved one).
        url: Option<String>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `login`.
#[derive(Debug, Args)]
struct LoginArgs {
    /// Server address as you open it, e.g. https://abs.example.com or 192.168.1.5:13378 (without
    /// a scheme https is tried, then plain http); default: the saved one.
    url: Option<String>,
    /// The Audiobookshelf user name (not with --api-key-stdin: the key names its user).
    #[arg(short, long, required_unless_present = "api_key_stdin")]
    username: Option<String>,
    /// Read the password from the first line of standard input (else a prompt on a terminal).
    #[arg(long, conflicts_with = "api_key_stdin")]
    password_stdin: bool,
    /// Sign in with an API key read from the first line of standard input.
    #[arg(long, conflicts_with = "username")]
    api_key_stdin: bool,
    /// Also trust the CA certificates in this PEM file (a private CA); saved as `tls.extra_ca_pem`.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Trust exactly the certificate with this SHA-256 fingerprint (a self-signed server; `doctor`
    /// shows it); saved as `tls.pinned_cert_sha256`.
    #[arg(long, value_name = "HEX", conflicts_with = "ca_file")]
    pin_sha256: Option<String>,
}

fn main() -> ExitCode {
    abs_tray_core::panic_hook::install();
    // clap exits by itself on usage errors, with code 2 (0 for --help and --version).
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return report(&CliError::Failed(format!("cannot start: {e}"))),
    };
    let result = runtime.block_on(run(cli.command));
    // A keyring call stuck on D-Bus must not keep the process alive after the answer.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error),
    }
}

/// Runs one subcommand.
async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Login(args) => login::login(args).await,
        Command::Watch { json, notify } => watch::watch(json, notify).await,
        Command::Logout => login::logout().await,
        Command::Doctor { url, json } => diagnose::doctor(url, json).await,
    }
}

/// Prints the error as one line on stderr and returns its exit code.
fn report(error: &CliError) -> ExitCode {
    if let Some(message) = error.message() {
        eprintln!("error: {}", output::one_line(message));
    }
    ExitCode::from(error.exit_code())
}

/// Logs to stderr, filtered by `ABS_TRAY_LOG` (default `warn`; a bad filter also means `warn`).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal; a redirected log stays greppable.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .finish()
        .with(abs_tray_core::logging::without_raw_traffic())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_shows_the_exit_codes_of_help() {
        let readme = include_str!("../../../../../README.md");
        assert!(
            readme.contains(EXIT_CODES),
            "README.md's CLI section must show EXIT_CODES verbatim"
        );
        let help = <Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(help.contains(EXIT_CODES), "{help}");
    }
}
