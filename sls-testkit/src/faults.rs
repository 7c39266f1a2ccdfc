//! Fault injection: a [`FaultPlan`] of rules, each matching requests by
//! call, shard and consumer, firing on a deterministic schedule, and doing
//! one [`Fault`]. Set at start ([`crate::FakeLogHubBuilder::faults`]) or
//! live ([`crate::FakeLogHub::set_faults`]).

use std::time::Duration;

use crate::call::{Call, CallKind};

/// What a request that a rule fires on suffers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status and error code; the call is not done.
    Error {
        /// The HTTP status.
        status: u16,
        /// The `errorCode`.
        code: String,
    },
    /// Wait this long (tokio time), then serve the call.
    Latency(Duration),
    /// Never answer, until the server stops; the client times out.
    Hang,
    /// Close the connection without answering; the call is not done.
    Reset,
    /// Do the call, then close the connection half-way through the body
    /// (before any answer when the body is empty).
    TruncateBody,
    /// Do the call, but flip bytes of the body (headers intact).
    CorruptBody,
    /// Let at most `per_second` matching calls through per second of server
    /// time; refuse the rest with 403 `ReadQuotaExceed` or
    /// `WriteQuotaExceed` (`Shard...` when the rule names a shard).
    Throttle {
        /// Calls allowed per second.
        per_second: u32,
    },
}

