//! `make bench`: runs the release ABS Tray next to a bare Tauri 2 tray app (`abs-tray-baseline`)
//! against an in-process abs-sim on loopback, inside the private desktop session of
//! `scripts/desktop-session.sh`, and measures memory (tray only, window open, after close),
//! idle CPU, popup latency, a burst, reconnects and start-up, then the reconnect faults
//! ([`reconnect`]). Prints a table and writes `target/bench/latest.json`. See
//! `docs/benchmarks.md` for how to read it. `--reconnect-only` runs just the faults
//! (`make bench-reconnect`); `--help` lists their knobs.

mod bus;
mod netns;
mod procs;
mod reconnect;
mod x11;

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use abs_sim::{Sim, SimConfig};
use abs_tray_core::app::{App, AppOptions, SignInForm};
use abs_tray_core::backoff::Backoff;
use abs_tray_core::config::{CONFIG_DIR_ENV, SettingsFile};
use abs_tray_core::secret::Secret;
use abs_tray_core::token_store::{AsyncTokenStore, KeyringStore, MemoryStore};
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::bus::{Notify, TrayWatcher};
use crate::procs::Memory;

/// The status window's title (`tauri.conf.json`).
const WINDOW_TITLE: &str = "ABS Tray";
/// How long both apps sit connected and idle before memory and CPU are read.
const IDLE: Duration = Duration::from_secs(60);
/// How long the apps get after connecting before the idle window starts (start-up work,
/// the first cover and session fetches).
const SETTLE: Duration = Duration::from_secs(5);
/// Bound on launch → tray item registered, and launch → connected.
const START: Duration = Duration::from_secs(60);
/// Bound on the window appearing with its WebKit processes.
const WINDOW_OPEN: Duration = Duration::from_secs(60);
/// Bound on the WebKit processes exiting after the window was closed (the shell destroys a
/// webview hidden for 120 s).
const WEBVIEW_GONE: Duration = Duration::from_secs(180);
/// How long idle CPU is measured with the window open.
const WINDOW_IDLE: Duration = Duration::from_secs(30);
/// Admin messages sent for the latency figures.
const LATENCY_EVENTS: usize = 1000;
/// Progress events in the burst.
const BURST_PROGRESS: usize = 10_000;
/// Presence events in the burst.
const BURST_PRESENCE: usize = 1000;
/// The burst is sent in this many equal slices, evenly over one second.
const BURST_SLICES: usize = 100;
/// How long popups are counted after the burst: the offline debounce (30 s) plus one rate
/// window, so everything the burst causes has shown.
const BURST_TAIL: Duration = Duration::from_secs(65);
/// The popup rate limit in force (the default settings: 5 popups per 30 s).
const RATE_LIMIT: usize = 5;
/// The rate limit's window.
const RATE_WINDOW: Duration = Duration::from_secs(30);
/// Server restarts for the reconnect figures.
const RESTARTS: u64 = 20;
/// Target: tray-only PSS at most this far above the baseline (MB).
const TARGET_PSS_OVER_BASELINE_MB: f64 = 10.0;
/// Target: idle CPU (ms per minute).
const TARGET_IDLE_CPU_MS: f64 = 50.0;
/// Target: popup latency p99 (ms).
const TARGET_LATENCY_P99_MS: f64 = 50.0;
/// Target: reconnect p99 (s).
const TARGET_RECONNECT_P99_S: f64 = 1.0;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("abs-tray-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every measurement in order; the JSON and table are written even when a later part fails,
/// so a partial run still reports what it measured.
async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (only_reconnect, params) = reconnect::Params::parse(&args)?;
    if std::env::var("ABS_TRAY_DESKTOP_SESSION").as_deref() != Ok("1") {
        bail!("run through scripts/desktop-session.sh (make bench does)");
    }
    let bin_dir = std::env::current_exe()?
        .parent()
        .ok_or_else(|| anyhow!("no directory for the runner"))?
        .to_path_buf();
    let out_dir = bin_dir
        .parent()
        .ok_or_else(|| anyhow!("no target directory"))?
        .join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let path = out_dir.join("latest.json");
    let mut report = Report {
        path: Some(path.clone()),
        ..Report::default()
    };
    let outcome = if only_reconnect {
        // Keep the full run's figures: only the faults' keys are replaced.
        report.json = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        report.json.remove("error");
        reconnect::run(&bin_dir, &out_dir, &params, &mut report).await
    } else {
        match measure(&bin_dir, &out_dir, &mut report).await {
            Ok(()) => reconnect::run(&bin_dir, &out_dir, &params, &mut report).await,
            Err(err) => Err(err),
        }
    };
    if let Err(err) = &outcome {
        report.set("error", json!(format!("{err:#}")));
    }
    report.print();
    println!("\nwritten: {}", path.display());
    outcome
}

