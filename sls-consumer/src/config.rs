//! [`ConsumerConfig`]: every option, its default, and validation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sls_client::names::{self, NameKind};
use sls_client::retry::RetryPolicy;
use sls_client::signing::SignatureVersion;
use sls_client::{Client, ProvideCredentials};
use sls_proto::CompressType;

use crate::processor::ErrorPolicy;

/// Where a shard starts when the group has no checkpoint for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartPosition {
    /// The oldest retained data.
    Begin,
    /// Only data written from now on.
    End,
    /// Data received at or after this Unix time (seconds).
    At(i64),
}

/// The defaults, in one place.
pub mod defaults {
    use std::time::Duration;

    use super::StartPosition;

    /// Heartbeat interval (`HeartbeatIntervalInSecond` in the Go library).
    pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(20);
    /// How many heartbeat intervals make the group's timeout.
    pub const TIMEOUT_INTERVALS: u32 = 3;
    /// Wait between pulls of a caught-up shard, and after a pull that
    /// returned less than half of `MAX_FETCH_GROUPS` (`DataFetchIntervalInMs`).
    pub const FETCH_INTERVAL: Duration = Duration::from_millis(200);
    /// The longest wait between pulls of an idle shard: the wait after an
    /// empty pull starts at `FETCH_INTERVAL` and doubles with each empty
    /// pull in a row up to this. 1 s keeps an idle shard at about one
    /// request a second, all calls counted (the Go library: about 2, a
    /// pull every 500 ms), and a write to an idle shard is delivered
    /// within about a second.
    pub const MAX_IDLE_INTERVAL: Duration = Duration::from_secs(1);
    /// Log groups per pull (`MaxFetchLogGroupCount`).
    pub const MAX_FETCH_GROUPS: u32 = 1000;
    /// Auto-commit interval (`AutoCommitIntervalInMS`).
    pub const AUTO_COMMIT_INTERVAL: Duration = Duration::from_secs(60);
    /// Where shards without a checkpoint start (`CursorPosition`).
    pub const START_POSITION: StartPosition = StartPosition::Begin;
    /// How long shutdown waits for in-flight processing.
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
    /// The memory budget for fetched, unprocessed data.
    pub const MAX_BUFFERED_BYTES: u64 = 256 << 20;
    /// The smallest budget accepted: above the largest log group.
    pub const MIN_BUFFERED_BYTES: u64 = 8 << 20;
    /// Pulls in flight at once.
    pub const MAX_CONCURRENT_FETCHES: u32 = 16;
    /// What happens when the group is deleted under a running worker.
    pub const ON_GROUP_DELETED: super::OnGroupDeleted = super::OnGroupDeleted::Recreate;
    /// The compression pulls ask for (`CompressType`).
    pub const COMPRESSION: sls_proto::CompressType = sls_proto::CompressType::Lz4;
    /// The byte target of one pull (decompressed). 8 MiB: one pull of the
    /// largest group (5 MB) fits; 32 such pulls fit the default budget, so
    /// prefetching one batch ahead works across 16 concurrent fetches; at
    /// the view's 1-2 GB/s decode a pull costs a few milliseconds, so the
    /// per-request overhead (about 1 ms on a local network) stays small.
    pub const MAX_PULL_BYTES: u64 = 8 << 20;
    /// The smallest byte target accepted.
    pub const MIN_PULL_BYTES: u64 = 64 << 10;
    /// What a shard does when its checkpoint points into data dropped by
    /// retention.
    pub const ON_EXPIRED_CURSOR: super::OnExpiredCursor = super::OnExpiredCursor::Oldest;
    /// How long a `process` call may run before the worker reports the
    /// shard as stalled in its metrics and health.
    pub const PROCESS_STALL_AFTER: Duration = Duration::from_secs(300);
}

