//! The worker's figures through the [`metrics`](https://docs.rs/metrics)
//! crate facade (feature `metrics`), named and typed as a Prometheus user
//! expects them: whatever recorder the application installed
//! (metrics-exporter-prometheus, StatsD, …) receives them.
//!
//! # Labels
//! Every series carries `project`, `logstore`, `group` and `consumer` (the
//! worker's configuration); the per-shard series also `shard`. Two workers
//! in one process (two groups, or two consumer names) never share a series.
//!
//! # Counters are incremented where the event happens
//! Counters end in `_total` and are incremented at the source: a pull's
//! bytes when its answer arrives, a batch's logs when `process` returns,
//! each call attempt when it ends; a scrape between two heartbeats sees
//! them. (The per-shard counters follow [`ShardMetrics`]:
//! each change of one of its running totals increments the counter by the
//! difference, so the two never disagree.) A shard taken again after it
//! was released starts its series again from zero, which Prometheus's
//! `rate()` and `increase()` read as a counter reset.
//!
//! # Gauges and liveness are published once per heartbeat
//! Gauges (lag, buffer, health, the last heartbeat) are set once per
//! heartbeat round, when the worker judges its health. That round also
//! touches every series the worker still owns (counters by adding 0), so
//! each live series is updated at least once per round.
//!
//! # A released shard's series disappear
//! The facade has no way to remove a series, so the worker relies on the
//! recorder's idle timeout: once this consumer no longer holds a shard it
//! stops touching that shard's series, and a recorder that drops series
//! idle for longer than [`idle_timeout`] (three heartbeat intervals)
//! drops them. With metrics-exporter-prometheus:
//!
//! ```ignore
//! use metrics_exporter_prometheus::PrometheusBuilder;
//! use metrics_util::MetricKindMask;
//!
//! let handle = PrometheusBuilder::new()
//!     .idle_timeout(MetricKindMask::COUNTER | MetricKindMask::GAUGE,
//!                   Some(sls_consumer::export::idle_timeout(&config)))
//!     .install_recorder()?;
//! ```
//!
//! Histograms are per worker, not per shard, so the mask leaves them out:
//! a call made once at start (CreateConsumerGroup) keeps its histogram.
//! Without an idle timeout a released shard's series stay at their last
//! value; that is the recorder's choice, not the worker's.
//!
//! # The figures
//!
//! | name | type | labels besides project, logstore, group, consumer | updated |
//! |---|---|---|---|
//! | `sls_consumer_lag_seconds` | gauge | `shard` | each heartbeat: the receive time of the shard's newest data minus that of the position processed (0 when caught up); absent until both are known |
//! | `sls_consumer_lag_groups` | gauge | `shard` | each heartbeat: log groups between the position processed and the shard's end; absent until the end is known |
//! | `sls_consumer_stalled` | gauge | `shard` | each heartbeat: 1 while the shard is stalled ([`Worker::health`](crate::Worker::health) says why), else 0 |
//! | `sls_consumer_process_failures_in_a_row` | gauge | `shard` | each heartbeat: `process` calls failed in a row (0 after one succeeds) |
//! | `sls_consumer_paced_bytes_per_second` | gauge | `shard` | each heartbeat: the compressed bytes a second the shard's pulls are paced to, since the service first refused one for its read quota; 0 while unpaced |
//! | `sls_consumer_paced_pulls_per_minute` | gauge | `shard` | each heartbeat: the pulls a minute the shard is paced to; 0 while unpaced |
//! | `sls_consumer_processed_logs_total` | counter | `shard` | when `process` returns for a batch (or the batch is skipped by the error policy): its logs |
//! | `sls_consumer_processed_bytes_total` | counter | `shard` | same: its decompressed bytes |
//! | `sls_consumer_processed_batches_total` | counter | `shard` | same: 1 |
//! | `sls_consumer_fetched_logs_total` | counter | `shard` | when a pull's answer arrives: its logs |
//! | `sls_consumer_pulled_wire_bytes_total` | counter | `shard` | when a pull's answer arrives: its body as received (compressed) |
//! | `sls_consumer_pulled_raw_bytes_total` | counter | `shard` | when a pull's answer arrives: its body decompressed (`x-log-bodyrawsize`) |
//! | `sls_consumer_pulls_refused_for_size_total` | counter | `shard` | when a pull's answer is refused from its headers as larger than its reservation (asked again smaller) |
//! | `sls_consumer_pulls_refused_for_quota_total` | counter | `shard` | when a pull is refused for the service's read quota (`ShardReadQuotaExceed`, `ReadQuotaExceed`): paced and sent again, not a retry |
//! | `sls_consumer_call_retries_total` | counter | `shard` | when a shard's call is retried after a transient error |
//! | `sls_consumer_process_failures_total` | counter | `shard` | when `process` (or a hook) fails or panics |
//! | `sls_consumer_processor_panics_total` | counter | `shard` | when `process` (or a hook) panics |
//! | `sls_consumer_skipped_batches_total` | counter | `shard` | when the error policy skips a batch |
//! | `sls_consumer_cursor_resets_total` | counter | `shard` | when a position into data dropped by retention is reset |
//! | `sls_consumer_lost_groups_total` | counter | `shard` | with each such reset: the log groups passed over |
//! | `sls_consumer_absorbed_logs_total` | counter | `shard` | when an exactly-once sink absorbs logs delivered again |
//! | `sls_consumer_held_shards` | gauge | | each heartbeat: shards this consumer holds |
//! | `sls_consumer_buffered_bytes` | gauge | | each heartbeat: fetched, unprocessed bytes (decompressed) |
//! | `sls_consumer_buffer_budget_bytes` | gauge | | each heartbeat: the memory budget |
//! | `sls_consumer_buffer_peak_bytes` | gauge | | each heartbeat: the most ever buffered at once |
//! | `sls_consumer_pooled_bytes` | gauge | | each heartbeat: buffers of processed pulls kept for the next (within the budget, with the buffered bytes) |
//! | `sls_consumer_health` | gauge | `state` = `healthy`, `degraded`, `stopped` | each heartbeat: 1 for the worker's [`Health`], 0 for the two others |
//! | `sls_consumer_last_heartbeat_timestamp_seconds` | gauge | | each heartbeat: Unix time of the last heartbeat the service answered; absent before the first |
//! | `sls_consumer_heartbeat_failures_total` | counter | | when a heartbeat fails for good (after its retries within the interval) |
//! | `sls_consumer_calls_total` | counter | `call`, `outcome` | when one attempt of a call to the service ends (every retry counts) |
//! | `sls_consumer_call_duration_seconds` | histogram | `call` | same: the attempt's duration, whatever its outcome |
//! | `sls_consumer_process_duration_seconds` | histogram | | when a `process` call returns (or panics): its duration |
//! | `sls_consumer_checkpoint_commits_total` | counter | `outcome` | when a checkpoint commit ends (after the retries of transient errors) |
//!
//! `call` is the API's name: `PullLogs`, `GetCursor`, `GetCursorTime`,
//! `GetCheckPoint`, `UpdateCheckPoint`, `ListShards`,
//! `ConsumerGroupHeartBeat`, `CreateConsumerGroup`, `UpdateConsumerGroup`,
//! `ListConsumerGroup`.
//!
//! `outcome` of a call: `ok`; the service's error code (`ServerBusy`,
//! `ShardReadQuotaExceed`, `InvalidCursor`, …; `http_<status>` for an
//! error answer without one); `transport` (connection failed or timed
//! out); `too_large` (a pull's answer refused from its headers);
//! `invalid_response` (a body that does not decode or decompress, an
//! answer the protocol does not allow); `credentials` (no credentials
//! could be had); `invalid_argument` (refused before sending).
//!
//! `outcome` of a commit: `ok`; `not_owner` (the service says another
//! consumer owns the shard: it was lost); `stopped` (abandoned because the
//! shard was lost or the worker stops); `error` (any other error: the
//! worker stops, or the next pull resets a position retention dropped).