/// The measurements, filling `report` as they go.
async fn measure(bin_dir: &Path, out_dir: &Path, report: &mut Report) -> Result<()> {
    let ticks_per_s = procs::clock_ticks_per_s()?;
    let app_bin = bin_dir.join("abs-tray");
    let baseline_bin = bin_dir.join("abs-tray-baseline");
    let app_mb = file_mb(&app_bin)?;
    let baseline_mb = file_mb(&baseline_bin)?;
    report.set("binary_mb", json!(round2(app_mb)));
    report.set("binary_baseline_mb", json!(round2(baseline_mb)));
    report.row("Release binary (MB)", app_mb, Some(baseline_mb), "-", None);

    let sim = abs_sim::start(SimConfig::default()).await?;
    let config_dir = out_dir.join("config");
    if config_dir.exists() {
        std::fs::remove_dir_all(&config_dir)?;
    }
    std::fs::create_dir_all(&config_dir)?;
    seed_account(&sim, &config_dir).await?;

    let mut watcher = TrayWatcher::serve().await?;
    let notes = collect_notify().await?;
    warm_display(&baseline_bin, &config_dir, out_dir, &mut watcher).await?;

    // Start-up: launch → tray item registered → connected (`init` to the app's socket).
    progress("start-up of both apps");
    let mut events = sim.events();
    let launched = Instant::now();
    let mut app = launch(
        &app_bin,
        &["--hidden"],
        &config_dir,
        &out_dir.join("abs-tray.log"),
    )?;
    let app_pid = app.id().ok_or_else(|| anyhow!("the app has no pid"))?;
    let (registered, init) = tokio::join!(timeout(START, watcher.next_from(app_pid)), async {
        let init = events.wait_named("init", START).await;
        (init, Instant::now())
    });
    let registered = registered
        .map_err(|_| anyhow!("ABS Tray registered no tray item within {START:?}"))?
        .ok_or_else(|| anyhow!("the watcher stopped"))?;
    init.0.context("ABS Tray did not connect")?;
    let tray_ms = ms(registered.at - launched);
    let connected_ms = ms(init.1 - launched);

    let launched = Instant::now();
    let mut baseline = launch(
        &baseline_bin,
        &[],
        &config_dir,
        &out_dir.join("baseline.log"),
    )?;
    let baseline_pid = baseline
        .id()
        .ok_or_else(|| anyhow!("the baseline has no pid"))?;
    let registered = timeout(START, watcher.next_from(baseline_pid))
        .await
        .map_err(|_| anyhow!("the baseline registered no tray item within {START:?}"))?
        .ok_or_else(|| anyhow!("the watcher stopped"))?;
    let baseline_tray_ms = ms(registered.at - launched);
    report.set("startup_tray_ms", json!(round1(tray_ms)));
    report.set("startup_connected_ms", json!(round1(connected_ms)));
    report.set("startup_ms", json!(round1(connected_ms)));
    report.set("startup_baseline_tray_ms", json!(round1(baseline_tray_ms)));
    report.row(
        "Start-up: launch -> tray visible (ms)",
        tray_ms,
        Some(baseline_tray_ms),
        "-",
        None,
    );
    report.row(
        "Start-up: launch -> connected (ms)",
        connected_ms,
        None,
        "-",
        None,
    );

    // Tray only, connected and idle, side by side.
    progress("tray only, idle for 60 s");
    sleep(SETTLE).await;
    let (app_t0, base_t0) = (procs::cpu_ticks(app_pid), procs::cpu_ticks(baseline_pid));
    sleep(IDLE).await;
    let (app_t1, base_t1) = (procs::cpu_ticks(app_pid), procs::cpu_ticks(baseline_pid));
    let per_min =
        |ticks: u64| ticks as f64 * 1000.0 / ticks_per_s as f64 * 60.0 / IDLE.as_secs_f64();
    let app_cpu = per_min(app_t1.saturating_sub(app_t0));
    let base_cpu = per_min(base_t1.saturating_sub(base_t0));
    let tray = procs::memory(app_pid);
    let base = procs::memory(baseline_pid);
    report.set("tray_processes", json!(procs::names(app_pid)));
    report.set("baseline_processes", json!(procs::names(baseline_pid)));
    report.memory("tray", &tray);
    report.memory("baseline", &base);
    report.set("pss_ratio", json!(round2(tray.pss_mb() / base.pss_mb())));
    report.set("idle_cpu_ms_per_min", json!(round1(app_cpu)));
    report.set("idle_cpu_baseline_ms_per_min", json!(round1(base_cpu)));
    report.row(
        "PSS tray only, idle (MB)",
        tray.pss_mb(),
        Some(base.pss_mb()),
        "<= baseline + 10",
        Some(tray.pss_mb() - base.pss_mb() <= TARGET_PSS_OVER_BASELINE_MB),
    );
    report.row(
        "  ratio to baseline (x)",
        tray.pss_mb() / base.pss_mb(),
        None,
        "-",
        None,
    );
    report.row(
        "RSS tray only, idle (MB)",
        tray.rss_mb(),
        Some(base.rss_mb()),
        "-",
        None,
    );
    report.row(
        "Idle CPU, tray only (ms/min)",
        app_cpu,
        Some(base_cpu),
        "<= 50",
        Some(app_cpu <= TARGET_IDLE_CPU_MS),
    );

    progress("window open, then closed until the webview is destroyed (up to 4 min)");
    window_cycle(&app_bin, &config_dir, out_dir, app_pid, ticks_per_s, report).await?;
    progress("latency: 1000 admin messages");
    latency(&sim, &notes, report).await?;
    progress("burst against the app (about 70 s)");
    burst_app(&sim, &notes, app_pid, report).await?;
    progress("reconnect: 20 server restarts");
    reconnects(&sim, report).await?;

    // The shell's view updates come from the core alone: measured on an in-process App.
    stop(&mut app).await;
    stop(&mut baseline).await;
    progress("burst against an in-process core App (view updates)");
    burst_views(&sim, out_dir, report).await?;
    sim.shutdown().await;
    Ok(())
}

