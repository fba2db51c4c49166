//! The panic hook in a real process: a child (this test binary again) installs it and panics
//! with a token in the message, backtraces switched on; its stderr must name the location and
//! show `[redacted]` instead of the token, with no backtrace.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::process::Command;

use abs_tray_core::panic_hook;

/// Set in the child process of [`a_panic_prints_its_location_and_no_secret`].
const CHILD_ENV: &str = "ABS_TRAY_PANIC_TEST_CHILD";
/// The child test's name, for `--exact`.
const CHILD_TEST: &str = "child_panics_with_a_token";
/// A refresh token as ABS mints them.
const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VySWQiOiI5ZjJjIiwidXNlcm5hbWUiOiJyb290IiwianRpIjoiYTFiMiIsInR5cGUiOiJyZWZyZXNoIiwiaWF0IjoxNzAwMDAwMDAwfQ.Xq2x6bH0pVt3rT1kQmZ8sN4yW7cL5dJ9aF0gE2hU6iO";
/// An API key printed after `Bearer`.
const API_KEY: &str = "k3y-0f-the-admin-9a8b7c6d5e";
/// The line of the child's `panic!`, filled in by the child's own `line!()`.
const LINE_MARKER: &str = "panic line ";

#[test]
fn a_panic_prints_its_location_and_no_secret() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            CHILD_TEST,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        // The default hook would print a backtrace with these; ours must not.
        .env("RUST_BACKTRACE", "full")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the child test was meant to panic; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let line = stdout
        .lines()
        // libtest prints the test's name on the same line first.
        .find_map(|l| l.split_once(LINE_MARKER).map(|(_, line)| line.trim()))
        .unwrap_or_else(|| panic!("the child did not say where it panics:\n{stdout}"));
    let location = format!("tests/panic_hook.rs:{line}:");
    assert!(
        stderr.contains(&location),
        "stderr names {location}:\n{stderr}"
    );
    assert!(
        stderr.contains("[redacted]"),
        "stderr shows the redaction:\n{stderr}"
    );
    assert!(
        stderr.contains("refresh failed for root"),
        "the message's ordinary words stay:\n{stderr}"
    );
    for secret in [
        TOKEN,
        API_KEY,
        "Xq2x6bH0pVt3rT1kQmZ8sN4yW7cL5dJ9aF0gE2hU6iO",
    ] {
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{secret} reached the output:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("stack backtrace") && !stderr.contains("panic_hook::report"),
        "no backtrace is printed:\n{stderr}"
    );
}

/// The body of [`a_panic_prints_its_location_and_no_secret`], run only in its child process.
#[test]
#[ignore = "run by a_panic_prints_its_location_and_no_secret in a child process"]
fn child_panics_with_a_token() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("1") {
        return;
    }
    panic_hook::install();
    println!("{LINE_MARKER}{}", line!() + 1);
    panic!("refresh failed for root with {TOKEN}; header was Authorization: Bearer {API_KEY}");
}
