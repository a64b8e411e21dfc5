//! Latency percentiles of a run.

use std::time::Duration;

/// The latencies of one run's requests, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    micros: Vec<u32>,
}

impl Latencies {
    /// Records one request's latency.
    pub(crate) fn record(&mut self, latency: Duration) {
        self.micros
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }

    /// Adds another client's latencies.
    pub(crate) fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }

    /// How many latencies were recorded.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The `percent`th percentile (nearest rank), in microseconds; 0 when empty.
    pub fn percentile(&mut self, percent: usize) -> u32 {
        if self.micros.is_empty() {
            return 0;
        }
        self.micros.sort_unstable();
        let rank = (self.micros.len() * percent).div_ceil(100).max(1);
        self.micros[rank.min(self.micros.len()) - 1]
    }
}
