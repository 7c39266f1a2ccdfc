//! The service's throughput quotas, as the fake enforces them: per shard,
//! read bytes and reads a second, write bytes and writes a second; per
//! project, reads and writes a minute.
//!
//! Sources:
//! - The figures: the "Data read and write limits" page of the Simple Log
//!   Service docs (doc-detail 92571). Per project, hard: 600,000 reads a
//!   minute ("Read QPS Exceed"), 600,000 writes a minute ("Write QPS
//!   Exceed"), both answered with 403. Per shard, soft ("if the limit is
//!   exceeded, the system continues to provide the service" on a best
//!   effort): reads 20 MB/s and 100 a second, writes 5 MB/s of raw data
//!   (10 MB/s for a logstore without an index; we take the lower) and 500
//!   a second. The "Basic resource limits" page says the same of hard and
//!   soft: hard limits are per project and answered with 403, soft ones
//!   per shard.
//! - The codes: the "Handle resource throttling errors" page names
//!   `ShardReadQuotaExceed` ("shard read qps exceed quota limits", "shard
//!   read bytes exceed quota limits"), `ShardWriteQuotaExceed` and
//!   `WriteQuotaExceed` ("Project write quota exceed: qps"); the official
//!   C++ SDK (aliyun/aliyun-log-cpp-sdk, `RestfulApiCommon.h`) gives all
//!   four, `ReadQuotaExceed` included, with status 403.
//!
//! What the docs leave open, and what the fake does:
//! - **What read bytes count**: the body as sent (compressed). The write
//!   limits say "raw data"; the read limits do not, and read traffic is
//!   what the service sends. So a reader asking for zstd reads more raw
//!   data a second than one asking for lz4 under the same quota. Writes
//!   count the raw size (`x-log-bodyrawsize`), as the docs say.
//! - **The window**: a token bucket per quota, refilled continuously at
//!   the quota's rate and holding at most one second's worth (for the
//!   per-minute quotas, a second's worth of the minute's figure). A fixed
//!   window would let a client send two windows' worth across a boundary
//!   and then starve it; the bucket is the stricter reading, and a client
//!   that rides it rides a fixed window too.
//! - **How soft is soft**: a shard's request is admitted while its bucket
//!   is not empty, and its bytes are charged after it is answered, so one
//!   request may overdraw the bucket (the debt is repaid before the next
//!   is admitted). Counts are charged one a request, on admission. The
//!   project's quotas are hard: a request needs a whole token.
//! - **What counts**: only admitted requests; a refused one costs
//!   nothing. Checked project first, then shard.
//! - Not enforced: the project's write traffic (100 GB a minute), and
//!   anything on other calls than PullLogs and PutLogs.
//!
//! [`Quotas::off`] turns them off (benchmarks do); [`Quotas::default`] is
//! the documented figures.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::error::ApiError;

/// The throughput quotas a fake server enforces (`None`: not enforced).
/// The default is the service's documented figures; see the crate docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quotas {
    /// Bytes a shard sends a second, as sent (compressed). Default 20 MB.
    pub shard_read_bytes: Option<u64>,
    /// Pulls a shard answers a second. Default 100.
    pub shard_reads: Option<u32>,
    /// Pulls a project answers a minute. Default 600,000.
    pub project_reads_per_minute: Option<u32>,
    /// Raw bytes a shard takes a second. Default 5 MB.
    pub shard_write_bytes: Option<u64>,
    /// PutLogs calls a shard takes a second. Default 500.
    pub shard_writes: Option<u32>,
    /// PutLogs calls a project takes a minute. Default 600,000.
    pub project_writes_per_minute: Option<u32>,
}

/// One megabyte, as the service's docs count it.
const MB: u64 = 1 << 20;

impl Default for Quotas {
    fn default() -> Self {
        Self::documented()
    }
}

impl Quotas {
    /// The service's documented defaults.
    pub const fn documented() -> Self {
        Self {
            shard_read_bytes: Some(20 * MB),
            shard_reads: Some(100),
            project_reads_per_minute: Some(600_000),
            shard_write_bytes: Some(5 * MB),
            shard_writes: Some(500),
            project_writes_per_minute: Some(600_000),
        }
    }

    /// No quota at all (for benchmarks).
    pub const fn off() -> Self {
        Self {
            shard_read_bytes: None,
            shard_reads: None,
            project_reads_per_minute: None,
            shard_write_bytes: None,
            shard_writes: None,
            project_writes_per_minute: None,
        }
    }

    /// Sets the read bytes a shard sends a second (`None`: unlimited).
    pub fn shard_read_bytes(mut self, bytes: Option<u64>) -> Self {
        self.shard_read_bytes = bytes;
        self
    }

    /// Sets the pulls a shard answers a second (`None`: unlimited).
    pub fn shard_reads(mut self, reads: Option<u32>) -> Self {
        self.shard_reads = reads;
        self
    }

