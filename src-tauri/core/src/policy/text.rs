//! Safe plain text from hostile server strings: no control characters, no bidi overrides, bounded
//! length. Escaping markup stays delivery's job; this keeps every consumer's text sane.

/// Longest title, in characters; desktops cut long titles anyway and a 1 MB name must not travel.
pub(crate) const TITLE_MAX: usize = 120;
/// Longest body, in characters.
pub(crate) const BODY_MAX: usize = 400;

/// Bidi embeddings, overrides and isolates: they let a name reorder the text around it.
///
/// The marks (U+200E, U+200F, U+061C) stay: right-to-left names need them to show correctly,
/// and having no scope they cannot reverse the strong letters of the text around a name.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// One line of hostile text: whitespace runs (newlines included) become one space, other control
/// characters and bidi controls go, and work stops once the result could only be cut anyway.
pub(crate) fn line(raw: &str) -> String {
    let mut out = String::new();
    let mut pending_space = false;
    let mut count = 0;
    for c in raw.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() || is_bidi_control(c) {
            continue;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
        // One past the longest cap, so `cap` still sees that something was cut.
        if count > BODY_MAX {
            break;
        }
    }
    out
}

/// Several lines of hostile text (an admin's broadcast): like [`line`] per line, keeping up to
/// a few line breaks so a multi-line message stays readable.
pub(crate) fn block(raw: &str) -> String {
    const MAX_LINES: usize = 12;
    let lines: Vec<String> = raw
        .split('\n')
        .map(line)
        .filter(|l| !l.is_empty())
        .take(MAX_LINES)
        .collect();
    lines.join("\n")
}

/// `text` cut to `max` characters at a character boundary, ending in "…" when cut.
pub(crate) fn cap(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let kept: String = text.chars().take(max.saturating_sub(1)).collect();
            format!("{}…", kept.trim_end())
        }
    }
}

/// A hostile name or title, cleaned, or `fallback` when nothing printable is left.
pub(crate) fn name_or(raw: &str, fallback: &str) -> String {
    let clean = line(raw);
    if clean.is_empty() {
        fallback.to_owned()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_go_markup_stays() {
        assert_eq!(
            line("\u{202E}Al\u{7}ice\u{2066}\t<b>x</b>&\u{2069}"),
            "Alice <b>x</b>&"
        );
        assert_eq!(line("  a \r\n\u{85} b  "), "a b");
    }

    #[test]
    fn direction_marks_of_right_to_left_names_stay() {
        assert_eq!(
            line("\u{5E9}\u{5E8}\u{5D4}\u{200F} (admin)\u{200E}\u{61C}"),
            "\u{5E9}\u{5E8}\u{5D4}\u{200F} (admin)\u{200E}\u{61C}"
        );
    }

    #[test]
    fn blocks_keep_line_breaks_but_nothing_else() {
        assert_eq!(
            block("Server down\r\n\u{1b}[31m at 9\n\n\u{202D}ok"),
            "Server down\n[31m at 9\nok"
        );
    }

    #[test]
    fn caps_at_char_boundaries() {
        assert_eq!(cap("ééééé", 5), "ééééé");
        assert_eq!(cap("éééééé", 5), "éééé…");
        assert_eq!(cap("ab 🎧🎧", 4), "ab…", "no space before the ellipsis");
        let huge = "😀".repeat(1 << 20);
        let cleaned = line(&huge);
        assert!(cleaned.chars().count() <= BODY_MAX + 1);
        assert_eq!(cap(&cleaned, TITLE_MAX).chars().count(), TITLE_MAX);
    }

    #[test]
    fn empty_names_get_a_fallback() {
        assert_eq!(name_or("\u{202E}\u{0}  ", "Someone"), "Someone");
    }
}
