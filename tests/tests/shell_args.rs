//! The `abs-tray` binary's command line, run for real without a desktop (no `DISPLAY`, no
//! `WAYLAND_DISPLAY`): `--help` and `--version` print and exit 0, a bad option is a usage error
//! (exit 2), and starting the app says in one line that there is no desktop (exit 1), never
//! GTK's panic. None of these may start the app or reach a running one, so each must also end
//! on its own: a test that hangs here found a regression.
//!
//! Needs no desktop session; builds `abs-tray` with `cargo build -p abs-tray`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use abs_tray_e2e::desktop::app_binary;

/// What the panic hook (and Rust's default one) prints.
const PANIC_TEXT: &str = "panicked";

/// The built app, built once for all the tests here.
fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(app_binary)
}

/// Runs the app with `args` and no display, in an empty config folder.
fn run_headless(args: &[&str]) -> Output {
    run_with_display(args, None)
}

/// Runs the app with `args`, `DISPLAY` set to `display` (or unset), never Wayland.
fn run_with_display(args: &[&str], display: Option<&str>) -> Output {
    let config = tempfile::tempdir().expect("a config dir");
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("GDK_BACKEND")
        .env("ABS_TRAY_CONFIG_DIR", config.path())
        .env("RUST_BACKTRACE", "1");
    if let Some(display) = display {
        command.env("DISPLAY", display);
    }
    command.output().expect("run abs-tray")
}

/// Stdout and stderr as text.
fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_prints_the_options_and_the_cli_and_exits_0() {
    for flag in ["--help", "-h"] {
        let out = run_headless(&[flag]);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{flag}: {stdout}{stderr}");
        for needle in [
            "Usage: abs-tray",
            "--hidden",
            "--demo",
            "--version",
            "abs-tray-cli",
            "watch --notify",
        ] {
            assert!(
                stdout.contains(needle),
                "{flag} lacks {needle:?}:\n{stdout}"
            );
        }
        assert!(stderr.is_empty(), "{flag} wrote to stderr: {stderr}");
    }
    // --help wins over the options that would start the app.
    let out = run_headless(&["--hidden", "--demo", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(texts(&out).0.contains("Usage: abs-tray"));
}

#[test]
fn version_prints_one_line_and_exits_0() {
    for flag in ["--version", "-V"] {
        let out = run_headless(&[flag]);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{flag}: {stdout}{stderr}");
        assert_eq!(
            stdout,
            format!("abs-tray {}\n", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
        assert!(stderr.is_empty(), "{flag} wrote to stderr: {stderr}");
    }
}

#[test]
fn a_bad_option_is_a_usage_error() {
    for args in [
        &["--frobnicate"][..],
        &["--hidden", "https://abs.example.com"],
    ] {
        let out = run_headless(args);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{args:?} printed {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(args[args.len() - 1]), "{stderr}");
        assert!(stderr.contains("--help"), "{stderr}");
        assert!(!stderr.contains(PANIC_TEXT), "{stderr}");
    }
}

#[test]
fn without_a_desktop_the_app_says_so_in_one_line() {
    for args in [&[][..], &["--hidden"], &["--demo"]] {
        let out = run_headless(args);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{args:?} printed {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("DISPLAY"), "{stderr}");
        assert!(stderr.contains("abs-tray-cli watch --notify"), "{stderr}");
        assert!(!stderr.contains(PANIC_TEXT), "{stderr}");
    }
}

#[test]
fn a_display_that_cannot_be_opened_is_one_line_too() {
    // Nothing serves X display 997 here (the desktop session's Xvfb takes a low number).
    let display = ":997";
    assert!(
        !std::path::Path::new("/tmp/.X11-unix/X997").exists(),
        "an X server runs on {display}: pick another display for this test"
    );
    let out = run_with_display(&[], Some(display));
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(display), "{stderr}");
    assert!(stderr.contains("abs-tray-cli watch --notify"), "{stderr}");
    assert!(!stderr.contains(PANIC_TEXT), "{stderr}");
}
