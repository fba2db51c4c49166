//! "Try the demo server": the simulator with its demo scenario, in-process on loopback, and an
//! ephemeral sign-in to it (no settings saved, nothing in the keyring).

use abs_sim::{Scenario, Sim, SimConfig};
use abs_tray_core::app::{App, AppError};
use tokio::sync::Mutex;

/// The demo server's built-in admin.
const DEMO_USER: &str = "root";
/// Its password (a public demo credential, not a secret).
const DEMO_PASSWORD: &str = "root";

/// The demo server, started on first use and kept while the app runs.
#[derive(Default)]
pub struct DemoServer(Mutex<Option<Sim>>);

impl DemoServer {
    /// Starts the demo server if needed and signs `app` in to it.
    pub async fn sign_in(&self, app: &App) -> Result<(), AppError> {
        let url = {
            let mut sim = self.0.lock().await;
            if sim.is_none() {
                let config = SimConfig {
                    scenario: Scenario::Demo,
                    ..SimConfig::default()
                };
                *sim = Some(
                    abs_sim::start(config)
                        .await
                        .map_err(|err| AppError::Desktop {
                            what: "start the demo server",
                            reason: err.to_string(),
                        })?,
                );
            }
            sim.as_ref().map(Sim::base_url).unwrap_or_default()
        };
        app.sign_in_demo(&url, DEMO_USER, DEMO_PASSWORD).await
    }

    /// Stops the demo server (someone signed in to a real one).
    pub async fn stop(&self) {
        if let Some(sim) = self.0.lock().await.take() {
            sim.shutdown().await;
        }
    }
}