    /// Sets the pulls a project answers a minute (`None`: unlimited).
    pub fn project_reads_per_minute(mut self, reads: Option<u32>) -> Self {
        self.project_reads_per_minute = reads;
        self
    }

    /// Sets the raw bytes a shard takes a second (`None`: unlimited).
    pub fn shard_write_bytes(mut self, bytes: Option<u64>) -> Self {
        self.shard_write_bytes = bytes;
        self
    }

    /// Sets the writes a shard takes a second (`None`: unlimited).
    pub fn shard_writes(mut self, writes: Option<u32>) -> Self {
        self.shard_writes = writes;
        self
    }

    /// Sets the writes a project takes a minute (`None`: unlimited).
    pub fn project_writes_per_minute(mut self, writes: Option<u32>) -> Self {
        self.project_writes_per_minute = writes;
        self
    }
}

/// A token bucket: refilled at `rate` a second, holding at most one
/// second's worth (and at least one token, so a quota under one a second
/// still admits).
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    at: SystemTime,
}

impl Bucket {
    fn full(rate: f64, now: SystemTime) -> Self {
        Self {
            tokens: rate.max(1.0),
            at: now,
        }
    }

    /// Refills for the time since the last look (a clock that went back
    /// refills nothing).
    fn refill(&mut self, rate: f64, now: SystemTime) {
        let elapsed = now.duration_since(self.at).unwrap_or_default();
        self.tokens = (self.tokens + rate * elapsed.as_secs_f64()).min(rate.max(1.0));
        self.at = self.at.max(now);
    }
}

/// The buckets of one quota, by what it applies to.
#[derive(Debug, Default)]
struct Buckets<K: Ord>(BTreeMap<K, Bucket>);

impl<K: Ord> Buckets<K> {
    /// The bucket of `key`, refilled to `now`.
    fn get(&mut self, key: K, rate: f64, now: SystemTime) -> &mut Bucket {
        let bucket = self.0.entry(key).or_insert_with(|| Bucket::full(rate, now));
        bucket.refill(rate, now);
        bucket
    }
}

type ShardKey = (String, String, u32);

/// Which way a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// The quotas and their buckets. Keys are only made for shards that
/// exist (handlers check first), so the state is bounded by the shards
/// ever created.
#[derive(Debug, Default)]
pub(crate) struct QuotaState {
    pub(crate) quotas: Quotas,
    project_reads: Buckets<String>,
    project_writes: Buckets<String>,
    shard_reads: Buckets<ShardKey>,
    shard_read_bytes: Buckets<ShardKey>,
    shard_writes: Buckets<ShardKey>,
    shard_write_bytes: Buckets<ShardKey>,
}

fn refused(code: &'static str, message: String) -> ApiError {
    ApiError::new(403, code, message)
}

impl QuotaState {
    pub(crate) fn new(quotas: Quotas) -> Self {
        Self {
            quotas,
            ..Self::default()
        }
    }

    /// Replaces the quotas; buckets start full again.
    pub(crate) fn set(&mut self, quotas: Quotas) {
        *self = Self::new(quotas);
    }

    /// Admits one request to a shard that exists, or refuses it with the
    /// service's code; an admitted request is counted.
    pub(crate) fn admit(
        &mut self,
        direction: Direction,
        project: &str,
        logstore: &str,
        shard: u32,
        now: SystemTime,
    ) -> Result<(), ApiError> {
        let q = self.quotas;
        let (per_minute, per_second, bytes, projects, counts, volumes) = match direction {
            Direction::Read => (
                q.project_reads_per_minute,
                q.shard_reads,
                q.shard_read_bytes,
                &mut self.project_reads,
                &mut self.shard_reads,
                &mut self.shard_read_bytes,
            ),
            Direction::Write => (
                q.project_writes_per_minute,
                q.shard_writes,
                q.shard_write_bytes,
                &mut self.project_writes,
                &mut self.shard_writes,
                &mut self.shard_write_bytes,
            ),
        };
        let key = (project.to_owned(), logstore.to_owned(), shard);
        let project_bucket = match per_minute {
            Some(limit) => {
                let bucket = projects.get(project.to_owned(), f64::from(limit) / 60.0, now);
                if bucket.tokens < 1.0 {
                    return Err(match direction {
                        Direction::Read => refused(
                            "ReadQuotaExceed",
                            format!("Read QPS Exceed: project {project}, {limit} a minute"),
                        ),
                        Direction::Write => refused(
                            "WriteQuotaExceed",
                            format!("Project write quota exceed: qps: {limit} a minute"),
                        ),
                    });
                }
                Some(bucket)
            }
            None => None,
        };
        let code = match direction {
            Direction::Read => "ShardReadQuotaExceed",
            Direction::Write => "ShardWriteQuotaExceed",
        };
        if let Some(limit) = bytes {
            if volumes.get(key.clone(), limit as f64, now).tokens <= 0.0 {
                return Err(refused(
                    code,
                    format!("shard {shard} bytes exceed quota limits ({limit} bytes a second)"),
                ));
            }
        }
        let shard_bucket = match per_second {
            Some(limit) => {
                let bucket = counts.get(key, f64::from(limit), now);
                if bucket.tokens < 1.0 {
                    return Err(refused(
                        code,
                        format!("shard {shard} qps exceed quota limits ({limit} a second)"),
                    ));
                }
                Some(bucket)
            }
            None => None,
        };
        for bucket in [project_bucket, shard_bucket].into_iter().flatten() {
            bucket.tokens -= 1.0;
        }
        Ok(())
    }

