//! The chaos run's history: what the processors and the server saw, and
//! who held which shard when.

use std::collections::BTreeMap;
use std::time::Duration;

use sls_proto::Cursor;
use tokio::time::Instant;

use super::data::Tagged;

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
        logs: Vec<Tagged>,
    },
    /// A processor was made for a shard; the server's checkpoint then.
    Assigned {
        inc: usize,
        shard: u32,
        at: Instant,
        checkpoint: Option<Cursor>,
    },
    /// A processor let its shard go.
    Released {
        inc: usize,
        shard: u32,
        at: Instant,
        how: Release,
    },
    /// The server's checkpoint changed (sampled often, without HTTP).
    Checkpoint { shard: u32, cursor: Cursor },
    /// A processor was told its position pointed into dropped data and
    /// moved from `dead` to `resumed`
    /// ([`Processor::on_cursor_reset`](sls_consumer::Processor::on_cursor_reset)).
    Reset {
        inc: usize,
        shard: u32,
        at: Instant,
        dead: Cursor,
        resumed: Cursor,
    },
    /// Sink mode: the exactly-once pattern did not take the batch pulled
    /// at `from` and asked to read again from `to` (an earlier position).
    RolledBack {
        inc: usize,
        shard: u32,
        from: Cursor,
        to: Cursor,
    },
    /// Retention dropped the groups of `shard` in `from..to` (its oldest).
    Dropped {
        shard: u32,
        from: Cursor,
        to: Cursor,
    },
}

/// A consumer's heartbeat settings, drawn per slot from the seed: its
/// interval, and the group timeout it writes into the group as it starts
/// (each start rewrites the group's timeout, as members of a mixed fleet
/// do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Heartbeat {
    pub(super) interval: Duration,
    pub(super) timeout: Duration,
}

/// One consumer process's life.
#[derive(Debug)]
pub(super) struct Incarnation {
    /// Its heartbeat interval and the timeout it wrote into the group.
    pub(super) heartbeat: Heartbeat,
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

/// The group's timeout in force at `at`: the one the last consumer to
/// start before it wrote (the run starts consumers one at a time, and
/// nothing else writes the timeout; a start's write lands while its
/// `Worker::start` runs, so `at` must not fall within a start).
pub(super) fn group_timeout(incs: &[Incarnation], at: Instant) -> Option<Duration> {
    // Incarnations are in order of start.
    incs.iter()
        .rev()
        .find(|i| i.started <= at)
        .map(|i| i.heartbeat.timeout)
}

/// The last start within `from..=to` that lowered the group's timeout:
/// the consumer, when it started, the timeout before and its own.
pub(super) fn lowered_within(
    incs: &[Incarnation],
    from: Instant,
    to: Instant,
) -> Option<(usize, Instant, Duration, Duration)> {
    incs.windows(2)
        .enumerate()
        .rev()
        .map(|(i, pair)| (i + 1, &pair[1], pair[0].heartbeat.timeout))
        .find(|(_, inc, before)| {
            from <= inc.started && inc.started <= to && inc.heartbeat.timeout < *before
        })
        .map(|(i, inc, before)| (i, inc.started, before, inc.heartbeat.timeout))
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

/// How long a closing commit may take after its release hook, retries
/// after a fault included (the run's heartbeat interval): a crash within
/// it cut the commit short (seed 263: a 500 on the closing commit, then
/// the crash before its retry).
const CLOSING: std::time::Duration = std::time::Duration::from_secs(1);

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
                    // The release hook runs before the closing commit: a
                    // consumer that crashes while that commit is still
                    // going (retried after a fault, say) let go by a crash.
                    let crashed_closing = matches!(
                        incs[*inc].ended,
                        Some((crash, false)) if crash >= *at && crash - *at <= CLOSING
                    );
                    let ended = if crashed_closing && *how != Release::Lost {
                        Ended::Crashed
                    } else {
                        Ended::Released(*how)
                    };
                    holds.push(Hold {
                        inc: *inc,
                        shard: *shard,
                        from,
                        to: *at,
                        ended,
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

/// Prints the history, one event a line, times from `t0` (to read a
/// failing seed's story).
pub(super) fn dump(events: &[Event], t0: Instant) {
    for event in events {
        match event {
            Event::Batch {
                inc,
                shard,
                cursor,
                next,
                start,
                logs,
                ..
            } => println!(
                "{:?} c{inc} shard {shard}: batch {}..{} ({} logs)",
                *start - t0,
                cursor.sequence(),
                next.sequence(),
                logs.len()
            ),
            Event::RolledBack {
                inc,
                shard,
                from,
                to,
            } => println!(
                "c{inc} shard {shard}: batch at {} rolled back to {}",
                from.sequence(),
                to.sequence()
            ),
            Event::Assigned {
                inc,
                shard,
                at,
                checkpoint,
            } => println!(
                "{:?} c{inc} shard {shard}: assigned at checkpoint {:?}",
                *at - t0,
                checkpoint.map(Cursor::sequence)
            ),
            Event::Released {
                inc,
                shard,
                at,
                how,
            } => println!("{:?} c{inc} shard {shard}: released ({how:?})", *at - t0),
            Event::Checkpoint { shard, cursor } => {
                println!("  shard {shard}: checkpoint {}", cursor.sequence());
            }
            Event::Reset {
                inc,
                shard,
                at,
                dead,
                resumed,
            } => println!(
                "{:?} c{inc} shard {shard}: reset {} -> {}",
                *at - t0,
                dead.sequence(),
                resumed.sequence()
            ),
            Event::Dropped { shard, from, to } => println!(
                "  shard {shard}: retention dropped {}..{}",
                from.sequence(),
                to.sequence()
            ),
        }
    }
}