/// What a shard does when its position (the group's checkpoint, a
/// processor's roll-back, or a position that fell behind while it was
/// read) points into data the logstore no longer holds (its TTL dropped
/// it). The service answers such a pull with `InvalidCursor`; the worker
/// also checks a checkpoint against the oldest retained data before it
/// starts, so the gap is seen even where the service reads from the
/// oldest data silently.
///
/// Every reset is a WARN event (shard, dead cursor, new cursor), counted
/// in [`ShardMetrics::cursor_resets`](crate::ShardMetrics::cursor_resets),
/// and passed to [`Processor::on_cursor_reset`](crate::Processor::on_cursor_reset)
/// so a job can record the gap.
///
/// The official consumers differ: Java resets to its start position,
/// Python jumps to the end (skipping retained data), Go retries the dead
/// cursor forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnExpiredCursor {
    /// Resume from the oldest retained data: only what retention already
    /// dropped is lost (the default).
    Oldest,
    /// Resume from the end: skips every retained log not yet read, for
    /// jobs that only care about fresh data.
    Newest,
    /// Stop the worker with [`ConsumerError::CursorExpired`](crate::ConsumerError::CursorExpired).
    Stop,
}

/// Why a configuration was refused; names the field and the valid range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid consumer config: {field}: {reason}")]
pub struct ConfigError {
    field: &'static str,
    reason: String,
}

impl ConfigError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }

    /// The offending field.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

/// A validated configuration. Build it with [`ConsumerConfig::builder`].
///
/// Its `Debug` shows every option; the client shows only its endpoint, so
/// no secret reaches it.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The client given to [`ConsumerConfigBuilder::client`], else the one
    /// [`ConsumerConfigBuilder::build`] makes from the endpoint: always set
    /// in a built configuration ([`ConsumerConfig::client`]).
    pub(crate) client: Option<Client>,
    pub(crate) project: String,
    pub(crate) logstore: String,
    pub(crate) group: String,
    pub(crate) consumer: String,
    pub(crate) start: StartPosition,
    pub(crate) heartbeat_interval: Duration,
    /// The group's timeout: set by `build()`, from
    /// [`ConsumerConfigBuilder::heartbeat_timeout`] or the interval.
    pub(crate) timeout: Duration,
    pub(crate) fetch_interval: Duration,
    /// The cap of the growing wait of an idle shard; at least
    /// `fetch_interval` once built.
    pub(crate) max_idle_interval: Duration,
    pub(crate) max_fetch_groups: u32,
    /// Children only after their parents.
    pub(crate) ordered: bool,
    pub(crate) auto_commit_interval: Option<Duration>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) compression: CompressType,
    /// The SPL query every pull carries, if any (never blank once built).
    pub(crate) query: Option<String>,
    /// The consume processor every pull names, if any (never blank once
    /// built).
    pub(crate) processor: Option<String>,
    pub(crate) on_group_deleted: OnGroupDeleted,
    /// The memory budget shared by every shard.
    pub(crate) max_buffered_bytes: u64,
    pub(crate) max_concurrent_fetches: u32,
    /// Bounded replay: stop at the data received at this Unix time.
    pub(crate) end_time: Option<i64>,
    /// The byte target of one pull.
    pub(crate) max_pull_bytes: u64,
    pub(crate) on_expired_cursor: OnExpiredCursor,
    pub(crate) process_stall_after: Duration,
    /// How a failing batch is retried.
    pub(crate) error_policy: ErrorPolicy,
}

/// What the worker does when its consumer group disappears while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnGroupDeleted {
    /// Create it again (with this worker's timeout and order) and go on;
    /// shards restart from the start position, as the checkpoints went with
    /// the group.
    Recreate,
    /// Stop the worker with the `ConsumerGroupNotExist` error.
    Stop,
}

