//! The request log: the most recent requests, kept in a bounded ring, and
//! counters that stay exact however long the server runs.

use std::collections::{BTreeMap, VecDeque};

use super::RequestRecord;
use crate::call::CallKind;

/// How many requests the log keeps unless told otherwise
/// ([`FakeLogHubBuilder::request_log_capacity`](crate::FakeLogHubBuilder::request_log_capacity)).
pub const DEFAULT_REQUEST_LOG_CAPACITY: usize = 100_000;

/// Exact counts of every request served since the server started, kept
/// apart from the bounded log of [`FakeLogHub::requests`](crate::FakeLogHub::requests)
/// so that long runs and benchmarks can count calls without the log
/// growing. Read with [`FakeLogHub::request_counts`](crate::FakeLogHub::request_counts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestCounts {
    /// Every request, from its arrival (including those whose connection
    /// was closed instead of answered).
    pub total: u64,
    /// Requests by the API they call.
    pub by_call: BTreeMap<CallKind, u64>,
    /// Requests to paths the service lacks, and bodies refused as too
    /// large before they could be classified.
    pub unclassified: u64,
    /// Requests the fault plan applied a fault to.
    pub faults: u64,
    /// Answers by HTTP status (a request cut off by a fault has none).
    pub by_status: BTreeMap<u16, u64>,
    /// Records the log dropped to stay within its capacity.
    pub evicted: u64,
}

impl RequestCounts {
    /// Requests of `call` so far.
    pub fn call(&self, call: CallKind) -> u64 {
        self.by_call.get(&call).copied().unwrap_or(0)
    }

    /// Answers with a status of 400 or above so far.
    pub fn errors(&self) -> u64 {
        self.by_status.range(400..).map(|(_, count)| count).sum()
    }
}

/// The log itself: a ring of at most `capacity` records, each with a
/// sequence number so that a status can find its record later (or find
/// it evicted).
#[derive(Debug)]
pub(crate) struct RequestLog {
    records: VecDeque<RequestRecord>,
    capacity: usize,
    /// The sequence number of `records[0]`.
    first: u64,
    counts: RequestCounts,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            records: VecDeque::new(),
            capacity,
            first: 0,
            counts: RequestCounts::default(),
        }
    }

    /// Logs a request on arrival; returns its sequence number.
    pub(crate) fn push(&mut self, record: RequestRecord) -> u64 {
        self.counts.total += 1;
        match record.call {
            Some(call) => *self.counts.by_call.entry(call).or_default() += 1,
            None => self.counts.unclassified += 1,
        }
        if record.fault.is_some() {
            self.counts.faults += 1;
        }
        let seq = self.first + self.records.len() as u64;
        if self.capacity == 0 {
            self.first += 1;
            self.counts.evicted += 1;
            return seq;
        }
        if self.records.len() == self.capacity {
            self.records.pop_front();
            self.first += 1;
            self.counts.evicted += 1;
        }
        self.records.push_back(record);
        seq
    }

    /// Records the status a request was answered with.
    pub(crate) fn set_status(&mut self, seq: u64, status: u16) {
        *self.counts.by_status.entry(status).or_default() += 1;
        let Some(index) = seq.checked_sub(self.first) else {
            return;
        };
        if let Some(record) = usize::try_from(index)
            .ok()
            .and_then(|i| self.records.get_mut(i))
        {
            record.status = Some(status);
        }
    }

    /// The records kept, oldest first.
    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        self.records.iter().cloned().collect()
    }

    pub(crate) fn counts(&self) -> RequestCounts {
        self.counts.clone()
    }

    /// Requests of `call` so far, without copying the counts.
    pub(crate) fn count(&self, call: CallKind) -> u64 {
        self.counts.call(call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Fault;

    fn record(call: Option<CallKind>, fault: Option<Fault>) -> RequestRecord {
        RequestRecord {
            call,
            shard: None,
            consumer: None,
            status: None,
            fault,
            query: None,
            processor: None,
        }
    }

    #[test]
    fn old_records_are_evicted_and_counts_stay_exact() {
        let mut log = RequestLog::new(3);
        let mut seqs = Vec::new();
        for i in 0..10u16 {
            let call = if i % 2 == 0 {
                Some(CallKind::PullLogs)
            } else {
                Some(CallKind::Heartbeat)
            };
            let fault = (i == 9).then_some(Fault::Reset);
            seqs.push(log.push(record(call, fault)));
        }
        log.push(record(None, None));
        // The status of an evicted request still counts; its record is gone.
        log.set_status(seqs[0], 200);
        log.set_status(seqs[9], 500);
        let kept = log.records();
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[0].call, Some(CallKind::PullLogs), "request 8");
        assert_eq!(kept[1].status, Some(500), "request 9");
        assert_eq!(kept[2].call, None);
        let counts = log.counts();
        assert_eq!(counts.total, 11);
        assert_eq!(counts.call(CallKind::PullLogs), 5);
        assert_eq!(counts.call(CallKind::Heartbeat), 5);
        assert_eq!(counts.call(CallKind::PutLogs), 0);
        assert_eq!(counts.unclassified, 1);
        assert_eq!(counts.faults, 1);
        assert_eq!(counts.evicted, 8);
        assert_eq!(counts.by_status, BTreeMap::from([(200, 1), (500, 1)]));
        assert_eq!(counts.errors(), 1);
    }

    #[test]
    fn a_zero_capacity_keeps_only_counts() {
        let mut log = RequestLog::new(0);
        let seq = log.push(record(Some(CallKind::PutLogs), None));
        log.set_status(seq, 200);
        assert!(log.records().is_empty());
        assert_eq!(log.counts().call(CallKind::PutLogs), 1);
        assert_eq!(log.counts().by_status[&200], 1);
    }

    #[test]
    fn memory_stays_bounded_over_a_long_run() {
        let mut log = RequestLog::new(100);
        for _ in 0..100_000 {
            let seq = log.push(record(Some(CallKind::GetCursor), None));
            log.set_status(seq, 200);
        }
        assert_eq!(log.records.len(), 100);
        assert!(log.records.capacity() < 256, "{}", log.records.capacity());
        assert_eq!(log.counts().call(CallKind::GetCursor), 100_000);
        assert!(log.records().iter().all(|r| r.status == Some(200)));
    }
}
