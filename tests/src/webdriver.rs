//! A minimal W3C WebDriver client: the dozen commands the window test needs, over reqwest.
//!
//! tauri-driver forwards these to WebKitWebDriver, which drives the app's WebKitGTK webview.
//! WebDriver has no push events, so [`Session::wait_for`] polls a condition until a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The key under which W3C WebDriver returns and expects element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Limit for one command, so a hung driver fails the test instead of stalling it (launching the
/// app with a new session is the slowest, a few seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How often [`Session::wait_for`] asks again: short, so a 1 s latency bound is measurable.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// What can go wrong talking to a WebDriver server.
#[derive(Debug, thiserror::Error)]
pub enum WebDriverError {
    /// The HTTP request itself failed (server gone, connection refused, ...).
    #[error("WebDriver request {what} failed: {source}")]
    Http {
        /// The command, e.g. `POST /element`.
        what: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The server answered with a WebDriver error (`no such element`, `javascript error`, ...).
    #[error("WebDriver {what}: {error}: {message}")]
    Command {
        /// The command, e.g. `POST /element`.
        what: String,
        /// The W3C error code.
        error: String,
        /// The server's explanation.
        message: String,
    },
    /// The answer was not what the protocol promises.
    #[error("WebDriver {what}: unexpected answer {answer}")]
    Protocol {
        /// The command.
        what: String,
        /// The answer as received.
        answer: String,
    },
    /// A condition did not become true before its deadline.
    #[error("timed out after {timeout:?} waiting for {what} (last: {last})")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it was awaited.
        timeout: Duration,
        /// The last observation or error, to say why.
        last: String,
    },
}

