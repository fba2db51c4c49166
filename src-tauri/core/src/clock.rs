//! Notices suspend/resume: the wall clock jumps ahead of the monotonic clock, which stops while asleep.
//!
//! After a laptop wakes, its socket usually looks open but is dead; waiting for heartbeats to time out
//! costs most of a minute. Comparing both clocks tells us at once that we slept and should reconnect.

use std::time::{Duration, Instant, SystemTime};

/// Compares successive readings of the wall and monotonic clocks.
#[derive(Debug, Clone)]
pub struct ClockWatch {
    /// The previous wall-clock reading.
    wall: SystemTime,
    /// The previous monotonic reading.
    mono: Instant,
    /// How far the clocks may drift apart between readings before we call it a jump.
    threshold: Duration,
}

impl ClockWatch {
    /// Starts watching from the given readings.
    pub fn new(wall: SystemTime, mono: Instant, threshold: Duration) -> Self {
        Self {
            wall,
            mono,
            threshold,
        }
    }

    /// Starts watching from the current clocks.
    pub fn now(threshold: Duration) -> Self {
        Self::new(SystemTime::now(), Instant::now(), threshold)
    }

    /// Takes new readings; true when the clocks drifted apart by more than the threshold since the last.
    pub fn jumped(&mut self, wall: SystemTime, mono: Instant) -> bool {
        let mono_elapsed = mono.saturating_duration_since(self.mono);
        let wall_change = wall.duration_since(self.wall);
        self.wall = wall;
        self.mono = mono;
        match wall_change {
            Ok(forward) => forward.abs_diff(mono_elapsed) > self.threshold,
            // A wall clock set backwards drifted by how far it went back plus the time that passed.
            Err(backward) => backward.duration() + mono_elapsed > self.threshold,
        }
    }

    /// Takes readings of the current clocks.
    pub fn check(&mut self) -> bool {
        self.jumped(SystemTime::now(), Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn steady_clocks_do_not_jump() {
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let mut watch = ClockWatch::new(wall, mono, 5 * SEC);
        for step in 1..100 {
            assert!(!watch.jumped(wall + step * SEC, mono + step * SEC));
        }
    }

    #[test]
    fn small_ntp_slews_are_tolerated() {
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let mut watch = ClockWatch::new(wall, mono, 5 * SEC);
        assert!(!watch.jumped(wall + 7 * SEC, mono + 5 * SEC));
    }

    #[test]
    fn suspend_is_a_jump() {
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let mut watch = ClockWatch::new(wall, mono, 5 * SEC);
        // Asleep for an hour: the monotonic clock advanced only by the check interval.
        assert!(watch.jumped(wall + 3600 * SEC, mono + 5 * SEC));
        assert!(
            !watch.jumped(wall + 3605 * SEC, mono + 10 * SEC),
            "only once"
        );
    }

    #[test]
    fn wall_clock_set_backwards_is_a_jump() {
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let mut watch = ClockWatch::new(wall, mono, 5 * SEC);
        assert!(watch.jumped(wall - 60 * SEC, mono + SEC));
        assert!(!watch.jumped(wall - 59 * SEC, mono + 2 * SEC), "only once");
    }
}
