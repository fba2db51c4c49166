//! The words: one notification per happening, plus the two summaries (rate-limit surplus and
//! "While you were away"). Every hostile field passes through [`text`] first.

use crate::delivery::Urgency;
use crate::happening::{Category, Happening, Listening, Who};

use super::text::{self, BODY_MAX, TITLE_MAX};
use super::{Link, Notification};

/// How many summary lines or phrases name their subject before "and N more".
const SUMMARY_NAMED: usize = 5;

impl Notification {
    /// A notification with its text capped; the one place title and body limits are applied.
    fn new(key: String, category: Category, urgency: Urgency, title: &str, body: &str) -> Self {
        Self {
            key,
            category,
            urgency,
            title: text::cap(title, TITLE_MAX),
            body: text::cap(body, BODY_MAX),
            link: None,
            image_item_id: None,
        }
    }

    /// Adds the page a click opens.
    fn linked(mut self, link: Link) -> Self {
        self.link = Some(link);
        self
    }

    /// Adds the item whose cover illustrates the popup.
    fn pictured(mut self, item_id: &str) -> Self {
        self.image_item_id = Some(item_id.to_owned());
        self
    }
}

/// The notification a happening would pop up, before any rule decides whether it does.
/// `Resynced` has none of its own (the policy summarises or replays its changes).
pub(crate) fn notification(happening: &Happening) -> Option<Notification> {
    use Category::*;
    let n = match happening {
        Happening::AdminMessage { text } => Notification::new(
            format!("admin:{}", text::line(text)),
            AdminMessage,
            Urgency::Critical,
            "Message from your server admin",
            &text::block(text),
        )
        .linked(Link::Window),
        Happening::UserOnline { user } => presence(user, "is online"),
        Happening::UserOffline { user } => presence(user, "went offline"),
        Happening::SessionStarted { listening } => Notification::new(
            format!("session:{}", listening.session_id),
            Sessions,
            Urgency::Low,
            &started_title(listening),
            "",
        )
        .linked(Link::Sessions)
        .pictured(&listening.item_id),
        Happening::SessionStopped {
            listening,
            listened_s,
            progress_before,
            progress_after,
        } => {
            // Without the final numbers, none: the last ones seen would understate the listen.
            let title = match listened_s {
                Some(listened_s) => format!(
                    "{} stopped {} after {}{}",
                    name(&listening.user),
                    item_title(&listening.title),
                    listened(*listened_s),
                    progress_change(*progress_before, *progress_after),
                ),
                None => format!(
                    "{} stopped {}",
                    name(&listening.user),
                    item_title(&listening.title)
                ),
            };
            Notification::new(
                format!("session:{}", listening.session_id),
                Sessions,
                Urgency::Low,
                &title,
                "",
            )
            .linked(Link::Sessions)
            .pictured(&listening.item_id)
        }
        Happening::Finished { item_id, title } => Notification::new(
            format!("finished:{item_id}"),
            Progress,
            Urgency::Normal,
            &format!("You finished {}", item_title(title)),
            "",
        )
        .linked(Link::Item(item_id.clone()))
        .pictured(item_id),
        Happening::Milestone {
            item_id,
            title,
            percent,
        } => Notification::new(
            format!("milestone:{item_id}:{percent}"),
            Progress,
            Urgency::Low,
            &format!("You're {percent}% through {}", item_title(title)),
            "",
        )
        .linked(Link::Item(item_id.clone()))
        .pictured(item_id),
        Happening::PlayingElsewhere {
            item_id,
            title,
            device,
        } => Notification::new(
            format!("elsewhere:{item_id}"),
            Progress,
            Urgency::Normal,
            &format!("{} is playing on another device", item_title(title)),
            &device.as_deref().map(text::line).unwrap_or_default(),
        )
        .linked(Link::Item(item_id.clone()))
        .pictured(item_id),
        Happening::ScanFinished { library_id, .. } => Notification::new(
            format!("scan:{library_id}"),
            ServerActivity,
            Urgency::Low,
            &scan_title(happening),
            "",
        ),
        Happening::FilesChanged { library_id, .. } => Notification::new(
            format!("files:{library_id}"),
            ServerActivity,
            Urgency::Low,
            &files_changed_title(happening),
            "",
        ),
        Happening::EpisodeDownloaded {
            item_id,
            podcast_title,
            episode_title,
        } => {
            let episode = episode_title.as_deref().map(text::line).unwrap_or_default();
            Notification::new(
                format!("episode:{item_id}:{episode}"),
                ServerActivity,
                Urgency::Low,
                &episode_phrase(podcast_title.as_deref(), &episode),
                "",
            )
            .linked(Link::Item(item_id.clone()))
            .pictured(item_id)
        }
        Happening::BackupApplied => Notification::new(
            "backup".into(),
            ServerActivity,
            Urgency::Normal,
            "A backup was restored on the server",
            "",
        ),
        Happening::ItemsAdded {
            library_id,
            first_item_id,
            ..
        } => {
            let n = Notification::new(
                format!(
                    "items:{library_id}:{}",
                    first_item_id.as_deref().unwrap_or("")
                ),
                ServerActivity,
                Urgency::Low,
                &items_added_title(happening),
                "",
            );
            match first_item_id {
                Some(id) => n.linked(Link::Item(id.clone())).pictured(id),
                None => n,
            }
        }
        Happening::UserAdded { user } => Notification::new(
            format!("user-added:{}", user.user_id),
            ServerActivity,
            Urgency::Low,
            &format!("New user: {}", name(user)),
            "",
        )
        .linked(Link::User(user.user_id.clone())),
        Happening::UserRemoved { user } => Notification::new(
            format!("user-removed:{}", user.user_id),
            ServerActivity,
            Urgency::Low,
            &format!("User removed: {}", name(user)),
            "",
        ),
        Happening::Resynced { .. } => return None,
    };
    Some(n)
}

