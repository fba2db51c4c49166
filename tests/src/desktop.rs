//! What every test of the real app needs: the private desktop session, the workspace's target
//! folder and the `abs-tray` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Fails (never skips) outside the private desktop session.
pub fn require_desktop_session() {
    assert!(
        std::env::var("ABS_TRAY_DESKTOP_SESSION").as_deref() == Ok("1"),
        "this test needs Xvfb, the private keyring and dunst: run it through \
         scripts/desktop-session.sh (make test does)"
    );
}

/// The workspace root (this crate is `tests/` in it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Cargo's target folder, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Builds the app (a no-op when `make test` or `cargo test --workspace` already did; it is not a
/// default workspace member) and returns the path of the debug binary.
pub fn app_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "-p", "abs-tray"])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo build -p abs-tray");
    assert!(
        out.status.success(),
        "cargo build -p abs-tray failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let binary = target_dir().join(format!("debug/abs-tray{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.is_file(), "{} was not built", binary.display());
    binary
}