// Without the feature the module is a set of no-ops the worker calls.
#![cfg_attr(not(feature = "metrics"), allow(dead_code))]

#[cfg(feature = "metrics")]
use std::collections::BTreeSet;
#[cfg(feature = "metrics")]
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

#[cfg(feature = "metrics")]
use metrics::Label;

use crate::calls::fate::CallKind;
use crate::health::Health;
use crate::metrics::{MemoryStats, ShardMetrics};

/// How long a recorder should keep a series nobody updates (its idle
/// timeout) so that a released shard's series disappear and a held one's
/// never do: three heartbeat intervals. The worker updates every series
/// it owns once per heartbeat round, and a round can take up to two
/// intervals when a heartbeat is retried.
#[cfg(feature = "metrics")]
pub fn idle_timeout(config: &crate::ConsumerConfig) -> Duration {
    config.heartbeat_interval().saturating_mul(3)
}

/// A running total of [`ShardMetrics`] and the counter it feeds.
type Figure = fn(&ShardMetrics) -> u64;

/// The per-shard counters: each follows one running total.
const SHARD_COUNTERS: &[(&str, Figure)] = &[
    ("sls_consumer_processed_logs_total", |m| m.processed_logs),
    ("sls_consumer_processed_bytes_total", |m| m.processed_bytes),
    ("sls_consumer_processed_batches_total", |m| m.batches),
    ("sls_consumer_fetched_logs_total", |m| m.fetched_logs),
    ("sls_consumer_pulled_wire_bytes_total", |m| {
        m.fetched_wire_bytes
    }),
    ("sls_consumer_pulled_raw_bytes_total", |m| m.fetched_bytes),
    ("sls_consumer_pulls_refused_for_size_total", |m| {
        m.pulls_refused_for_size
    }),
    ("sls_consumer_pulls_refused_for_quota_total", |m| {
        m.pulls_refused_for_quota
    }),
    ("sls_consumer_call_retries_total", |m| m.call_retries),
    ("sls_consumer_process_failures_total", |m| {
        m.process_failures
    }),
    ("sls_consumer_processor_panics_total", |m| m.panics),
    ("sls_consumer_skipped_batches_total", |m| m.batches_skipped),
    ("sls_consumer_cursor_resets_total", |m| m.cursor_resets),
    ("sls_consumer_lost_groups_total", |m| m.groups_lost),
    ("sls_consumer_absorbed_logs_total", |m| m.absorbed),
];

