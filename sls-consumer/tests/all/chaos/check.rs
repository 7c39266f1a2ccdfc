//! The checker: every property of a chaos run's whole history.

use std::collections::{BTreeMap, BTreeSet};

use sls_proto::Cursor;
use tokio::time::Instant;

use super::figures::Figures;
use super::history::{Ended, Event, Incarnation, Release, holds};

/// The checker: every property over the whole history.
pub(super) fn check(
    events: &[Event],
    incs: &[Incarnation],
    written: &BTreeSet<(u32, u64)>,
    begins: &BTreeMap<u32, Cursor>,
    figures: &mut Figures,
) -> Result<(), String> {
    // Every written log processed at least once, and nothing else.
    let mut delivered = BTreeSet::new();
    for event in events {
        if let Event::Batch { logs, .. } = event {
            figures.processed += logs.len() as u64;
            delivered.extend(logs.iter().copied());
        }
    }
    if let Some(missing) = written.difference(&delivered).next() {
        let lost = written.difference(&delivered).count();
        return Err(format!("{lost} logs never processed, e.g. {missing:?}"));
    }
    if let Some(extra) = delivered.difference(written).next() {
        return Err(format!("processed a log never written: {extra:?}"));
    }

    // Per shard and holder: each batch starts where the previous one ended,
    // and the first after an assignment starts at the checkpoint the
    // server had then (so re-deliveries are only of logs past it).
    let mut position: BTreeMap<(usize, u32), Cursor> = BTreeMap::new();
    for event in events {
        match event {
            Event::Assigned {
                inc,
                shard,
                checkpoint,
                ..
            } => {
                let start = checkpoint.or_else(|| begins.get(shard).copied());
                if let Some(start) = start {
                    position.insert((*inc, *shard), start);
                }
            }
            Event::Batch {
                inc,
                shard,
                cursor,
                next,
                ..
            } => {
                match position.get(&(*inc, *shard)) {
                    Some(expected) if expected != cursor => {
                        return Err(format!(
                            "consumer {inc} shard {shard}: batch at {cursor} but it was at {expected}"
                        ));
                    }
                    None => return Err(format!("consumer {inc} read shard {shard} unassigned")),
                    _ => {}
                }
                position.insert((*inc, *shard), *next);
            }
            _ => {}
        }
    }

    // Per key (one key, one hash range), first deliveries in written order:
    // ordered consumption across splits and merges.
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

    // No shard held by two consumers at once (a hold runs from the
    // processor's making to its release or the consumer's crash), and every
    // batch processed within its consumer's hold.
    let last = events
        .iter()
        .filter_map(|e| match e {
            Event::Batch { end, .. } => Some(*end),
            Event::Assigned { at, .. } | Event::Released { at, .. } => Some(*at),
            Event::Checkpoint { .. } => None,
        })
        .chain(incs.iter().filter_map(|i| i.ended.map(|(at, _)| at)))
        .max();
    let Some(last) = last else {
        return Ok(());
    };
    let holds = holds(events, incs, last);
    for (i, a) in holds.iter().enumerate() {
        for b in &holds[i + 1..] {
            if a.shard == b.shard && a.inc != b.inc && b.from < a.to {
                let t0 = incs[0].started;
                return Err(format!(
                    "shard {}: consumers {} and {} held it at once ({:?}..{:?} {:?}, {:?}..{:?} {:?})",
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
    let hold_of = |inc: usize, shard: u32, at: Instant| {
        holds
            .iter()
            .find(|h| h.inc == inc && h.shard == shard && h.from <= at && at <= h.to)
    };
    for event in events {
        if let Event::Batch {
            inc,
            shard,
            start,
            end,
            ..
        } = event
        {
            if hold_of(*inc, *shard, *start).is_none_or(|h| *end > h.to) {
                return Err(format!(
                    "consumer {inc} processed shard {shard} outside its hold"
                ));
            }
        }
    }

    // Checkpoints never go backwards, and never pass what was processed:
    // each is a shard's beginning or the end of a batch already done.
    let mut committed: BTreeMap<u32, Cursor> = BTreeMap::new();
    let mut done: BTreeSet<(u32, Cursor)> = BTreeSet::new();
    for event in events {
        match event {
            Event::Batch { shard, next, .. } => {
                done.insert((*shard, *next));
            }
            Event::Checkpoint { shard, cursor, .. } => {
                if let Some(before) = committed.insert(*shard, *cursor) {
                    if *cursor < before {
                        return Err(format!(
                            "shard {shard}: checkpoint went back from {before} to {cursor}"
                        ));
                    }
                }
                if begins.get(shard) != Some(cursor) && !done.contains(&(*shard, *cursor)) {
                    return Err(format!(
                        "shard {shard}: checkpoint {cursor} is past unprocessed data"
                    ));
                }
            }
            _ => {}
        }
    }

    // Duplicates, each explained by how the consumer that processed the log
    // before let go of the shard: a crash while holding it, or a lost lease
    // (cut off, or heartbeats failing). After a revoke, a shard's end or a
    // shutdown its commit covers everything, so a repeat fails the run.
    let mut before: BTreeMap<(u32, u64), (usize, Instant)> = BTreeMap::new();
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
                let ended = hold_of(earlier, *shard, at).map(|h| (h.ended, h.to));
                match ended {
                    Some((Ended::Crashed, _)) => figures.duplicates_crash += 1,
                    Some((Ended::Released(Release::Lost), to)) if incs[earlier].cut_at(to) => {
                        figures.duplicates_partition += 1;
                    }
                    Some((Ended::Released(Release::Lost), _)) => figures.duplicates_lease += 1,
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

    // Hand-off times: from a clean stop, a crash or a cut to the next
    // consumer getting each shard the stopped one held, counted when its
    // hold ended that way (a cut healed in time ends no hold) and another
    // consumer able to take the shard was there all along (otherwise the
    // wait is for a start, not a hand-off).
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
            }
        }
    }
    Ok(())
}
