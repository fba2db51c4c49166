//! `settings.toml` on a real file system: round trip, broken files kept and reported with their
//! path and line, explicit reset with a backup, private permissions.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::fs;
use std::path::PathBuf;

use abs_tray_core::config::{AuthKind, ConfigError, SETTINGS_FILE, Settings, SettingsFile};
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsOptions;

fn sample() -> Settings {
    let mut notifications = toml::Table::new();
    notifications.insert("book_finished".into(), toml::Value::Boolean(true));
    notifications.insert(
        "quiet_hours".into(),
        toml::Value::String("22:00-07:00".into()),
    );
    Settings {
        server_url: Some(ServerUrl::parse("https://abs.example.com/audiobookshelf/").unwrap()),
        username: Some("alice".into()),
        auth_kind: AuthKind::ApiKey,
        tls: TlsOptions {
            extra_ca_pem: Some(PathBuf::from("/etc/ssl/home-ca.pem")),
            pinned_cert_sha256: None,
        },
        notifications,
    }
}

#[test]
fn a_missing_file_gives_defaults_and_settings_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("not/yet/there");
    let mut file = SettingsFile::in_dir(&nested);
    assert_eq!(file.load().unwrap(), Settings::default());
    file.save(&sample()).unwrap();

    let mut reopened = SettingsFile::in_dir(&nested);
    assert_eq!(reopened.load().unwrap(), sample());
    let text = fs::read_to_string(nested.join(SETTINGS_FILE)).unwrap();
    assert!(
        text.contains("server_url = \"https://abs.example.com/audiobookshelf\""),
        "{text}"
    );
    assert!(text.contains("auth_kind = \"api_key\""), "{text}");
    assert!(text.contains("[notifications]"), "{text}");
    // No temporary file is left behind.
    let names: Vec<_> = fs::read_dir(&nested)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [SETTINGS_FILE]);
}

#[test]
fn hand_written_files_with_unknown_keys_load() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(SETTINGS_FILE),
        "server_url = \"abs.example.com\"\nfuture_option = 3\n[notifications]\nx = 1\n",
    )
    .unwrap();
    let settings = SettingsFile::in_dir(dir.path()).load().unwrap();
    assert_eq!(
        settings.server_url.unwrap().to_string(),
        "https://abs.example.com"
    );
    assert_eq!(settings.auth_kind, AuthKind::Password);
    assert_eq!(settings.notifications["x"].as_integer(), Some(1));
}

#[test]
fn a_broken_file_is_reported_with_path_and_line_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SETTINGS_FILE);
    let broken = "username = \"alice\"\nauth_kind = \"password\"\nserver_url = [unclosed\n";
    fs::write(&path, broken).unwrap();

    let mut file = SettingsFile::in_dir(dir.path());
    let err = file.load().unwrap_err();
    match &err {
        ConfigError::Parse { path: p, line, .. } => {
            assert_eq!(p, &path);
            assert_eq!(*line, 3, "{err}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{}:3:", path.display())),
        "{message}"
    );
    assert_eq!(err.code(), "config_invalid");

    let refused = file.save(&sample()).unwrap_err();
    assert_eq!(refused, ConfigError::BrokenFileKept { path: path.clone() });
    assert_eq!(fs::read_to_string(&path).unwrap(), broken);

    // Only an explicit reset allows saving again, and it keeps the broken file as .bak.
    let (defaults, backup) = file.reset().unwrap();
    assert_eq!(defaults, Settings::default());
    let backup = backup.unwrap();
    assert_eq!(backup, dir.path().join(format!("{SETTINGS_FILE}.bak")));
    assert_eq!(fs::read_to_string(&backup).unwrap(), broken);
    file.save(&sample()).unwrap();
    assert_eq!(SettingsFile::in_dir(dir.path()).load().unwrap(), sample());
}

#[test]
fn a_value_of_the_wrong_kind_is_a_located_error_too() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(SETTINGS_FILE),
        "username = \"alice\"\n\nauth_kind = \"fingerprint\"\n",
    )
    .unwrap();
    let err = SettingsFile::in_dir(dir.path()).load().unwrap_err();
    assert!(matches!(err, ConfigError::Parse { line: 3, .. }), "{err:?}");
    fs::write(
        dir.path().join(SETTINGS_FILE),
        "server_url = \"ftp://abs.example.com\"\n",
    )
    .unwrap();
    let err = SettingsFile::in_dir(dir.path()).load().unwrap_err();
    assert!(err.to_string().contains("http:// or https://"), "{err}");
}

#[test]
fn a_failed_load_blocks_saving_even_after_the_file_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SETTINGS_FILE);
    fs::write(&path, "= nonsense").unwrap();
    let mut file = SettingsFile::in_dir(dir.path());
    assert!(file.load().is_err());
    fs::remove_file(&path).unwrap();
    assert!(matches!(
        file.save(&sample()),
        Err(ConfigError::BrokenFileKept { .. })
    ));
    // Loading again (the user fixed or removed it) lifts the block.
    assert_eq!(file.load().unwrap(), Settings::default());
    file.save(&sample()).unwrap();
}

#[cfg(unix)]
#[test]
fn the_file_is_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SETTINGS_FILE);
    // Even a file the user created world-readable becomes private on the next save.
    fs::write(&path, "username = \"alice\"\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut file = SettingsFile::in_dir(dir.path());
    let settings = file.load().unwrap();
    file.save(&settings).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");

    let fresh = dir.path().join("fresh");
    let mut file = SettingsFile::in_dir(&fresh);
    file.load().unwrap();
    file.save(&sample()).unwrap();
    let dir_mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "{dir_mode:o}");
}

#[cfg(unix)]
#[test]
fn an_unreadable_file_is_an_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: unreadable as a file for every user, root included.
    let path = dir.path().join(SETTINGS_FILE);
    fs::create_dir(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
    let mut file = SettingsFile::in_dir(dir.path());
    let err = file.load().unwrap_err();
    assert!(
        matches!(&err, ConfigError::Read { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains(SETTINGS_FILE));
    assert!(matches!(
        file.save(&sample()),
        Err(ConfigError::BrokenFileKept { .. })
    ));
}