impl Fault {
    /// An error answer.
    pub fn error(status: u16, code: impl Into<String>) -> Self {
        Self::Error {
            status,
            code: code.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Trigger {
    Always,
    EveryNth(u64),
    Next(u64),
    Probability(f64),
}

/// One rule: which requests, when, and what.
#[derive(Debug, Clone)]
pub struct FaultRule {
    call: Option<CallKind>,
    shard: Option<u32>,
    consumer: Option<String>,
    trigger: Trigger,
    fault: Fault,
    rng: fastrand::Rng,
    matched: u64,
    fired: u64,
    /// Throttling: the current second and the calls let through in it.
    window: (i64, u32),
}

impl FaultRule {
    /// A rule doing `fault` to every request (narrow it with the methods
    /// below).
    pub fn new(fault: Fault) -> Self {
        Self {
            call: None,
            shard: None,
            consumer: None,
            trigger: Trigger::Always,
            fault,
            rng: fastrand::Rng::with_seed(0),
            matched: 0,
            fired: 0,
            window: (i64::MIN, 0),
        }
    }

    /// Only requests of this call.
    pub fn call(mut self, call: CallKind) -> Self {
        self.call = Some(call);
        self
    }

    /// Only requests about this shard.
    pub fn shard(mut self, shard: u32) -> Self {
        self.shard = Some(shard);
        self
    }

    /// Only requests of this consumer (heartbeats and checkpoints).
    pub fn consumer(mut self, consumer: impl Into<String>) -> Self {
        self.consumer = Some(consumer.into());
        self
    }

    /// Fires on the n-th, 2n-th, … matching request.
    pub fn every_nth(mut self, n: u64) -> Self {
        self.trigger = Trigger::EveryNth(n.max(1));
        self
    }

    /// Fires on the next `k` matching requests, then never.
    pub fn next(mut self, k: u64) -> Self {
        self.trigger = Trigger::Next(k);
        self
    }

    /// Fires on each matching request with probability `p`, drawn from a
    /// generator seeded with `seed` (the same seed, the same choices).
    pub fn probability(mut self, p: f64, seed: u64) -> Self {
        self.trigger = Trigger::Probability(p.clamp(0.0, 1.0));
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }

    fn matches(&self, call: &Call) -> bool {
        self.call.is_none_or(|k| k == call.kind)
            && self.shard.is_none_or(|s| call.shard == Some(s))
            && self
                .consumer
                .as_ref()
                .is_none_or(|c| call.consumer.as_ref() == Some(c))
    }

    /// Whether the rule fires on this (counted) matching request; returns
    /// the fault if so. Only the rule whose fault is applied is asked.
    fn fire(&mut self, call: &Call, now_s: i64) -> Option<Fault> {
        let fires = match self.trigger {
            Trigger::Always => true,
            Trigger::EveryNth(n) => self.matched % n == 0,
            Trigger::Next(k) => self.fired < k,
            Trigger::Probability(p) => self.rng.f64() < p,
        };
        if !fires {
            return None;
        }
        if let Fault::Throttle { per_second } = self.fault {
            if self.window.0 != now_s {
                self.window = (now_s, 0);
            }
            if self.window.1 < per_second {
                self.window.1 += 1;
                return None;
            }
            self.fired += 1;
            let write = matches!(call.kind, CallKind::PutLogs);
            let code = match (write, self.shard.is_some()) {
                (true, true) => "ShardWriteQuotaExceed",
                (true, false) => "WriteQuotaExceed",
                (false, true) => "ShardReadQuotaExceed",
                (false, false) => "ReadQuotaExceed",
            };
            return Some(Fault::error(403, code));
        }
        self.fired += 1;
        Some(self.fault.clone())
    }
}

/// Rules, tried in order; the first that fires decides.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    rules: Vec<FaultRule>,
}

impl FaultPlan {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule.
    pub fn rule(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The fault for a request, if a rule fires. Every matching rule
    /// counts the request (for `every_nth`), but once a fault is chosen the
    /// later rules neither fire nor spend their `next(k)`, random draws or
    /// throttle allowance on it.
    pub(crate) fn decide(&mut self, call: &Call, now_s: i64) -> Option<Fault> {
        let mut decided = None;
        for rule in &mut self.rules {
            if !rule.matches(call) {
                continue;
            }
            rule.matched += 1;
            if decided.is_none() {
                decided = rule.fire(call, now_s);
            }
        }
        decided
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(kind: CallKind, shard: Option<u32>) -> Call {
        Call {
            kind,
            shard,
            consumer: None,
            query: None,
            processor: None,
        }
    }

    #[test]
    fn triggers_follow_their_schedule() {
        let pull = call(CallKind::PullLogs, Some(1));
        let mut plan = FaultPlan::new().rule(
            FaultRule::new(Fault::Reset)
                .call(CallKind::PullLogs)
                .every_nth(3),
        );
        let fired: Vec<bool> = (0..7).map(|_| plan.decide(&pull, 0).is_some()).collect();
        assert_eq!(fired, [false, false, true, false, false, true, false]);

        let mut plan = FaultPlan::new().rule(FaultRule::new(Fault::Hang).next(2));
        let fired: Vec<bool> = (0..4).map(|_| plan.decide(&pull, 0).is_some()).collect();
        assert_eq!(fired, [true, true, false, false]);

        let run = |seed| {
            let mut plan =
                FaultPlan::new().rule(FaultRule::new(Fault::Reset).probability(0.3, seed));
            (0..50)
                .map(|_| plan.decide(&pull, 0).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn a_rule_behind_a_firing_one_keeps_its_quota() {
        let pull = call(CallKind::PullLogs, Some(0));
        let mut plan = FaultPlan::new()
            .rule(FaultRule::new(Fault::TruncateBody).next(1))
            .rule(FaultRule::new(Fault::CorruptBody).next(1));
        let faults: Vec<Option<Fault>> = (0..3).map(|_| plan.decide(&pull, 0)).collect();
        assert_eq!(
            faults,
            [Some(Fault::TruncateBody), Some(Fault::CorruptBody), None]
        );
    }

    #[test]
    fn rules_match_call_and_shard() {
        let mut plan = FaultPlan::new().rule(
            FaultRule::new(Fault::Reset)
                .call(CallKind::PullLogs)
                .shard(2),
        );
        assert!(plan.decide(&call(CallKind::PullLogs, Some(2)), 0).is_some());
        assert!(plan.decide(&call(CallKind::PullLogs, Some(1)), 0).is_none());
        assert!(plan.decide(&call(CallKind::PutLogs, Some(2)), 0).is_none());
    }

    #[test]
    fn throttling_lets_a_rate_through_per_second() {
        let put = call(CallKind::PutLogs, None);
        let mut plan = FaultPlan::new()
            .rule(FaultRule::new(Fault::Throttle { per_second: 2 }).call(CallKind::PutLogs));
        let second_0: Vec<Option<Fault>> = (0..3).map(|_| plan.decide(&put, 0)).collect();
        assert_eq!(second_0[..2], [None, None]);
        assert_eq!(second_0[2], Some(Fault::error(403, "WriteQuotaExceed")));
        assert_eq!(plan.decide(&put, 1), None, "a new second, a new allowance");
    }
}
