//! Who is online: per-user connection counts built from per-socket events.
//!
//! ABS sends `user_online` / `user_offline` for every socket, so a user with a phone and a
//! browser comes online twice and "goes offline" while still connected. A user is online while
//! their count is above zero; only the 0 → 1 and 1 → 0 steps are facts. The server's list
//! (`init.usersOnline`, `GET /api/users/online`, with `connections`) overrides the counts.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::label::label;
use crate::happening::Who;
use crate::protocol::PublicUser;

/// One user as presence knows them.
#[derive(Debug, Clone)]
struct Entry {
    /// Display name.
    username: String,
    /// Authenticated sockets.
    connections: u32,
    /// Last moment known online.
    last_seen_ms: Option<u64>,
    /// Start of the current online stretch.
    online_since_ms: Option<u64>,
    /// Event sequence number of the last event about this user; a server list requested before
    /// it may predate the event and must not undo it.
    touched: u64,
}

/// What a `user_offline` meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Offline {
    /// The user's last connection went away.
    Gone(Who),
    /// Another connection of the user remains.
    StillOnline,
    /// The user was not counted online: the counts are off and need the server's list.
    Inconsistent,
}

/// Users by id, capped at `cap` entries (offline ones are forgotten first).
#[derive(Debug, Clone)]
pub(crate) struct Presence {
    /// Everyone online plus users seen offline, by id.
    users: HashMap<String, Entry>,
    /// How many entries have connections > 0 (so a full table of online users is not searched
    /// for something to evict on every event).
    online: usize,
    /// Most entries kept.
    cap: usize,
}

