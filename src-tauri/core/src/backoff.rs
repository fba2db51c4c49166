//! When to try again after something failed: quick while a server restarts, a cheap probe about
//! every second for ten minutes, every few seconds after that, and doubling waits when the other
//! side answered but the attempt still failed. Never gives up.
//!
//! One type for every retry in the app: the connection ([`Backoff::default`]), the live state's
//! REST reads and the popup delivery's session-bus connection ([`Backoff::new`], doubling only).
//!
//! What an outage costs, for the connection's schedule (mean jitter; each probe is one TCP connect
//! and, when something listens, one `GET /socket.io/?EIO=4&transport=polling`):
//!
//! | time into the outage | wait between probes | probes |
//! |---|---|---|
//! | 0–10 s ([`Backoff::QUICK_PHASE`]) | 0.25–0.5 s | ~27 |
//! | 10 s–10 min ([`Backoff::PROBING_PHASE`]) | 0.75–1.25 s | ~590 |
//! | after 10 min | 6–8 s | ~510 an hour |
//!
//! so about 1,050 requests in the first hour of an outage and 510 in every hour after it, fewer
//! against a frozen server (each probe then waits out its own 1 s timeout). No token, sign-in or
//! REST read is spent while nothing answers.

use std::time::{Duration, Instant};

/// What a failed attempt learnt about the other side, which decides the next wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing answered (refused, unreachable, timed out): probing again costs the other side
    /// nothing, so it is done often and the app is back as soon as the server is.
    Unanswered,
    /// The other side answered, yet the attempt failed (or dropped soon after it succeeded): doing
    /// it again costs the other side real work, so the waits double.
    Answered,
}

/// A retry schedule; pure, so it is tested without a clock or a server.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// How long failures are retried quickly whatever they were.
    quick_phase: Duration,
    /// The first wait of the doubling schedule.
    first: Duration,
    /// Longest wait ever returned.
    cap: Duration,
    /// When the current outage began; `None` while things work.
    outage_started: Option<Instant>,
    /// Answered failures after the quick phase, the exponent of the doubling.
    doublings: u32,
    /// Not before this instant (`None`: now), for callers that ask [`Backoff::ready`].
    not_before: Option<Instant>,
}

impl Default for Backoff {
    /// The connection's schedule: a quick phase, probing, doubling from 2 s up to 60 s.
    fn default() -> Self {
        Self::new(Duration::from_secs(2), Duration::from_secs(60)).quick_for(Self::QUICK_PHASE)
    }
}

impl Backoff {
    /// How long an outage counts as "probably a restart" and is retried quickly.
    pub const QUICK_PHASE: Duration = Duration::from_secs(10);
    /// The longest wait during the quick phase.
    pub const QUICK_MAX: Duration = Duration::from_millis(1000);
    /// How long unanswered attempts are probed about every second.
    pub const PROBING_PHASE: Duration = Duration::from_secs(600);
    /// How long a connection must have lasted for its drop to start a fresh outage. Shorter ones
    /// are flapping and continue the outage they ended. 2 s because a reconnect takes up to
    /// ~0.6 s (a quick wait, a probe, the handshake), so a server that restarts after being up
    /// for 3 s (the shortest seen) gives connections of at least ~2.4 s, which must each be
    /// bridged quickly; a socket that is kicked for cause goes in the first round trips.
    pub const STABLE_AFTER: Duration = Duration::from_secs(2);

    /// A doubling schedule from `first` up to `cap`, without a quick phase.
    pub fn new(first: Duration, cap: Duration) -> Self {
        Self {
            quick_phase: Duration::ZERO,
            first,
            cap,
            outage_started: None,
            doublings: 0,
            not_before: None,
        }
    }

    /// The same schedule with a quick phase of `quick` at the start of each outage.
    #[must_use]
    pub fn quick_for(mut self, quick: Duration) -> Self {
        self.quick_phase = quick;
        self
    }

    /// The same schedule with no wait longer than `cap`.
    #[must_use]
    pub fn capped(mut self, cap: Duration) -> Self {
        self.cap = cap;
        self
    }

    /// Records that a connection dropped after being up for `lasted`: a stable one ends the
    /// outage (the next wait is the first of a new one), a flapping one continues it.
    pub fn dropped_after(&mut self, lasted: Duration) {
        if lasted >= Self::STABLE_AFTER {
            self.reset();
        }
    }

    /// Forgets the outage: it worked, or something (the user, the network) says to try now.
    pub fn reset(&mut self) {
        self.outage_started = None;
        self.doublings = 0;
        self.not_before = None;
    }

    /// Whether the next attempt may be made at `now` (for callers that only try when they
    /// have something to do, instead of sleeping out [`Backoff::next_delay`]).
    pub fn ready(&self, now: Instant) -> bool {
        self.not_before.is_none_or(|next| now >= next)
    }