/// Runs the baseline once so the display is the same for both apps: the first GTK 3 process on
/// an X display loads the GL driver (about 28 MB of Mesa on this machine) to choose visuals and
/// caches the choice on the root window; every later process, like an app started on a desktop
/// that already runs GTK programs, skips that. Without this, whichever app starts first pays.
async fn warm_display(
    baseline_bin: &Path,
    config_dir: &Path,
    out_dir: &Path,
    watcher: &mut TrayWatcher,
) -> Result<()> {
    let display = x11::Display::open()?;
    if display.has_gdk_visuals()? {
        return Ok(());
    }
    progress("warming the display (GTK's first-process GL probe)");
    let mut warm_up = launch(baseline_bin, &[], config_dir, &out_dir.join("warm-up.log"))?;
    let pid = warm_up
        .id()
        .ok_or_else(|| anyhow!("the warm-up has no pid"))?;
    // GTK sets the property while opening the display, before any tray item exists.
    timeout(START, watcher.next_from(pid))
        .await
        .map_err(|_| anyhow!("the warm-up registered no tray item within {START:?}"))?
        .ok_or_else(|| anyhow!("the watcher stopped"))?;
    stop(&mut warm_up).await;
    if !display.has_gdk_visuals()? {
        bail!("GTK did not cache its visuals on the display (GDK_VISUALS)");
    }
    Ok(())
}

/// Says which part runs now (on stderr, so the table on stdout stays clean).
fn progress(what: &str) {
    eprintln!("bench: {what}");
}

/// Signs in to the simulator as root the way the app does (settings in `config_dir`, the
/// credential in the session's keyring), then stops, so `abs-tray --hidden` resumes it.
async fn seed_account(sim: &Sim, config_dir: &Path) -> Result<()> {
    let app = App::start(AppOptions {
        settings: SettingsFile::in_dir(config_dir),
        store: AsyncTokenStore::new(Arc::new(KeyringStore::new())),
        delivery: None,
    });
    app.sign_in(sign_in_form(sim))
        .await
        .map_err(|e| anyhow!("seed sign-in: {e}"))?;
    app.shutdown().await;
    Ok(())
}

/// root/root on the simulator.
fn sign_in_form(sim: &Sim) -> SignInForm {
    SignInForm {
        server: sim.base_url(),
        username: Some("root".into()),
        password: Some(Secret::new("root")),
        api_key: None,
        trust_certificate: None,
    }
}

/// Starts a binary with the bench's settings folder, its output going to `log`.
fn launch(binary: &Path, args: &[&str], config_dir: &Path, log: &Path) -> Result<Child> {
    let log = std::fs::File::create(log)?;
    Command::new(binary)
        .args(args)
        .env(CONFIG_DIR_ENV, config_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {}", binary.display()))
}

/// Ends a started app and reaps it.
async fn stop(child: &mut Child) {
    // Already gone is fine: then there is nothing left to measure anyway.
    let _ = child.kill().await;
}

/// Every `Notify` call from now on, in a list the phases read from.
async fn collect_notify() -> Result<Arc<Mutex<Vec<Notify>>>> {
    let mut rx = bus::monitor_notify().await?;
    let notes = Arc::new(Mutex::new(Vec::new()));
    let sink = notes.clone();
    tokio::spawn(async move {
        while let Some(note) = rx.recv().await {
            lock(&sink).push(note);
        }
    });
    Ok(notes)
}

/// A mutex's data, ignoring poisoning (pushes leave it consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits until a `Notify` seen after index `from` contains `marker`; its time.
async fn wait_notify(
    notes: &Mutex<Vec<Notify>>,
    from: usize,
    marker: &str,
    bound: Duration,
) -> Result<Instant> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(n) = lock(notes)
            .iter()
            .skip(from)
            .find(|n| n.text().contains(marker))
        {
            return Ok(n.at);
        }
        if Instant::now() > deadline {
            bail!("no popup with {marker:?} within {bound:?}");
        }
        sleep(Duration::from_millis(20)).await;
    }
}

