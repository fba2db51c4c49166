//! What the log must never show, whatever `ABS_TRAY_LOG` asks for; used by the app and the CLI.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::FilterFn;

/// Crates whose trace level prints raw WebSocket traffic: every frame's payload, so the access
/// token of the socket's `auth` event, and the handshake request. Their debug level (connects,
/// closes, errors) prints no payload and stays.
const RAW_TRAFFIC: &[&str] = &["tungstenite", "tokio_tungstenite"];

/// A filter layer that drops the trace events of the crates that print raw traffic, so even
/// `ABS_TRAY_LOG=trace` cannot put a token in the log.
pub fn without_raw_traffic() -> FilterFn<fn(&Metadata<'_>) -> bool> {
    FilterFn::new(allowed as fn(&Metadata<'_>) -> bool)
}

/// False for a trace event of a [`RAW_TRAFFIC`] crate (its own target or a module of it).
fn allowed(metadata: &Metadata<'_>) -> bool {
    *metadata.level() != Level::TRACE || !RAW_TRAFFIC.iter().any(|c| in_crate(metadata.target(), c))
}

/// `target` is the crate `name` or one of its modules.
fn in_crate(target: &str, name: &str) -> bool {
    target
        .strip_prefix(name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// A log writer the test reads back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn trace_everything_still_hides_raw_frames() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("trace"))
            .with_writer(move || writer.clone())
            .finish()
            .with(without_raw_traffic());
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "tungstenite::protocol::frame", "writing frame 42[auth]");
            tracing::trace!(target: "tokio_tungstenite", "raw read");
            tracing::debug!(target: "tungstenite::protocol", "received close frame");
            tracing::trace!(target: "tungstenite_extra", "another crate");
            tracing::trace!(target: "abs_tray_core::socket", "our own trace");
        });
        let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(
            !log.contains("42[auth]") && !log.contains("raw read"),
            "{log}"
        );
        for kept in ["received close frame", "another crate", "our own trace"] {
            assert!(log.contains(kept), "{kept} is missing from:\n{log}");
        }
    }
}
