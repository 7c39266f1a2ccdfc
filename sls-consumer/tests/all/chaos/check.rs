//! The checker: every property of a chaos run's whole history.
//!
//! - every written log processed, unless retention dropped it first (then
//!   it is lost to retention, and counted), and nothing else processed;
//! - per holder of a shard, batches contiguous from where it started (the
//!   group's checkpoint, or the oldest data), each holding exactly the
//!   logs written at its cursors; a jump only from `dead` to `resumed` of a
//!   reset the processor was told of, over groups retention really dropped;
//! - per key, first deliveries in written order;
//! - no shard held by two consumers at once, no batch outside a hold;
//! - checkpoints never back, and never past a log neither processed nor
//!   dropped;
//! - every repeat explained by a crash or a lost lease.
//!
//! It also measures hand-off times.

use std::collections::{BTreeMap, BTreeSet};

use sls_proto::Cursor;
use tokio::time::Instant;

use super::data::{Ledger, Tagged};
use super::figures::Figures;
use super::history::{
    Ended, Event, Hold, Incarnation, Release, group_timeout, holds, lowered_within,
};

/// Each shard's oldest retained cursor as the history goes.
#[derive(Debug, Clone)]
struct Retention {
    /// Per shard, every oldest cursor it had, in order: its first cursor,
    /// then the end of each drop.
    oldest: BTreeMap<u32, Vec<Cursor>>,
}

impl Retention {
    /// Before anything was dropped: each shard starts at the start of its
    /// first drop, or, never dropped, where its data begins at the end.
    fn new(events: &[Event], begins: &BTreeMap<u32, Cursor>) -> Self {
        let mut oldest: BTreeMap<u32, Vec<Cursor>> = BTreeMap::new();
        for event in events {
            if let Event::Dropped { shard, from, .. } = event {
                oldest.entry(*shard).or_insert_with(|| vec![*from]);
            }
        }
        for (shard, begin) in begins {
            oldest.entry(*shard).or_insert_with(|| vec![*begin]);
        }
        Self { oldest }
    }

    fn drop(&mut self, shard: u32, from: Cursor, to: Cursor) -> Result<(), String> {
        let history = self.oldest.entry(shard).or_default();
        if history.last() != Some(&from) || to <= from {
            return Err(format!(
                "shard {shard}: a drop of {from}..{to} is not of its oldest data ({:?})",
                history.last()
            ));
        }
        history.push(to);
        Ok(())
    }

    /// The oldest retained cursor of `shard` now.
    fn oldest(&self, shard: u32) -> Option<Cursor> {
        self.oldest.get(&shard)?.last().copied()
    }

    /// The first cursor `shard` ever had.
    fn first(&self, shard: u32) -> Option<Cursor> {
        self.oldest.get(&shard)?.first().copied()
    }

    /// Whether `cursor` was the oldest retained cursor of `shard` at some
    /// point so far.
    fn was_oldest(&self, shard: u32, cursor: Cursor) -> bool {
        self.oldest
            .get(&shard)
            .is_some_and(|history| history.contains(&cursor))
    }

    /// Whether retention dropped the group of `shard` at `cursor` so far.
    fn dropped(&self, shard: u32, cursor: Cursor) -> bool {
        self.oldest(shard).is_some_and(|oldest| cursor < oldest)
    }
}

/// Where a holder's next batch must start.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// Exactly here.
    At(Cursor),
    /// The shard had no checkpoint: at its oldest data when the consumer
    /// looked, which is this cursor or one retention moved to since.
    Oldest(Cursor),
}

impl Next {
    fn admits(self, shard: u32, cursor: Cursor, retention: &Retention) -> bool {
        match self {
            Self::At(at) => at == cursor,
            Self::Oldest(from) => from <= cursor && retention.was_oldest(shard, cursor),
        }
    }
}

