//! The ABS Tray desktop shell: tray icon, status window and the glue to `abs-tray-core`.
//!
//! The shell stays thin: it renders what the core publishes and forwards what the user asks for.
//! The core's [`App`] owns the account, the connection, live state and popups; the shell adds
//! only the desktop parts (tray, window, launch at login, the built-in demo server).

pub mod args;
mod commands;
mod demo;
mod tray;
mod window;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use abs_tray_core::app::{App, AppOptions, View};
use abs_tray_core::config::SettingsFile;
use abs_tray_core::delivery::{AppIdentity, Delivery, Opener};
use abs_tray_core::token_store::{AsyncTokenStore, KeyringStore};
use args::{Invocation, Launch};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, RunEvent, Runtime};
use tauri_plugin_autostart::{MacosLauncher, ManagerExt};
use tauri_plugin_opener::OpenerExt;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use args::{DEMO_ARG, HIDDEN_ARG};
pub use window::MAIN_WINDOW;

/// The event carrying the [`WindowView`] to the window.
pub const VIEW_EVENT: &str = "view";

/// What the shell keeps for the lifetime of the app.
pub struct Shell {
    /// The core: account, connection, live state, popups.
    pub app: App,
    /// The built-in demo server, once someone asked for it.
    pub(crate) demo: demo::DemoServer,
    /// Launch at login is on (cached: asking the OS on every update is a file read).
    pub(crate) autostart: AtomicBool,
}

impl Shell {
    /// Wraps a started core.
    pub fn new(app: App, autostart: bool) -> Self {
        Self {
            app,
            demo: demo::DemoServer::default(),
            autostart: AtomicBool::new(autostart),
        }
    }

    /// The window's picture of the current state.
    pub fn window_view(&self) -> WindowView {
        WindowView {
            view: self.app.view().borrow().clone(),
            autostart: self.autostart.load(Ordering::Relaxed),
        }
    }
}

/// The core's view plus what only the shell knows; this is all the webview ever receives.
#[derive(Debug, Clone, Serialize)]
pub struct WindowView {
    /// Account, live snapshot, settings (no secrets: see `abs_tray_core::app`).
    #[serde(flatten)]
    pub view: View,
    /// Launch at login is on.
    pub autostart: bool,
}

/// Registers the window's commands; kept apart so tests can use them on the mock runtime.
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::view,
        commands::sign_in,
        commands::try_demo,
        commands::diagnose,
        commands::sign_out,
        commands::reconnect,
        commands::open_server,
        commands::pause,
        commands::save_settings,
        commands::set_autostart,
        commands::cancel_scan,
        commands::broadcast,
        commands::set_log_level,
        commands::set_watching,
    ])
}

/// Adds ABS Tray's plugins, state and handlers to a builder, to start as `launch` says.
pub fn app_builder<R: Runtime>(builder: tauri::Builder<R>, launch: Launch) -> tauri::Builder<R> {
    with_commands(builder)
        // Must be first: a second launch hands over to this one before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            // The login item starting while the app already runs must not pop the window up.
            let hidden = matches!(
                args::parse(args.into_iter().skip(1)),
                Ok(Invocation::Run(Launch { hidden: true, .. }))
            );
            if !hidden {
                window::show(app);
            }
        }))
        .plugin(tauri_plugin_autostart::init(
            MacosLauncher::LaunchAgent,
            Some(vec![HIDDEN_ARG]),
        ))
        .plugin(tauri_plugin_opener::init())
        .setup(move |app| {
            setup(app.handle(), launch)?;
            Ok(())
        })
        .on_window_event(window::on_event)
}

/// Opens popups' links in the browser and their "Open ABS Tray" action in the window.
struct ShellOpener<R: Runtime>(AppHandle<R>);

impl<R: Runtime> Opener for ShellOpener<R> {
    fn open_url(&self, url: &str) {
        if let Err(err) = self.0.opener().open_url(url, None::<&str>) {
            tracing::warn!(%err, "could not open the browser");
        }
    }

    fn open_window(&self) {
        window::show(&self.0);
    }
}

