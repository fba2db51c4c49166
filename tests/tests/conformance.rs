//! Conformance of `abs-sim` with a real Audiobookshelf 2.36.0 server.
//!
//! Starts the simulator on `127.0.0.1:0` and runs `node tests/conformance/conformance.mjs <base_url>`,
//! which drives it with the official JavaScript `socket.io-client` through the steps a probe ran
//! against a real 2.36.0 server, and compares event names and payload shapes with the captures in
//! `tests/fixtures/abs-2.36.0/`. Node.js is a hard requirement (`scripts/install-deps.sh` installs
//! it): without it this test fails, it does not skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// How long the whole Node run may take (it needs about a second).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Oldest Node.js major version the script runs on (built-in `fetch`, `AbortSignal.timeout`).
const MIN_NODE_MAJOR: u32 = 18;

/// The `tests/conformance` directory holding `conformance.mjs` and its `package-lock.json`.
fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// Checks that `node` is there and new enough; panics with what to do otherwise.
fn require_node() {
    let version = Command::new("node").arg("--version").output();
    let version = match version {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        other => panic!(
            "Node.js >= {MIN_NODE_MAJOR} is required for the conformance test and `node --version` \
             failed ({other:?}); install it with scripts/install-deps.sh"
        ),
    };
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    assert!(
        major.is_some_and(|m| m >= MIN_NODE_MAJOR),
        "Node.js >= {MIN_NODE_MAJOR} is required for the conformance test, found {version}"
    );
}

/// Installs `socket.io-client` from the committed lock file when `node_modules` lacks it.
fn ensure_node_modules(dir: &Path) {
    if dir
        .join("node_modules/socket.io-client/package.json")
        .is_file()
    {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--prefer-offline", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `npm ci` in {}: {e} (is npm installed?)",
                dir.display()
            )
        });
    assert!(
        out.status.success(),
        "`npm ci` in {} failed ({}):\n{}\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the conformance script against `base_url`, killing it if it outlives [`RUN_TIMEOUT`].
async fn run_script(dir: &Path, base_url: &str) -> Output {
    let child = tokio::process::Command::new("node")
        .arg("conformance.mjs")
        .arg(base_url)
        .current_dir(dir)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(RUN_TIMEOUT, child)
        .await
        .unwrap_or_else(|_| panic!("conformance.mjs did not finish within {RUN_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run node conformance.mjs: {e}"))
}

/// The simulator answers like a real 2.36.0 server, as seen by the official socket.io-client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_conforms_to_real_server_captures() {
    require_node();
    let dir = conformance_dir();
    ensure_node_modules(&dir);

    let sim = abs_sim::start(abs_sim::SimConfig::default())
        .await
        .expect("start abs-sim");
    let base_url = sim.base_url();
    let out = run_script(&dir, &base_url).await;
    sim.shutdown().await;

    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "abs-sim at {base_url} differs from the real server ({}):\n{stdout}\n{stderr}",
        out.status
    );
    println!("{stdout}");
}
