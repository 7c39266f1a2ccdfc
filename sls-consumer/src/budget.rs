//! The memory budget: one byte budget shared by every shard of a worker
//! for fetched-but-unprocessed data (decompressed bytes), and a cap on
//! concurrent fetches.
//!
//! A shard reserves budget before it pulls (its last batch's size, or a
//! small first guess). When a batch turns out larger than its reservation
//! and the rest is not free at once, the batch is dropped and pulled again
//! later with fewer groups, after waiting for the full size: data is only
//! ever held while its bytes are reserved, so the accounted total never
//! exceeds the budget. The semaphores are fair (first come, first served),
//! so no shard starves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budget is counted in units of this many bytes.
const UNIT: u64 = 1024;

/// The shared budget.
#[derive(Debug)]
pub(crate) struct Budget {
    bytes: Arc<Semaphore>,
    units: u32,
    fetches: Arc<Semaphore>,
    in_use: AtomicU64,
    peak: AtomicU64,
}

/// Reserved budget; returned when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    permit: OwnedSemaphorePermit,
    budget: Arc<Budget>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let bytes = self.permit.num_permits() as u64 * UNIT;
        self.budget.in_use.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl Reservation {
    /// Bytes reserved.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.permit.num_permits() as u64 * UNIT
    }

    /// Grows the reservation to `bytes` if the rest is free now; `false`
    /// (and unchanged) if not.
    pub(crate) fn try_grow(&mut self, bytes: u64) -> bool {
        let want = self.budget.units_for(bytes) as usize;
        let have = self.permit.num_permits();
        if want <= have {
            // Give back what is not needed.
            if let Some(extra) = self.permit.split(have - want) {
                self.budget
                    .in_use
                    .fetch_sub(extra.num_permits() as u64 * UNIT, Ordering::Relaxed);
                drop(extra);
            }
            return true;
        }
        match self
            .budget
            .bytes
            .clone()
            .try_acquire_many_owned((want - have) as u32)
        {
            Ok(more) => {
                self.budget.account(more.num_permits() as u64 * UNIT);
                self.permit.merge(more);
                true
            }
            Err(_) => false,
        }
    }
}

impl Budget {
    /// A budget of `bytes` (at least one unit) and `fetches` concurrent
    /// pulls.
    pub(crate) fn new(bytes: u64, fetches: u32) -> Arc<Self> {
        let units = u32::try_from(bytes / UNIT).unwrap_or(u32::MAX).max(1);
        Arc::new(Self {
            bytes: Arc::new(Semaphore::new(units as usize)),
            units,
            fetches: Arc::new(Semaphore::new(fetches.max(1) as usize)),
            in_use: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        })
    }

    fn units_for(&self, bytes: u64) -> u32 {
        u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.units)
    }

    fn account(&self, bytes: u64) {
        let now = self.in_use.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// Waits for `bytes` of budget (capped at the whole budget).
    pub(crate) async fn reserve(self: &Arc<Self>, bytes: u64) -> Reservation {
        let units = self.units_for(bytes);
        let permit = self
            .bytes
            .clone()
            .acquire_many_owned(units)
            .await
            .expect("the budget's semaphore is never closed");
        self.account(u64::from(units) * UNIT);
        Reservation {
            permit,
            budget: self.clone(),
        }
    }

    /// Reserves `bytes` only if free now.
    pub(crate) fn try_reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        let units = self.units_for(bytes);
        let permit = self.bytes.clone().try_acquire_many_owned(units).ok()?;
        self.account(u64::from(units) * UNIT);
        Some(Reservation {
            permit,
            budget: self.clone(),
        })
    }

    /// Waits for a fetch slot.
    pub(crate) async fn fetch_slot(&self) -> OwnedSemaphorePermit {
        self.fetches
            .clone()
            .acquire_owned()
            .await
            .expect("the fetch semaphore is never closed")
    }

    /// Bytes reserved now.
    pub(crate) fn in_use(&self) -> u64 {
        self.in_use.load(Ordering::Relaxed)
    }

    /// The most ever reserved at once.
    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// The budget in bytes.
    pub(crate) fn total(&self) -> u64 {
        u64::from(self.units) * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_grow_shrink_and_return() {
        let budget = Budget::new(10 * UNIT, 2);
        let mut a = budget.reserve(3 * UNIT).await;
        assert_eq!(budget.in_use(), 3 * UNIT);
        assert!(a.try_grow(8 * UNIT));
        assert_eq!(a.bytes(), 8 * UNIT);
        let b = budget.reserve(2 * UNIT).await;
        assert!(!a.try_grow(9 * UNIT), "only 0 units are free");
        assert!(a.try_grow(UNIT), "shrinking always works");
        assert_eq!(budget.in_use(), 3 * UNIT);
        drop(a);
        drop(b);
        assert_eq!(budget.in_use(), 0);
        assert_eq!(budget.peak(), 10 * UNIT);
        assert_eq!(budget.total(), 10 * UNIT);
    }
}