/// Opens the window through a second launch (the single-instance hand-over), measures it
/// open, closes it like a user, and measures again once its webview is destroyed.
async fn window_cycle(
    app_bin: &Path,
    config_dir: &Path,
    out_dir: &Path,
    app_pid: u32,
    ticks_per_s: u64,
    report: &mut Report,
) -> Result<()> {
    let display = x11::Display::open()?;
    let opened = Instant::now();
    let mut second = launch(
        app_bin,
        &[],
        config_dir,
        &out_dir.join("abs-tray-second.log"),
    )?;
    match timeout(Duration::from_secs(20), second.wait()).await {
        Ok(status) => {
            let status = status?;
            if !status.success() {
                eprintln!("warning: the second launch exited with {status}");
            }
        }
        Err(_) => {
            stop(&mut second).await;
            bail!("the second launch did not hand over and exit within 20 s");
        }
    }
    let deadline = opened + WINDOW_OPEN;
    loop {
        let web = procs::webkit_children(app_pid)
            .iter()
            .any(|p| p.starts_with("WebKitWebProces"));
        if web && !display.visible_windows(WINDOW_TITLE)?.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("no window with a WebKit web process within {WINDOW_OPEN:?}");
        }
        sleep(Duration::from_millis(100)).await;
    }
    let shown_ms = ms(opened.elapsed());
    // The page has loaded once the tree's memory stops growing (three 1 s steps under 1 MB).
    let mut last = procs::memory(app_pid);
    let mut calm = 0;
    for _ in 0..30 {
        sleep(Duration::from_secs(1)).await;
        let now = procs::memory(app_pid);
        calm = if now.pss_kb.abs_diff(last.pss_kb) < 1024 {
            calm + 1
        } else {
            0
        };
        last = now;
        if calm >= 3 {
            break;
        }
    }
    let t0 = procs::cpu_ticks(app_pid);
    sleep(WINDOW_IDLE).await;
    let t1 = procs::cpu_ticks(app_pid);
    let window_cpu = t1.saturating_sub(t0) as f64 * 1000.0 / ticks_per_s as f64 * 60.0
        / WINDOW_IDLE.as_secs_f64();
    let window = procs::memory(app_pid);
    report.memory("window", &window);
    report.set("window_processes", json!(procs::names(app_pid)));
    report.set("window_shown_ms", json!(round1(shown_ms)));
    report.set("idle_cpu_window_ms_per_min", json!(round1(window_cpu)));
    report.row("PSS window open (MB)", window.pss_mb(), None, "-", None);
    report.row("RSS window open (MB)", window.rss_mb(), None, "-", None);
    report.row(
        "Idle CPU, window open (ms/min)",
        window_cpu,
        None,
        "-",
        None,
    );

    // Close like a user: the shell hides the window and destroys its webview later.
    let windows = display.visible_windows(WINDOW_TITLE)?;
    for w in &windows {
        display.close(*w)?;
    }
    let closed = Instant::now();
    while !display.visible_windows(WINDOW_TITLE)?.is_empty() {
        if closed.elapsed() > Duration::from_secs(10) {
            bail!("the window did not hide within 10 s of WM_DELETE_WINDOW");
        }
        sleep(Duration::from_millis(50)).await;
    }
    let mut exited = false;
    while closed.elapsed() < WEBVIEW_GONE {
        if procs::webkit_children(app_pid).is_empty() {
            exited = true;
            break;
        }
        sleep(Duration::from_secs(1)).await;
    }
    let gone_s = closed.elapsed().as_secs_f64();
    // Let the freed memory settle (the allocator returns it lazily).
    sleep(Duration::from_secs(5)).await;
    let after = procs::memory(app_pid);
    report.memory("after_close", &after);
    report.set("after_close_processes", json!(procs::names(app_pid)));
    report.set("webkit_exited_after_close", json!(exited));
    report.set("webkit_exit_s", json!(round1(gone_s)));
    report.set(
        "webkit_left_after_close",
        json!(procs::webkit_children(app_pid)),
    );
    report.row(
        "PSS after close, webview destroyed (MB)",
        after.pss_mb(),
        None,
        "WebKit exits",
        Some(exited),
    );
    report.row("RSS after close (MB)", after.rss_mb(), None, "-", None);
    report.row(
        "  WebKit processes gone after close (s)",
        gone_s,
        None,
        "<= 180",
        Some(exited),
    );
    Ok(())
}

