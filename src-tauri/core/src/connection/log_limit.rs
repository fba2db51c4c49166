//! Warnings about what a server sends, without letting a flood of bad input fill the log: the
//! first few per minute are written in full, the rest are counted and summed up in one line.

use std::time::{Duration, Instant};

/// Warnings of one kind written per window; more are only counted.
const PER_WINDOW: u32 = 5;
/// The window.
const WINDOW: Duration = Duration::from_secs(60);

/// The budget of one kind of warning.
#[derive(Debug)]
pub(crate) struct LogLimit {
    /// What is being counted, for the summary line.
    what: &'static str,
    /// Start of the current window; `None` before the first warning.
    window_start: Option<Instant>,
    /// Warnings written in this window.
    written: u32,
    /// Warnings held back since the last summary.
    held_back: u64,
}

impl LogLimit {
    /// A fresh budget; `what` names the warnings in the summary ("malformed events").
    pub(crate) const fn new(what: &'static str) -> Self {
        Self {
            what,
            window_start: None,
            written: 0,
            held_back: 0,
        }
    }

    /// True when this occurrence may be logged; otherwise it is counted. A new window first
    /// sums up what the last one held back.
    pub(crate) fn allow(&mut self) -> bool {
        let now = Instant::now();
        if self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= WINDOW)
        {
            self.flush();
            self.window_start = Some(now);
            self.written = 0;
        }
        if self.written < PER_WINDOW {
            self.written += 1;
            true
        } else {
            self.held_back += 1;
            false
        }
    }

    /// Sums up the warnings held back so far in one line (also when the source goes away).
    pub(crate) fn flush(&mut self) {
        if self.held_back > 0 {
            tracing::warn!(
                held_back = self.held_back,
                "{} more {} not logged one by one",
                self.held_back,
                self.what
            );
            self.held_back = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_gets_a_few_lines_and_a_count() {
        let mut limit = LogLimit::new("things");
        let allowed = (0..10_000).filter(|_| limit.allow()).count();
        assert_eq!(allowed, PER_WINDOW as usize);
        assert_eq!(limit.held_back, 10_000 - u64::from(PER_WINDOW));
        limit.flush();
        assert_eq!(limit.held_back, 0);
    }
}
