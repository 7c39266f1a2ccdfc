//! The figures of a chaos run, summed over seeds, and their report.

use std::collections::BTreeMap;
use std::time::Duration;

use super::history::Heartbeat;

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
    /// Large groups written (1 to 5 MB), and the logs in them.
    pub(super) large_groups: u64,
    /// Sink mode: runs, rows in the sink (distinct logs) and duplicates in
    /// it (must be 0).
    pub(super) sink_runs: u64,
    pub(super) sink_rows: u64,
    pub(super) sink_duplicates: u64,
    /// Logs written with text that is not UTF-8 (past key and sequence).
    pub(super) not_utf8_logs: u64,
    pub(super) large_logs: u64,
    /// Pulls refused for size, as the workers' metrics said when sampled
    /// (each step, and before each stop): a lower bound.
    pub(super) pulls_refused_for_size: u64,
    /// Runs whose read quotas were tight enough to bind, and the pulls the
    /// fake refused for its read quotas (in every run).
    pub(super) tight_quotas: u64,
    pub(super) pulls_refused_for_quota: u64,
    /// Retention steps that dropped groups, the groups they dropped, and
    /// the logs in those groups (processed before, or lost).
    pub(super) drops: u64,
    pub(super) groups_dropped: u64,
    pub(super) logs_dropped: u64,
    /// Positions reset past dropped data, in runs whose fake answered a
    /// pull from dropped data with `InvalidCursor` and in those that read
    /// it from the oldest data.
    pub(super) cursor_resets: [u64; 2],
    /// Written logs never processed because retention dropped them first.
    pub(super) lost_to_retention: u64,
    /// Hand-off times after clean stops, crashes and partitions.
    pub(super) handoffs: [Vec<Duration>; 3],
    /// The seed with the longest hand-off of each kind.
    pub(super) worst: [Option<(Duration, u64)>; 3],
    /// Starts per heartbeat interval and timeout (each start writes its
    /// timeout into the group).
    pub(super) heartbeats: BTreeMap<Heartbeat, u64>,
    /// Starts that lowered the group's timeout, and that raised it.
    pub(super) timeout_changes: [u64; 2],
    /// Shards held by two consumers at once because a start lowered the
    /// group's timeout under a holder whose heartbeats went unanswered.
    pub(super) overlaps_after_lowering: u64,
    /// Logs processed again by the first holder of such an overlap.
    pub(super) duplicates_lowering: u64,
    /// Hand-off times after a crash, by the group's timeout in force when
    /// it crashed (a start soon after may lower or raise the timeout the
    /// service counts the crashed member's silence against).
    pub(super) crash_handoffs: BTreeMap<Duration, Vec<Duration>>,
}

impl Figures {
    /// A consumer started with `heartbeat`, the group's timeout `before`
    /// until it wrote its own.
    pub(super) fn note_start(&mut self, heartbeat: Heartbeat, before: Option<Duration>) {
        self.starts += 1;
        *self.heartbeats.entry(heartbeat).or_default() += 1;
        match before {
            Some(before) if heartbeat.timeout < before => self.timeout_changes[0] += 1,
            Some(before) if heartbeat.timeout > before => self.timeout_changes[1] += 1,
            _ => {}
        }
    }

    /// Adds another run's figures.
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
        self.large_groups += other.large_groups;
        self.not_utf8_logs += other.not_utf8_logs;
        self.sink_runs += other.sink_runs;
        self.sink_rows += other.sink_rows;
        self.sink_duplicates += other.sink_duplicates;
        self.large_logs += other.large_logs;
        self.pulls_refused_for_size += other.pulls_refused_for_size;
        self.tight_quotas += other.tight_quotas;
        self.pulls_refused_for_quota += other.pulls_refused_for_quota;
        self.drops += other.drops;
        self.groups_dropped += other.groups_dropped;
        self.logs_dropped += other.logs_dropped;
        for (mine, theirs) in self.cursor_resets.iter_mut().zip(other.cursor_resets) {
            *mine += theirs;
        }
        self.lost_to_retention += other.lost_to_retention;
        for (mine, theirs) in self.handoffs.iter_mut().zip(&other.handoffs) {
            mine.extend(theirs);
        }
        for (mine, theirs) in self.worst.iter_mut().zip(other.worst) {
            if theirs > *mine {
                *mine = theirs;
            }
        }
        for (heartbeat, starts) in &other.heartbeats {
            *self.heartbeats.entry(*heartbeat).or_default() += starts;
        }
        for (mine, theirs) in self.timeout_changes.iter_mut().zip(other.timeout_changes) {
            *mine += theirs;
        }
        self.overlaps_after_lowering += other.overlaps_after_lowering;
        self.duplicates_lowering += other.duplicates_lowering;
        for (timeout, times) in &other.crash_handoffs {
            self.crash_handoffs
                .entry(*timeout)
                .or_default()
                .extend(times);
        }
    }
}

