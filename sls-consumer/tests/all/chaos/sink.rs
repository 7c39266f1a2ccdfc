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
//! The sink is in memory (rows and positions under one lock, as in one
//! transaction). TODO(issue 13): the same run into SQLite.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sls_consumer::exactly_once::{SinkWrite, TransactionalSink};
use sls_consumer::{Batch, ProcessError};
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