impl ConsumerConfig {
    /// Starts a configuration for `consumer` in `group` on
    /// `project`/`logstore`.
    pub fn builder(
        project: impl Into<String>,
        logstore: impl Into<String>,
        group: impl Into<String>,
        consumer: impl Into<String>,
    ) -> ConsumerConfigBuilder {
        ConsumerConfigBuilder {
            config: Self {
                client: None,
                project: project.into(),
                logstore: logstore.into(),
                group: group.into(),
                consumer: consumer.into(),
                start: defaults::START_POSITION,
                heartbeat_interval: defaults::HEARTBEAT_INTERVAL,
                // Replaced by `build()`, which derives it from the interval
                // in force unless one is set.
                timeout: defaults::HEARTBEAT_INTERVAL.saturating_mul(defaults::TIMEOUT_INTERVALS),
                fetch_interval: defaults::FETCH_INTERVAL,
                max_idle_interval: defaults::MAX_IDLE_INTERVAL,
                max_fetch_groups: defaults::MAX_FETCH_GROUPS,
                ordered: false,
                auto_commit_interval: Some(defaults::AUTO_COMMIT_INTERVAL),
                shutdown_timeout: defaults::SHUTDOWN_TIMEOUT,
                compression: defaults::COMPRESSION,
                query: None,
                processor: None,
                on_group_deleted: defaults::ON_GROUP_DELETED,
                max_buffered_bytes: defaults::MAX_BUFFERED_BYTES,
                max_concurrent_fetches: defaults::MAX_CONCURRENT_FETCHES,
                end_time: None,
                max_pull_bytes: defaults::MAX_PULL_BYTES,
                on_expired_cursor: defaults::ON_EXPIRED_CURSOR,
                process_stall_after: defaults::PROCESS_STALL_AFTER,
                error_policy: ErrorPolicy::default(),
            },
            heartbeat_timeout: None,
            connection: Connection::default(),
        }
    }

    /// The consumer's name in the group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The group's heartbeat timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// The client the worker calls the service with.
    pub(crate) fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a built ConsumerConfig holds a client")
    }

    /// Checks the names against the service's rules.
    fn check_names(&self) -> Result<(), ConfigError> {
        for (field, kind, value) in [
            ("project", NameKind::Project, &self.project),
            ("logstore", NameKind::Logstore, &self.logstore),
            ("group", NameKind::ConsumerGroup, &self.group),
            ("consumer", NameKind::Consumer, &self.consumer),
        ] {
            if value.is_empty() {
                return Err(ConfigError::new(field, "must not be empty"));
            }
            names::check(kind, value).map_err(|err| ConfigError::new(field, err.to_string()))?;
        }
        Ok(())
    }

    /// The group's timeout: `set` if given, else 3 heartbeat intervals in
    /// whole seconds; either way at least 2 intervals and a whole number
    /// of seconds the service takes.
    fn group_timeout(&self, set: Option<Duration>) -> Result<Duration, ConfigError> {
        let interval = self.heartbeat_interval;
        if interval < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "heartbeat_interval",
                "must be at least 100 ms",
            ));
        }
        let timeout = match set {
            Some(timeout) if timeout.subsec_nanos() != 0 => {
                return Err(ConfigError::new(
                    "heartbeat_timeout",
                    "must be whole seconds, as the service takes it",
                ));
            }
            Some(timeout) => timeout,
            None => default_timeout(interval)?,
        };
        if timeout < interval.saturating_mul(2) {
            return Err(ConfigError::new(
                "heartbeat_timeout",
                "must be at least twice the heartbeat interval: the service drops a consumer \
                 silent for the timeout, so with less one late heartbeat would lose every shard",
            ));
        }
        if timeout.as_secs() < 1 || timeout.as_secs() > u64::from(u32::MAX) {
            return Err(ConfigError::new(
                "heartbeat_timeout",
                "must be 1 s to 2^32-1 s",
            ));
        }
        Ok(timeout)
    }

    /// Checks every bounded number and time against its range.
    fn check_ranges(&self) -> Result<(), ConfigError> {
        if self.fetch_interval.is_zero() {
            return Err(ConfigError::new("fetch_interval", "must be positive"));
        }
        if !(1..=1000).contains(&self.max_fetch_groups) {
            return Err(ConfigError::new("max_fetch_groups", "must be 1..=1000"));
        }
        if let StartPosition::At(t) = self.start {
            if t < 0 {
                return Err(ConfigError::new(
                    "start_position",
                    "a time must be at or after 1970",
                ));
            }
        }
        if self.max_buffered_bytes < defaults::MIN_BUFFERED_BYTES {
            return Err(ConfigError::new(
                "max_buffered_bytes",
                "must be at least 8 MiB",
            ));
        }
        if self.max_pull_bytes < defaults::MIN_PULL_BYTES
            || self.max_pull_bytes > self.max_buffered_bytes
        {
            return Err(ConfigError::new(
                "max_pull_bytes",
                "must be at least 64 KiB and at most max_buffered_bytes",
            ));
        }
        if self.process_stall_after.is_zero() {
            return Err(ConfigError::new("process_stall_after", "must be positive"));
        }
        if self.end_time.is_some_and(|end| end < 0) {
            return Err(ConfigError::new("end_time", "must be at or after 1970"));
        }
        if let (Some(end), StartPosition::At(start)) = (self.end_time, self.start) {
            if end < start {
                return Err(ConfigError::new(
                    "end_time",
                    "must not be before the start time",
                ));
            }
        }
        if self.max_concurrent_fetches == 0 {
            return Err(ConfigError::new(
                "max_concurrent_fetches",
                "must be at least 1",
            ));
        }
        if self.auto_commit_interval.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new(
                "auto_commit_interval",
                "must be positive (or None)",
            ));
        }
        Ok(())
    }

    /// Drops a blank query or processor, and refuses both at once.
    fn settle_spl(&mut self) -> Result<(), ConfigError> {
        self.query = self.query.take().filter(|q| !q.trim().is_empty());
        self.processor = self.processor.take().filter(|p| !p.trim().is_empty());
        if self.query.is_some() && self.processor.is_some() {
            return Err(ConfigError::new(
                "processor",
                "set a query or a consume processor, not both (how the service combines them is not documented)",
            ));
        }
        Ok(())
    }
}

