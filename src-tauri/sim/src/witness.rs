//! A bystander HTTP server that records every request it gets: the "other host" a hostile
//! server redirects to, so a test can prove that nothing (a password least of all) reached it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::SimError;

/// One request the witness got.
#[derive(Clone, Debug)]
pub struct WitnessRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Every header, as text (non-text values lossily).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl WitnessRequest {
    /// True if `needle` appears anywhere in the request (URI, headers or body).
    pub fn contains(&self, needle: &str) -> bool {
        self.uri.contains(needle)
            || self
                .headers
                .iter()
                .any(|(k, v)| k.contains(needle) || v.contains(needle))
            || String::from_utf8_lossy(&self.body).contains(needle)
    }
}

type Log = Arc<Mutex<Vec<WitnessRequest>>>;

/// A listener on 127.0.0.1 that answers `200 {}` to anything and remembers what it was asked;
/// stops when dropped.
#[derive(Debug)]
pub struct Witness {
    addr: SocketAddr,
    log: Log,
    task: JoinHandle<()>,
}

async fn record(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(WitnessRequest {
            method: method.to_string(),
            uri: uri.to_string(),
            headers,
            body: body.to_vec(),
        });
    (StatusCode::OK, "{}")
}

impl Witness {
    /// Listens on an ephemeral port of 127.0.0.1.
    pub async fn start() -> Result<Witness, SimError> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let log: Log = Arc::default();
        let app = Router::new().fallback(record).with_state(log.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Witness { addr, log, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<WitnessRequest> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.task.abort();
    }
}
