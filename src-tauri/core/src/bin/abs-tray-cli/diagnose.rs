//! `doctor`: runs [`abs_tray_core::doctor::diagnose`] with the saved trust settings and, when
//! signed in to that server, the saved sign-in; prints the report and maps it to the exit codes
//! every command uses: 2 for an address that cannot be one (before any request), 4 when the
//! server cannot be reached, 5 when only the live connection (WebSocket) fails, 1 otherwise.

use abs_tray_core::config::Settings;
use abs_tray_core::credentials::SignedIn;
use abs_tray_core::doctor::{self, Report, Step, Verdict};
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsConfig;
use serde::Serialize;

use crate::error::CliError;
use crate::output;
use crate::setup::Config;

/// The `--json` report: the server, the overall verdict and every check.
#[derive(Serialize)]
struct JsonReport<'a> {
    /// The address as understood.
    server: Option<&'a str>,
    /// The worst verdict.
    verdict: Verdict,
    /// Every step.
    checks: &'a [doctor::Check],
}

/// `abs-tray-cli doctor [URL] [--json]`.
pub async fn doctor(url: Option<String>, json: bool) -> Result<(), CliError> {
    // A broken settings file must not stop a diagnosis: it only costs the saved trust and sign-in.
    let config = match Config::load() {
        Ok(config) => Some(config),
        Err(e) => {
            eprintln!(
                "warning: {}; checking without the saved settings",
                output::one_line(e.message().unwrap_or("the settings cannot be read"))
            );
            None
        }
    };
    let saved = config.as_ref().map(|c| &c.settings);
    let input = match (url, saved.and_then(|s| s.server_url.as_ref())) {
        (Some(url), _) => url,
        (None, Some(saved)) => saved.to_string(),
        (None, None) => {
            return Err(CliError::Usage(
                "give the server address: abs-tray-cli doctor URL".into(),
            ));
        }
    };
    // An address that cannot be one is a usage error, as for `login`.
    ServerUrl::candidates(&input)?;
    let parsed = ServerUrl::parse(&input).ok();
    let ours = config
        .as_ref()
        .zip(parsed.as_ref())
        .filter(|(config, url)| config.is_saved_server(url))
        .map(|(config, _)| config);
    let tls = trust(ours)?;
    let signed_in = ours
        .filter(|config| signed_in_here(&config.settings))
        .and_then(|config| config.manager().ok())
        .map(|manager| SignedIn::new(manager, None));

    let report = doctor::diagnose(&input, &tls, signed_in.as_ref()).await;
    if json {
        let line = JsonReport {
            server: report.server.as_deref(),
            verdict: report.verdict(),
            checks: &report.checks,
        };
        output::line(&serde_json::to_string(&line).map_err(std::io::Error::other)?)?;
    } else {
        print_report(&report)?;
    }
    verdict(&report)
}

/// True when the settings name a user (the keyring is asked during the diagnosis).
fn signed_in_here(settings: &Settings) -> bool {
    settings.username.is_some()
}

/// The saved trust settings for the saved server; the system's roots otherwise, or when the
/// saved ones are broken (said on stderr).
fn trust(saved: Option<&Config>) -> Result<TlsConfig, CliError> {
    if let Some(config) = saved {
        match config.settings.tls.build(config.file.dir()) {
            Ok(tls) => return Ok(tls),
            Err(e) => eprintln!(
                "warning: the saved TLS settings cannot be used ({}); checking with the system's trusted certificates only",
                output::one_line(&e.to_string())
            ),
        }
    }
    Ok(TlsConfig::system()?)
}

/// Prints the readable report.
fn print_report(report: &Report) -> std::io::Result<()> {
    let server = report.server.as_deref().unwrap_or("(no valid address)");
    output::line(&format!("ABS Tray doctor: {}", output::one_line(server)))?;
    for check in &report.checks {
        let verdict = match check.verdict {
            Verdict::Ok => "ok",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::Skipped => "skip",
        };
        output::line(&format!(
            "  {verdict:<4}  {:<22} {}",
            check.name.title(),
            output::one_line(&check.detail)
        ))?;
        if let Some(fix) = &check.fix {
            output::line(&format!("{:31}fix: {}", "", output::one_line(fix)))?;
        }
    }
    output::line(&format!("verdict: {}", report.verdict().as_str()))
}

/// The exit code of a report: ok and warnings succeed.
fn verdict(report: &Report) -> Result<(), CliError> {
    let Some(failed) = report.first_failure() else {
        return Ok(());
    };
    // The window's words: the failed step's one sentence, then what was seen.
    let summary = match &failed.headline {
        Some(headline) => format!("{headline} ({}: {})", failed.name.title(), failed.detail),
        None => format!("{}: {}", failed.name.title(), failed.detail),
    };
    if report.unreachable() {
        Err(CliError::Unreachable(summary))
    } else if failed.name == Step::Websocket {
        Err(CliError::LiveRefused(summary))
    } else if failed.name == Step::Address {
        Err(CliError::Usage(summary))
    } else {
        Err(CliError::Failed(summary))
    }
}
