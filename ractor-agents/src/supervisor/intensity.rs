//! Restart intensity: at most `max_restarts` restarts within any `period`.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// OTP's `intensity`/`period`: a supervisor that would restart a child more than `max_restarts`
/// times within `period` gives up instead: it stops all its children and fails to its parent.
/// The default is Elixir's: 3 restarts in 5 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RestartIntensity {
    /// Restarts allowed within `period`.
    pub max_restarts: u32,
    /// The sliding window.
    pub period: Duration,
}

impl Default for RestartIntensity {
    fn default() -> Self {
        Self { max_restarts: 3, period: Duration::from_secs(5) }
    }
}

/// The restarts a supervisor made within the current window.
#[derive(Debug, Default)]
pub(crate) struct RestartWindow {
    restarts: VecDeque<Instant>,
}

impl RestartWindow {
    /// Records a restart at `now` if the intensity allows it; `false` means "exceeded".
    pub(crate) fn try_record(&mut self, limit: RestartIntensity, now: Instant) -> bool {
        while self.restarts.front().is_some_and(|&t| now.duration_since(t) >= limit.period) {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= limit.max_restarts as usize {
            return false;
        }
        self.restarts.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_limit_is_refused() {
        let limit = RestartIntensity { max_restarts: 2, period: Duration::from_secs(10) };
        let mut window = RestartWindow::default();
        let t0 = Instant::now();
        assert!(window.try_record(limit, t0));
        assert!(window.try_record(limit, t0 + Duration::from_secs(1)));
        assert!(!window.try_record(limit, t0 + Duration::from_secs(2)));
    }

    #[test]
    fn restarts_spread_beyond_the_period_are_allowed() {
        let limit = RestartIntensity { max_restarts: 2, period: Duration::from_secs(10) };
        let mut window = RestartWindow::default();
        let t0 = Instant::now();
        for i in 0..10 {
            assert!(window.try_record(limit, t0 + Duration::from_secs(6 * i)), "restart {i}");
        }
    }
}
