//! End-to-end tests of ABS Tray against real parts: the simulator, the official Socket.IO client,
//! and (in later issues) a private desktop session with D-Bus, gnome-keyring, dunst and Xvfb.
//! The tests live in `tests/tests/`; this library holds nothing yet.
