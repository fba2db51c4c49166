//! Test helpers: a raw Engine.IO v4 / Socket.IO v5 websocket client (so the exact frames can be
//! checked, e.g. `42["pong"]`), HTTP helpers, and fixture shape comparison.
//!
//! rust_socketio 0.6 is not used: it turns payload-less events into `message`, which would hide
//! exactly the wire details these tests are about.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use abs_sim::{Sim, SimConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How long any awaited thing may take before a test fails.
pub const WAIT: Duration = Duration::from_secs(5);

pub async fn start(cfg: SimConfig) -> Sim {
    abs_sim::start(cfg).await.expect("sim starts")
}

pub async fn start_default() -> Sim {
    start(SimConfig::default()).await
}

// ------------------------------------------------------------------ fixtures

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/abs-2.36.0/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture readable"))
        .expect("fixture is JSON")
}

pub fn probe() -> Value {
    fixture("probe-results.json")
}

/// The args of the first captured event with that name.
pub fn captured(event: &str) -> Value {
    fixture("captured-events.json")
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == event)
        .map(|e| e["args"][0].clone())
        .unwrap_or_else(|| panic!("no captured {event}"))
}

/// The args of the watcher-scan fixture's first event with that name (a reconstruction, see
/// its `note`).
pub fn watcher_scan(event: &str) -> Value {
    fixture("watcher-scan-events.json")["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == event)
        .map(|e| e["args"][0].clone())
        .unwrap_or_else(|| panic!("no watcher-scan {event}"))
}

/// An object's keys, sorted (serde_json's map does not keep the order).
pub fn keys(v: &Value) -> Vec<String> {
    sorted(
        v.as_object()
            .unwrap_or_else(|| panic!("not an object: {v}"))
            .keys()
            .cloned()
            .collect(),
    )
}

/// A fixture's list of key names, sorted.
pub fn str_list(v: &Value) -> Vec<String> {
    sorted(
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect(),
    )
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Keys whose contents depend on the media or the client, not on the server's shapes.
const FREE_FORM: &[&str] = &["metaTags", "deviceInfo"];

/// Asserts that `actual` has the same keys as `expected` at every level where both have
/// objects (arrays: first elements; nulls and empty arrays match anything).
pub fn assert_shape(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let ak = sorted(a.keys().cloned().collect());
            let ek = sorted(e.keys().cloned().collect());
            assert_eq!(ak, ek, "keys differ at {path}");
            for (k, ev) in e {
                if FREE_FORM.contains(&k.as_str()) {
                    continue;
                }
                assert_shape(&a[k], ev, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            if let (Some(a0), Some(e0)) = (a.first(), e.first()) {
                assert_shape(a0, e0, &format!("{path}[0]"));
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (a, e) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(e),
            "type differs at {path}: {a} vs {e}"
        ),
    }
}

// ------------------------------------------------------------------ HTTP

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn set_cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("refresh_token="))
            .map(str::to_string)
    }

    pub fn cookie_token(&self) -> Option<String> {
        let c = self.set_cookie()?;
        let v = c
            .strip_prefix("refresh_token=")?
            .split(';')
            .next()?
            .to_string();
        (!v.is_empty()).then_some(v)
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

pub async fn login(sim: &Sim, user: &str, pass: &str, return_tokens: bool) -> Reply {
    let mut req = client()
        .post(format!("{}/login", sim.base_url()))
        .json(&json!({"username": user, "password": pass}));
    if return_tokens {
        req = req.header("x-return-tokens", "true");
    }
    send(req).await
}

pub async fn get(sim: &Sim, path: &str, token: &str) -> Reply {
    send(
        client()
            .get(format!("{}{path}", sim.base_url()))
            .bearer_auth(token),
    )
    .await
}

pub async fn post(sim: &Sim, path: &str, token: &str, body: Value) -> Reply {
    send(
        client()
            .post(format!("{}{path}", sim.base_url()))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

/// Decodes a JWT's claims without checking it.
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

// ------------------------------------------------------------------ Socket.IO

/// What a test socket received.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A Socket.IO event: name, args, and the raw text frame.
    Event(String, Vec<Value>, String),
    /// `41`: the server disconnected the namespace.
    Disconnect,
    /// The connection ended.
    Closed,
}

/// A minimal Socket.IO v5 client over the Engine.IO v4 websocket transport.
pub struct Sio {
    /// The Socket.IO socket id (what the server calls the socket).
    pub sid: String,
    out: mpsc::UnboundedSender<Message>,
    rx: mpsc::UnboundedReceiver<Frame>,
}

impl Sio {
    /// Connects to the default namespace at `path` (`/socket.io` or `/audiobookshelf/socket.io`).
    pub async fn connect_path(sim: &Sim, path: &str, query: &str) -> Sio {
        let url = format!(
            "ws://{}{path}/?EIO=4&transport=websocket{query}",
            sim.addr()
        );
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connects");
        let (mut sink, mut stream) = ws.split();
        let open = match stream.next().await {
            Some(Ok(Message::Text(t))) => t.to_string(),
            other => panic!("no open packet: {other:?}"),
        };
        assert!(open.starts_with("0{"), "open packet {open}");
        let open: Value = serde_json::from_str(&open[1..]).unwrap();
        assert_eq!(open["pingInterval"], 25_000);
        assert_eq!(open["pingTimeout"], 20_000);
        sink.send(Message::text("40")).await.unwrap();
        let sid = loop {
            match stream.next().await {
                Some(Ok(Message::Text(t))) if t.starts_with("40") => {
                    let v: Value = serde_json::from_str(&t[2..]).unwrap();
                    break v["sid"].as_str().unwrap().to_string();
                }
                Some(Ok(_)) => continue,
                other => panic!("no connect ack: {other:?}"),
            }
        };
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let pong = out.clone();
        tokio::spawn(async move {
            while let Some(msg) = stream.next().await {
                let Ok(Message::Text(t)) = msg else {
                    if matches!(msg, Ok(Message::Close(_)) | Err(_)) {
                        break;
                    }
                    continue;
                };
                let t = t.to_string();
                if t == "2" {
                    let _ = pong.send(Message::text("3"));
                } else if t == "41" {
                    let _ = tx.send(Frame::Disconnect);
                } else if let Some(body) = t.strip_prefix("42") {
                    // Frames a JSON parser refuses (the hostile scenario nests deeper than
                    // 128 levels) are skipped rather than ending the reader.
                    let Ok(arr) = serde_json::from_str::<Vec<Value>>(body) else {
                        continue;
                    };
                    let Some(name) = arr.first().and_then(Value::as_str).map(str::to_string) else {
                        continue;
                    };
                    let _ = tx.send(Frame::Event(name, arr[1..].to_vec(), t.clone()));
                }
            }
            let _ = tx.send(Frame::Closed);
        });
        Sio { sid, out, rx }
    }

    pub async fn connect(sim: &Sim) -> Sio {
        Self::connect_path(sim, "/socket.io", "").await
    }

    /// Sends `42[event, ...args]`.
    pub fn emit(&self, event: &str, args: &[Value]) {
        let mut arr = vec![Value::String(event.to_string())];
        arr.extend_from_slice(args);
        self.raw(&format!("42{}", Value::Array(arr)));
    }

    /// Sends a raw text frame.
    pub fn raw(&self, text: &str) {
        let _ = self.out.send(Message::text(text.to_string()));
    }

    /// The next frame.
    pub async fn next(&mut self) -> Frame {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("a frame in time")
            .unwrap_or(Frame::Closed)
    }

    /// Skips to the named event; returns its args and raw frame.
    pub async fn wait(&mut self, name: &str) -> (Vec<Value>, String) {
        loop {
            match self.next().await {
                Frame::Event(n, args, raw) if n == name => return (args, raw),
                Frame::Event(..) => {}
                other => panic!("{other:?} while waiting for {name}"),
            }
        }
    }

    /// The args of the named event's first argument.
    pub async fn wait_arg(&mut self, name: &str) -> Value {
        let (args, _) = self.wait(name).await;
        args.into_iter().next().unwrap_or(Value::Null)
    }

    /// Collects events until (and including) `name`.
    pub async fn until(&mut self, name: &str) -> Vec<(String, Vec<Value>)> {
        let mut seen = Vec::new();
        loop {
            match self.next().await {
                Frame::Event(n, args, _) => {
                    let done = n == name;
                    seen.push((n, args));
                    if done {
                        return seen;
                    }
                }
                other => panic!("{other:?} while waiting for {name}"),
            }
        }
    }

    /// Sends `ping` and returns every event received before the `pong` (the server handles a
    /// socket's events in order, so this is a barrier).
    pub async fn barrier(&mut self) -> Vec<String> {
        self.emit("ping", &[]);
        self.until("pong")
            .await
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| n != "pong")
            .collect()
    }

    /// Authenticates and returns the `init` payload.
    pub async fn auth(&mut self, token: &str) -> Value {
        self.emit("auth", &[json!(token)]);
        self.wait_arg("init").await
    }

    /// Waits until the connection is gone.
    pub async fn closed(&mut self) {
        loop {
            if let Frame::Closed = self.next().await {
                return;
            }
        }
    }

    /// Closes the websocket.
    pub fn close(self) {
        let _ = self.out.send(Message::Close(None));
    }
}
