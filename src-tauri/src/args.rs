//! How ABS Tray was started: its command line and whether there is a desktop to show it on.
//!
//! Both are decided before the Tauri builder runs, so `--help`, `--version` and a usage error
//! print and exit without a display and without handing over to a running instance, and a
//! machine without a desktop gets a sentence instead of GTK's panic.

use std::ffi::{OsStr, OsString};
use std::fmt;

/// The argument the login item starts the app with: stay in the tray, no window.
pub const HIDDEN_ARG: &str = "--hidden";
/// The argument that signs in to the built-in demo server when no account is saved.
pub const DEMO_ARG: &str = "--demo";
/// What `--version` prints.
pub const VERSION: &str = concat!("abs-tray ", env!("CARGO_PKG_VERSION"));
/// What `--help` prints.
pub const USAGE: &str = concat!(
    "ABS Tray ",
    env!("CARGO_PKG_VERSION"),
    ": a desktop tray notifier for Audiobookshelf.\n\
     \n\
     Usage: abs-tray [--hidden] [--demo]\n\
     \n\
     Options:\n  \
       --hidden       Start in the tray without opening the window (launch at login does this)\n  \
       --demo         Sign in to the built-in demo server when no account is saved\n  \
       -h, --help     Print this help and exit\n  \
       -V, --version  Print the version and exit\n\
     \n\
     Only one ABS Tray runs at a time: starting it again opens the running one's window.\n\
     In a terminal, or on a machine without a desktop, use abs-tray-cli instead:\n\
     abs-tray-cli login, abs-tray-cli watch --notify, abs-tray-cli doctor, abs-tray-cli logout.\n"
);
/// The one line printed when there is no desktop to show the app on.
pub const NO_DISPLAY: &str = "ABS Tray needs a desktop session and found none (neither DISPLAY \
     nor WAYLAND_DISPLAY is set); in a terminal, run abs-tray-cli watch --notify instead.";

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    /// Start the app.
    Run(Launch),
    /// Print [`USAGE`] and exit.
    Help,
    /// Print [`VERSION`] and exit.
    Version,
}

/// How to start the app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Launch {
    /// Stay in the tray: no window at start.
    pub hidden: bool,
    /// Sign in to the built-in demo server when no account is saved.
    pub demo: bool,
}

/// A command line ABS Tray does not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// An option that does not exist.
    #[error("Unknown option {0:?}; abs-tray --help lists the options.")]
    UnknownOption(String),
    /// A plain argument: ABS Tray takes none.
    #[error("Unexpected argument {0:?}: abs-tray takes only options (abs-tray --help lists them).")]
    Unexpected(String),
}

/// Reads the arguments after the program name. `--help` and `--version` win over everything
/// after them; the first argument that is not understood is an error.
pub fn parse<I>(args: I) -> Result<Invocation, ArgsError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut launch = Launch::default();
    for arg in args {
        let arg: OsString = arg.into();
        let text = arg.to_string_lossy();
        match text.as_ref() {
            "-h" | "--help" => return Ok(Invocation::Help),
            "-V" | "--version" => return Ok(Invocation::Version),
            HIDDEN_ARG => launch.hidden = true,
            DEMO_ARG => launch.demo = true,
            // macOS passes a process serial number to apps started from the Finder.
            psn if cfg!(target_os = "macos") && psn.starts_with("-psn_") => {}
            option if option.starts_with('-') => {
                return Err(ArgsError::UnknownOption(option.to_owned()));
            }
            other => return Err(ArgsError::Unexpected(other.to_owned())),
        }
    }
    Ok(Invocation::Run(launch))
}

/// Why the app cannot show itself with these `DISPLAY` and `WAYLAND_DISPLAY` values: Linux
/// desktops set one of them; `None` when there is one (or the OS needs neither).
pub fn display_problem(display: Option<&OsStr>, wayland: Option<&OsStr>) -> Option<&'static str> {
    let set = |value: Option<&OsStr>| value.is_some_and(|v| !v.is_empty());
    let needed = cfg!(any(
        target_os = "linux",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd"
    ));
    (needed && !set(display) && !set(wayland)).then_some(NO_DISPLAY)
}