/// A figure of [`ShardMetrics`] a gauge shows, if known.
type Reading = fn(&ShardMetrics) -> Option<f64>;

/// The per-shard gauges, set each heartbeat (`None`: not known yet, left
/// unset).
const SHARD_GAUGES: &[(&str, Reading)] = &[
    ("sls_consumer_lag_seconds", |m| {
        m.lag_seconds.map(|s| s as f64)
    }),
    ("sls_consumer_lag_groups", |m| {
        m.lag_groups.map(|g| g as f64)
    }),
    ("sls_consumer_stalled", |m| {
        Some(if m.stalled { 1.0 } else { 0.0 })
    }),
    ("sls_consumer_process_failures_in_a_row", |m| {
        Some(f64::from(m.failures_in_a_row))
    }),
    ("sls_consumer_paced_bytes_per_second", |m| {
        Some(m.paced_bytes_per_second.unwrap_or(0) as f64)
    }),
    ("sls_consumer_paced_pulls_per_minute", |m| {
        Some(m.paced_pulls_per_minute.unwrap_or(0) as f64)
    }),
];

/// Every name this module publishes, for the tests that hold the tables
/// in the docs to it.
#[cfg(test)]
pub(crate) fn names() -> Vec<&'static str> {
    let mut names: Vec<&str> = SHARD_COUNTERS
        .iter()
        .map(|(n, _)| *n)
        .chain(SHARD_GAUGES.iter().map(|(n, _)| *n))
        .collect();
    names.extend([
        "sls_consumer_held_shards",
        "sls_consumer_buffered_bytes",
        "sls_consumer_buffer_budget_bytes",
        "sls_consumer_buffer_peak_bytes",
        "sls_consumer_pooled_bytes",
        "sls_consumer_health",
        "sls_consumer_last_heartbeat_timestamp_seconds",
        "sls_consumer_heartbeat_failures_total",
        "sls_consumer_calls_total",
        "sls_consumer_call_duration_seconds",
        "sls_consumer_process_duration_seconds",
        "sls_consumer_checkpoint_commits_total",
    ]);
    names
}

