//! The figures of a chaos run, summed over seeds, and their report.

use std::time::Duration;

use crate::harness::INTERVAL;

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

/// Prints the totals.
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
