//! How one executor claims and leases: its owner id, slots, poll and lease timing, attempts and
//! the concurrency limits (SPEC §3.1), defaulted from `[scheduler]` in the configuration.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::SchedulerConfig;
use crate::{FieldErrors, Result};

/// Jobs one executor runs at once unless told otherwise.
pub const DEFAULT_SLOTS: u32 = 4;

/// The longest an idle executor waits before looking for work launched by another process.
///
/// Launches and approvals in this process wake executors at once; polling only finds work from
/// other processes (a CLI launch against a server's database, a scheduler process) and expired
/// leases. A claim that finds nothing is one indexed query, so a poll a second per executor
/// costs next to nothing and keeps such runs from waiting `scheduler.poll_interval_s` (up to
/// 30 s, the scheduler's tick) to start.
pub const MAX_IDLE_POLL: Duration = Duration::from_secs(1);

/// How long a shutdown waits for running jobs before leaving them to lease expiry.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Options of one [`Executor`](super::Executor); build with the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorOptions {
    /// The lease owner written on claimed jobs; by default `<hostname>/<pid>/<n>.<random>`,
    /// unique per executor.
    pub owner: String,
    /// Most jobs this executor runs at once.
    pub slots: u32,
    /// How often an idle executor reaps expired leases and claims.
    pub poll_interval: Duration,
    /// How long a claimed job's lease lasts without renewal.
    pub lease: Duration,
    /// How often a running job's lease is renewed (and the run's cancel request checked).
    pub renew_interval: Duration,
    /// A job whose lease expired this many times fails with "lease expired".
    pub max_attempts: u32,
    /// Most runs running at once, across every executor on the database.
    pub max_running_runs: u32,
    /// Most running jobs of one task, across every executor on the database.
    pub max_running_per_task: u32,
    /// How long a shutdown waits for running jobs.
    pub shutdown_grace: Duration,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self::from_config(&SchedulerConfig::default())
    }
}

impl ExecutorOptions {
    /// Limits, lease and attempts from `[scheduler]`; a fresh owner id; [`DEFAULT_SLOTS`];
    /// the configured poll interval capped at [`MAX_IDLE_POLL`]; renewal every third of the lease.
    pub fn from_config(config: &SchedulerConfig) -> Self {
        let lease = Duration::from_secs(config.lease_s);
        Self {
            owner: default_owner(),
            slots: DEFAULT_SLOTS,
            poll_interval: Duration::from_secs(config.poll_interval_s).min(MAX_IDLE_POLL),
            lease,
            renew_interval: lease / 3,
            max_attempts: config.max_attempts,
            max_running_runs: config.max_global,
            max_running_per_task: config.max_per_task,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    pub fn with_slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }

    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// The lease length; also sets the renewal interval to a third of it (so two renewals can
    /// fail before the lease lapses). Call [`ExecutorOptions::with_renew_interval`] after this
    /// to choose another.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self.renew_interval = lease / 3;
        self
    }

    pub fn with_renew_interval(mut self, renew_interval: Duration) -> Self {
        self.renew_interval = renew_interval;
        self
    }

    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// The global running-runs limit and the per-task running-jobs limit.
    pub fn with_limits(mut self, max_running_runs: u32, max_running_per_task: u32) -> Self {
        self.max_running_runs = max_running_runs;
        self.max_running_per_task = max_running_per_task;
        self
    }

    pub fn with_shutdown_grace(mut self, shutdown_grace: Duration) -> Self {
        self.shutdown_grace = shutdown_grace;
        self
    }

    /// The lease as the store's time type.
    pub(super) fn lease_chrono(&self) -> chrono::Duration {
        // `validate` checked that it converts.
        chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX)
    }

    /// Every rule the run loop relies on, each error naming the option and the fix.
    pub fn validate(&self) -> Result<()> {
        let mut errors = FieldErrors::new();
        if self.owner.trim().is_empty() {
            errors.add(
                "executor.owner",
                "must not be empty; leave it out for a generated unique id",
            );
        }
        if self.slots == 0 {
            errors.add("executor.slots", "must be 1 or more");
        }
        if self.poll_interval.is_zero() {
            errors.add("executor.poll_interval", "must be more than zero");
        }
        if self.lease < Duration::from_secs(1) || chrono::Duration::from_std(self.lease).is_err() {
            errors.add(
                "executor.lease",
                format!(
                    "must be at least 1 s and a representable duration (got {:?})",
                    self.lease
                ),
            );
        }
        if self.renew_interval.is_zero() || self.renew_interval >= self.lease {
            errors.add(
                "executor.renew_interval",
                format!(
                    "must be more than zero and shorter than the lease ({:?}), e.g. a third of \
                     it (got {:?})",
                    self.lease, self.renew_interval
                ),
            );
        }
        if self.max_attempts == 0 {
            errors.add("executor.max_attempts", "must be 1 or more");
        }
        if self.max_running_runs == 0 {
            errors.add("executor.max_running_runs", "must be 1 or more");
        }
        if self.max_running_per_task == 0 {
            errors.add("executor.max_running_per_task", "must be 1 or more");
        }
        errors.into_result()
    }
}

/// `<hostname>/<pid>/<n>.<random>`: unique per executor in this process (`n` counts them), and
/// across hosts and containers that share a hostname and a pid (the random part).
fn default_owner() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(n);
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let random = hasher.finish() & 0xffff_ffff;
    format!("{}/{}/{n}.{random:08x}", hostname(), std::process::id())
}

fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = name.trim().chars().take(64).collect();
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_scheduler_configuration() {
        let config = SchedulerConfig {
            lease_s: 90,
            poll_interval_s: 10,
            max_attempts: 5,
            max_global: 7,
            max_per_task: 3,
            ..SchedulerConfig::default()
        };
        let options = ExecutorOptions::from_config(&config);
        assert_eq!(options.lease, Duration::from_secs(90));
        assert_eq!(options.renew_interval, Duration::from_secs(30));
        assert_eq!(options.poll_interval, MAX_IDLE_POLL);
        assert_eq!(options.max_attempts, 5);
        assert_eq!(
            (options.max_running_runs, options.max_running_per_task),
            (7, 3)
        );
        assert_eq!(options.slots, DEFAULT_SLOTS);
        options.validate().expect("defaults are valid");
    }

    #[test]
    fn owners_are_unique_per_executor() {
        let a = default_owner();
        let b = default_owner();
        assert_ne!(a, b);
        assert!(a.contains(&format!("/{}/", std::process::id())), "{a}");
    }

    #[test]
    fn invalid_options_name_the_option() {
        let options = ExecutorOptions::default()
            .with_slots(0)
            .with_lease(Duration::from_secs(10))
            .with_renew_interval(Duration::from_secs(10))
            .with_owner(" ");
        let message = options.validate().expect_err("invalid").to_string();
        for field in [
            "executor.slots",
            "executor.renew_interval",
            "executor.owner",
        ] {
            assert!(message.contains(field), "{message} names {field}");
        }
    }
}
