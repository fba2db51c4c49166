//! ABS Tray core: everything the tray app does that needs no GUI, so it can be tested headless.

pub mod backoff;
pub mod clock;
pub mod connection;
pub mod protocol;
pub mod secret;
pub mod socket;
