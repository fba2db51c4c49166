//! `abs-sim`: runs the Audiobookshelf simulator until Ctrl-C / SIGTERM.

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use abs_sim::{Scenario, ServerVersion, SimConfig, UserSpec};
use clap::Parser;

/// A simulator of an Audiobookshelf 2.36 server (REST + Socket.IO).
#[derive(Parser, Debug)]
#[command(name = "abs-sim", version, about)]
struct Args {
    /// Address to listen on (`:0` picks a free port on 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1:13378")]
    listen: String,
    /// Server version to pretend to be (versions before 2.26.0 behave like old servers).
    #[arg(long, default_value = "2.36.0")]
    server_version: ServerVersion,
    /// Built-in activity: idle, demo or hostile.
    #[arg(long, default_value = "idle")]
    scenario: Scenario,
    /// Extra user NAME:PASS[:admin] (repeatable); root/root always exists.
    #[arg(long = "user")]
    users: Vec<UserSpec>,
    /// Mount the /__sim/ control API.
    #[arg(long)]
    control: bool,
    /// Persist users, the JWT secret, refresh sessions and the library in this directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    access_ttl: u64,
    /// Refresh-token lifetime in seconds.
    #[arg(long, default_value_t = 30 * 24 * 3600)]
    refresh_ttl: u64,
    /// Grace period of a rotated refresh token in seconds.
    #[arg(long, default_value_t = 600)]
    grace: u64,
    /// Requests per IP and 10 minutes to /login and /auth/refresh (0 = unlimited).
    #[arg(long, default_value_t = 40)]
    auth_rate_limit: u32,
}

fn parse_listen(s: &str) -> anyhow::Result<SocketAddr> {
    let s = if s.starts_with(':') {
        format!("127.0.0.1{s}")
    } else {
        s.to_string()
    };
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    s.to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow::anyhow!("cannot resolve listen address {s}"))
}

async fn terminated() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .init();

    let args = Args::parse();
    let config = SimConfig {
        listen: parse_listen(&args.listen)?,
        server_version: args.server_version,
        users: args.users,
        control: args.control,
        data_dir: args.data_dir,
        access_ttl: Duration::from_secs(args.access_ttl),
        refresh_ttl: Duration::from_secs(args.refresh_ttl),
        grace: Duration::from_secs(args.grace),
        auth_rate_limit: args.auth_rate_limit,
        scenario: args.scenario,
        ..SimConfig::default()
    };
    let sim = abs_sim::start(config).await?;
    let addr = sim.addr();
    let host = if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let mut stdout = std::io::stdout();
    writeln!(stdout, "abs-sim listening on http://{host}:{}", addr.port())?;
    stdout.flush()?;

    terminated().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}