/// Closes every popup on screen twice a second until dropped, like popups expiring on a real
/// desktop: the session's dunst keeps them forever (`timeout = 0`, for the tests), and hundreds
/// on screen make it answer `Notify` slower and slower, which would measure dunst, not the app.
fn expire_popups() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        loop {
            // No dunstctl: popups pile up and the figures say so; nothing else depends on it.
            let _ = Command::new("dunstctl")
                .arg("close-all")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await;
            sleep(Duration::from_millis(500)).await;
        }
    })
}

/// Admin message emit → `Notify` on the bus, over [`LATENCY_EVENTS`] messages 20–40 ms apart.
async fn latency(sim: &Sim, notes: &Mutex<Vec<Notify>>, report: &mut Report) -> Result<()> {
    let expiring = expire_popups();
    let nonce = std::process::id();
    let from = lock(notes).len();
    let mut rng = XorShift::seeded();
    let mut emitted = Vec::with_capacity(LATENCY_EVENTS);
    for i in 0..LATENCY_EVENTS {
        let text = format!("bench latency {nonce} #{i:04}#");
        emitted.push(Instant::now());
        sim.admin_message(&text);
        sleep(Duration::from_millis(20 + rng.below(21))).await;
    }
    let prefix = format!("bench latency {nonce} #");
    // Bounded: a popup later than this counts as missing.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen: Vec<Option<Instant>> = vec![None; LATENCY_EVENTS];
    loop {
        for n in lock(notes).iter().skip(from) {
            let text = n.text();
            let Some(pos) = text.find(&prefix) else {
                continue;
            };
            let index = text
                .get(pos + prefix.len()..pos + prefix.len() + 4)
                .and_then(|d| d.parse::<usize>().ok());
            if let Some(slot) = index.and_then(|i| seen.get_mut(i))
                && slot.is_none()
            {
                *slot = Some(n.at);
            }
        }
        if seen.iter().all(Option::is_some) || Instant::now() > deadline {
            break;
        }
        sleep(Duration::from_millis(100)).await;
    }
    expiring.abort();
    let mut lat: Vec<f64> = emitted
        .iter()
        .zip(&seen)
        .filter_map(|(sent, got)| got.map(|got| ms(got.saturating_duration_since(*sent))))
        .collect();
    let missing = LATENCY_EVENTS - lat.len();
    lat.sort_by(f64::total_cmp);
    let (p50, p99, max) = (
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
    );
    report.set("latency_events", json!(LATENCY_EVENTS));
    report.set("latency_missing", json!(missing));
    report.set("latency_p50_ms", json!(round2(p50)));
    report.set("latency_p99_ms", json!(round2(p99)));
    report.set("latency_max_ms", json!(round2(max)));
    report.row("Latency emit -> Notify p50 (ms)", p50, None, "-", None);
    report.row(
        "Latency emit -> Notify p99 (ms)",
        p99,
        None,
        "<= 50",
        Some(p99 <= TARGET_LATENCY_P99_MS && missing == 0),
    );
    report.row("Latency emit -> Notify max (ms)", max, None, "-", None);
    if missing > 0 {
        report.row("  popups missing", missing as f64, None, "0", Some(false));
    }
    Ok(())
}

/// Server back (listening) → the app connected and authenticated (`init`), over
/// [`RESTARTS`] restarts with downtimes between 0.3 and 1 s.
async fn reconnects(sim: &Sim, report: &mut Report) -> Result<()> {
    let mut times = Vec::new();
    for i in 0..RESTARTS {
        let down = Duration::from_millis(300 + (i * 173) % 700);
        let restart = async {
            sim.restart_after(down).await?;
            let mut events = sim.events();
            sim.listening().await;
            let up = Instant::now();
            events.wait_named("init", Duration::from_secs(60)).await?;
            anyhow::Ok(up.elapsed().as_secs_f64())
        };
        let took = timeout(Duration::from_secs(90), restart)
            .await
            .map_err(|_| anyhow!("restart {i} did not end within 90 s"))?
            .with_context(|| format!("no reconnect after restart {i}"));
        match took {
            Ok(took) => times.push(took),
            Err(err) => {
                report.set("reconnect_failed_at", json!(i));
                reconnect_figures(&mut times, report);
                return Err(err);
            }
        }
        // Each restart is a fresh outage, as a real one is: a connection that drops sooner than
        // `Backoff::STABLE_AFTER` counts as a flapping server, which is retried ever more slowly
        // by design (restarts 1 s apart stalled the app after ~13 of them).
        sleep(Backoff::STABLE_AFTER + Duration::from_secs(1)).await;
    }
    reconnect_figures(&mut times, report);
    Ok(())
}