impl WebDriverError {
    /// The W3C error code when the server sent one (`no such alert`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Command { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Shorthand for this module's results.
pub type Result<T> = std::result::Result<T, WebDriverError>;

/// A reference to an element of the current page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(String);

impl Element {
    /// The JSON form WebDriver expects, e.g. as a script argument.
    pub fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

/// One WebDriver session, i.e. one launched app.
#[derive(Debug)]
pub struct Session {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    url: String,
}

impl Session {
    /// Creates a session on the server at `server` (`http://127.0.0.1:PORT`) with these
    /// capabilities (the whole `{"capabilities": ...}` body).
    pub async fn start(server: &str, capabilities: Value) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|source| WebDriverError::Http {
                what: "build the HTTP client".into(),
                source,
            })?;
        let value = send(
            &http,
            reqwest::Method::POST,
            &format!("{server}/session"),
            Some(capabilities),
            "POST /session",
        )
        .await?;
        let id = value
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| WebDriverError::Protocol {
                what: "POST /session".into(),
                answer: value.to_string(),
            })?;
        Ok(Self {
            url: format!("{server}/session/{id}"),
            http,
        })
    }

    /// Ends the session; WebKitWebDriver closes the app with it.
    pub async fn delete(&self) -> Result<()> {
        self.cmd(reqwest::Method::DELETE, "", None).await.map(drop)
    }

    /// Runs one command relative to the session URL and returns its `value`.
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let what = format!("{method} {}", if path.is_empty() { "/" } else { path });
        // Commands without parameters still need an (empty) JSON object when they are POSTs.
        let body = match (body, method == reqwest::Method::POST) {
            (None, true) => Some(json!({})),
            (body, _) => body,
        };
        send(
            &self.http,
            method,
            &format!("{}{path}", self.url),
            body,
            &what,
        )
        .await
    }

    /// Every element matching the CSS selector, in document order.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        let value = self
            .cmd(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        let list = value.as_array().cloned().unwrap_or_default();
        list.iter()
            .map(|e| {
                e.get(ELEMENT_KEY)
                    .and_then(Value::as_str)
                    .map(|id| Element(id.to_owned()))
                    .ok_or_else(|| WebDriverError::Protocol {
                        what: format!("find {css}"),
                        answer: e.to_string(),
                    })
            })
            .collect()
    }

    /// The first element matching the CSS selector, if any.
    pub async fn find(&self, css: &str) -> Result<Option<Element>> {
        Ok(self.find_all(css).await?.into_iter().next())
    }

    /// The first element matching the CSS selector; an error names the selector when none does.
    pub async fn get(&self, css: &str) -> Result<Element> {
        self.find(css)
            .await?
            .ok_or_else(|| WebDriverError::Command {
                what: format!("find {css}"),
                error: "no such element".into(),
                message: format!("nothing matches {css}"),
            })
    }

    /// Clicks an element (scrolling it into view first, as WebDriver does).
    pub async fn click(&self, element: &Element) -> Result<()> {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            None,
        )
        .await
        .map(drop)
    }

    /// Clears an input or textarea.
    pub async fn clear(&self, element: &Element) -> Result<()> {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/clear", element.0),
            None,
        )
        .await
        .map(drop)
    }

    /// Types text into an element, as key presses (so `input` events fire).
    pub async fn send_keys(&self, element: &Element, text: &str) -> Result<()> {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        )
        .await
        .map(drop)
    }

    /// Clears an input, then types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let element = self.get(css).await?;
        self.clear(&element).await?;
        self.send_keys(&element, text).await
    }

    /// Clicks the first element matching the CSS selector.
    pub async fn click_css(&self, css: &str) -> Result<()> {
        let element = self.get(css).await?;
        self.click(&element).await
    }

    /// Runs a synchronous script (`return ...;`) in the page and returns its result.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Runs an asynchronous script; it finishes by calling its last argument with the result.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.cmd(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The text of the open `alert`/`confirm`, or `None` when no dialog is open.
    pub async fn alert_text(&self) -> Result<Option<String>> {
        match self.cmd(reqwest::Method::GET, "/alert/text", None).await {
            Ok(value) => Ok(Some(value.as_str().unwrap_or_default().to_owned())),
            Err(err) if err.code() == Some("no such alert") => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// A PNG of the window's viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>> {
        let value = self.cmd(reqwest::Method::GET, "/screenshot", None).await?;
        let encoded = value.as_str().ok_or_else(|| WebDriverError::Protocol {
            what: "GET /screenshot".into(),
            answer: value.to_string(),
        })?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|err| WebDriverError::Protocol {
                what: "GET /screenshot".into(),
                answer: format!("not base64: {err}"),
            })
    }

    /// Polls `check` until it yields `Some`, for at most `timeout`. Errors count as "not yet"
    /// (the page may be reloading) and the last one is reported on timeout.
    pub async fn wait_for<T, F, Fut>(
        &self,
        timeout: Duration,
        what: &str,
        mut check: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match check().await {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => "condition false".to_owned(),
                Err(err) => err.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(WebDriverError::Timeout {
                    what: what.to_owned(),
                    timeout,
                    last,
                });
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Polls a script until it returns `true`, for at most `timeout`.
    pub async fn wait_script(&self, timeout: Duration, what: &str, script: &str) -> Result<()> {
        self.wait_for(timeout, what, || async {
            let value = self.execute(script, Vec::new()).await?;
            Ok((value == Value::Bool(true)).then_some(()))
        })
        .await
    }
}

/// Sends one WebDriver request and unwraps the `value` of its answer.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
    what: &str,
) -> Result<Value> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    let http_error = |source| WebDriverError::Http {
        what: what.to_owned(),
        source,
    };
    let response = request.send().await.map_err(http_error)?;
    let status = response.status();
    let text = response.text().await.map_err(http_error)?;
    let answer: Value = serde_json::from_str(&text).map_err(|_| WebDriverError::Protocol {
        what: what.to_owned(),
        answer: format!("{status}: {text}"),
    })?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(value);
    }
    let field = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Err(WebDriverError::Command {
        what: what.to_owned(),
        error: field("error"),
        message: field("message"),
    })
}