/// "Alice is online" / "Alice went offline"; one key for both so a change of state is never a
/// duplicate of the previous one.
fn presence(user: &Who, what: &str) -> Notification {
    Notification::new(
        format!("presence:{}", user.user_id),
        Category::Presence,
        Urgency::Low,
        &format!("{} {what}", name(user)),
        "",
    )
    .linked(Link::User(user.user_id.clone()))
}

/// "Alice started Project Hail Mary — Andy Weir on iPhone", leaving out what the client did not say.
fn started_title(listening: &Listening) -> String {
    let mut title = format!(
        "{} started {}",
        name(&listening.user),
        item_title(&listening.title)
    );
    if let Some(author) = listening
        .author
        .as_deref()
        .map(text::line)
        .filter(|a| !a.is_empty())
    {
        title.push_str(" — ");
        title.push_str(&author);
    }
    if let Some(device) = listening
        .device
        .as_deref()
        .map(text::line)
        .filter(|d| !d.is_empty())
    {
        title.push_str(" on ");
        title.push_str(&device);
    }
    title
}

/// "Scan of Audiobooks finished: 3 added, 1 updated", "… finished: no changes", "… did not finish".
fn scan_title(happening: &Happening) -> String {
    let Happening::ScanFinished {
        library_name,
        added,
        updated,
        missing,
        failed,
        ..
    } = happening
    else {
        return String::new();
    };
    let library = library_label(library_name.as_deref());
    if *failed {
        return format!("Scan of {library} did not finish");
    }
    match counts(&[
        (*added, "added"),
        (*updated, "updated"),
        (*missing, "missing"),
    ]) {
        None => format!("Scan of {library} finished: no changes"),
        Some(counts) => format!("Scan of {library} finished: {counts}"),
    }
}

/// "Files changed in Audiobooks: 1 updated, 2 removed": what the file watcher's scan found.
fn files_changed_title(happening: &Happening) -> String {
    let Happening::FilesChanged {
        library_name,
        added,
        updated,
        removed,
        ..
    } = happening
    else {
        return String::new();
    };
    let library = library_label(library_name.as_deref());
    match counts(&[
        (*added, "added"),
        (*updated, "updated"),
        (*removed, "removed"),
    ]) {
        None => format!("Files changed in {library}"),
        Some(counts) => format!("Files changed in {library}: {counts}"),
    }
}

/// A library's name as shown, "a library" when the server gave none.
fn library_label(name: Option<&str>) -> String {
    name.map_or_else(|| "a library".to_owned(), |n| text::name_or(n, "a library"))
}

/// "1 added, 2 removed": the counts that are not zero; `None` when all are.
fn counts(counts: &[(u64, &str)]) -> Option<String> {
    let said: Vec<String> = counts
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, what)| format!("{count} {what}"))
        .collect();
    (!said.is_empty()).then(|| said.join(", "))
}

