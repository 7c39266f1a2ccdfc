//! Sink mode: every batch also goes through the exactly-once pattern
//! ([`ExactlyOnce`]) into one shared transactional sink, under the run's
//! crashes, partitions, splits, merges and faults. The checker then
//! asserts the sink holds every log processed exactly once: the
//! at-least-once re-deliveries (counted by cause as ever) are absorbed by
//! the sink's compare-and-set on each shard's position.
//!
//! The workers start from the group's checkpoint here, not from the
//! sink's position (`Processor::seek` is not used), so that every
//! re-delivery the consumer makes reaches the sink and must be absorbed
//! there; seeking is tested on its own (`seek.rs`, `exactly_once.rs`).
//!
//! Two sinks: SQLite (the example's `SqliteSink`,
//! `examples/sqlite_sink.rs`, each write a transaction on the blocking
//! pool; the default, and what CI runs), and one in memory (rows and
//! positions under one lock, as in one transaction;
//! `SLS_CHAOS_SINK=memory`). Into SQLite a seed does not replay exactly:
//! the blocking writes run on real threads while tokio's paused clock
//! moves on, so timings (and the re-deliveries to absorb) differ between
//! runs of a seed; every run must pass all the same.
//!
//! The SQLite mode found two bugs, both fixed with regression tests: a
//! shutdown waited for its shards past the lease, so a stuck shard could
//! be held by two consumers (seed 51;
//! `poison::a_shutdown_waits_for_shards_no_longer_than_the_lease`); and
//! `ExactlyOnce` trusted the position it had read at assignment, so a
//! write the previous holder finished after that read made it ask to read
//! again from a position the sink had left (seed 79;
//! `exactly_once::tests::a_position_moved_by_the_previous_holder_after_seek_is_read_again`).
//! Seeds 79 and 96 also showed that a retention reset reported to a
//! previous holder moves the group's checkpoint past the sink's position:
//! a worker started from the checkpoint (as here) gets `RollBack` to the
//! sink's position from the pattern, meets the same reset there, and goes
//! on; the run honours that `RollBack` (`Event::RolledBack`).
//!
//! A SQLite write goes on when its worker is dropped mid-batch (the
//! blocking task finishes), so the sink may hold a written log no
//! processor recorded; the check allows that (it is still in the sink
//! once) and nothing else.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sls_consumer::exactly_once::{ExactlyOnce, SinkWrite, TransactionalSink};
use sls_consumer::{Batch, Checkpoint, CursorReset, Decision, ProcessError, Processor};
use sls_proto::Cursor;

use super::data::Tagged;
use crate::harness::keyed;

/// The sink's tables.
#[derive(Debug, Default)]
pub(super) struct Tables {
    /// Each log written, with how many times.
    pub(super) rows: BTreeMap<Tagged, u32>,
    /// Each shard's position.
    positions: BTreeMap<u32, Cursor>,
}

/// A handle on the shared tables.
#[derive(Debug, Clone, Default)]
pub(super) struct ChaosSink(pub(super) Arc<Mutex<Tables>>);

impl TransactionalSink for ChaosSink {
    async fn position(&mut self, shard: u32) -> Result<Option<Cursor>, ProcessError> {
        Ok(self.0.lock().unwrap().positions.get(&shard).copied())
    }

    async fn write(
        &mut self,
        batch: &Batch,
        expected: Option<Cursor>,
    ) -> Result<SinkWrite, ProcessError> {
        let mut tables = self.0.lock().unwrap();
        let stored = tables.positions.get(&batch.shard).copied();
        if stored != expected {
            return Ok(SinkWrite::Stale { stored });
        }
        for group in &batch.groups {
            for log in group.logs() {
                *tables.rows.entry(keyed::read(&log)).or_default() += 1;
            }
        }
        tables.positions.insert(batch.shard, batch.next_cursor);
        Ok(SinkWrite::Written)
    }
}

/// The run's sink, of either kind.
#[derive(Debug, Clone)]
pub(super) enum RunSink {
    /// In memory.
    Memory(ChaosSink),
    /// SQLite, in memory (one connection, transactions on the blocking
    /// pool).
    Sqlite(super::sqlite_sink::SqliteSink),
}

impl RunSink {
    /// SQLite, unless `SLS_CHAOS_SINK=memory`.
    pub(super) fn from_env() -> Self {
        if std::env::var("SLS_CHAOS_SINK").is_ok_and(|v| v == "memory") {
            Self::Memory(ChaosSink::default())
        } else {
            Self::Sqlite(super::sqlite_sink::SqliteSink::in_memory().expect("SQLite in memory"))
        }
    }

    /// A processor's view of it.
    pub(super) fn processor(&self) -> RunProcessor {
        match self {
            Self::Memory(sink) => RunProcessor::Memory(ExactlyOnce::new(sink.clone())),
            Self::Sqlite(sink) => RunProcessor::Sqlite(ExactlyOnce::new(sink.clone())),
        }
    }

    /// Each log the sink holds, with how many times.
    pub(super) async fn rows(&self) -> Result<BTreeMap<Tagged, u32>, ProcessError> {
        match self {
            Self::Memory(sink) => Ok(sink.0.lock().unwrap().rows.clone()),
            Self::Sqlite(sink) => {
                let blobs: Vec<Vec<u8>> = sink
                    .with_db(|conn| {
                        let mut query = conn.prepare("SELECT fields FROM logs")?;
                        let rows = query.query_map([], |row| row.get(0))?;
                        rows.collect()
                    })
                    .await?;
                let mut rows = BTreeMap::new();
                for blob in blobs {
                    let log: sls_proto::Log = sls_proto::prost::Message::decode(&blob[..])?;
                    let field = |name: &[u8]| {
                        log.contents
                            .iter()
                            .find(|c| c.key == name)
                            .and_then(|c| std::str::from_utf8(&c.value).ok()?.parse().ok())
                    };
                    let tagged = (
                        field(b"key")
                            .and_then(|k: u64| u32::try_from(k).ok())
                            .unwrap_or(u32::MAX),
                        field(b"seq").unwrap_or(u64::MAX),
                    );
                    *rows.entry(tagged).or_default() += 1;
                }
                Ok(rows)
            }
        }
    }

    /// Whether a write may finish after its processor was dropped.
    pub(super) fn outlives_its_processor(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }
}

/// `ExactlyOnce` over the run's sink.
#[derive(Debug)]
pub(super) enum RunProcessor {
    Memory(ExactlyOnce<ChaosSink>),
    Sqlite(ExactlyOnce<super::sqlite_sink::SqliteSink>),
}

impl RunProcessor {
    pub(super) async fn seek(&mut self, shard: u32) -> Result<Option<Cursor>, ProcessError> {
        match self {
            Self::Memory(p) => p.seek(shard).await,
            Self::Sqlite(p) => p.seek(shard).await,
        }
    }

    pub(super) async fn process(
        &mut self,
        batch: &Batch,
        checkpoint: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        match self {
            Self::Memory(p) => p.process(batch, checkpoint).await,
            Self::Sqlite(p) => p.process(batch, checkpoint).await,
        }
    }

    pub(super) async fn on_cursor_reset(&mut self, reset: &CursorReset) {
        match self {
            Self::Memory(p) => p.on_cursor_reset(reset).await,
            Self::Sqlite(p) => p.on_cursor_reset(reset).await,
        }
    }
}