/// The default group timeout for `interval`: 3 intervals, rounded down to
/// whole seconds, but never below the 2 intervals every timeout must give
/// (a sub-second interval rounds up to them).
fn default_timeout(interval: Duration) -> Result<Duration, ConfigError> {
    let Some(timeout) = interval.checked_mul(defaults::TIMEOUT_INTERVALS) else {
        return Err(ConfigError::new(
            "heartbeat_interval",
            "too long: the group's timeout (3 intervals) overflows",
        ));
    };
    let floor = Duration::from_secs(timeout.as_secs());
    let two = interval.saturating_mul(2);
    let two_up = Duration::from_secs(two.as_secs() + u64::from(two.subsec_nanos() > 0));
    Ok(floor.max(two_up))
}

/// A credentials provider whose `Debug` shows nothing of it: a provider's
/// own `Debug` is its author's, and may not redact.
struct Provider(Arc<dyn ProvideCredentials>);

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What builds the client when none is given: the builder's inputs that are
/// not configuration fields.
#[derive(Debug, Default)]
struct Connection {
    endpoint: Option<String>,
    credentials: Option<Provider>,
    signature: Option<SignatureVersion>,
    request_timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
}

impl Connection {
    /// With a ready client, every connection setting belongs on it: one set
    /// here as well is an error, not silently ignored.
    fn check_unset(&self) -> Result<(), ConfigError> {
        for (field, set) in [
            ("endpoint", self.endpoint.is_some()),
            ("credentials", self.credentials.is_some()),
            ("signature_version", self.signature.is_some()),
            ("request_timeout", self.request_timeout.is_some()),
            ("retry_policy", self.retry.is_some()),
        ] {
            if set {
                return Err(ConfigError::new(
                    field,
                    "set it on the Client given with `client`, not here",
                ));
            }
        }
        Ok(())
    }

    /// Builds a client of the endpoint.
    fn client(self) -> Result<Client, ConfigError> {
        let Some(endpoint) = self.endpoint else {
            return Err(ConfigError::new("endpoint", "set an endpoint or a client"));
        };
        let mut builder = Client::builder(endpoint);
        if let Some(Provider(credentials)) = self.credentials {
            builder = builder.credentials(credentials);
        }
        if let Some(version) = self.signature {
            builder = builder.signature_version(version);
        }
        if let Some(timeout) = self.request_timeout {
            if timeout.is_zero() {
                return Err(ConfigError::new("request_timeout", "must be positive"));
            }
            builder = builder.attempt_timeout(timeout);
        }
        if let Some(retry) = self.retry {
            builder = builder.retry_policy(retry);
        }
        builder
            .build()
            .map_err(|err| ConfigError::new("endpoint", err.to_string()))
    }
}