/// Every property over the whole history (see the module's docs); fills in
/// the figures the history holds.
pub(super) fn check(
    events: &[Event],
    incs: &[Incarnation],
    ledger: &Ledger,
    begins: &BTreeMap<u32, Cursor>,
    figures: &mut Figures,
) -> Result<(), String> {
    let retention = Retention::new(events, begins);
    deliveries(events, ledger, retention.clone(), figures)?;
    positions(events, ledger, retention.clone())?;
    key_order(events)?;
    let Some(last) = last_instant(events, incs) else {
        return Ok(());
    };
    let holds = holds(events, incs, last);
    let overlaps = holders(events, incs, &holds)?;
    figures.overlaps_after_lowering += overlaps.len() as u64;
    checkpoints(events, ledger, retention)?;
    repeats(events, incs, &holds, &overlaps, figures)?;
    handoffs(incs, &holds, figures);
    Ok(())
}

/// Every written log processed at least once unless retention dropped it
/// first, and nothing else.
fn deliveries(
    events: &[Event],
    ledger: &Ledger,
    mut retention: Retention,
    figures: &mut Figures,
) -> Result<(), String> {
    let mut delivered = BTreeSet::new();
    for event in events {
        match event {
            Event::Batch { logs, .. } => {
                figures.processed += logs.len() as u64;
                delivered.extend(logs.iter().copied());
            }
            Event::Dropped { shard, from, to } => {
                retention.drop(*shard, *from, *to)?;
                figures.drops += 1;
                figures.groups_dropped += from.distance_to(*to).unwrap_or(0) as u64;
            }
            _ => {}
        }
    }
    let mut written = BTreeSet::new();
    let mut missing = Vec::new();
    for (&(shard, cursor), logs) in ledger.groups() {
        let dropped = retention.dropped(shard, cursor);
        if dropped {
            figures.logs_dropped += logs.len() as u64;
        }
        for log in logs {
            written.insert(*log);
            if !delivered.contains(log) {
                if dropped {
                    figures.lost_to_retention += 1;
                } else {
                    missing.push((*log, shard, cursor));
                }
            }
        }
    }
    if let Some((log, shard, cursor)) = missing.first() {
        return Err(format!(
            "{} logs never processed though retained, e.g. {log:?} (shard {shard} at {cursor})",
            missing.len()
        ));
    }
    if let Some(extra) = delivered.difference(&written).next() {
        return Err(format!("processed a log never written: {extra:?}"));
    }
    Ok(())
}

