//! ABS Tray core: everything the tray app does that needs no GUI, so it can be tested headless.

pub mod app;
pub mod auth;
pub mod backoff;
pub mod clock;
pub mod config;
pub mod connection;
pub mod covers;
pub mod credentials;
pub mod delivery;
pub mod doctor;
pub mod glance;
pub mod happening;
pub mod live;
pub mod logging;
pub mod machine;
pub mod notifier;
pub mod panic_hook;
pub mod policy;
pub mod protocol;
pub mod secret;
pub mod server_url;
pub mod socket;
pub mod tls;
pub mod token_store;