/// Prints the totals.
pub(super) fn report(figures: &Figures) {
    if figures.sink_runs > 0 {
        let repeats =
            figures.duplicates_crash + figures.duplicates_partition + figures.duplicates_lease;
        println!(
            "chaos: sink mode: {} runs, {} logs written, {} rows in the sink, duplicates in \
             the sink: {}; re-deliveries absorbed by the sink: {repeats} ({} after crashes, \
             {} after partitions, {} after leases lost to heartbeat faults)",
            figures.sink_runs,
            figures.written,
            figures.sink_rows,
            figures.sink_duplicates,
            figures.duplicates_crash,
            figures.duplicates_partition,
            figures.duplicates_lease,
        );
    }
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
         partitions, {} after leases lost to heartbeat faults, 0 unexplained; {} lost to \
         retention, 0 otherwise unprocessed",
        figures.written,
        figures.processed,
        figures.duplicates_crash,
        figures.duplicates_partition,
        figures.duplicates_lease,
        figures.lost_to_retention,
    );
    println!(
        "chaos: messy data: {} large groups ({} logs), {} pulls refused for size, {} logs \
         with text that is not UTF-8",
        figures.large_groups,
        figures.large_logs,
        figures.pulls_refused_for_size,
        figures.not_utf8_logs,
    );
    println!(
        "chaos: read quotas: tight enough to bind in {} runs of {}; {} pulls refused for them",
        figures.tight_quotas, figures.runs, figures.pulls_refused_for_quota,
    );
    let [refused, read_from_oldest] = figures.cursor_resets;
    println!(
        "chaos: retention: {} drops past a checkpoint ({} groups, {} logs), {} cursor resets \
         ({refused} after InvalidCursor, {read_from_oldest} after reading from the oldest), \
         {} logs lost to retention",
        figures.drops,
        figures.groups_dropped,
        figures.logs_dropped,
        refused + read_from_oldest,
        figures.lost_to_retention,
    );
    let drawn: Vec<String> = figures
        .heartbeats
        .iter()
        .map(|(h, starts)| format!("{:?}/{:?} {starts}", h.interval, h.timeout))
        .collect();
    println!(
        "chaos: heartbeats (interval/timeout, per consumer from the seed): starts {}; {} \
         starts lowered the group's timeout, {} raised it; {} shards held twice at once \
         because a start lowered the timeout under a holder cut off from the service, {} logs \
         processed again by that holder meanwhile",
        drawn.join(", "),
        figures.timeout_changes[0],
        figures.timeout_changes[1],
        figures.overlaps_after_lowering,
        figures.duplicates_lowering,
    );
    for ((name, times), worst) in ["a clean stop", "a crash", "a partition"]
        .iter()
        .zip(&figures.handoffs)
        .zip(&figures.worst)
    {
        println!(
            "chaos: hand-off after {name}: {} (seed {})",
            spread(times),
            worst.map_or("-".to_owned(), |(_, seed)| seed.to_string()),
        );
    }
    for (timeout, times) in &figures.crash_handoffs {
        println!(
            "chaos: hand-off after a crash, the group's timeout {timeout:?} in force: {}",
            spread(times)
        );
    }
}

/// How many, median, p99 and max of `times`.
fn spread(times: &[Duration]) -> String {
    let mut times = times.to_vec();
    times.sort();
    let at = |q: f64| times.get(((times.len() as f64 - 1.0) * q) as usize);
    format!(
        "{} shards, median {:?}, p99 {:?}, max {:?}",
        times.len(),
        at(0.5).unwrap_or(&Duration::ZERO),
        at(0.99).unwrap_or(&Duration::ZERO),
        times.last().unwrap_or(&Duration::ZERO),
    )
}