/// The reconnect figures of the restarts that completed.
fn reconnect_figures(times: &mut [f64], report: &mut Report) {
    times.sort_by(f64::total_cmp);
    report.set("reconnects_done", json!(times.len()));
    let (p50, p99) = (percentile(times, 0.50), percentile(times, 0.99));
    report.set("reconnect_p50_s", json!(round3(p50)));
    report.set("reconnect_p99_s", json!(round3(p99)));
    report.set(
        "reconnect_max_s",
        json!(round3(times.last().copied().unwrap_or(f64::NAN))),
    );
    report.row("Reconnect server up -> init p50 (s)", p50, None, "-", None);
    report.row(
        "Reconnect server up -> init p99 (s)",
        p99,
        None,
        "<= 1",
        Some(p99 <= TARGET_RECONNECT_P99_S && times.len() as u64 == RESTARTS),
    );
}

/// The burst's events, in the order they are sent: progress writes for the signed-in user
/// with presence changes of many users mixed in evenly.
fn burst_events(sim: &Sim) -> Result<Vec<(&'static str, Value)>> {
    let user_id = sim.user_id("root").ok_or_else(|| anyhow!("no root user"))?;
    let items = sim.item_ids();
    let now = unix_ms();
    let mut out = Vec::with_capacity(BURST_PROGRESS + BURST_PRESENCE);
    let every = BURST_PROGRESS / BURST_PRESENCE;
    let mut presence = 0;
    for i in 0..BURST_PROGRESS {
        let item = items
            .get(i % items.len().max(1))
            .cloned()
            .unwrap_or_else(|| "li_bench".into());
        let progress_id = format!("mp-bench-{}", i % 50);
        let position = (i / 50) as f64;
        out.push((
            "user_item_progress_updated",
            json!({
                "id": progress_id,
                "sessionId": format!("ps-bench-{}", i % 50),
                "deviceDescription": "Bench / burst",
                "data": {
                    "id": progress_id,
                    "userId": user_id,
                    "libraryItemId": item,
                    "episodeId": null,
                    "mediaItemId": format!("mi-{item}"),
                    "mediaItemType": "book",
                    "duration": 36000,
                    "progress": position / 36000.0,
                    "currentTime": position,
                    "isFinished": false,
                    "hideFromContinueListening": false,
                    "ebookLocation": null,
                    "ebookProgress": 0,
                    "lastUpdate": now + i as i64,
                    "startedAt": now,
                    "finishedAt": null
                }
            }),
        ));
        if i % every == every - 1 && presence < BURST_PRESENCE {
            // 600 users come online, then 400 of them leave again.
            let user = presence % 600;
            let name = if presence < 600 {
                "user_online"
            } else {
                "user_offline"
            };
            out.push((
                name,
                json!({
                    "id": format!("usr-bench-{user:03}"),
                    "username": format!("bench{user:03}"),
                    "type": "user",
                    "session": null,
                    "lastSeen": now,
                    "createdAt": now - 86_400_000
                }),
            ));
            presence += 1;
        }
    }
    Ok(out)
}

