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
//!
//! The buffers of processed pulls are kept for the next pulls (`pool`),
//! within the same budget: a kept buffer holds budget as data does, and
//! gives it up as soon as a reservation is short.

mod pool;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::pool::Pool;

/// Budget is counted in units of this many bytes.
const UNIT: u64 = 1024;

/// The shared budget.
#[derive(Debug)]
pub(crate) struct Budget {
    bytes: Arc<Semaphore>,
    units: u32,
    fetches: Arc<Semaphore>,
    /// Bytes reserved for data.
    in_use: AtomicU64,
    peak: AtomicU64,
    /// Buffers kept for reuse, and the budget they hold.
    pool: Mutex<Pool>,
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
    /// pulls of at most `pull_bytes` each (which sizes the buffers worth
    /// keeping).
    pub(crate) fn new(bytes: u64, fetches: u32, pull_bytes: u64) -> Arc<Self> {
        let units = u32::try_from(bytes / UNIT).unwrap_or(u32::MAX).max(1);
        let fetches = fetches.max(1);
        Arc::new(Self {
            bytes: Arc::new(Semaphore::new(units as usize)),
            units,
            fetches: Arc::new(Semaphore::new(fetches as usize)),
            in_use: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            pool: Mutex::new(Pool::new(fetches, pull_bytes)),
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

    /// Waits for `bytes` of budget (capped at the whole budget). Kept
    /// buffers give way first, and none is kept while this waits.
    pub(crate) async fn reserve(self: &Arc<Self>, bytes: u64) -> Reservation {
        let units = self.units_for(bytes);
        let permit = match self.bytes.clone().try_acquire_many_owned(units) {
            Ok(permit) => permit,
            Err(_) => {
                let _waiting = self.wait_for(units);
                self.bytes
                    .clone()
                    .acquire_many_owned(units)
                    .await
                    .expect("the budget's semaphore is never closed")
            }
        };
        self.account(u64::from(units) * UNIT);
        Reservation {
            permit,
            budget: self.clone(),
        }
    }

    /// Reserves `bytes` only if free now, kept buffers giving way.
    pub(crate) fn try_reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        let units = self.units_for(bytes);
        let permit = match self.bytes.clone().try_acquire_many_owned(units) {
            Ok(permit) => permit,
            Err(_) => {
                self.pool().make_room(&self.bytes, units);
                self.bytes.clone().try_acquire_many_owned(units).ok()?
            }
        };
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

    /// Frees kept buffers until `units` are free, and keeps none until
    /// the returned guard is dropped.
    fn wait_for(&self, units: u32) -> Waiting<'_> {
        let mut pool = self.pool();
        pool.waiting += 1;
        pool.make_room(&self.bytes, units);
        Waiting(self)
    }

    fn pool(&self) -> MutexGuard<'_, Pool> {
        // The pool's state holds no invariant a panic could break halfway.
        self.pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps the buffer of a processed pull for the next pulls, if no
    /// one else holds it, it is worth keeping, and the budget has room
    /// for it now.
    pub(crate) fn recycle(&self, bytes: Bytes) {
        if let Ok(buf) = bytes.try_into_mut() {
            self.pool().keep(&self.bytes, Vec::from(buf));
        }
    }

    /// Bytes held by kept buffers now.
    pub(crate) fn pooled(&self) -> u64 {
        self.pool().bytes()
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

/// A reservation waiting for budget: no buffer is kept meanwhile, or the
/// budget it waits for could go to the pool instead.
struct Waiting<'a>(&'a Budget);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.pool().waiting -= 1;
    }
}

impl sls_client::PullBuffers for Budget {
    fn take(&self, len: usize) -> Vec<u8> {
        self.pool().take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_grow_shrink_and_return() {
        let budget = Budget::new(10 * UNIT, 2, 4 * UNIT);
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

    fn buf(capacity: usize) -> Bytes {
        let mut buf = Vec::with_capacity(capacity);
        buf.resize(capacity, 1);
        Bytes::from(buf)
    }

    #[tokio::test]
    async fn kept_buffers_hold_budget_and_the_best_fit_is_taken() {
        let budget = Budget::new(100 * UNIT, 4, 20 * UNIT);
        budget.recycle(buf(10 * UNIT as usize));
        budget.recycle(buf(4 * UNIT as usize));
        assert_eq!(budget.pooled(), 14 * UNIT);
        assert_eq!(budget.in_use(), 0, "kept buffers are not data");
        let taken = sls_client::PullBuffers::take(budget.as_ref(), 3 * UNIT as usize);
        assert_eq!(
            taken.capacity(),
            4 * UNIT as usize,
            "the smallest that fits"
        );
        assert_eq!(budget.pooled(), 10 * UNIT);
        let none = sls_client::PullBuffers::take(budget.as_ref(), 11 * UNIT as usize);
        assert_eq!(none.capacity(), 0, "nothing fits: nothing is allocated");
        assert!(
            budget.try_reserve(90 * UNIT).is_some(),
            "room for 90 beside 10 kept"
        );
    }

    #[tokio::test]
    async fn a_buffer_comes_back_as_the_same_memory() {
        let budget = Budget::new(100 * UNIT, 4, 20 * UNIT);
        for len in [0, 100, 8 * UNIT as usize] {
            let mut buf = Vec::with_capacity(8 * UNIT as usize);
            buf.resize(len, 1);
            let ptr = buf.as_ptr();
            budget.recycle(Bytes::from(buf));
            let taken = sls_client::PullBuffers::take(budget.as_ref(), 8 * UNIT as usize);
            assert_eq!(taken.as_ptr(), ptr, "length {len}");
            assert_eq!(taken.capacity(), 8 * UNIT as usize);
        }
    }

    #[tokio::test]
    async fn kept_buffers_give_way_to_a_short_reservation() {
        let budget = Budget::new(20 * UNIT, 4, 10 * UNIT);
        for _ in 0..3 {
            budget.recycle(buf(5 * UNIT as usize));
        }
        assert_eq!(budget.pooled(), 15 * UNIT);
        let prefetch = budget
            .try_reserve(12 * UNIT)
            .expect("kept buffers made room");
        assert!(budget.pooled() <= 8 * UNIT, "{}", budget.pooled());
        drop(prefetch);
        let reserved = budget.reserve(20 * UNIT).await;
        assert_eq!(budget.pooled(), 0);
        assert_eq!(budget.in_use(), 20 * UNIT);
        drop(reserved);
    }

    #[tokio::test]
    async fn nothing_is_kept_while_a_reservation_waits() {
        let budget = Budget::new(10 * UNIT, 4, 10 * UNIT);
        let held = budget.reserve(8 * UNIT).await;
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(6 * UNIT).await }
        });
        tokio::task::yield_now().await;
        budget.recycle(buf(UNIT as usize));
        assert_eq!(budget.pooled(), 0, "the waiter gets the room");
        drop(held);
        let reserved = waiter.await.unwrap();
        budget.recycle(buf(UNIT as usize));
        assert_eq!(budget.pooled(), UNIT, "kept again once no one waits");
        drop(reserved);
    }

    #[tokio::test(start_paused = true)]
    async fn oversized_shared_and_stale_buffers_are_not_kept() {
        let budget = Budget::new(100 * UNIT, 4, 10 * UNIT);
        budget.recycle(buf(21 * UNIT as usize));
        assert_eq!(budget.pooled(), 0, "over two pulls' target");
        let shared = buf(UNIT as usize);
        let still_held = shared.clone();
        budget.recycle(shared);
        assert_eq!(budget.pooled(), 0, "a processor still holds it");
        drop(still_held);
        for _ in 0..10 {
            budget.recycle(buf(UNIT as usize));
        }
        assert_eq!(budget.pooled(), 8 * UNIT, "two per fetch");
        tokio::time::advance(pool::IDLE_FOR).await;
        assert_eq!(
            sls_client::PullBuffers::take(budget.as_ref(), 0).capacity(),
            0
        );
        assert_eq!(budget.pooled(), 0, "unused for too long");
    }
}