/// "New episode of The Daily: Ep 5", with whichever names the server gave.
fn episode_phrase(podcast: Option<&str>, episode: &str) -> String {
    let podcast = podcast.map(text::line).filter(|p| !p.is_empty());
    match (podcast, episode.is_empty()) {
        (Some(podcast), false) => format!("New episode of {podcast}: {episode}"),
        (Some(podcast), true) => format!("New episode of {podcast}"),
        (None, false) => format!("New episode: {episode}"),
        (None, true) => "New podcast episode downloaded".to_owned(),
    }
}

/// "Added to the library: Dune" / "3 items added, including Dune" / "3 items added".
fn items_added_title(happening: &Happening) -> String {
    let Happening::ItemsAdded {
        count, first_title, ..
    } = happening
    else {
        return String::new();
    };
    let first = first_title
        .as_deref()
        .map(text::line)
        .filter(|t| !t.is_empty());
    match (count, first) {
        (1, Some(first)) => format!("Added to the library: {first}"),
        (count, Some(first)) => format!("{count} items added, including {first}"),
        (1, None) => "1 item added".to_owned(),
        (count, None) => format!("{count} items added"),
    }
}

/// A user's display name, cleaned.
fn name(user: &Who) -> String {
    text::name_or(&user.username, "Someone")
}

/// A book or episode title, cleaned.
fn item_title(title: &str) -> String {
    text::name_or(title, "Untitled")
}

