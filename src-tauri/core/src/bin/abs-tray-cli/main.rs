//! `abs-tray-cli`: ABS Tray from a terminal, on the same code paths as the app: sign in with the
//! system keyring, watch the live connection, sign out, and diagnose a server.
//!
//! Exit codes: 0 ok, 1 failure, 2 usage, 3 sign-in required, 4 server unreachable.

mod diagnose;
mod error;
mod events;
mod login;
mod output;
mod setup;
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use abs_tray_core::server_url::ServerUrl;
use clap::{Args, Parser, Subcommand};

use crate::error::CliError;

/// Environment variable holding the log filter (`warn` when unset), e.g. `ABS_TRAY_LOG=debug`.
const LOG_ENV: &str = "ABS_TRAY_LOG";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "abs-tray-cli",
    version,
    about = "ABS Tray from a terminal: sign in to Audiobookshelf, watch live events, diagnose a server.",
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage, 3 sign-in required, 4 server unreachable.\n\
                  Logs go to stderr; set ABS_TRAY_LOG (e.g. debug) to see more."
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
    /// Server address, e.g. https://abs.example.com (default: the saved one).
    url: Option<ServerUrl>,
    /// The Audiobookshelf user name (not with --api-key-stdin: the key names its user).
    #[arg(short, long, required_unless_present = "api_key_stdin")]
    username: Option<String>,
    /// Read the password from the first line of standard input (else a prompt on a terminal).
    #[arg(long, conflicts_with = "api_key_stdin")]
    password_stdin: bool,
    /// Sign in with an API key read from the first line of standard input.
    #[arg(long, conflicts_with = "username")]
    api_key_stdin: bool,
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
