//! The window's commands: each forwards to the core and answers the core's [`AppError`] on
//! failure (`{code, message, detail, diagnose}`).
//!
//! Every command is listed in `build.rs` and granted in `capabilities/main.json`; nothing here
//! returns a secret (the [`WindowView`] holds none, and the sign-in form's password goes one way).

use abs_tray_core::app::{AppError, Pause, SignInForm};
use abs_tray_core::doctor::Report;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_opener::OpenerExt;

use crate::{Shell, WindowView};

/// What every command returns.
type Answer<T = ()> = Result<T, AppError>;

/// The current picture (afterwards the `view` event brings every change).
#[tauri::command]
pub async fn view(shell: State<'_, Shell>) -> Answer<WindowView> {
    Ok(shell.window_view())
}

/// Signs in with the form; a running demo server is no longer needed afterwards.
#[tauri::command]
pub async fn sign_in(shell: State<'_, Shell>, form: SignInForm) -> Answer {
    shell.app.sign_in(form).await?;
    shell.demo.stop().await;
    Ok(())
}

/// Starts the built-in demo server and signs in to it.
#[tauri::command]
pub async fn try_demo(shell: State<'_, Shell>) -> Answer {
    shell.demo.sign_in(&shell.app).await
}

/// The doctor's step-by-step verdict on an address, for a sign-in that failed.
#[tauri::command]
pub async fn diagnose(shell: State<'_, Shell>, server: String) -> Answer<Report> {
    Ok(shell.app.diagnose(&server).await)
}

/// Signs out: the server forgets the refresh token, the keyring entry goes.
#[tauri::command]
pub async fn sign_out(shell: State<'_, Shell>) -> Answer {
    shell.app.sign_out().await?;
    shell.demo.stop().await;
    Ok(())
}

/// Drops the connection and connects again at once.
#[tauri::command]
pub async fn reconnect(shell: State<'_, Shell>) -> Answer {
    shell.app.reconnect().await
}

/// Opens the server's web page in the browser.
#[tauri::command]
pub async fn open_server<R: Runtime>(app: AppHandle<R>, shell: State<'_, Shell>) -> Answer {
    let url = shell.app.server_page().ok_or(AppError::NotSignedIn)?;
    app.opener()
        .open_url(url, None::<&str>)
        .map_err(|err| AppError::Desktop {
            what: "open the browser",
            reason: err.to_string(),
        })
}

/// Pauses popups for an hour or until tomorrow morning, or resumes them.
#[tauri::command]
pub async fn pause(shell: State<'_, Shell>, choice: String) -> Answer {
    let pause = match choice.as_str() {
        "hour" => Pause::Hour,
        "tomorrow" => Pause::UntilTomorrow,
        "resume" => Pause::Resume,
        _ => {
            return Err(AppError::InvalidChoice(
                "pause for an hour, until tomorrow, or resume".into(),
            ));
        }
    };
    shell.app.pause(pause)
}

/// Saves the notification settings from the Settings form; they apply at once.
#[tauri::command]
pub async fn save_settings(shell: State<'_, Shell>, settings: serde_json::Value) -> Answer {
    shell.app.save_notification_settings(settings)
}

/// Turns launch at login on or off (the login item starts the app hidden in the tray).
#[tauri::command]
pub async fn set_autostart<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    enabled: bool,
) -> Answer {
    crate::set_autostart(&app, &shell, enabled)
}

/// Cancels a library scan (admins).
#[tauri::command]
pub async fn cancel_scan(shell: State<'_, Shell>, library_id: String) -> Answer {
    shell.app.cancel_scan(library_id).await
}

/// Sends a message to every connected user (admins).
#[tauri::command]
pub async fn broadcast(shell: State<'_, Shell>, message: String) -> Answer {
    shell.app.broadcast(message).await
}

/// Follows the server log from `level` up, or stops following it (`null`).
#[tauri::command]
pub async fn set_log_level(shell: State<'_, Shell>, level: Option<u8>) -> Answer {
    shell.app.set_log_level(level).await
}

/// The window is looked at (admins' live positions are polled only then).
#[tauri::command]
pub async fn set_watching(shell: State<'_, Shell>, watching: bool) -> Answer {
    shell.app.set_watching(watching);
    Ok(())
}
