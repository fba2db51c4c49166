//! A minimal `org.kde.StatusNotifierWatcher`, served where no panel runs (the private test
//! session), so tray items register over D-Bus as they would with a desktop panel. The tray test
//! and `make bench` both use it.

use tokio::sync::mpsc;
use tokio::time::Instant;
use zbus::Connection;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

/// The watcher's well-known name (KDE's, which appindicator looks for) and interface.
pub const WATCHER: &str = "org.kde.StatusNotifierWatcher";
/// The watcher's object path.
const WATCHER_PATH: &str = "/StatusNotifierWatcher";

/// An item that registered: where its `org.kde.StatusNotifierItem` lives, and when.
#[derive(Debug, Clone)]
pub struct Registration {
    /// When the watcher got the call.
    pub at: Instant,
    /// The caller's unique bus name (whose process registered).
    pub sender: String,
    /// The bus name that owns the item (the caller's unique name when it passed a path).
    pub bus_name: String,
    /// The item's object path.
    pub path: String,
}

/// Accepts every item and forwards it.
struct Watcher {
    /// The registered items as `bus_name/path` strings, which is what panels read.
    items: Vec<String>,
    /// Where registrations go.
    registered: mpsc::UnboundedSender<Registration>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    /// Records an item. appindicator passes its object path and leaves the bus name implicit
    /// (the caller); other SNI implementations pass a bus name and use `/StatusNotifierItem`.
    async fn register_status_notifier_item(
        &mut self,
        service: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        let at = Instant::now();
        let sender = header
            .sender()
            .ok_or_else(|| zbus::fdo::Error::InvalidArgs("no sender".into()))?
            .to_string();
        let (bus_name, path) = if service.starts_with('/') {
            (sender.clone(), service.to_owned())
        } else {
            (service.to_owned(), "/StatusNotifierItem".to_owned())
        };
        let id = format!("{bus_name}{path}");
        self.items.push(id.clone());
        // Emitted by hand: `#[zbus(signal)]` would add a public trait without docs.
        emitter
            .emit(WATCHER, "StatusNotifierItemRegistered", &(id.as_str(),))
            .await?;
        self.registered_status_notifier_items_changed(&emitter)
            .await?;
        // Whoever served the watcher may have stopped listening; it keeps serving regardless.
        let _ = self.registered.send(Registration {
            at,
            sender,
            bus_name,
            path,
        });
        Ok(())
    }

    /// Accepts a host; this watcher always reports one anyway, so items don't fall back.
    fn register_status_notifier_host(&self, _service: &str) {}

    /// The registered items.
    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.clone()
    }

    /// A host (the panel) is present: without one, items fall back to an XEmbed icon.
    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    /// The protocol version of the spec.
    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// Serves the watcher on the session bus; registrations arrive on the returned channel. Fails
/// when another watcher owns the name.
pub async fn serve() -> zbus::Result<(Connection, mpsc::UnboundedReceiver<Registration>)> {
    let (registered, registrations) = mpsc::unbounded_channel();
    let watcher = Watcher {
        items: Vec::new(),
        registered,
    };
    let conn = zbus::connection::Builder::session()?
        .serve_at(WATCHER_PATH, watcher)?
        .name(WATCHER)?
        .build()
        .await?;
    Ok((conn, registrations))
}
