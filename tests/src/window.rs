//! The real ABS Tray window for end-to-end tests: the `abs-tray` binary started by tauri-driver
//! (WebKitWebDriver) under the private desktop session, and what a test does with it as a user
//! would: look, click, type, pick, wait, and save light and dark screenshots.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::desktop::{app_binary, target_dir};
use crate::tauri_driver::TauriDriver;
use crate::webdriver::{Session, WebDriverError};

/// Limit for the window to appear and render (WebKit's first start under Xvfb takes seconds).
pub const STARTUP: Duration = Duration::from_secs(60);
/// Limit for a control to become usable, or the page to change after an action.
pub const CONTROL: Duration = Duration::from_secs(20);

/// Unwraps a WebDriver result, saying which step failed.
pub trait Step<T> {
    /// The value, or a panic naming the step and the WebDriver error.
    fn step(self, what: &str) -> T;
}

impl<T> Step<T> for Result<T, WebDriverError> {
    fn step(self, what: &str) -> T {
        self.unwrap_or_else(|err| panic!("{what}: {err}"))
    }
}

/// The window under test.
pub struct Window {
    /// The WebDriver session on the app's webview.
    pub session: Session,
    /// Where screenshots go (`target/screenshots/`).
    pub shots: PathBuf,
}

impl Window {
    /// Starts `abs-tray` through tauri-driver with `config_dir` as its settings folder, its log at
    /// debug level in `target/<log_name>` (checked for secrets by some tests) and `env` on top,
    /// and waits for the first render. The driver must live as long as the window is used.
    pub async fn launch(
        config_dir: &Path,
        log_name: &str,
        env: &[(&str, &OsStr)],
    ) -> (TauriDriver, Window) {
        let shots = target_dir().join("screenshots");
        std::fs::create_dir_all(&shots).expect("create target/screenshots");
        let log_path = target_dir().join(log_name);
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display()));
        let mut all: Vec<(&str, &OsStr)> = vec![
            ("ABS_TRAY_CONFIG_DIR", config_dir.as_os_str()),
            (
                "ABS_TRAY_LOG",
                "info,abs_tray=debug,abs_tray_core=debug".as_ref(),
            ),
        ];
        all.extend_from_slice(env);
        let driver = TauriDriver::start(&all, log).expect("start tauri-driver");
        let session = Session::start(
            &driver.url(),
            json!({"capabilities": {"alwaysMatch": {"tauri:options": {
                "application": app_binary().to_string_lossy(),
            }}}}),
        )
        .await
        .step("open a WebDriver session (launches abs-tray)");
        let window = Window { session, shots };
        window
            .session
            .wait_for(STARTUP, "the first render (body[data-ready=1])", || async {
                Ok((window.body_data("ready").await?.as_deref() == Some("1")).then_some(()))
            })
            .await
            .step("first render");
        (driver, window)
    }

    /// Runs a script and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.session.execute(script, args).await.step(script)
    }

    /// Waits until `script` (with `args`) returns true.
    pub async fn until(&self, what: &str, script: &str, args: Vec<Value>) {
        self.session
            .wait_for(CONTROL, what, || {
                let args = args.clone();
                async move {
                    let value = self.session.execute(script, args).await?;
                    Ok((value == Value::Bool(true)).then_some(()))
                }
            })
            .await
            .step(what);
    }

    /// True if the first element matching `css` exists and is rendered: not `hidden`, not
    /// `display: none` (no boxes), not `visibility: hidden`. (WebKitWebDriver's own "is
    /// displayed" answers false for list rows inside `overflow: hidden` boxes.)
    pub async fn shown(&self, css: &str) -> Result<bool, WebDriverError> {
        let shown = self
            .session
            .execute(
                "const e = document.querySelector(arguments[0]);
                 return e !== null && e.closest('[hidden]') === null
                     && e.getClientRects().length > 0
                     && getComputedStyle(e).visibility !== 'hidden';",
                vec![json!(css)],
            )
            .await?;
        Ok(shown == Value::Bool(true))
    }

    /// Waits until the first element matching `css` is displayed.
    pub async fn wait_shown(&self, css: &str, timeout: Duration) {
        self.session
            .wait_for(timeout, &format!("{css} to be shown"), || async {
                Ok(self.shown(css).await?.then_some(()))
            })
            .await
            .step(css);
    }

    /// `document.body.dataset[key]`.
    pub async fn body_data(&self, key: &str) -> Result<Option<String>, WebDriverError> {
        let value = self
            .session
            .execute(
                "return document.body.dataset[arguments[0]] ?? null;",
                vec![json!(key)],
            )
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// Waits until the window says it is signed in (`body[data-signed-in]`) or out.
    pub async fn wait_signed_in(&self, signed_in: bool, timeout: Duration) {
        let want = if signed_in { "1" } else { "0" };
        self.session
            .wait_for(timeout, &format!("body[data-signed-in={want}]"), || async {
                Ok((self.body_data("signedIn").await?.as_deref() == Some(want)).then_some(()))
            })
            .await
            .step(if signed_in { "signed in" } else { "signed out" });
    }

    /// Clicks the first element matching `css` once it is shown and enabled (tabs and buttons
    /// appear only when the state they act on is known; a form is disabled while it is busy).
    pub async fn click(&self, css: &str) {
        self.wait_shown(css, CONTROL).await;
        self.until(
            &format!("{css} to be enabled"),
            "return !document.querySelector(arguments[0]).disabled;",
            vec![json!(css)],
        )
        .await;
        self.session
            .click_css(css)
            .await
            .step(&format!("click {css}"));
    }

    /// Picks `value` in the `<select>` matching `css` as a user would (value, then `change`).
    pub async fn choose(&self, css: &str, value: &str) {
        self.wait_shown(css, CONTROL).await;
        self.session
            .execute(
                "const select = document.querySelector(arguments[0]);
                 select.value = arguments[1];
                 select.dispatchEvent(new Event('change', { bubbles: true }));
                 return select.value;",
                vec![json!(css), json!(value)],
            )
            .await
            .step(&format!("choose {value} in {css}"));
    }

    /// The text of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let texts = self
            .session
            .execute(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);",
                vec![json!(css)],
            )
            .await
            .step(&format!("texts of {css}"));
        serde_json::from_value(texts).unwrap_or_default()
    }

    /// The trimmed text of the first element matching `css` ("" when there is none).
    pub async fn text(&self, css: &str) -> String {
        self.texts(css)
            .await
            .first()
            .map(|t| t.trim().to_owned())
            .unwrap_or_default()
    }

    /// Waits until some element matching `css` has text containing `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) {
        self.session
            .wait_for(CONTROL, &format!("{needle:?} in {css}"), || async {
                Ok(self
                    .texts(css)
                    .await
                    .iter()
                    .any(|t| t.contains(needle))
                    .then_some(()))
            })
            .await
            .step(css);
    }

    /// Ticks or unticks the checkbox matching `css` with a click, as a user would, unless it
    /// already is as wanted.
    pub async fn set_checked(&self, css: &str, checked: bool) {
        let script = "return document.querySelector(arguments[0]).checked;";
        self.wait_shown(css, CONTROL).await;
        let now = self
            .session
            .execute(script, vec![json!(css)])
            .await
            .step(css);
        if now != Value::Bool(checked) {
            self.click(css).await;
        }
        let after = self
            .session
            .execute(script, vec![json!(css)])
            .await
            .step(css);
        assert_eq!(after, Value::Bool(checked), "a click did not toggle {css}");
    }

    /// Sets the `<input>` matching `css` to `value` as typing or its picker does: the value,
    /// then `input` and `change` (WebDriver keys cannot type into WebKit's segmented time fields).
    pub async fn set_value(&self, css: &str, value: &str) {
        self.wait_shown(css, CONTROL).await;
        let set = self
            .session
            .execute(
                "const input = document.querySelector(arguments[0]);
                 input.value = arguments[1];
                 input.dispatchEvent(new Event('input', { bubbles: true }));
                 input.dispatchEvent(new Event('change', { bubbles: true }));
                 return input.value;",
                vec![json!(css), json!(value)],
            )
            .await
            .step(&format!("set {css}"));
        assert_eq!(set, json!(value), "{css} refused {value:?}");
    }

    /// The `value` of the form field matching `css`.
    pub async fn value(&self, css: &str) -> String {
        let value = self
            .session
            .execute(
                "return document.querySelector(arguments[0]).value;",
                vec![json!(css)],
            )
            .await
            .step(&format!("value of {css}"));
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Whether the form field matching `css` is disabled.
    pub async fn disabled(&self, css: &str) -> bool {
        let disabled = self
            .session
            .execute(
                "return document.querySelector(arguments[0]).disabled;",
                vec![json!(css)],
            )
            .await
            .step(&format!("{css} disabled"));
        disabled == Value::Bool(true)
    }

    /// Opens a tab and waits for its view.
    pub async fn open_tab(&self, view: &str) {
        self.click(&format!("button.tab[data-view=\"{view}\"]"))
            .await;
        self.wait_shown(&format!("#view-{view}"), CONTROL).await;
    }

    /// Saves `<name>-light.png` and `<name>-dark.png` of the window as it is now.
    pub async fn screenshots(&self, name: &str) {
        for theme in ["light", "dark"] {
            // Setting the theme restyles on the next frame: wait for two frames to be painted.
            self.session
                .execute_async(
                    "const [theme, done] = arguments;
                     document.documentElement.dataset.theme = theme;
                     requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                    vec![json!(theme)],
                )
                .await
                .step(&format!("switch to the {theme} theme"));
            let png = self
                .session
                .screenshot()
                .await
                .step(&format!("screenshot {name}-{theme}"));
            assert!(
                png.starts_with(b"\x89PNG\r\n\x1a\n"),
                "the {name}-{theme} screenshot is not a PNG"
            );
            let path = self.shots.join(format!("{name}-{theme}.png"));
            std::fs::write(&path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
        self.session
            .execute(
                "delete document.documentElement.dataset.theme; return true;",
                vec![],
            )
            .await
            .step("restore the theme");
    }
}
