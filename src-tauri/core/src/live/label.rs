//! Short readable labels from client-chosen text: names, titles and device descriptions are
//! shown in a tray menu and a popup, so they are kept to one short line.

use crate::policy::text::is_bidi_control;
use crate::protocol::{DeviceInfo, PlayMethod};

/// Longest name or title kept by live state: enough for any real title, and it bounds what a
/// hostile server can make the state (and every snapshot) hold.
pub(crate) const MAX_LABEL_BYTES: usize = 512;
/// Longest device label; device fields are free text chosen by each client.
const MAX_DEVICE_BYTES: usize = 128;

/// One line of at most `max` bytes: control characters (newlines included) become spaces, bidi
/// controls go (a right-to-left override in a name would reorder the text shown after it), runs
/// of blanks collapse, and an over-long text is cut at a char boundary and ends with `…`.
pub(crate) fn clean(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut blank = false;
    for c in text.trim().chars().filter(|c| !is_bidi_control(*c)) {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' {
            if blank {
                continue;
            }
            blank = true;
        } else {
            blank = false;
        }
        if out.len() + c.len_utf8() > max {
            while out.len() + '…'.len_utf8() > max {
                out.pop();
            }
            out.push('…');
            return out;
        }
        out.push(c);
    }
    let kept = out.trim_end().len();
    out.truncate(kept);
    out
}

/// A message (admin broadcast, server log line) as kept by live state: line breaks stay, other
/// control characters become spaces and bidi controls go, as in [`clean`]. Already bounded by
/// the protocol's message cap.
pub(crate) fn message(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// A name or title as kept by live state.
pub(crate) fn label(text: &str) -> String {
    clean(text, MAX_LABEL_BYTES)
}

/// A client-given value worth showing: not empty and not the `null` some clients send as text.
fn meaningful(value: Option<&String>) -> Option<&str> {
    value
        .map(|v| v.trim())
        .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("null"))
}

/// "Pixel 8", "Firefox on Linux", "Abs Android": the most specific thing the client said about
/// itself, as the web client's session list does; `None` when it said nothing useful.
pub(crate) fn device_label(info: Option<&DeviceInfo>) -> Option<String> {
    let info = info?;
    let browser = meaningful(info.browser_name.as_ref());
    let os = meaningful(info.os_name.as_ref());
    let text = if let Some(model) = meaningful(info.model.as_ref()) {
        model.to_owned()
    } else if let Some(name) = meaningful(info.device_name.as_ref()) {
        name.to_owned()
    } else if let (Some(browser), Some(os)) = (browser, os) {
        format!("{browser} on {os}")
    } else if let Some(one) = browser.or(os) {
        one.to_owned()
    } else {
        meaningful(info.client_name.as_ref())?.to_owned()
    };
    Some(clean(&text, MAX_DEVICE_BYTES)).filter(|t| !t.is_empty())
}

/// The server's `deviceDescription` of a progress write, without its placeholders: the server
/// builds `"null null / null"` for clients that sent no model, OS or browser.
pub(crate) fn progress_device(description: Option<&str>) -> Option<String> {
    let text = description?;
    let known = text
        .split(|c: char| c == '/' || c.is_whitespace())
        .any(|part| !part.is_empty() && !part.eq_ignore_ascii_case("null"));
    known
        .then(|| clean(text, MAX_DEVICE_BYTES))
        .filter(|t| !t.is_empty())
}

/// The play method as a stable word for the window.
pub(crate) fn play_method(method: PlayMethod) -> &'static str {
    match method {
        PlayMethod::DirectPlay => "direct_play",
        PlayMethod::DirectStream => "direct_stream",
        PlayMethod::Transcode => "transcode",
        PlayMethod::Local => "local",
        PlayMethod::Unknown(_) => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(set: impl FnOnce(&mut DeviceInfo)) -> DeviceInfo {
        let mut info = DeviceInfo::default();
        set(&mut info);
        info
    }

    #[test]
    fn device_labels_prefer_the_most_specific_description() {
        let phone = info(|i| {
            i.model = Some("Pixel 8".into());
            i.client_name = Some("Abs Android".into());
            i.manufacturer = Some("Google".into());
        });
        assert_eq!(device_label(Some(&phone)).as_deref(), Some("Pixel 8"));
        let web = info(|i| {
            i.browser_name = Some("Firefox".into());
            i.os_name = Some("Linux".into());
            i.client_name = Some("Abs Web".into());
        });
        assert_eq!(
            device_label(Some(&web)).as_deref(),
            Some("Firefox on Linux")
        );
        let probe = info(|i| i.client_name = Some("abs-probe".into()));
        assert_eq!(device_label(Some(&probe)).as_deref(), Some("abs-probe"));
        let nulls = info(|i| {
            i.model = Some("null".into());
            i.device_id = Some("phone-1".into());
        });
        assert_eq!(device_label(Some(&nulls)), None);
        assert_eq!(device_label(None), None);
    }

    #[test]
    fn hostile_text_becomes_one_short_line() {
        assert_eq!(clean("  a\n\tb\u{7}  c ", 64), "a b c");
        let long = "é".repeat(1000);
        let cut = clean(&long, 11);
        assert!(cut.len() <= 11, "{cut}");
        assert!(cut.ends_with('…'));
        let huge = info(|i| i.model = Some("x".repeat(100_000)));
        assert!(device_label(Some(&huge)).is_some_and(|l| l.len() <= MAX_DEVICE_BYTES));
        assert!(label(&"t".repeat(100_000)).len() <= MAX_LABEL_BYTES);
    }

    #[test]
    fn placeholder_progress_descriptions_are_no_device() {
        assert_eq!(progress_device(Some("null null / null")), None);
        assert_eq!(progress_device(Some("")), None);
        assert_eq!(
            progress_device(Some("Pixel 8 SDK 34 / v0.9.80")).as_deref(),
            Some("Pixel 8 SDK 34 / v0.9.80")
        );
        assert_eq!(progress_device(None), None);
    }
}
