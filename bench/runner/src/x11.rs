//! Closing the status window like a user does: `WM_DELETE_WINDOW` to its X11 window, which
//! GTK turns into a close request (the app hides the window and later destroys its webview).

use anyhow::{Context, Result, anyhow};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt, EventMask, MapState, Window,
};
use x11rb::rust_connection::RustConnection;

/// The X display of the private session.
pub struct Display {
    /// The connection.
    conn: RustConnection,
    /// The root window of the default screen.
    root: Window,
}

impl Display {
    /// Connects to `$DISPLAY`.
    pub fn open() -> Result<Self> {
        let (conn, screen) = x11rb::connect(None).context("connect to $DISPLAY")?;
        let root = conn
            .setup()
            .roots
            .get(screen)
            .ok_or_else(|| anyhow!("no screen {screen}"))?
            .root;
        Ok(Self { conn, root })
    }

    /// An atom by name.
    fn atom(&self, name: &str) -> Result<u32> {
        Ok(self.conn.intern_atom(false, name.as_bytes())?.reply()?.atom)
    }

    /// The window's title (`_NET_WM_NAME`, else `WM_NAME`).
    fn title(&self, window: Window) -> Result<String> {
        let utf8 = self.atom("UTF8_STRING")?;
        let net_name = self.atom("_NET_WM_NAME")?;
        let reply = self
            .conn
            .get_property(false, window, net_name, utf8, 0, 256)?
            .reply()?;
        if !reply.value.is_empty() {
            return Ok(String::from_utf8_lossy(&reply.value).into_owned());
        }
        let reply = self
            .conn
            .get_property(false, window, AtomEnum::WM_NAME, AtomEnum::STRING, 0, 256)?
            .reply()?;
        Ok(String::from_utf8_lossy(&reply.value).into_owned())
    }

    /// GTK 3 has picked this display's visuals and cached them on the root window
    /// (`GDK_VISUALS`), so later GTK processes skip the GL driver probe.
    pub fn has_gdk_visuals(&self) -> Result<bool> {
        let atom = self.atom("GDK_VISUALS")?;
        let reply = self
            .conn
            .get_property(false, self.root, atom, AtomEnum::ANY, 0, 64)?
            .reply()?;
        Ok(!reply.value.is_empty())
    }

    /// The mapped top-level windows titled `title` (no window manager: they are the root's
    /// children).
    pub fn visible_windows(&self, title: &str) -> Result<Vec<Window>> {
        let children = self.conn.query_tree(self.root)?.reply()?.children;
        let mut found = Vec::new();
        for window in children {
            let viewable =
                self.conn.get_window_attributes(window)?.reply()?.map_state == MapState::VIEWABLE;
            if viewable && self.title(window)? == title {
                found.push(window);
            }
        }
        Ok(found)
    }

    /// Asks the window to close, as a window manager's close button does.
    pub fn close(&self, window: Window) -> Result<()> {
        let protocols = self.atom("WM_PROTOCOLS")?;
        let delete = self.atom("WM_DELETE_WINDOW")?;
        // Data: the protocol atom and a timestamp (CurrentTime).
        let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
        self.conn
            .send_event(false, window, EventMask::NO_EVENT, event)?;
        self.conn.flush()?;
        Ok(())
    }
}