/// Per shard and holder: the first batch after an assignment starts at the
/// checkpoint the server had then (or at the oldest data, without one), so
/// re-deliveries are only of logs past it; each batch starts where the
/// previous one ended, unless a reset the processor was told of moved the
/// position from there over dropped groups; each holds exactly what was
/// written at its cursors.
fn positions(events: &[Event], ledger: &Ledger, mut retention: Retention) -> Result<(), String> {
    let mut position: BTreeMap<(usize, u32), Next> = BTreeMap::new();
    for event in events {
        match event {
            Event::Dropped { shard, from, to } => retention.drop(*shard, *from, *to)?,
            Event::Assigned {
                inc,
                shard,
                checkpoint,
                ..
            } => {
                let next = match checkpoint {
                    Some(cursor) => Some(Next::At(*cursor)),
                    None => retention.oldest(*shard).map(Next::Oldest),
                };
                if let Some(next) = next {
                    position.insert((*inc, *shard), next);
                }
            }
            Event::Reset {
                inc,
                shard,
                dead,
                resumed,
                ..
            } => {
                let Some(expected) = position.get(&(*inc, *shard)) else {
                    return Err(format!("consumer {inc} reset shard {shard} unassigned"));
                };
                if !expected.admits(*shard, *dead, &retention) {
                    return Err(format!(
                        "consumer {inc} shard {shard}: reset from {dead} but it was at {expected:?}"
                    ));
                }
                let oldest = retention.oldest(*shard);
                if *resumed <= *dead || oldest.is_none_or(|oldest| *resumed > oldest) {
                    return Err(format!(
                        "consumer {inc} shard {shard}: reset from {dead} to {resumed}, but only \
                         the groups before {oldest:?} were dropped"
                    ));
                }
                position.insert((*inc, *shard), Next::At(*resumed));
            }
            Event::Batch {
                inc,
                shard,
                cursor,
                next,
                logs,
                ..
            } => {
                match position.get(&(*inc, *shard)) {
                    Some(expected) if !expected.admits(*shard, *cursor, &retention) => {
                        return Err(format!(
                            "consumer {inc} shard {shard}: batch at {cursor} but it was at {expected:?}"
                        ));
                    }
                    None => return Err(format!("consumer {inc} read shard {shard} unassigned")),
                    _ => {}
                }
                if ledger.logs(*shard, *cursor, *next).as_ref() != Some(logs) {
                    return Err(format!(
                        "consumer {inc} shard {shard}: batch {cursor}..{next} holds {} logs, \
                         not the {:?} written there",
                        logs.len(),
                        ledger.logs(*shard, *cursor, *next).map(|l| l.len()),
                    ));
                }
                position.insert((*inc, *shard), Next::At(*next));
            }
            Event::RolledBack {
                inc,
                shard,
                from,
                to,
            } => {
                match position.get(&(*inc, *shard)) {
                    Some(expected) if !expected.admits(*shard, *from, &retention) => {
                        return Err(format!(
                            "consumer {inc} shard {shard}: batch at {from} rolled back but it was at {expected:?}"
                        ));
                    }
                    None => return Err(format!("consumer {inc} read shard {shard} unassigned")),
                    _ => {}
                }
                if to > from {
                    return Err(format!(
                        "consumer {inc} shard {shard}: rolled back from {from} forward to {to}"
                    ));
                }
                position.insert((*inc, *shard), Next::At(*to));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Per key (one key, one hash range), first deliveries in written order:
/// ordered consumption across splits and merges (logs retention dropped
/// may be missing, the rest keep their order).
fn key_order(events: &[Event]) -> Result<(), String> {
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for event in events {
        if let Event::Batch { logs, .. } = event {
            for &(key, seq) in logs {
                if seen.insert((key, seq)) {
                    if let Some(previous) = last.insert(key, seq) {
                        if seq < previous {
                            return Err(format!(
                                "key {key}: {seq} first processed after {previous}"
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Two consumers holding a shard at once because another member lowered
/// the group's timeout under the first ([`holders`]).
#[derive(Debug, Clone, Copy)]
struct Overlap {
    /// The first holder, cut off from the service.
    inc: usize,
    shard: u32,
    from: Instant,
    to: Instant,
}

/// The last instant the history knows of.
fn last_instant(events: &[Event], incs: &[Incarnation]) -> Option<Instant> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Batch { end, .. } => Some(*end),
            Event::Assigned { at, .. } | Event::Released { at, .. } | Event::Reset { at, .. } => {
                Some(*at)
            }
            Event::Checkpoint { .. } | Event::Dropped { .. } | Event::RolledBack { .. } => None,
        })
        .chain(incs.iter().filter_map(|i| i.ended.map(|(at, _)| at)))
        .max()
}

/// The hold of `inc` on `shard` at `at`, if any.
fn hold_of(holds: &[Hold], inc: usize, shard: u32, at: Instant) -> Option<&Hold> {
    holds
        .iter()
        .find(|h| h.inc == inc && h.shard == shard && h.from <= at && at <= h.to)
}

/// No shard held by two consumers at once (a hold runs from the
/// processor's making to its release or the consumer's crash), and every
/// batch processed within its consumer's hold.
///
/// One overlap is the fleet's doing, not the consumer's, and is counted
/// (the return value) rather than failed: another member's start lowered
/// the group's timeout while the first holder's heartbeats went
/// unanswered (it lost its lease in the end), so the service counted its
/// silence against a timeout it could not read; it still let go within
/// the old timeout of the lowering. Owner-checked commits keep its late
/// checkpoints out. Returns each such overlap: the first holder, the
/// shard, and the span both held it; what the first holder processed in
/// it, the other may have processed too.
fn holders(events: &[Event], incs: &[Incarnation], holds: &[Hold]) -> Result<Vec<Overlap>, String> {
    let mut after_lowering = Vec::new();
    for (i, a) in holds.iter().enumerate() {
        for b in &holds[i + 1..] {
            if a.shard == b.shard && a.inc != b.inc && b.from < a.to {
                let fleets_doing =
                    lowered_within(incs, a.from, b.from).is_some_and(|(_, at, before, _)| {
                        a.ended == Ended::Released(Release::Lost) && a.to <= at + before
                    });
                if fleets_doing {
                    after_lowering.push(Overlap {
                        inc: a.inc,
                        shard: a.shard,
                        from: b.from,
                        to: a.to.min(b.to),
                    });
                    continue;
                }
                let t0 = incs[0].started;
                // The likeliest story, when it is one: a start lowered the
                // group's timeout while the first holder was silent, so
                // the service counted its silence against the new timeout.
                let lowered = lowered_within(incs, a.from, b.from).map_or(
                    String::new(),
                    |(inc, at, before, after)| {
                        format!(
                            "; consumer {inc}'s start at {:?} lowered the group's timeout \
                             from {before:?} to {after:?}",
                            at - t0
                        )
                    },
                );
                return Err(format!(
                    "shard {}: consumers {} and {} held it at once ({:?}..{:?} {:?}, {:?}..{:?} \
                     {:?}{lowered})",
                    a.shard,
                    a.inc,
                    b.inc,
                    a.from - t0,
                    a.to - t0,
                    a.ended,
                    b.from - t0,
                    b.to - t0,
                    b.ended,
                ));
            }
        }
    }
    for event in events {
        if let Event::Batch {
            inc,
            shard,
            start,
            end,
            ..
        } = event
        {
            if hold_of(holds, *inc, *shard, *start).is_none_or(|h| *end > h.to) {
                return Err(format!(
                    "consumer {inc} processed shard {shard} outside its hold"
                ));
            }
        }
    }
    Ok(after_lowering)
}

/// Checkpoints never go backwards, and never pass data that was neither
/// processed nor dropped: every group before one was processed whole
/// before it was saved, or retention took it.
fn checkpoints(events: &[Event], ledger: &Ledger, mut retention: Retention) -> Result<(), String> {
    let mut committed: BTreeMap<u32, Cursor> = BTreeMap::new();
    let mut delivered: BTreeSet<Tagged> = BTreeSet::new();
    // Per shard: every group before this one is processed or dropped.
    let mut covered: BTreeMap<u32, Cursor> = BTreeMap::new();
    for event in events {
        match event {
            Event::Dropped { shard, from, to } => retention.drop(*shard, *from, *to)?,
            Event::Batch { logs, .. } => delivered.extend(logs.iter().copied()),
            Event::Checkpoint { shard, cursor } => {
                if let Some(before) = committed.insert(*shard, *cursor) {
                    if *cursor < before {
                        return Err(format!(
                            "shard {shard}: checkpoint went back from {before} to {cursor}"
                        ));
                    }
                }
                let Some(first) = retention.first(*shard) else {
                    return Err(format!("shard {shard}: a checkpoint of an unknown shard"));
                };
                let at = covered.entry(*shard).or_insert(first);
                while *at < *cursor {
                    let done = retention.dropped(*shard, *at)
                        || ledger
                            .group(*shard, *at)
                            .is_some_and(|logs| logs.iter().all(|log| delivered.contains(log)));
                    match at.checked_add(1) {
                        Some(next) if done => *at = next,
                        _ => break,
                    }
                }
                if *at < *cursor {
                    return Err(format!(
                        "shard {shard}: checkpoint {cursor} is past unprocessed data (the \
                         group at {at}, retained)"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Duplicates, each explained by how the consumer that processed the log
/// before let go of the shard: a crash while holding it, or a lost lease
/// (cut off, or heartbeats failing). After a revoke, a shard's end or a
/// shutdown its commit covers everything, so a repeat fails the run.
fn repeats(
    events: &[Event],
    incs: &[Incarnation],
    holds: &[Hold],
    overlaps: &[Overlap],
    figures: &mut Figures,
) -> Result<(), String> {
    let mut before: BTreeMap<Tagged, (usize, Instant)> = BTreeMap::new();
    for event in events {
        let Event::Batch {
            inc,
            shard,
            start,
            end,
            logs,
            ..
        } = event
        else {
            continue;
        };
        for &log in logs {
            if let Some((earlier, at)) = before.insert(log, (*inc, *end)) {
                let ended = hold_of(holds, earlier, *shard, at).map(|h| (h.ended, h.to));
                match ended {
                    Some((Ended::Crashed, _)) => figures.duplicates_crash += 1,
                    Some((Ended::Released(Release::Lost), to)) if incs[earlier].cut_at(to) => {
                        figures.duplicates_partition += 1;
                    }
                    Some((Ended::Released(Release::Lost), _)) => figures.duplicates_lease += 1,
                    // The first holder of an overlap, still reading what
                    // the other had already processed.
                    _ if overlaps.iter().any(|o| {
                        o.inc == *inc && o.shard == *shard && o.from <= *start && *start <= o.to
                    }) =>
                    {
                        figures.duplicates_lowering += 1;
                    }
                    _ => {
                        return Err(format!(
                            "log {log:?} processed again by consumer {inc} on shard {shard} \
                             at {:?} though consumer {earlier} let go of it cleanly ({ended:?})",
                            *start - incs[0].started
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Hand-off times: from a clean stop, a crash or a cut to the next
/// consumer getting each shard the stopped one held, counted when its
/// hold ended that way (a cut healed in time ends no hold) and another
/// consumer able to take the shard was there all along (otherwise the
/// wait is for a start, not a hand-off).
fn handoffs(incs: &[Incarnation], holds: &[Hold], figures: &mut Figures) {
    let mut stops = Vec::new();
    for (inc, life) in incs.iter().enumerate() {
        // A stop while cut off is counted once, as the cut.
        if let Some((at, clean)) = life.ended.filter(|(at, _)| !life.cut_at(*at)) {
            stops.push((inc, at, if clean { 0 } else { 1 }));
        }
        for (at, _) in &life.cut {
            stops.push((inc, *at, 2));
        }
    }
    for (inc, at, kind) in stops {
        for hold in holds
            .iter()
            .filter(|h| h.inc == inc && h.from <= at && at <= h.to)
        {
            let ended_so = matches!(
                (kind, hold.ended),
                (0, Ended::Released(Release::Shutdown))
                    | (1, Ended::Crashed)
                    | (
                        2,
                        Ended::Released(Release::Lost | Release::Shutdown) | Ended::Crashed
                    )
            );
            if !ended_so {
                continue;
            }
            let next = holds
                .iter()
                .find(|h| h.shard == hold.shard && h.inc != inc && h.from >= at)
                .map(|h| h.from);
            let could = |taken| {
                incs.iter()
                    .enumerate()
                    .any(|(i, life)| i != inc && life.healthy(at, taken))
            };
            if let Some(taken) = next.filter(|t| could(*t)) {
                figures.handoffs[kind].push(taken - at);
                if let (1, Some(timeout)) = (kind, group_timeout(incs, at)) {
                    figures
                        .crash_handoffs
                        .entry(timeout)
                        .or_default()
                        .push(taken - at);
                }
            }
        }
    }
}
