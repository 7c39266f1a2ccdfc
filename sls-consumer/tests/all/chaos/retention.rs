//! Outages that last past retention: the run drops a shard's oldest groups
//! through its checkpoint, as retention does when a group stays down (or
//! a shard unread) for longer than the logstore's TTL.

use std::collections::BTreeMap;

use sls_proto::Cursor;
use sls_testkit::FakeLogHub;

use super::history::Event;
use crate::harness::{GROUP, LOGSTORE, PROJECT};

/// Drops the oldest groups of a random shard that has data at or past its
/// checkpoint (its oldest data, without one): through the checkpoint, and
/// maybe further, up to the whole shard. Whoever reads the shard next
/// (its holder on its next pull, or a consumer that takes it over) meets a
/// position in dropped data.
/// Returns what was dropped, or `None` when no shard has such data.
pub(super) fn drop_past_checkpoint(hub: &FakeLogHub, rng: &mut fastrand::Rng) -> Option<Event> {
    let checkpoints: BTreeMap<u32, Cursor> = hub
        .group_assignments(PROJECT, LOGSTORE, GROUP)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|a| Some((a.shard, a.checkpoint?)))
        .collect();
    // (shard, oldest cursor, fewest and most groups to drop)
    let mut candidates: Vec<(u32, Cursor, usize, usize)> = Vec::new();
    for shard in 0.. {
        // Shard ids run from 0 with no gap.
        let Some(begin) = oldest(hub, shard) else {
            break;
        };
        let count = hub.group_count(PROJECT, LOGSTORE, shard)?;
        let checkpoint = checkpoints.get(&shard).copied().unwrap_or(begin);
        let most = count;
        // Through the checkpoint: one group at least.
        let through = begin.distance_to(checkpoint)?.max(0) + 1;
        let least = usize::try_from(through).ok()?;
        if least <= most {
            candidates.push((shard, begin, least, most));
        }
    }
    if candidates.is_empty() {
        return None;
    }
    let (shard, from, least, most) = candidates[rng.usize(..candidates.len())];
    let dropped = hub.drop_oldest(PROJECT, LOGSTORE, shard, rng.usize(least..=most))?;
    let to = from.checked_add(i64::try_from(dropped).ok()?)?;
    Some(Event::Dropped { shard, from, to })
}

/// The oldest retained cursor of `shard`, read from the fake without a
/// request.
pub(super) fn oldest(hub: &FakeLogHub, shard: u32) -> Option<Cursor> {
    let end = hub.end_cursor(PROJECT, LOGSTORE, shard)?;
    let count = hub.group_count(PROJECT, LOGSTORE, shard)?;
    end.checked_add(-i64::try_from(count).ok()?)
}
