//! The buffers of processed pulls, kept for the next pulls so that a
//! backlog is read without a fresh multi-megabyte allocation (and its page
//! faults) per pull.
//!
//! Bounded three ways: each kept buffer holds its size of the budget (so
//! data and kept buffers together never exceed it, and a kept buffer gives
//! way to any reservation that is short); at most two buffers per
//! concurrent fetch (a body and its groups), none larger than two pulls'
//! byte target; and a buffer not taken again within [`IDLE_FOR`] is freed,
//! so a consumer that caught up does not pin the memory of its backlog.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::UNIT;

/// How long a kept buffer may wait to be taken again.
pub(super) const IDLE_FOR: Duration = Duration::from_secs(10);

/// The kept buffers and the budget they hold.
#[derive(Debug)]
pub(super) struct Pool {
    idle: Vec<Idle>,
    /// Budget units held for the idle buffers, one permit for all.
    permit: Option<OwnedSemaphorePermit>,
    /// Reservations waiting for budget now: while any does, nothing is
    /// kept.
    pub(super) waiting: usize,
    max_buffers: usize,
    max_capacity: usize,
}

#[derive(Debug)]
struct Idle {
    buf: Vec<u8>,
    since: Instant,
}

/// The budget units a buffer of `capacity` bytes holds.
fn units(capacity: usize) -> u32 {
    u32::try_from((capacity as u64).div_ceil(UNIT)).unwrap_or(u32::MAX)
}

impl Pool {
    /// A pool for `fetches` concurrent pulls of about `pull_bytes` each.
    pub(super) fn new(fetches: u32, pull_bytes: u64) -> Self {
        Self {
            idle: Vec::new(),
            permit: None,
            waiting: 0,
            max_buffers: 2 * fetches as usize,
            max_capacity: usize::try_from(pull_bytes.saturating_mul(2)).unwrap_or(usize::MAX),
        }
    }

    /// Bytes of budget held now.
    pub(super) fn bytes(&self) -> u64 {
        self.permit
            .as_ref()
            .map_or(0, |p| p.num_permits() as u64 * UNIT)
    }

    /// Keeps `buf` if it is worth keeping and `budget` has room for it now.
    pub(super) fn keep(&mut self, budget: &Arc<Semaphore>, buf: Vec<u8>) {
        self.expire();
        let capacity = buf.capacity();
        if capacity == 0
            || capacity > self.max_capacity
            || self.waiting > 0
            || self.idle.len() >= self.max_buffers
        {
            return;
        }
        let Ok(more) = budget.clone().try_acquire_many_owned(units(capacity)) else {
            return;
        };
        match &mut self.permit {
            Some(permit) => permit.merge(more),
            None => self.permit = Some(more),
        }
        self.idle.push(Idle {
            buf,
            since: Instant::now(),
        });
    }

    /// The smallest kept buffer that holds `len` bytes, or an empty one.
    pub(super) fn take(&mut self, len: usize) -> Vec<u8> {
        self.expire();
        if len == 0 {
            return Vec::new();
        }
        let best = self
            .idle
            .iter()
            .enumerate()
            .filter(|(_, idle)| idle.buf.capacity() >= len)
            .min_by_key(|(_, idle)| idle.buf.capacity())
            .map(|(i, _)| i);
        match best {
            Some(i) => self.remove(i),
            None => Vec::new(),
        }
    }

    /// Frees kept buffers, largest first, until `units` of `budget` are
    /// free or nothing is kept.
    pub(super) fn make_room(&mut self, budget: &Semaphore, units: u32) {
        while budget.available_permits() < units as usize && !self.idle.is_empty() {
            let largest = self
                .idle
                .iter()
                .enumerate()
                .max_by_key(|(_, idle)| idle.buf.capacity())
                .map_or(0, |(i, _)| i);
            drop(self.remove(largest));
        }
    }

    /// Frees the buffers kept longer than [`IDLE_FOR`].
    fn expire(&mut self) {
        let now = Instant::now();
        while let Some(i) = self
            .idle
            .iter()
            .position(|idle| now.duration_since(idle.since) >= IDLE_FOR)
        {
            drop(self.remove(i));
        }
    }

    /// Takes buffer `i` out, with the budget it held.
    fn remove(&mut self, i: usize) -> Vec<u8> {
        let Idle { buf, .. } = self.idle.swap_remove(i);
        if let Some(permit) = &mut self.permit {
            drop(permit.split(units(buf.capacity()) as usize));
            if permit.num_permits() == 0 {
                self.permit = None;
            }
        }
        buf
    }
}