    /// Charges an admitted request's bytes (it may overdraw: the shard
    /// quotas are soft).
    pub(crate) fn charge(
        &mut self,
        direction: Direction,
        project: &str,
        logstore: &str,
        shard: u32,
        bytes: usize,
        now: SystemTime,
    ) {
        let (limit, volumes) = match direction {
            Direction::Read => (self.quotas.shard_read_bytes, &mut self.shard_read_bytes),
            Direction::Write => (self.quotas.shard_write_bytes, &mut self.shard_write_bytes),
        };
        if let Some(limit) = limit {
            let key = (project.to_owned(), logstore.to_owned(), shard);
            volumes.get(key, limit as f64, now).tokens -= bytes as f64;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn read(state: &mut QuotaState, shard: u32, ms: u64) -> Result<(), &'static str> {
        state
            .admit(Direction::Read, "p", "l", shard, at(ms))
            .map_err(|err| err.code)
    }

    #[test]
    fn reads_a_second_refill_continuously() {
        let mut state = QuotaState::new(Quotas::off().shard_reads(Some(10)));
        assert!((0..10).all(|_| read(&mut state, 0, 0).is_ok()));
        assert_eq!(read(&mut state, 0, 0), Err("ShardReadQuotaExceed"));
        // Another shard has its own.
        assert!(read(&mut state, 1, 0).is_ok());
        // A tenth of a second gives one more.
        assert!(read(&mut state, 0, 100).is_ok());
        assert_eq!(read(&mut state, 0, 100), Err("ShardReadQuotaExceed"));
        // Never more than a second's worth.
        assert!((0..10).all(|_| read(&mut state, 0, 60_000).is_ok()));
        assert!(read(&mut state, 0, 60_000).is_err());
    }

    #[test]
    fn bytes_are_soft_one_request_may_overdraw() {
        let mut state = QuotaState::new(Quotas::off().shard_read_bytes(Some(1000)));
        assert!(read(&mut state, 0, 0).is_ok());
        state.charge(Direction::Read, "p", "l", 0, 2500, at(0));
        // 1,500 in debt: refused until it is repaid, 1.5 s later.
        assert_eq!(read(&mut state, 0, 1000), Err("ShardReadQuotaExceed"));
        assert_eq!(read(&mut state, 0, 1500), Err("ShardReadQuotaExceed"));
        assert!(read(&mut state, 0, 1501).is_ok());
    }

    #[test]
    fn the_project_quota_is_hard_and_checked_first() {
        let mut state = QuotaState::new(
            Quotas::off()
                .project_reads_per_minute(Some(120))
                .shard_reads(Some(1)),
        );
        // Two a second for the project, whatever the shard.
        assert!(read(&mut state, 0, 0).is_ok());
        assert!(read(&mut state, 1, 0).is_ok());
        assert_eq!(read(&mut state, 2, 0), Err("ReadQuotaExceed"));
        assert_eq!(read(&mut state, 0, 0), Err("ReadQuotaExceed"));
        assert_eq!(read(&mut state, 0, 500), Err("ShardReadQuotaExceed"));
    }

    #[test]
    fn writes_have_their_own_codes_and_nothing_refused_counts() {
        let mut state = QuotaState::new(Quotas::documented().shard_writes(Some(1)));
        let write = |state: &mut QuotaState, ms| {
            state
                .admit(Direction::Write, "p", "l", 0, at(ms))
                .map_err(|err| (err.status, err.code))
        };
        assert!(write(&mut state, 0).is_ok());
        for _ in 0..5 {
            assert_eq!(write(&mut state, 0), Err((403, "ShardWriteQuotaExceed")));
        }
        // The refusals cost nothing: a second later it is whole again.
        assert!(write(&mut state, 1000).is_ok());
        // Reads are counted apart.
        assert!(read(&mut state, 0, 1000).is_ok());
        let mut state = QuotaState::new(Quotas::off().project_writes_per_minute(Some(60)));
        assert!(write(&mut state, 0).is_ok());
        assert_eq!(write(&mut state, 0), Err((403, "WriteQuotaExceed")));
    }

    #[test]
    fn off_admits_everything() {
        let mut state = QuotaState::new(Quotas::off());
        for _ in 0..10_000 {
            assert!(read(&mut state, 0, 0).is_ok());
            state.charge(Direction::Read, "p", "l", 0, 1 << 30, at(0));
        }
    }
}