/// Unix time in milliseconds.
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Sends the burst evenly over one second; returns when it started.
async fn send_burst(sim: &Sim, events: &[(&'static str, Value)]) -> Instant {
    let start = Instant::now();
    let slice = events.len().div_ceil(BURST_SLICES);
    for (n, chunk) in events.chunks(slice).enumerate() {
        for (name, payload) in chunk {
            sim.emit_raw(name, payload);
        }
        sleep_until(start + Duration::from_secs(1) * (n as u32 + 1) / BURST_SLICES as u32).await;
    }
    start
}

/// The burst against the running app: time to absorb, popups, peak memory.
async fn burst_app(
    sim: &Sim,
    notes: &Mutex<Vec<Notify>>,
    app_pid: u32,
    report: &mut Report,
) -> Result<()> {
    let events = burst_events(sim)?;
    let peak_pss = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, on) = (peak_pss.clone(), sampling.clone());
        tokio::spawn(async move {
            while on.load(Ordering::Relaxed) {
                peak.fetch_max(procs::memory(app_pid).pss_kb, Ordering::Relaxed);
                sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let hwm_before = procs::peak_rss_kb(app_pid).unwrap_or(0);
    let from = lock(notes).len();
    let mut sim_events = sim.events();
    let expiring = expire_popups();
    let start = send_burst(sim, &events).await;
    let sent_s = start.elapsed().as_secs_f64();
    let marker = format!("bench burst marker {}", std::process::id());
    sim.admin_message(&marker);
    // A backlog of popups (the latency part's) can hold the marker back: then no figure.
    let absorb_s = match wait_notify(notes, from, &marker, Duration::from_secs(120)).await {
        Ok(absorbed) => (absorbed - start).as_secs_f64(),
        Err(err) => {
            eprintln!("bench: {err}");
            f64::NAN
        }
    };
    sleep_until(start + BURST_TAIL).await;
    expiring.abort();
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;
    let popups: Vec<(Instant, String)> = lock(notes)
        .iter()
        .skip(from)
        // The latency part's broadcasts may still trickle in: they are not the burst's.
        .filter(|n| !n.text().contains(&marker) && !n.text().contains("bench latency"))
        .map(|n| (n.at, n.summary.clone()))
        .collect();
    let times: Vec<Instant> = popups.iter().map(|p| p.0).collect();
    let most_in_window = times
        .iter()
        .map(|t| {
            times
                .iter()
                .filter(|u| **u >= *t && **u < *t + RATE_WINDOW)
                .count()
        })
        .max()
        .unwrap_or(0);
    // The connection must survive the burst: a disconnect would hide events from the figures.
    let seen = sim_events.drain();
    let disconnects: Vec<String> = seen
        .iter()
        .filter(|e| e.name == "(disconnect)")
        .map(|e| e.payload.as_ref().map(Value::to_string).unwrap_or_default())
        .collect();
    let reconnected = seen.iter().filter(|e| e.name == "init").count();
    report.set("burst_disconnects", json!(disconnects));
    report.set("burst_reconnects", json!(reconnected));
    let hwm = procs::peak_rss_kb(app_pid).unwrap_or(0);
    let peak_pss_mb = procs::kb_to_mb(peak_pss.load(Ordering::Relaxed));
    report.set("burst_events", json!(events.len()));
    report.set("burst_sent_s", json!(round3(sent_s)));
    report.set("burst_absorb_s", json!(round3(absorb_s)));
    report.set("burst_popups", json!(popups.len()));
    report.set("burst_popups_max_per_30s", json!(most_in_window));
    report.set(
        "burst_popup_titles",
        json!(popups.iter().map(|p| p.1.clone()).collect::<Vec<_>>()),
    );
    report.set("burst_peak_pss_mb", json!(round2(peak_pss_mb)));
    report.set(
        "burst_vmhwm_before_mb",
        json!(round2(procs::kb_to_mb(hwm_before))),
    );
    report.set("burst_vmhwm_mb", json!(round2(procs::kb_to_mb(hwm))));
    report.row(
        "Burst 10k progress + 1k presence: absorb (s)",
        absorb_s,
        None,
        "-",
        None,
    );
    report.row(
        "  popups shown (max in 30 s)",
        popups.len() as f64,
        None,
        "<= 5 per 30 s",
        Some(most_in_window <= RATE_LIMIT),
    );
    report.row(
        "  disconnects during the burst",
        disconnects.len() as f64,
        None,
        "0",
        Some(disconnects.is_empty()),
    );
    report.row("  peak PSS during burst (MB)", peak_pss_mb, None, "-", None);
    report.row(
        "  VmHWM of the app process (MB)",
        procs::kb_to_mb(hwm),
        None,
        "-",
        None,
    );
    Ok(())
}

/// The same burst against an in-process core `App`: how many views the shell would forward to
/// the window (every change of `App::view`, see `forward_views` in `src-tauri/src/lib.rs`).
async fn burst_views(sim: &Sim, out_dir: &Path, report: &mut Report) -> Result<()> {
    let dir = out_dir.join("config-views");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let mut events = sim.events();
    let app = App::start(AppOptions {
        settings: SettingsFile::in_dir(&dir),
        store: AsyncTokenStore::new(Arc::new(MemoryStore::new())),
        delivery: None,
    });
    app.sign_in(sign_in_form(sim))
        .await
        .map_err(|e| anyhow!("in-process sign-in: {e}"))?;
    events.wait_named("init", START).await?;
    sleep(Duration::from_secs(2)).await;
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let counter = {
        let mut views = app.view();
        let stamps = stamps.clone();
        tokio::spawn(async move {
            while views.changed().await.is_ok() {
                views.borrow_and_update();
                lock(&stamps).push(Instant::now());
            }
        })
    };
    let burst = burst_events(sim)?;
    let start = send_burst(sim, &burst).await;
    // Done once no view changed for 3 s (bounded).
    loop {
        sleep(Duration::from_millis(500)).await;
        let last = lock(&stamps).last().copied().unwrap_or(start);
        if last.elapsed() > Duration::from_secs(3) || start.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    app.shutdown().await;
    counter.abort();
    let stamps: Vec<Instant> = lock(&stamps)
        .iter()
        .copied()
        .filter(|t| *t >= start)
        .collect();
    let total = stamps.len();
    let span = stamps
        .last()
        .map(|t| (*t - start).as_secs_f64())
        .unwrap_or(0.0);
    let max_per_s = stamps
        .iter()
        .map(|t| {
            stamps
                .iter()
                .filter(|u| **u >= *t && **u < *t + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    report.set("burst_view_updates", json!(total));
    report.set("burst_view_updates_span_s", json!(round3(span)));
    report.set("burst_view_updates_max_per_s", json!(max_per_s));
    report.row(
        "  view updates to the window (max per s)",
        max_per_s as f64,
        None,
        "-",
        None,
    );
    report.row(
        "  view updates to the window (total)",
        total as f64,
        None,
        "-",
        None,
    );
    Ok(())
}

/// A file's size in MB.
fn file_mb(path: &PathBuf) -> Result<f64> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("{} (make bench builds it)", path.display()))?
        .len();
    Ok(len as f64 / (1024.0 * 1024.0))
}

/// A duration in milliseconds.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Rounds to 1 decimal.
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Rounds to 2 decimals.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Rounds to 3 decimals.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A small xorshift for the latency jitter (no randomness quality needed).
struct XorShift(u64);

impl XorShift {
    /// Seeded from the clock.
    fn seeded() -> Self {
        Self(u64::try_from(unix_ms()).unwrap_or(1) | 1)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The table rows and the JSON, filled as measurements come in.
#[derive(Default)]
struct Report {
    /// What goes into `target/bench/latest.json`.
    json: serde_json::Map<String, Value>,
    /// Where the JSON is saved.
    path: Option<PathBuf>,
    /// The table.
    rows: Vec<Row>,
    /// Further tables of their own layout, printed after the rows (the reconnect faults).
    tables: Vec<Vec<String>>,
}

/// One line of the table.
struct Row {
    /// What was measured, with its unit.
    metric: String,
    /// ABS Tray's value.
    app: f64,
    /// The baseline's value, where it has one.
    base: Option<f64>,
    /// The target, as text.
    target: String,
    /// Met or missed, where there is a target.
    ok: Option<bool>,
}

impl Report {
    /// Sets a JSON key and saves the JSON at once, so a run that is stopped keeps what it had.
    fn set(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_owned(), value);
        if let Some(path) = &self.path
            && let Ok(text) = serde_json::to_string_pretty(&self.json)
            && let Err(err) = std::fs::write(path, text)
        {
            eprintln!("bench: could not write {}: {err}", path.display());
        }
    }

    /// Adds a table row.
    fn row(&mut self, metric: &str, app: f64, base: Option<f64>, target: &str, ok: Option<bool>) {
        self.rows.push(Row {
            metric: metric.to_owned(),
            app,
            base,
            target: target.to_owned(),
            ok,
        });
    }

    /// Adds a table of its own layout, printed after the rows.
    fn table(&mut self, lines: Vec<String>) {
        self.tables.push(lines);
    }

    /// Sets `pss_<what>_mb`, `rss_<what>_mb` and `processes_<what>`.
    fn memory(&mut self, what: &str, m: &Memory) {
        self.set(&format!("pss_{what}_mb"), json!(round2(m.pss_mb())));
        self.set(&format!("rss_{what}_mb"), json!(round2(m.rss_mb())));
        self.set(&format!("process_count_{what}"), json!(m.processes));
    }

    /// Prints the table.
    fn print(&self) {
        if !self.rows.is_empty() {
            self.print_rows();
        }
        for table in &self.tables {
            println!();
            for line in table {
                println!("{line}");
            }
        }
        if let Some(err) = self.json.get("error") {
            println!("\nstopped early: {err}");
        }
    }

    /// Prints the rows.
    fn print_rows(&self) {
        println!(
            "\n{:<46} {:>10} {:>10} {:>18}  verdict",
            "metric", "ABS Tray", "baseline", "target"
        );
        println!("{}", "-".repeat(96));
        for Row {
            metric,
            app,
            base,
            target,
            ok,
        } in &self.rows
        {
            let base = base
                .map(|b| format!("{b:.2}"))
                .unwrap_or_else(|| "-".into());
            let verdict = match ok {
                Some(true) => "ok",
                Some(false) => "MISSED",
                None => "",
            };
            println!("{metric:<46} {app:>10.2} {base:>10} {target:>18}  {verdict}");
        }
    }
}
