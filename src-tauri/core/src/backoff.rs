//! When to try again after the connection drops: quick at first, then slower, never giving up.
//!
//! A server restart takes seconds, so the first [`Backoff::QUICK_PHASE`] of an outage retries at
//! most [`Backoff::QUICK_MAX`] apart and the app is back within a second of the server. After that
//! the delay doubles with jitter (so many trays don't stampede a recovering server) up to a cap.

use std::time::{Duration, Instant};

/// Retry schedule for one connection; pure, so it is tested without a clock or a server.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// When the current outage began; `None` while connected.
    outage_started: Option<Instant>,
    /// Failed attempts since the quick phase ended.
    slow_attempts: u32,
    /// Longest delay ever returned.
    cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_secs(60))
    }
}

impl Backoff {
    /// How long an outage counts as "probably a restart" and is retried quickly.
    pub const QUICK_PHASE: Duration = Duration::from_secs(10);
    /// The longest delay during the quick phase.
    pub const QUICK_MAX: Duration = Duration::from_millis(1000);
    /// How long a connection must last before a drop starts a fresh outage.
    pub const STABLE_AFTER: Duration = Duration::from_secs(30);

    /// A schedule whose delays never exceed `cap`.
    pub fn new(cap: Duration) -> Self {
        Self {
            outage_started: None,
            slow_attempts: 0,
            cap,
        }
    }

    /// Records that a connection was up for `lasted`; a stable one resets the schedule.
    pub fn connected_for(&mut self, lasted: Duration) {
        if lasted >= Self::STABLE_AFTER {
            self.reset();
        }
    }

    /// Forgets the outage, e.g. when the user asks to reconnect now.
    pub fn reset(&mut self) {
        self.outage_started = None;
        self.slow_attempts = 0;
    }

    /// The delay before the next attempt; `jitter` in `[0, 1)` spreads clients apart.
    pub fn next_delay(&mut self, now: Instant, jitter: f64) -> Duration {
        let started = *self.outage_started.get_or_insert(now);
        let jitter = jitter.clamp(0.0, 1.0);
        if now.saturating_duration_since(started) < Self::QUICK_PHASE {
            // 0.25-0.5 s: the app is back well within a second of the server, without spinning.
            return Self::QUICK_MAX.mul_f64(0.25 + 0.25 * jitter).min(self.cap);
        }
        let exponent = self.slow_attempts.min(16);
        self.slow_attempts = self.slow_attempts.saturating_add(1);
        let base = Duration::from_secs(2)
            .saturating_mul(1 << exponent)
            .min(self.cap);
        // Full range 75-100 % of the step keeps growth monotone on average and never above the cap.
        base.mul_f64(0.75 + 0.25 * jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays(
        backoff: &mut Backoff,
        start: Instant,
        at_secs: &[u64],
        jitter: f64,
    ) -> Vec<Duration> {
        at_secs
            .iter()
            .map(|s| backoff.next_delay(start + Duration::from_secs(*s), jitter))
            .collect()
    }

    #[test]
    fn quick_phase_retries_at_most_a_second_apart() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        for jitter in [0.0, 0.5, 0.999] {
            backoff.reset();
            for delay in delays(&mut backoff, start, &[0, 1, 5, 9], jitter) {
                assert!(delay <= Backoff::QUICK_MAX, "{delay:?}");
                assert!(delay >= Duration::from_millis(250), "{delay:?}");
                assert!(delay <= Duration::from_millis(500), "{delay:?}");
            }
        }
    }

    #[test]
    fn slow_phase_grows_to_the_cap_and_stays_there() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        backoff.next_delay(start, 0.0);
        let slow = delays(
            &mut backoff,
            start,
            &[10, 12, 16, 24, 40, 72, 136, 264, 520, 1000],
            0.999,
        );
        assert!(slow.windows(2).all(|w| w[0] <= w[1]), "{slow:?}");
        assert!(slow[0] < Duration::from_secs(3));
        assert!(slow.iter().all(|d| *d <= Duration::from_secs(60)));
        assert!(*slow.last().unwrap() > Duration::from_secs(59));
    }

    #[test]
    fn never_gives_up_even_after_a_day() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        backoff.next_delay(start, 0.3);
        for hour in 0..24 * 60 {
            let delay = backoff.next_delay(start + Duration::from_secs(60 * hour + 11), 0.3);
            assert!(delay > Duration::ZERO && delay <= Duration::from_secs(60));
        }
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        let start = Instant::now();
        let (mut a, mut b) = (Backoff::default(), Backoff::default());
        a.next_delay(start, 0.0);
        b.next_delay(start, 0.0);
        let later = start + Duration::from_secs(30);
        assert_ne!(a.next_delay(later, 0.1), b.next_delay(later, 0.9));
    }

    #[test]
    fn stable_connection_resets_but_a_flap_does_not() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        backoff.next_delay(start, 0.0);
        backoff.next_delay(start + Duration::from_secs(20), 0.0);
        backoff.connected_for(Duration::from_secs(2));
        let after_flap = backoff.next_delay(start + Duration::from_secs(30), 0.0);
        assert!(
            after_flap > Backoff::QUICK_MAX,
            "a 2 s connection is a flap: {after_flap:?}"
        );

        backoff.connected_for(Backoff::STABLE_AFTER);
        let fresh = backoff.next_delay(start + Duration::from_secs(300), 0.0);
        assert!(
            fresh <= Backoff::QUICK_MAX,
            "a stable connection starts a new outage: {fresh:?}"
        );
    }
}
