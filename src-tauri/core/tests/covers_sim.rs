//! Covers for popups, fetched from the simulator with the token and kept as local files.
#![allow(clippy::unwrap_used, missing_docs)]

use abs_sim::SimConfig;
use abs_tray_core::auth::AbsClient;
use abs_tray_core::covers::CoverCache;
use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsConfig;

#[tokio::test]
async fn covers_are_fetched_once_and_cached_as_files() {
    let sim = abs_sim::start(SimConfig::default()).await.unwrap();
    let client = AbsClient::new(
        ServerUrl::parse(&sim.base_url()).unwrap(),
        &TlsConfig::system().unwrap(),
    )
    .unwrap();
    let token = Secret::new(sim.tokens("root").unwrap().access_token);
    let dir = tempfile::tempdir().unwrap();
    let cache = CoverCache::new(dir.path().join("covers"));
    let item = sim.item_ids()[0].clone();

    let path = cache.cover(&client, &token, &item).await.expect("a cover");
    assert!(path.starts_with(dir.path()));
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "a real image");

    // Cached: found again even after the server is gone.
    sim.shutdown().await;
    assert_eq!(cache.cover(&client, &token, &item).await, Some(path));
    assert_eq!(cache.cover(&client, &token, "../../etc/passwd").await, None);
    assert_eq!(cache.cover(&client, &token, "unknown-item").await, None);
}