/// "45 s", "38 min", "1 h 5 min": minutes are what people think in; seconds only for very short ones.
fn listened(seconds: f64) -> String {
    // NaN and negatives (a confused server) read as nothing listened.
    let seconds = seconds.max(0.0).round() as u64;
    if seconds < 60 {
        return format!("{seconds} s");
    }
    let minutes = (seconds + 30) / 60;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// " (12% → 18%)", " (18%)" or nothing, as far as progress is known.
fn progress_change(before: Option<f64>, after: Option<f64>) -> String {
    match (before, after) {
        (Some(before), Some(after)) => format!(" ({}% → {}%)", percent(before), percent(after)),
        (None, Some(after)) => format!(" ({}%)", percent(after)),
        _ => String::new(),
    }
}

/// A 0..=1 fraction as a whole percent, rounded down so 99.6 % never reads as finished; the
/// epsilon keeps 0.29 from reading as 28.
fn percent(fraction: f64) -> u64 {
    (fraction.clamp(0.0, 1.0) * 100.0 + 1e-9).floor() as u64
}

/// The popup that stands for several that the rate limit held back.
pub(crate) fn more(folded: &[Notification]) -> Notification {
    let mut lines: Vec<String> = folded
        .iter()
        .take(SUMMARY_NAMED)
        .map(|n| n.title.clone())
        .collect();
    if folded.len() > SUMMARY_NAMED {
        lines.push(format!("and {} more", folded.len() - SUMMARY_NAMED));
    }
    Notification::new(
        "more".into(),
        folded
            .first()
            .map_or(Category::ServerActivity, |n| n.category),
        Urgency::Normal,
        &format!("And {} more", folded.len()),
        &lines.join("\n"),
    )
    .linked(Link::Window)
}

/// "While you were away": counts for presence, a short phrase for everything else, capped.
pub(crate) fn away(changes: &[&Happening]) -> Notification {
    let came = changes
        .iter()
        .filter(|h| matches!(h, Happening::UserOnline { .. }))
        .collect::<Vec<_>>();
    let went = changes
        .iter()
        .filter(|h| matches!(h, Happening::UserOffline { .. }))
        .collect::<Vec<_>>();
    let mut phrases = Vec::new();
    phrases.extend(presence_count(&came, "came online"));
    phrases.extend(presence_count(&went, "went offline"));
    phrases.extend(changes.iter().filter_map(|h| phrase(h)));
    let named = phrases.len().min(SUMMARY_NAMED);
    let mut body = capitalised(&phrases[..named].join(", "));
    if phrases.len() > named {
        body.push_str(&format!(", and {} more", phrases.len() - named));
    }
    let category = changes
        .first()
        .and_then(|h| h.category())
        .unwrap_or(Category::ServerActivity);
    Notification::new(
        "away".into(),
        category,
        Urgency::Normal,
        "While you were away",
        &body,
    )
    .linked(Link::Window)
}

/// The text with its first letter upper-cased (phrases start lower-case to read well in a list).
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// "Alice came online" for one, "3 users came online" for several.
fn presence_count(users: &[&&Happening], what: &str) -> Option<String> {
    match users {
        [] => None,
        [Happening::UserOnline { user } | Happening::UserOffline { user }] => {
            Some(format!("{} {what}", name(user)))
        }
        many => Some(format!("{} users {what}", many.len())),
    }
}

/// A short phrase for the away summary; presence is counted separately.
fn phrase(happening: &Happening) -> Option<String> {
    Some(match happening {
        Happening::UserOnline { .. }
        | Happening::UserOffline { .. }
        | Happening::Resynced { .. } => {
            return None;
        }
        Happening::AdminMessage { .. } => "a message from your server admin".to_owned(),
        Happening::SessionStarted { listening } => format!(
            "{} started {}",
            name(&listening.user),
            item_title(&listening.title)
        ),
        Happening::SessionStopped { listening, .. } => format!(
            "{} stopped {}",
            name(&listening.user),
            item_title(&listening.title)
        ),
        Happening::Finished { title, .. } => format!("you finished {}", item_title(title)),
        Happening::Milestone { title, percent, .. } => {
            format!("you reached {percent}% of {}", item_title(title))
        }
        Happening::PlayingElsewhere { title, .. } => {
            format!("{} played on another device", item_title(title))
        }
        Happening::ScanFinished { .. } => scan_title(happening),
        Happening::FilesChanged { .. } => files_changed_title(happening),
        Happening::EpisodeDownloaded {
            podcast_title,
            episode_title,
            ..
        } => episode_phrase(
            podcast_title.as_deref(),
            &episode_title.as_deref().map(text::line).unwrap_or_default(),
        ),
        Happening::BackupApplied => "a backup was restored".to_owned(),
        Happening::ItemsAdded { .. } => items_added_title(happening),
        Happening::UserAdded { user } => format!("new user {}", name(user)),
        Happening::UserRemoved { user } => format!("user {} removed", name(user)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listened_time_reads_like_a_person_would_say_it() {
        assert_eq!(listened(f64::NAN), "0 s");
        assert_eq!(listened(59.4), "59 s");
        assert_eq!(listened(2279.0), "38 min");
        assert_eq!(listened(3600.0), "1 h");
        assert_eq!(listened(3900.0), "1 h 5 min");
    }

    /// A file-watcher scan in `Audiobooks` with these counts.
    fn files_changed(added: u64, updated: u64, removed: u64) -> Happening {
        Happening::FilesChanged {
            library_id: "lib-1".into(),
            library_name: Some("Audiobooks".into()),
            added,
            updated,
            removed,
        }
    }

    #[test]
    fn a_watcher_scan_says_what_was_removed_and_is_no_scan_you_started() {
        let popup = notification(&files_changed(0, 0, 1)).expect("a popup");
        assert_eq!(popup.title, "Files changed in Audiobooks: 1 removed");
        assert_eq!(popup.category, Category::ServerActivity);
        assert_eq!(popup.key, "files:lib-1");
        assert_eq!(
            notification(&files_changed(2, 1, 3))
                .expect("a popup")
                .title,
            "Files changed in Audiobooks: 2 added, 1 updated, 3 removed"
        );
        assert_eq!(
            phrase(&files_changed(0, 1, 0)).as_deref(),
            Some("Files changed in Audiobooks: 1 updated")
        );
        // A library scan keeps its own words and its own key.
        let scan = Happening::ScanFinished {
            library_id: "lib-1".into(),
            library_name: Some("Audiobooks".into()),
            added: 0,
            updated: 0,
            missing: 1,
            failed: false,
        };
        let popup = notification(&scan).expect("a popup");
        assert_eq!(popup.title, "Scan of Audiobooks finished: 1 missing");
        assert_eq!(popup.key, "scan:lib-1");
    }

    #[test]
    fn a_hostile_library_name_stays_one_plain_line() {
        let happening = Happening::FilesChanged {
            library_id: "lib-1".into(),
            library_name: Some("<b>Books</b>\n\u{202e}x".into()),
            added: 0,
            updated: 0,
            removed: 1,
        };
        let title = notification(&happening).expect("a popup").title;
        assert!(
            !title.contains('\n') && !title.contains('\u{202e}'),
            "{title:?}"
        );
        assert!(title.ends_with(": 1 removed"), "{title:?}");
    }

    #[test]
    fn percents_round_down_but_not_below_the_value() {
        assert_eq!(percent(0.29), 29);
        assert_eq!(percent(0.996), 99);
        assert_eq!(percent(1.5), 100);
        assert_eq!(progress_change(Some(0.12), Some(0.18)), " (12% → 18%)");
        assert_eq!(progress_change(Some(0.12), None), "");
    }
}