impl Presence {
    /// Nobody known yet; at most `cap` users kept.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            users: HashMap::new(),
            online: 0,
            cap,
        }
    }

    /// A user's name, when known (for sessions whose owner is not in the event).
    pub(crate) fn name(&self, user_id: &str) -> Option<&str> {
        self.users.get(user_id).map(|e| e.username.as_str())
    }

    /// The ids of every user whose name is known.
    pub(crate) fn known_ids(&self) -> HashSet<String> {
        self.users.keys().cloned().collect()
    }

    /// Remembers a user's name (from a session, `user_added`, ...) without changing presence.
    pub(crate) fn learn(&mut self, user_id: &str, username: &str) {
        if let Some(entry) = self.entry(user_id, username) {
            entry.username = label(username);
        }
    }

    /// A `user_online`: one more socket. True when it is the user's first.
    pub(crate) fn socket_up(&mut self, user: &PublicUser, now_ms: u64, seq: u64) -> bool {
        let Some(entry) = self.entry(&user.id, &user.username) else {
            return false;
        };
        entry.username = label(&user.username);
        entry.touched = seq;
        entry.last_seen_ms = Some(now_ms);
        entry.connections = entry.connections.saturating_add(1);
        let first = entry.connections == 1;
        if first {
            entry.online_since_ms = Some(now_ms);
            self.online += 1;
        }
        first
    }

    /// A `user_offline`: one socket fewer.
    pub(crate) fn socket_down(&mut self, user: &PublicUser, now_ms: u64, seq: u64) -> Offline {
        let Some(entry) = self.users.get_mut(&user.id) else {
            return Offline::Inconsistent;
        };
        entry.touched = seq;
        entry.last_seen_ms = Some(now_ms);
        match entry.connections {
            0 => Offline::Inconsistent,
            1 => {
                entry.connections = 0;
                entry.online_since_ms = None;
                self.online -= 1;
                Offline::Gone(Who {
                    user_id: user.id.clone(),
                    username: entry.username.clone(),
                })
            }
            _ => {
                entry.connections -= 1;
                Offline::StillOnline
            }
        }
    }

    /// Takes the server's list as the truth, except for users an event touched after sequence
    /// number `guard` (the list may predate that event). Returns who came online and who went
    /// offline, in id order.
    pub(crate) fn replace(
        &mut self,
        list: &[PublicUser],
        guard: u64,
        now_ms: u64,
    ) -> (Vec<Who>, Vec<Who>) {
        let listed: HashSet<&str> = list.iter().map(|u| u.id.as_str()).collect();
        let mut gone = Vec::new();
        for (id, entry) in &mut self.users {
            if entry.connections > 0 && entry.touched <= guard && !listed.contains(id.as_str()) {
                entry.connections = 0;
                entry.online_since_ms = None;
                entry.last_seen_ms = Some(now_ms);
                self.online -= 1;
                gone.push(Who {
                    user_id: id.clone(),
                    username: entry.username.clone(),
                });
            }
        }
        let mut came = Vec::new();
        for user in list {
            let Some(entry) = self.entry(&user.id, &user.username) else {
                continue;
            };
            entry.username = label(&user.username);
            if entry.touched > guard {
                continue;
            }
            let was = entry.connections;
            entry.connections = user.connections.unwrap_or(1).max(1);
            entry.last_seen_ms = Some(now_ms);
            if was == 0 {
                entry.online_since_ms = Some(now_ms);
                came.push(Who {
                    user_id: user.id.clone(),
                    username: entry.username.clone(),
                });
                self.online += 1;
            }
        }
        came.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        gone.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        (came, gone)
    }

    /// Everyone online, by id: the "before" and "after" of an outage.
    pub(crate) fn online_users(&self) -> BTreeMap<String, Who> {
        self.users
            .iter()
            .filter(|(_, e)| e.connections > 0)
            .map(|(id, e)| {
                (
                    id.clone(),
                    Who {
                        user_id: id.clone(),
                        username: e.username.clone(),
                    },
                )
            })
            .collect()
    }

    /// The rows the window shows: online first (by name), then offline by last seen.
    pub(crate) fn rows(&self) -> Vec<super::UserPresence> {
        let mut rows: Vec<super::UserPresence> = self
            .users
            .iter()
            .map(|(id, e)| super::UserPresence {
                user_id: id.clone(),
                username: e.username.clone(),
                connections: e.connections,
                last_seen_ms: e.last_seen_ms,
                online_since_ms: e.online_since_ms,
            })
            .collect();
        rows.sort_by(|a, b| {
            (b.connections > 0)
                .cmp(&(a.connections > 0))
                .then_with(|| {
                    if a.connections > 0 {
                        a.username.cmp(&b.username)
                    } else {
                        b.last_seen_ms.cmp(&a.last_seen_ms)
                    }
                })
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        rows
    }

    /// Forgets everyone (another account signed in).
    pub(crate) fn clear(&mut self) {
        self.users.clear();
        self.online = 0;
    }

    /// The entry for a user, created (offline) when there is room; a full table forgets the
    /// offline user seen longest ago, and refuses when everyone in it is online.
    fn entry(&mut self, user_id: &str, username: &str) -> Option<&mut Entry> {
        if !self.users.contains_key(user_id) {
            if self.users.len() >= self.cap && !self.evict_offline() {
                tracing::debug!("presence table full; a user is not tracked");
                return None;
            }
            self.users.insert(
                user_id.to_owned(),
                Entry {
                    username: label(username),
                    connections: 0,
                    last_seen_ms: None,
                    online_since_ms: None,
                    touched: 0,
                },
            );
        }
        self.users.get_mut(user_id)
    }

    /// Forgets the offline user seen longest ago; false when nobody is offline.
    fn evict_offline(&mut self) -> bool {
        if self.online >= self.users.len() {
            return false;
        }
        let oldest = self
            .users
            .iter()
            .filter(|(_, e)| e.connections == 0)
            .min_by_key(|(_, e)| e.last_seen_ms)
            .map(|(id, _)| id.clone());
        oldest.is_some_and(|id| self.users.remove(&id).is_some())
    }
}