    /// Records a failure at `now` and returns the wait before the next attempt; `jitter` in
    /// `[0, 1]` spreads clients apart so many of them do not stampede a recovering server (1.0:
    /// none, the full step).
    pub fn next_delay(&mut self, now: Instant, failure: Failure, jitter: f64) -> Duration {
        let started = *self.outage_started.get_or_insert(now);
        let age = now.saturating_duration_since(started);
        let jitter = jitter.clamp(0.0, 1.0);
        let delay = if age < self.quick_phase {
            // 0.25-0.5 s: the app is back well within a second of the server, without spinning.
            Self::QUICK_MAX.mul_f64(0.25 + 0.25 * jitter)
        } else {
            match failure {
                Failure::Unanswered if age < Self::PROBING_PHASE => {
                    Duration::from_secs(1).mul_f64(0.75 + 0.5 * jitter)
                }
                Failure::Unanswered => Duration::from_secs(1).mul_f64(6.0 + 2.0 * jitter),
                Failure::Answered => {
                    let exponent = self.doublings.min(16);
                    self.doublings = self.doublings.saturating_add(1);
                    // 75-100 % of the step keeps growth monotone on average, never above the cap.
                    self.first
                        .saturating_mul(1 << exponent)
                        .min(self.cap)
                        .mul_f64(0.75 + 0.25 * jitter)
                }
            }
        };
        let delay = delay.min(self.cap);
        self.not_before = Some(now + delay);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The waits of a client that fails at `at_secs` into an outage.
    fn delays(
        backoff: &mut Backoff,
        start: Instant,
        at_secs: &[u64],
        failure: Failure,
        jitter: f64,
    ) -> Vec<Duration> {
        at_secs
            .iter()
            .map(|s| backoff.next_delay(start + Duration::from_secs(*s), failure, jitter))
            .collect()
    }

    /// Runs an outage of `length` against a server that answers nothing: when each probe
    /// starts (relative to the outage's start), each probe taking `probe` when it fails.
    fn outage(length: Duration, probe: Duration, jitter: f64) -> Vec<Duration> {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        let mut at = Duration::ZERO;
        let mut probes = Vec::new();
        while at < length {
            probes.push(at);
            at += probe;
            at += backoff.next_delay(start + at, Failure::Unanswered, jitter);
        }
        probes
    }

    /// The longest time from a server answering again (at any moment of the outage up to its
    /// end) until a probe starts that sees it answer.
    fn worst_wait(probes: &[Duration], probe: Duration) -> Duration {
        probes
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0] + probe))
            .max()
            .unwrap_or_default()
    }

    #[test]
    fn quick_phase_retries_at_most_half_a_second_apart_whatever_failed() {
        let start = Instant::now();
        for failure in [Failure::Unanswered, Failure::Answered] {
            for jitter in [0.0, 0.5, 0.999] {
                let mut backoff = Backoff::default();
                for delay in delays(&mut backoff, start, &[0, 1, 5, 9], failure, jitter) {
                    assert!(delay >= Duration::from_millis(250), "{delay:?}");
                    assert!(delay <= Duration::from_millis(500), "{delay:?}");
                }
            }
        }
    }

    #[test]
    fn a_ten_minute_outage_is_probed_about_every_second() {
        for jitter in [0.0, 0.5, 0.999] {
            // Refused at once (server down) or timed out after 1 s (server frozen).
            for probe in [Duration::ZERO, Duration::from_secs(1)] {
                let probes = outage(Duration::from_secs(600), probe, jitter);
                let waited = worst_wait(&probes, probe);
                assert!(waited <= Duration::from_millis(1250), "{waited:?}");
                assert!(waited >= Duration::from_millis(750), "{waited:?}");
            }
        }
        let refused = outage(Duration::from_secs(600), Duration::ZERO, 0.5);
        assert!((600..640).contains(&refused.len()), "{}", refused.len());
        let frozen = outage(Duration::from_secs(600), Duration::from_secs(1), 0.5);
        assert!((300..330).contains(&frozen.len()), "{}", frozen.len());
    }

    #[test]
    fn an_hour_long_outage_costs_about_a_thousand_probes_and_never_waits_over_eight_seconds() {
        let hour = Duration::from_secs(3600);
        for jitter in [0.0, 0.5, 0.999] {
            let probes = outage(hour, Duration::ZERO, jitter);
            assert!(worst_wait(&probes, Duration::ZERO) <= Duration::from_secs(8));
            let late: Vec<_> = probes
                .into_iter()
                .filter(|at| *at > Backoff::PROBING_PHASE + Duration::from_secs(10))
                .collect();
            assert!(
                worst_wait(&late, Duration::ZERO) >= Duration::from_secs(6),
                "after ten minutes probes slow down"
            );
        }
        let first_hour = outage(hour, Duration::ZERO, 0.5).len();
        assert!((1000..1100).contains(&first_hour), "{first_hour}");
        // Every further hour: one probe per ~7 s.
        let start = Instant::now();
        let mut backoff = Backoff::default();
        backoff.next_delay(start, Failure::Unanswered, 0.5);
        let mut at = hour;
        let mut count = 0;
        while at < 2 * hour {
            at += backoff.next_delay(start + at, Failure::Unanswered, 0.5);
            count += 1;
        }
        assert!((500..530).contains(&count), "{count}");
    }

    #[test]
    fn answered_failures_double_to_the_cap_and_stay_there() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        backoff.next_delay(start, Failure::Answered, 0.0);
        let slow = delays(
            &mut backoff,
            start,
            &[10, 12, 16, 24, 40, 72, 136, 264, 520, 1000],
            Failure::Answered,
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
        for failure in [Failure::Unanswered, Failure::Answered] {
            let mut backoff = Backoff::default();
            backoff.next_delay(start, failure, 0.3);
            for minute in 0..24 * 60 {
                let now = start + Duration::from_secs(60 * minute + 11);
                let delay = backoff.next_delay(now, failure, 0.3);
                assert!(delay > Duration::ZERO && delay <= Duration::from_secs(60));
            }
        }
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        let start = Instant::now();
        let later = start + Duration::from_secs(30);
        for failure in [Failure::Unanswered, Failure::Answered] {
            let (mut a, mut b) = (Backoff::default(), Backoff::default());
            a.next_delay(start, failure, 0.0);
            b.next_delay(start, failure, 0.0);
            assert_ne!(
                a.next_delay(later, failure, 0.1),
                b.next_delay(later, failure, 0.9)
            );
        }
    }

    /// A server that restarts every `up` seconds, down for `down` seconds each time: how long
    /// after each return the client is connected (a reconnect takes `handshake`).
    fn restarts(up: f64, down: f64, times: usize, jitter: f64) -> Vec<Duration> {
        let handshake = Duration::from_millis(50);
        let start = Instant::now();
        let mut backoff = Backoff::default();
        let mut bridged = Vec::new();
        let mut now = Duration::ZERO;
        for _ in 0..times {
            // The server goes down at `now` and is back at `back`; the client drops at once.
            let back = now + Duration::from_secs_f64(down);
            let mut at = now + backoff.next_delay(start + now, Failure::Answered, jitter);
            while at < back {
                at += backoff.next_delay(start + at, Failure::Unanswered, jitter);
            }
            let connected = at + handshake;
            bridged.push(connected - back);
            now = back + Duration::from_secs_f64(up);
            backoff.dropped_after(now - connected);
        }
        bridged
    }

    #[test]
    fn restarts_ten_seconds_apart_are_each_bridged_within_a_second() {
        for jitter in [0.0, 0.5, 0.999] {
            let bridged = restarts(10.0, 5.0, 5, jitter);
            assert!(
                bridged.iter().all(|d| *d < Duration::from_millis(600)),
                "{bridged:?}"
            );
        }
    }

    #[test]
    fn restarts_three_seconds_apart_are_each_bridged_within_a_second() {
        // Down for up to the quick phase; longer is a long outage (probed about every second).
        for down in [1.0, 5.0, 9.0] {
            for jitter in [0.0, 0.5, 0.999] {
                let bridged = restarts(3.0, down, 8, jitter);
                assert!(
                    bridged.iter().all(|d| *d < Duration::from_millis(600)),
                    "down {down} s: {bridged:?}"
                );
            }
        }
    }

    #[test]
    fn a_connection_dropped_right_after_it_opened_continues_the_outage_and_slows_down() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        // A server that accepts, says `init` and kicks the socket within a second, for a minute.
        let mut at = Duration::ZERO;
        let mut connections = 0;
        while at < Duration::from_secs(60) {
            at += backoff.next_delay(start + at, Failure::Answered, 0.5);
            at += Duration::from_millis(500);
            backoff.dropped_after(Duration::from_millis(500));
            connections += 1;
        }
        assert!(
            connections < 35,
            "{connections} connections in a minute of flapping"
        );
        let after = backoff.next_delay(start + at, Failure::Answered, 0.5);
        assert!(after >= Duration::from_secs(30), "{after:?}");

        backoff.dropped_after(Backoff::STABLE_AFTER);
        let fresh = backoff.next_delay(
            start + at + Duration::from_secs(100),
            Failure::Answered,
            0.0,
        );
        assert!(
            fresh <= Backoff::QUICK_MAX,
            "a stable connection starts a new outage: {fresh:?}"
        );
    }

    #[test]
    fn doubling_only_schedule_gates_attempts() {
        let start = Instant::now();
        let mut gate = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert!(gate.ready(start));
        let first = gate.next_delay(start, Failure::Answered, 0.999);
        assert!(first <= Duration::from_secs(1) && first >= Duration::from_millis(750));
        assert!(!gate.ready(start + Duration::from_millis(500)));
        assert!(gate.ready(start + first));
        let second = gate.next_delay(start + first, Failure::Answered, 0.999);
        assert!(second > first, "{first:?} then {second:?}");
        gate.reset();
        assert!(gate.ready(start + first));
    }

    #[test]
    fn the_cap_bounds_every_phase() {
        let start = Instant::now();
        let mut backoff = Backoff::default().capped(Duration::from_millis(100));
        for s in [0, 20, 700] {
            for failure in [Failure::Unanswered, Failure::Answered] {
                let delay = backoff.next_delay(start + Duration::from_secs(s), failure, 0.9);
                assert!(delay <= Duration::from_millis(100), "{delay:?}");
            }
        }
    }
}