/// The running totals of a shard before an update, to increment the
/// counters by what it added.
#[derive(Debug)]
pub(crate) struct Totals {
    #[cfg(feature = "metrics")]
    values: [u64; SHARD_COUNTERS.len()],
}

impl Totals {
    pub(crate) fn of(_m: &ShardMetrics) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            values: std::array::from_fn(|i| (SHARD_COUNTERS[i].1)(_m)),
        }
    }
}

/// One held shard's series: its labels.
#[derive(Debug)]
pub(crate) struct ShardSeries {
    #[cfg(feature = "metrics")]
    labels: Vec<Label>,
}

impl ShardSeries {
    /// Increments the counters by what an update added to the totals.
    pub(crate) fn advanced(&self, _before: &Totals, _after: &ShardMetrics) {
        #[cfg(feature = "metrics")]
        for (i, (name, figure)) in SHARD_COUNTERS.iter().enumerate() {
            let added = figure(_after).saturating_sub(_before.values[i]);
            if added > 0 {
                metrics::counter!(*name, self.labels.iter()).increment(added);
            }
        }
    }

    /// Sets the gauges and touches the counters (each heartbeat).
    fn publish(&self, _m: &ShardMetrics) {
        #[cfg(feature = "metrics")]
        {
            for (name, _) in SHARD_COUNTERS {
                metrics::counter!(*name, self.labels.iter()).increment(0);
            }
            for (name, figure) in SHARD_GAUGES {
                if let Some(value) = figure(_m) {
                    metrics::gauge!(*name, self.labels.iter()).set(value);
                }
            }
        }
    }
}

