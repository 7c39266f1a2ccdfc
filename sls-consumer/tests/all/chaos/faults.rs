//! The faults of a chaos run: on every call the consumer makes, and the
//! heartbeats of cut-off consumers.

use std::collections::BTreeSet;
use std::time::Duration;

use sls_testkit::{CallKind, FakeLogHub, Fault, FaultPlan, FaultRule};

/// The fault plan in force, rebuilt whenever the cut-off set changes; each
/// rebuild seeds its rules afresh (a rule rebuilt with the same seed would
/// replay the same draws).
pub(super) struct Faults {
    pub(super) seed: u64,
    pub(super) generation: u64,
}

impl Faults {
    /// Puts a new plan in force for the cut-off set `cut_off`.
    pub(super) fn apply(&mut self, hub: &FakeLogHub, cut_off: &BTreeSet<usize>) {
        self.generation += 1;
        let base = self
            .seed
            .wrapping_mul(1 << 24)
            .wrapping_add(self.generation * 64);
        hub.set_faults(faults(base, cut_off));
    }
}

/// Faults on every call the consumer makes (and on the test's writes);
/// heartbeats of cut-off consumers never arrive.
fn faults(s: u64, cut_off: &BTreeSet<usize>) -> FaultPlan {
    let on = |call, fault, p, n| FaultRule::new(fault).call(call).probability(p, s + n);
    let mut plan = FaultPlan::new()
        .rule(on(
            CallKind::PullLogs,
            Fault::error(503, "ServerBusy"),
            0.03,
            0,
        ))
        .rule(on(CallKind::PullLogs, Fault::Reset, 0.02, 1))
        .rule(on(CallKind::PullLogs, Fault::TruncateBody, 0.02, 2))
        .rule(on(CallKind::PullLogs, Fault::CorruptBody, 0.02, 3))
        .rule(on(
            CallKind::PullLogs,
            Fault::Latency(Duration::from_millis(300)),
            0.03,
            4,
        ))
        .rule(on(
            CallKind::Heartbeat,
            Fault::error(503, "ServerBusy"),
            0.05,
            5,
        ))
        .rule(on(
            CallKind::Heartbeat,
            Fault::Latency(Duration::from_millis(400)),
            0.03,
            6,
        ))
        .rule(on(
            CallKind::UpdateCheckpoint,
            Fault::error(500, "InternalServerError"),
            0.03,
            7,
        ))
        .rule(on(CallKind::UpdateCheckpoint, Fault::Reset, 0.02, 8))
        .rule(on(CallKind::GetCheckpoints, Fault::Reset, 0.1, 9))
        .rule(on(
            CallKind::GetCursor,
            Fault::error(503, "ServerBusy"),
            0.1,
            10,
        ))
        .rule(on(
            CallKind::ListShards,
            Fault::error(502, "BadGateway"),
            0.1,
            11,
        ))
        .rule(on(
            CallKind::CreateConsumerGroup,
            Fault::error(503, "ServerBusy"),
            0.2,
            12,
        ))
        // Created, but the answer is lost: the retry finds the group.
        .rule(on(
            CallKind::CreateConsumerGroup,
            Fault::TruncateBody,
            0.1,
            14,
        ))
        .rule(on(
            CallKind::UpdateConsumerGroup,
            Fault::error(503, "ServerBusy"),
            0.1,
            15,
        ))
        .rule(on(
            CallKind::PutLogs,
            Fault::error(503, "ServerBusy"),
            0.03,
            13,
        ))
        .rule(FaultRule::new(Fault::Throttle { per_second: 40 }).call(CallKind::PullLogs));
    for slot in cut_off {
        plan = plan.rule(
            FaultRule::new(Fault::Reset)
                .call(CallKind::Heartbeat)
                .consumer(format!("c{slot}")),
        );
    }
    plan
}
