//! Execution limits for the component engine.
//!
//! A policy is data-driven code that a host runs on every request; a bug or a hostile build
//! must not hang or exhaust the host. Every evaluation (and every data load) runs under a
//! wall-clock deadline, memory caps and, optionally, a fuel budget; hitting any of them is an
//! error, and callers deny.

use std::time::Duration;

/// Limits applied to each call into a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) one call may use. `None` disables fuel metering.
    ///
    /// By default this is `None`: metering instruments every loop and costs warm evaluations
    /// a measurable share, while the deadline already stops a runaway guest. Set it when a
    /// deterministic bound matters more than speed (for example, to make a limit hit
    /// reproducible across machines).
    pub fuel: Option<u64>,
    /// Wall-clock time one call may take, enforced with epoch interruption. `None` disables
    /// the deadline.
    ///
    /// By default this is 1 second. The engine's epoch advances every
    /// [`Limits::EPOCH_TICK`], so the deadline is rounded up to whole ticks.
    pub deadline: Option<Duration>,
    /// Bytes of linear memory an instance may have in total.
    ///
    /// By default this is 256 MiB, enough for the rules with 1 MiB of data many times over.
    pub memory_bytes: usize,
    /// Instances one store may create. The policy component needs one.
    ///
    /// By default this is 4.
    pub instances: usize,
}

impl Limits {
    /// How often the engine's epoch advances when a deadline is set.
    pub const EPOCH_TICK: Duration = Duration::from_millis(5);

    /// The deadline in epoch ticks, rounded up; at least one.
    pub fn deadline_ticks(&self) -> Option<u64> {
        self.deadline.map(|d| {
            let ticks = d.as_nanos().div_ceil(Self::EPOCH_TICK.as_nanos());
            u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
        })
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: None,
            deadline: Some(Duration::from_secs(1)),
            memory_bytes: 256 << 20,
            instances: 4,
        }
    }
}