/// One worker's series: its labels, and the labelled counters it has
/// used, to touch each heartbeat.
#[derive(Debug, Default)]
pub(crate) struct Series {
    #[cfg(feature = "metrics")]
    base: Vec<Label>,
    /// Worker counters used so far (name, labels), touched every round.
    #[cfg(feature = "metrics")]
    used: Mutex<BTreeSet<(&'static str, Vec<Label>)>>,
}

impl Series {
    /// The series of the worker reading `logstore` in `group` as
    /// `consumer`.
    pub(crate) fn new(_project: &str, _logstore: &str, _group: &str, _consumer: &str) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            base: vec![
                Label::new("project", _project.to_owned()),
                Label::new("logstore", _logstore.to_owned()),
                Label::new("group", _group.to_owned()),
                Label::new("consumer", _consumer.to_owned()),
            ],
            #[cfg(feature = "metrics")]
            used: Mutex::default(),
        }
    }

    /// The series of `shard`, held from now on.
    pub(crate) fn shard(&self, _shard: u32) -> ShardSeries {
        ShardSeries {
            #[cfg(feature = "metrics")]
            labels: self.with(&[("shard", _shard.to_string())]),
        }
    }

    #[cfg(feature = "metrics")]
    fn with(&self, extra: &[(&'static str, String)]) -> Vec<Label> {
        let mut labels = self.base.clone();
        labels.extend(extra.iter().map(|(k, v)| Label::new(*k, v.clone())));
        labels
    }

    /// Adds `by` to a worker counter, and remembers it to touch.
    #[cfg(feature = "metrics")]
    fn count(&self, name: &'static str, extra: &[(&'static str, String)], by: u64) {
        let labels = self.with(extra);
        metrics::counter!(name, labels.iter()).increment(by);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.insert((name, labels));
    }

    /// One attempt of `call` ended, with `error` or not, after `took`.
    pub(crate) fn call(
        &self,
        _call: CallKind,
        _error: Option<&sls_client::Error>,
        _took: Duration,
    ) {
        #[cfg(feature = "metrics")]
        {
            let outcome = match _error {
                None => "ok".to_owned(),
                Some(err) => outcome(err),
            };
            let name = _call.name().to_owned();
            self.count(
                "sls_consumer_calls_total",
                &[("call", name.clone()), ("outcome", outcome)],
                1,
            );
            let labels = self.with(&[("call", name)]);
            metrics::histogram!("sls_consumer_call_duration_seconds", labels.iter())
                .record(_took.as_secs_f64());
        }
    }

    /// A checkpoint commit ended (`ok`, `not_owner`, `stopped`, `error`).
    pub(crate) fn commit(&self, _outcome: &'static str) {
        #[cfg(feature = "metrics")]
        self.count(
            "sls_consumer_checkpoint_commits_total",
            &[("outcome", _outcome.to_owned())],
            1,
        );
    }

    /// A heartbeat failed for good.
    pub(crate) fn heartbeat_failed(&self) {
        #[cfg(feature = "metrics")]
        self.count("sls_consumer_heartbeat_failures_total", &[], 1);
    }

    /// A `process` call returned after `took`.
    pub(crate) fn processed_in(&self, _took: Duration) {
        #[cfg(feature = "metrics")]
        metrics::histogram!("sls_consumer_process_duration_seconds", self.base.iter())
            .record(_took.as_secs_f64());
    }

    /// The heartbeat round's publication: gauges set, every live series
    /// touched.
    pub(crate) fn publish(&self, _round: &Round<'_>) {
        #[cfg(feature = "metrics")]
        {
            let r = _round;
            for (series, m) in r.shards {
                series.publish(m);
            }
            let base = self.base.iter();
            metrics::gauge!("sls_consumer_held_shards", base.clone()).set(r.shards.len() as f64);
            metrics::gauge!("sls_consumer_buffered_bytes", base.clone())
                .set(r.memory.buffered as f64);
            metrics::gauge!("sls_consumer_buffer_budget_bytes", base.clone())
                .set(r.memory.budget as f64);
            metrics::gauge!("sls_consumer_buffer_peak_bytes", base.clone())
                .set(r.memory.peak as f64);
            metrics::gauge!("sls_consumer_pooled_bytes", base.clone()).set(r.memory.pooled as f64);
            let state = match r.health {
                Health::Healthy => "healthy",
                Health::Degraded(_) => "degraded",
                Health::Stopped(_) => "stopped",
            };
            for s in ["healthy", "degraded", "stopped"] {
                let labels = self.with(&[("state", s.to_owned())]);
                metrics::gauge!("sls_consumer_health", labels.iter()).set(if s == state {
                    1.0
                } else {
                    0.0
                });
            }
            if let Some(at) = r.last_heartbeat {
                let unix = at
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                metrics::gauge!(
                    "sls_consumer_last_heartbeat_timestamp_seconds",
                    base.clone()
                )
                .set(unix);
            }
            // The failure counter exists from the start, at 0.
            metrics::counter!("sls_consumer_heartbeat_failures_total", base).increment(0);
            let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            for (name, labels) in used.iter() {
                metrics::counter!(*name, labels.iter()).increment(0);
            }
        }
    }
}

/// What one heartbeat round publishes.
#[derive(Debug)]
pub(crate) struct Round<'a> {
    /// Every held shard: its series and figures.
    pub(crate) shards: &'a [(&'a ShardSeries, ShardMetrics)],
    pub(crate) memory: MemoryStats,
    pub(crate) health: &'a Health,
    /// When the service last answered a heartbeat.
    pub(crate) last_heartbeat: Option<SystemTime>,
}

/// A failed attempt's `outcome` label.
#[cfg(feature = "metrics")]
fn outcome(err: &sls_client::Error) -> String {
    use sls_client::Error;
    match err {
        Error::Server(e) if !e.code().is_empty() => e.code().to_owned(),
        Error::Server(e) => format!("http_{}", e.status()),
        Error::Transport { .. } | Error::Timeout(_) => "transport".to_owned(),
        Error::TooLarge { .. } => "too_large".to_owned(),
        Error::Credentials(_) => "credentials".to_owned(),
        Error::InvalidArgument(_) => "invalid_argument".to_owned(),
        _ => "invalid_response".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    /// The names in the table of this module's docs, in order.
    fn table(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim_start_matches("//!").trim().strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .filter(|n| n.starts_with("sls_consumer_"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_docs_table_names_every_figure_once() {
        let mut listed = table(include_str!("export.rs"));
        listed.sort();
        let mut names: Vec<String> = super::names().into_iter().map(str::to_owned).collect();
        names.sort();
        assert_eq!(listed, names);
    }
}