/// Builds a [`ConsumerConfig`]; every default is in [`defaults`].
#[derive(Debug)]
#[must_use]
pub struct ConsumerConfigBuilder {
    /// The configuration as set so far, from the defaults.
    config: ConsumerConfig,
    /// The group's timeout, if set; else `build()` derives it.
    heartbeat_timeout: Option<Duration>,
    /// What builds the client when none is given.
    connection: Connection,
}

impl ConsumerConfigBuilder {
    /// The service endpoint (with [`ConsumerConfigBuilder::credentials`]);
    /// or give a ready [`Client`] instead.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.connection.endpoint = Some(endpoint.into());
        self
    }

    /// The credentials for [`ConsumerConfigBuilder::endpoint`] (default: the
    /// `ALIBABA_CLOUD_*` environment variables).
    pub fn credentials(mut self, provider: impl ProvideCredentials) -> Self {
        self.connection.credentials = Some(Provider(Arc::new(provider)));
        self
    }

    /// The signature for [`ConsumerConfigBuilder::endpoint`] (default v1;
    /// v4 with the endpoint's region, for `AuthVersion`/`Region` users).
    pub fn signature_version(mut self, version: SignatureVersion) -> Self {
        self.connection.signature = Some(version);
        self
    }

    /// The per-attempt request timeout for
    /// [`ConsumerConfigBuilder::endpoint`] (default 60 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.connection.request_timeout = Some(timeout);
        self
    }

    /// The retry policy of service calls for
    /// [`ConsumerConfigBuilder::endpoint`] (default
    /// [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.connection.retry = Some(retry);
        self
    }

    /// A ready client (its endpoint, credentials, retries and timeouts).
    /// The endpoint, credentials, signature, timeout and retry settings
    /// above then belong on the client: setting one here as well is an
    /// error, not silently ignored.
    pub fn client(mut self, client: Client) -> Self {
        self.config.client = Some(client);
        self
    }

    /// Where shards without a checkpoint start (default `Begin`).
    pub fn start_position(mut self, start: StartPosition) -> Self {
        self.config.start = start;
        self
    }

    /// The heartbeat interval (default 20 s).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self
    }

    /// The group's timeout (default 3 heartbeat intervals, rounded down to
    /// whole seconds); must be at least 2 intervals (the official Python
    /// consumer's ratio) and whole seconds, as the service takes it
    /// (CreateConsumerGroup's `timeout` is an integer of seconds). A
    /// worker creates the group with it, or raises an existing group's
    /// timeout to it, but never lowers it (lower it with `sls groups
    /// update`); official consumers write theirs either way. The worker's
    /// lease follows the timeout in force, whoever set it.
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = Some(timeout);
        self
    }

    /// The wait between pulls of a caught-up shard (default 200 ms), and
    /// the first wait after an empty pull; must be positive (zero would
    /// poll a caught-up shard in a busy loop).
    pub fn fetch_interval(mut self, interval: Duration) -> Self {
        self.config.fetch_interval = interval;
        self
    }

    /// The longest wait between pulls of an idle shard (default 1 s): after
    /// an empty pull the wait starts at the fetch interval and doubles
    /// with each empty pull in a row up to this; data ends it at once.
    /// Set it to the fetch interval to pull at a fixed pace. A value below
    /// the fetch interval counts as the fetch interval.
    pub fn max_idle_interval(mut self, interval: Duration) -> Self {
        self.config.max_idle_interval = interval;
        self
    }

    /// The most log groups a pull asks for, 1..=1000 (default 1000). A
    /// shard's first pull asks for fewer (as many as `max_pull_bytes`
    /// holds of 512 KB groups), and the count at most doubles a pull.
    pub fn max_fetch_groups(mut self, groups: u32) -> Self {
        self.config.max_fetch_groups = groups;
        self
    }

    /// Consume children shards only after their parents (default off).
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.config.ordered = ordered;
        self
    }

    /// Commit processed cursors on this interval (default 60 s); `None`
    /// commits only on revoke, shard end and shutdown, and when the
    /// processor asks.
    pub fn auto_commit_interval(mut self, interval: Option<Duration>) -> Self {
        self.config.auto_commit_interval = interval;
        self
    }

    /// The compression pulls ask for (default lz4; zstd also works).
    pub fn compression(mut self, compression: CompressType) -> Self {
        self.config.compression = compression;
        self
    }

    /// An SPL query run on the service for every pull (`query` with
    /// `pullMode=scan_on_stream`); batches hold what it returns, and
    /// progress is made even when it filters everything out. The official
    /// SDKs' docs prefer a named consume processor
    /// ([`processor`](Self::processor)); set one or the other.
    pub fn query(mut self, spl: impl Into<String>) -> Self {
        self.config.query = Some(spl.into());
        self
    }

    /// A consume processor run on the service for every pull: the SPL
    /// stored under `name` in the project (PullLogs' `processor`, as the
    /// Go `LogHubConfig.Processor`, Java and Python `processor` options
    /// pass it). Batches hold what it returns, as with
    /// [`query`](Self::query).
    ///
    /// Setting both a query and a processor is refused by
    /// [`build`](Self::build) with a [`ConfigError`] on `processor`: the
    /// official consumers send both, but how the service combines them is
    /// not documented, so we do not guess.
    pub fn processor(mut self, name: impl Into<String>) -> Self {
        self.config.processor = Some(name.into());
        self
    }

    /// What to do if the group is deleted while running (default
    /// [`OnGroupDeleted::Recreate`]).
    pub fn on_group_deleted(mut self, action: OnGroupDeleted) -> Self {
        self.config.on_group_deleted = action;
        self
    }

    /// The most fetched-but-unprocessed data, in decompressed bytes, all
    /// shards together (default 256 MiB; at least 8 MiB, so the largest
    /// log group, 5 MB, always fits).
    pub fn max_buffered_bytes(mut self, bytes: u64) -> Self {
        self.config.max_buffered_bytes = bytes;
        self
    }

    /// Bounded replay: read only data received before this Unix time
    /// (seconds). Each shard stops at it, commits it and is released;
    /// [`Worker::replay_finished`](crate::Worker::replay_finished) resolves
    /// once every shard of the logstore got there.
    pub fn end_time(mut self, unix_seconds: i64) -> Self {
        self.config.end_time = Some(unix_seconds);
        self
    }

    /// The most pulls in flight at once, all shards together (default 16).
    pub fn max_concurrent_fetches(mut self, fetches: u32) -> Self {
        self.config.max_concurrent_fetches = fetches;
        self
    }

    /// The byte target of one pull, in decompressed bytes (default 8 MiB,
    /// at least 64 KiB, at most the memory budget). Each shard asks for as
    /// many groups as fit it (from the group sizes it has seen, at most
    /// `max_fetch_groups`); an answer larger than its reservation is
    /// refused from its headers and asked again with fewer groups, down to
    /// one, so no group size stops a shard.
    pub fn max_pull_bytes(mut self, bytes: u64) -> Self {
        self.config.max_pull_bytes = bytes;
        self
    }

    /// What a shard does when its position points into data dropped by
    /// retention (default [`OnExpiredCursor::Oldest`]).
    pub fn on_expired_cursor(mut self, policy: OnExpiredCursor) -> Self {
        self.config.on_expired_cursor = policy;
        self
    }

    /// How long one `process` call may run before the shard shows as
    /// stalled in [`Worker::metrics`](crate::Worker::metrics) and
    /// [`Worker::health`](crate::Worker::health) (default 5 minutes). The
    /// call is not interrupted.
    pub fn process_stall_after(mut self, after: Duration) -> Self {
        self.config.process_stall_after = after;
        self
    }

    /// How long shutdown waits for in-flight processing (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// How a failing batch is retried, and what happens after the retries
    /// (default [`ErrorPolicy::default`]: 5 retries from 1 s up to 30 s,
    /// then keep retrying).
    pub fn error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.config.error_policy = policy;
        self
    }

    /// Validates and builds. Names are checked against the service's rules
    /// ([`sls_client::names`]): a name the service would refuse fails here,
    /// naming the field and the rule, instead of failing (or only being
    /// logged, as in the Go library: aliyun-log-go-sdk issue 77) once the
    /// worker runs.
    pub fn build(self) -> Result<ConsumerConfig, ConfigError> {
        let Self {
            mut config,
            heartbeat_timeout,
            connection,
        } = self;
        config.check_names()?;
        config.timeout = config.group_timeout(heartbeat_timeout)?;
        config.check_ranges()?;
        if config.client.is_some() {
            connection.check_unset()?;
        }
        config.settle_spl()?;
        if config.client.is_none() {
            config.client = Some(connection.client()?);
        }
        config.max_idle_interval = config.max_idle_interval.max(config.fetch_interval);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ConsumerConfigBuilder {
        ConsumerConfig::builder("proj", "store", "etl", "c").endpoint("127.0.0.1:1")
    }

    #[test]
    fn a_heartbeat_interval_too_long_for_a_timeout_is_an_error() {
        let err = base()
            .heartbeat_interval(Duration::MAX)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("heartbeat_interval"), "{err}");
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let credentials =
            sls_client::Credentials::new("id", "SECRET-xyz").with_security_token("TOKEN-xyz");
        let builder = ConsumerConfig::builder("proj", "store", "etl", "c")
            .endpoint("127.0.0.1:1")
            .credentials(credentials);
        let shown = format!("{builder:?}");
        let config = builder.build().unwrap();
        let shown = format!("{shown} {config:?}");
        assert!(
            !shown.contains("SECRET-xyz") && !shown.contains("TOKEN-xyz"),
            "{shown}"
        );
    }

    #[test]
    fn debug_output_shows_every_option() {
        let builder = base().max_pull_bytes(1 << 20);
        let shown = format!("{builder:?}");
        assert!(shown.contains("127.0.0.1:1"), "{shown}");
        let config = builder.build().unwrap();
        let shown = format!("{config:?}");
        for option in [
            "max_pull_bytes: 1048576",
            "on_expired_cursor: Oldest",
            "process_stall_after: 300s",
            "error_policy: ErrorPolicy",
            "endpoint",
        ] {
            assert!(shown.contains(option), "{option} missing: {shown}");
        }
    }

    #[test]
    fn defaults_are_valid_and_documented() {
        let config = base().build().unwrap();
        assert_eq!(config.heartbeat_interval, Duration::from_secs(20));
        assert_eq!(config.timeout, Duration::from_secs(60));
        assert_eq!(config.max_fetch_groups, 1000);
    }

    #[test]
    fn a_blank_query_or_processor_is_none() {
        let config = base().query("  ").processor("errors").build().unwrap();
        assert_eq!(config.query, None);
        assert_eq!(config.processor.as_deref(), Some("errors"));
        let config = base().processor("").build().unwrap();
        assert_eq!(config.processor, None);
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases: Vec<(ConsumerConfigBuilder, &str)> = vec![
            (
                ConsumerConfig::builder("", "store", "etl", "c").endpoint("x"),
                "project",
            ),
            (base().max_fetch_groups(0), "max_fetch_groups"),
            (base().max_fetch_groups(1001), "max_fetch_groups"),
            (
                base().heartbeat_timeout(Duration::from_secs(20)),
                "heartbeat_timeout",
            ),
            (
                base().heartbeat_interval(Duration::from_millis(1)),
                "heartbeat_interval",
            ),
            (
                base().start_position(StartPosition::At(-1)),
                "start_position",
            ),
            (
                base().auto_commit_interval(Some(Duration::ZERO)),
                "auto_commit_interval",
            ),
            (
                ConsumerConfig::builder("proj", "", "etl", "c").endpoint("x"),
                "logstore",
            ),
            (
                ConsumerConfig::builder("proj", "store", "", "c").endpoint("x"),
                "group",
            ),
            (
                ConsumerConfig::builder("proj", "store", "etl", "").endpoint("x"),
                "consumer",
            ),
            (base().max_buffered_bytes(1 << 20), "max_buffered_bytes"),
            (
                base().query("* | where a = '1'").processor("errors"),
                "processor",
            ),
            (base().max_concurrent_fetches(0), "max_concurrent_fetches"),
            (base().max_pull_bytes(1024), "max_pull_bytes"),
            (
                base().max_buffered_bytes(16 << 20).max_pull_bytes(32 << 20),
                "max_pull_bytes",
            ),
            (
                base().process_stall_after(Duration::ZERO),
                "process_stall_after",
            ),
            (base().end_time(-5), "end_time"),
            (
                base().start_position(StartPosition::At(100)).end_time(99),
                "end_time",
            ),
            (base().request_timeout(Duration::ZERO), "request_timeout"),
            (
                base().client(Client::builder("127.0.0.1:1").build().unwrap()),
                "endpoint",
            ),
            (
                ConsumerConfig::builder("proj", "store", "etl", "c")
                    .client(Client::builder("127.0.0.1:1").build().unwrap())
                    .request_timeout(Duration::from_secs(5)),
                "request_timeout",
            ),
            (
                ConsumerConfig::builder("proj", "store", "etl", "c"),
                "endpoint",
            ),
            (
                ConsumerConfig::builder("proj", "store", "etl", "c").endpoint("ftp://x"),
                "endpoint",
            ),
        ];
        for (builder, field) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert!(err.to_string().contains(field));
        }
    }

    #[test]
    fn names_the_service_would_refuse_are_refused_at_build() {
        let named = |project: &str, logstore: &str, group: &str, consumer: &str| {
            ConsumerConfig::builder(project, logstore, group, consumer)
                .endpoint("127.0.0.1:1")
                .build()
        };
        for (config, field, rule) in [
            (named("p", "store", "etl", "c"), "project", "3 to 63"),
            (named("My_Project", "store", "etl", "c"), "project", "'M'"),
            (named("proj", "Store", "etl", "c"), "logstore", "'S'"),
            (
                named("proj", "store-", "etl", "c"),
                "logstore",
                "starts and ends",
            ),
            (named("proj", "store", "bad name/?", "c"), "group", "' '"),
            (named("proj", "store", "g", "c"), "group", "2 to 128"),
            (
                named("proj", "store", "etl", "a\u{7}b"),
                "consumer",
                "'\\u{7}'",
            ),
            (
                named("proj", "store", "etl", &"c".repeat(129)),
                "consumer",
                "1 to 128",
            ),
        ] {
            let err = config.unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert!(err.to_string().contains(rule), "{err}");
        }
        // What the official SDKs' docs use is accepted.
        named(
            "aliyun-test-project",
            "access_log",
            "consumerGroupX",
            "host-1.example",
        )
        .unwrap();
    }

    #[test]
    fn a_timeout_of_two_intervals_or_more_is_accepted_and_less_refused() {
        let second = Duration::from_secs(1);
        for ratio in [2, 3, 4, 10] {
            let config = base()
                .heartbeat_interval(second)
                .heartbeat_timeout(second * ratio)
                .build()
                .unwrap();
            assert_eq!(config.timeout, second * ratio);
        }
        let err = base()
            .heartbeat_interval(Duration::from_millis(1500))
            .heartbeat_timeout(Duration::from_secs(2))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "heartbeat_timeout", "{err}");
        assert!(
            err.to_string().contains("twice the heartbeat interval"),
            "{err}"
        );
    }

    #[test]
    fn the_timeout_is_whole_seconds_as_the_service_takes_it() {
        let err = base()
            .heartbeat_interval(Duration::from_secs(1))
            .heartbeat_timeout(Duration::from_millis(2_900))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "heartbeat_timeout", "{err}");
        // The default (3 intervals) is rounded down to whole seconds, but
        // never below 2 intervals.
        let config = base()
            .heartbeat_interval(Duration::from_millis(700))
            .build()
            .unwrap();
        assert_eq!(config.timeout, Duration::from_secs(2));
        let config = base()
            .heartbeat_interval(Duration::from_millis(600))
            .build()
            .unwrap();
        assert_eq!(config.timeout, Duration::from_secs(2), "1.8 s would be 1 s");
        let config = base()
            .heartbeat_interval(Duration::from_millis(300))
            .build()
            .unwrap();
        assert_eq!(config.timeout, Duration::from_secs(1), "0.9 s would be 0 s");
        let err = base()
            .heartbeat_timeout(Duration::from_secs(1 << 33))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "heartbeat_timeout", "{err}");
        let err = base().fetch_interval(Duration::ZERO).build().unwrap_err();
        assert_eq!(err.field(), "fetch_interval", "{err}");
    }
}
