//! The chaos run's history, and the checker that judges it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sls_proto::Cursor;
use tokio::time::Instant;

use crate::harness::INTERVAL;

/// Why a processor let a shard go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Release {
    Revoked,
    Lost,
    End,
    Shutdown,
}

/// What the processors and the server saw, in time order.
#[derive(Debug, Clone)]
pub(super) enum Event {
    /// One processed batch: its (key, seq) logs.
    Batch {
        inc: usize,
        shard: u32,
        cursor: Cursor,
        next: Cursor,
        start: Instant,
        end: Instant,
        logs: Vec<(u32, u64)>,
    },
    /// A processor was made for a shard; the server's checkpoint then.
    Assigned {
        inc: usize,
        shard: u32,
        at: Instant,
        checkpoint: Option<Cursor>,
    },
    Released {
        inc: usize,
        shard: u32,
        at: Instant,
        how: Release,
    },
    /// The server's checkpoint changed (sampled often, without HTTP).
    Checkpoint { shard: u32, cursor: Cursor },
}

/// One consumer process's life.
#[derive(Debug)]
pub(super) struct Incarnation {
    pub(super) started: Instant,
    /// When it stopped, and whether cleanly.
    pub(super) ended: Option<(Instant, bool)>,
    /// Windows during which its heartbeats could not reach the service.
    pub(super) cut: Vec<(Instant, Option<Instant>)>,
}

impl Incarnation {
    pub(super) fn cut_at(&self, at: Instant) -> bool {
        self.cut
            .iter()
            .any(|(from, to)| *from <= at && to.is_none_or(|to| at <= to))
    }

    /// Alive and reachable over the whole of `from..=to`.
    pub(super) fn healthy(&self, from: Instant, to: Instant) -> bool {
        self.started <= from
            && self.ended.is_none_or(|(at, _)| at > to)
            && !self
                .cut
                .iter()
                .any(|(a, b)| *a <= to && b.is_none_or(|b| b >= from))
    }
}

/// How a consumer's hold on a shard ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    Released(Release),
    Crashed,
    /// Still held when the run's history ends.
    Open,
}

/// One consumer holding one shard: from its processor's making to its
/// release (or the consumer's crash).
#[derive(Debug, Clone, Copy)]
pub(super) struct Hold {
    pub(super) inc: usize,
    pub(super) shard: u32,
    pub(super) from: Instant,
    pub(super) to: Instant,
    pub(super) ended: Ended,
}

/// Every hold in the history, in order of start.
pub(super) fn holds(events: &[Event], incs: &[Incarnation], last: Instant) -> Vec<Hold> {
    let mut open: BTreeMap<(usize, u32), Instant> = BTreeMap::new();
    let mut holds = Vec::new();
    for event in events {
        match event {
            Event::Assigned { inc, shard, at, .. } => {
                open.insert((*inc, *shard), *at);
            }
            Event::Released {
                inc,
                shard,
                at,
                how,
            } => {
                if let Some(from) = open.remove(&(*inc, *shard)) {
                    holds.push(Hold {
                        inc: *inc,
                        shard: *shard,
                        from,
                        to: *at,
                        ended: Ended::Released(*how),
                    });
                }
            }
            _ => {}
        }
    }
    for ((inc, shard), from) in open {
        let (to, ended) = match incs[inc].ended {
            Some((at, false)) => (at, Ended::Crashed),
            _ => (last, Ended::Open),
        };
        holds.push(Hold {
            inc,
            shard,
            from,
            to,
            ended,
        });
    }
    holds.sort_by_key(|h| (h.from, h.inc, h.shard));
    holds
}

/// The figures of one run (summed over many).
#[derive(Debug, Default, Clone)]
pub(super) struct Figures {
    pub(super) runs: u64,
    pub(super) written: u64,
    pub(super) processed: u64,
    pub(super) duplicates_crash: u64,
    pub(super) duplicates_partition: u64,
    pub(super) duplicates_lease: u64,
    pub(super) faults: u64,
    pub(super) starts: u64,
    pub(super) clean_stops: u64,
    pub(super) crashes: u64,
    pub(super) partitions: u64,
    pub(super) splits: u64,
    pub(super) merges: u64,
    /// Hand-off times after clean stops, crashes and partitions.
    pub(super) handoffs: [Vec<Duration>; 3],
    /// The seed with the longest hand-off of each kind.
    pub(super) worst: [Option<(Duration, u64)>; 3],
}

impl Figures {
    pub(super) fn add(&mut self, other: &Figures) {
        self.runs += other.runs;
        self.written += other.written;
        self.processed += other.processed;
        self.duplicates_crash += other.duplicates_crash;
        self.duplicates_partition += other.duplicates_partition;
        self.duplicates_lease += other.duplicates_lease;
        self.faults += other.faults;
        self.starts += other.starts;
        self.clean_stops += other.clean_stops;
        self.crashes += other.crashes;
        self.partitions += other.partitions;
        self.splits += other.splits;
        self.merges += other.merges;
        for (mine, theirs) in self.handoffs.iter_mut().zip(&other.handoffs) {
            mine.extend(theirs);
        }
        for (mine, theirs) in self.worst.iter_mut().zip(other.worst) {
            if theirs > *mine {
                *mine = theirs;
            }
        }
    }
}

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

pub(super) fn report(figures: &Figures) {
    println!(
        "chaos: {} runs, {} starts, {} clean stops, {} crashes, {} partitions, {} splits, \
         {} merges, {} faults injected ({:.0} per run)",
        figures.runs,
        figures.starts,
        figures.clean_stops,
        figures.crashes,
        figures.partitions,
        figures.splits,
        figures.merges,
        figures.faults,
        figures.faults as f64 / figures.runs.max(1) as f64,
    );
    println!(
        "chaos: {} logs written, {} processed; duplicates: {} after crashes, {} after \
         partitions, {} after leases lost to heartbeat faults, 0 unexplained",
        figures.written,
        figures.processed,
        figures.duplicates_crash,
        figures.duplicates_partition,
        figures.duplicates_lease,
    );
    for ((name, times), worst) in ["a clean stop", "a crash", "a partition"]
        .iter()
        .zip(&figures.handoffs)
        .zip(&figures.worst)
    {
        let mut times = times.clone();
        times.sort();
        let at = |q: f64| times.get(((times.len() as f64 - 1.0) * q) as usize);
        println!(
            "chaos: hand-off after {name}: {} shards, median {:?}, p99 {:?}, max {:?} \
             (seed {}; heartbeat {INTERVAL:?})",
            times.len(),
            at(0.5).unwrap_or(&Duration::ZERO),
            at(0.99).unwrap_or(&Duration::ZERO),
            times.last().unwrap_or(&Duration::ZERO),
            worst.map_or("-".to_owned(), |(_, seed)| seed.to_string()),
        );
    }
}
