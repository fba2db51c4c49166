//! Writing to the terminal safely: server-provided text may hold control characters (terminal
//! escape sequences), so readable output shows them escaped; every line is flushed at once.

use std::io::Write;

/// `text` on one line with control characters escaped (`\n`, `\u{1b}`), so a hostile server
/// name or message can neither break the line format nor drive the terminal.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes one line to stdout and flushes it, so a reader sees it at once (pipes buffer otherwise).
pub fn line(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\nb\u{1b}[2J\tc"), "a\\nb\\u{1b}[2J\\tc");
        assert_eq!(one_line("Émile — ok"), "Émile — ok");
    }
}