/// Starts the core, the tray and (unless started at login) the window.
fn setup<R: Runtime>(
    handle: &AppHandle<R>,
    launch: Launch,
) -> Result<(), Box<dyn std::error::Error>> {
    let delivery = Delivery::start(
        AppIdentity::default(),
        Arc::new(ShellOpener(handle.clone())),
    );
    let options = AppOptions {
        settings: SettingsFile::open_default()?,
        store: AsyncTokenStore::new(Arc::new(KeyringStore::new())),
        delivery: Some(delivery),
    };
    // The core spawns its tasks on the runtime it starts in: Tauri's.
    let app = tauri::async_runtime::block_on(async move { App::start(options) });
    let autostart = handle.autolaunch().is_enabled().unwrap_or(false);
    handle.manage(Shell::new(app.clone(), autostart));
    tray::create(handle)?;
    forward_views(handle.clone(), app.clone());

    if !launch.hidden {
        window::show(handle);
    }
    if launch.demo && app.view().borrow().account.is_none() {
        let handle = handle.clone();
        tauri::async_runtime::spawn(async move {
            let shell = handle.state::<Shell>();
            if let Err(err) = shell.demo.sign_in(&shell.app).await {
                tracing::warn!(code = err.code(), "the demo server did not start: {err}");
            }
        });
    }
    Ok(())
}

/// Sends every new view to the window and the tray, for as long as the core runs.
fn forward_views<R: Runtime>(handle: AppHandle<R>, app: App) {
    let mut views = app.view();
    tauri::async_runtime::spawn(async move {
        loop {
            publish(&handle);
            if views.changed().await.is_err() {
                break;
            }
        }
    });
}

/// Shows the current state in the tray and, when it exists, the window.
pub(crate) fn publish<R: Runtime>(handle: &AppHandle<R>) {
    let shell = handle.state::<Shell>();
    let view = shell.window_view();
    tray::update(handle, &view);
    if handle.get_webview_window(MAIN_WINDOW).is_some()
        && let Err(err) = handle.emit_to(MAIN_WINDOW, VIEW_EVENT, &view)
    {
        tracing::debug!(%err, "the window did not take the view");
    }
}

/// Turns launch at login on or off and shows the new state.
pub(crate) fn set_autostart<R: Runtime>(
    handle: &AppHandle<R>,
    shell: &Shell,
    enabled: bool,
) -> Result<(), abs_tray_core::app::AppError> {
    let launcher = handle.autolaunch();
    let changed = if enabled {
        launcher.enable()
    } else {
        launcher.disable()
    };
    changed.map_err(|err| abs_tray_core::app::AppError::Desktop {
        what: "change launch at login",
        reason: err.to_string(),
    })?;
    shell.autostart.store(enabled, Ordering::Relaxed);
    publish(handle);
    Ok(())
}

/// Starts ABS Tray and blocks until the user quits. `--help`, `--version` and a usage error
/// print and exit first (0, 0, 2), and so does a machine without a desktop (1): none of them
/// needs a display or hands over to a running instance.
pub fn run() {
    abs_tray_core::panic_hook::install();
    let launch = match args::parse(std::env::args_os().skip(1)) {
        Ok(Invocation::Run(launch)) => launch,
        Ok(Invocation::Help) => {
            print!("{}", args::USAGE);
            return;
        }
        Ok(Invocation::Version) => {
            println!("{}", args::VERSION);
            return;
        }
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(2);
        }
    };
    if let Err(problem) = open_display() {
        eprintln!("{problem}");
        std::process::exit(1);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ABS_TRAY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,abs_sim=warn")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal; a log redirected to a file stays greppable.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .finish()
        .with(abs_tray_core::logging::without_raw_traffic())
        .init();

    let builder = app_builder(tauri::Builder::default(), launch);
    let app = match builder.build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(%err, "ABS Tray could not start");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| match event {
        // The last window closing (or its webview being destroyed) must not end a tray app;
        // only the Quit item (an explicit code) does.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        RunEvent::Exit => {
            let app = handle.state::<Shell>().app.clone();
            tauri::async_runtime::block_on(app.shutdown());
        }
        _ => {}
    });
}

/// Makes sure there is a desktop to show the app on, in one line when there is not (GTK's own
/// answer is a panic inside the Tauri builder).
fn open_display() -> Result<(), String> {
    let display = std::env::var_os("DISPLAY");
    let wayland = std::env::var_os("WAYLAND_DISPLAY");
    if let Some(problem) = args::display_problem(display.as_deref(), wayland.as_deref()) {
        return Err(problem.to_owned());
    }
    // The Tauri builder initialises GTK again later; a second call is a no-op once it worked.
    #[cfg(target_os = "linux")]
    gtk::init().map_err(|err| args::display_failed(display.as_deref(), &err))?;
    Ok(())
}

#[cfg(test)]
mod tests;