/// The one line printed when GTK cannot open the display it was given.
pub fn display_failed(display: Option<&OsStr>, err: &dyn fmt::Display) -> String {
    let name = display.map_or_else(|| "the display".to_owned(), |d| d.to_string_lossy().into());
    format!(
        "ABS Tray could not open {name} ({err}); check that the desktop session is running, \
         or in a terminal run abs-tray-cli watch --notify instead."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Invocation, ArgsError> {
        parse(args.iter().copied())
    }

    #[test]
    fn no_arguments_start_the_app_with_its_window() {
        assert_eq!(parsed(&[]), Ok(Invocation::Run(Launch::default())));
    }

    #[test]
    fn hidden_and_demo_combine_in_any_order() {
        let both = Invocation::Run(Launch {
            hidden: true,
            demo: true,
        });
        assert_eq!(parsed(&["--hidden", "--demo"]), Ok(both));
        assert_eq!(parsed(&["--demo", "--hidden", "--demo"]), Ok(both));
        assert_eq!(
            parsed(&["--hidden"]),
            Ok(Invocation::Run(Launch {
                hidden: true,
                demo: false
            }))
        );
    }

    #[test]
    fn help_and_version_win_over_other_options() {
        for help in ["-h", "--help"] {
            assert_eq!(parsed(&[help]), Ok(Invocation::Help));
            assert_eq!(parsed(&["--hidden", help]), Ok(Invocation::Help));
        }
        for version in ["-V", "--version"] {
            assert_eq!(parsed(&[version]), Ok(Invocation::Version));
            assert_eq!(
                parsed(&["--demo", version, "--help"]),
                Ok(Invocation::Version)
            );
        }
        assert!(VERSION.starts_with("abs-tray "));
    }

    #[test]
    fn anything_else_is_a_usage_error() {
        assert_eq!(
            parsed(&["--frobnicate"]),
            Err(ArgsError::UnknownOption("--frobnicate".into()))
        );
        assert_eq!(parsed(&["-x"]), Err(ArgsError::UnknownOption("-x".into())));
        assert_eq!(
            parsed(&["--hidden=yes"]),
            Err(ArgsError::UnknownOption("--hidden=yes".into()))
        );
        assert_eq!(
            parsed(&["--hidden", "https://abs.example.com"]),
            Err(ArgsError::Unexpected("https://abs.example.com".into()))
        );
        // The first bad argument is reported, even before a later --help.
        assert_eq!(
            parsed(&["--bad", "--help"]),
            Err(ArgsError::UnknownOption("--bad".into()))
        );
        let message = ArgsError::UnknownOption("--bad".into()).to_string();
        assert!(
            message.contains("--bad") && message.contains("--help"),
            "{message}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn arguments_that_are_not_utf8_are_errors_not_panics() {
        use std::os::unix::ffi::OsStringExt as _;
        let bad = OsString::from_vec(vec![b'-', b'-', 0xff, 0xfe]);
        assert!(matches!(parse([bad]), Err(ArgsError::UnknownOption(_))));
        let plain = OsString::from_vec(vec![0xff]);
        assert!(matches!(parse([plain]), Err(ArgsError::Unexpected(_))));
    }

    #[test]
    fn help_names_the_options_and_the_cli() {
        for needle in [
            "--hidden",
            "--demo",
            "--help",
            "--version",
            "abs-tray-cli watch --notify",
        ] {
            assert!(USAGE.contains(needle), "usage lacks {needle}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_desktop_is_either_x11_or_wayland() {
        let x = Some(OsStr::new(":0"));
        let wayland = Some(OsStr::new("wayland-0"));
        let empty = Some(OsStr::new(""));
        assert_eq!(display_problem(x, None), None);
        assert_eq!(display_problem(None, wayland), None);
        assert_eq!(display_problem(empty, wayland), None);
        assert_eq!(display_problem(None, None), Some(NO_DISPLAY));
        assert_eq!(display_problem(empty, empty), Some(NO_DISPLAY));
        assert!(!NO_DISPLAY.contains('\n'));
        assert!(NO_DISPLAY.contains("abs-tray-cli watch --notify"));
    }

    #[test]
    fn a_display_that_fails_is_named_in_one_line() {
        let line = display_failed(Some(OsStr::new(":99")), &"cannot open display");
        assert!(
            line.contains(":99") && line.contains("cannot open display"),
            "{line}"
        );
        assert!(line.contains("abs-tray-cli watch --notify") && !line.contains('\n'));
    }
}
