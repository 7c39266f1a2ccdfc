//! [`FatePolicy`]: the consumer's `tower::retry::Policy`. It retries what
//! [`fate`](super::fate::fate) calls transient (or owned by the heartbeat
//! loop) with capped, jittered back-off within the call's bound (a shard
//! call: until the shard is stopped; a group call: [`Bound`]), and hands
//! everything else back to the caller at once.

use std::time::Duration;

use sls_client::RetryKind;
use sls_client::retry::Backoff;
use tokio::sync::watch;
use tokio::time::Instant;

use super::fate::{CallKind, Fate, fate};
use super::{AbortOn, ShardCall, Stop};
use crate::metrics::Registry;
use std::sync::Arc;

/// Bodies that do not decompress or decode are re-pulled this many times
/// (each after the client's own re-pulls): a body garbled in transit comes
/// right on a later try; one that never does is not retried forever.
pub(crate) const UNDECODABLE_ATTEMPTS: u32 = 8;

/// Back-off for transient errors.
const TRANSIENT: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(30));
/// Back-off when the service throttles.
const THROTTLED: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// How long a group call (the coordinator's) may keep retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// No retry after a try that would end past this instant (a
    /// heartbeat: the next one is due then).
    Until(Instant),
    /// At most this many tries in all (a call at start, whose caller
    /// waits for it).
    Tries(u32),
}

/// Who the call is for: a shard task (stopped by its stop signal, its
/// retries in its metrics) or the coordinator (bounded by [`Bound`]).
#[derive(Clone)]
enum Scope {
    Shard {
        shard: u32,
        stop: watch::Receiver<Option<Stop>>,
        metrics: Arc<Registry>,
    },
    Group(Bound),
}

/// The retry policy of one call (tower clones it per request).
#[derive(Clone)]
pub(crate) struct FatePolicy {
    scope: Scope,
    retries: u32,
    transient: Backoff,
    throttled: Backoff,
}

impl std::fmt::Debug for FatePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("FatePolicy");
        match &self.scope {
            Scope::Shard { shard, .. } => out.field("shard", shard),
            Scope::Group(bound) => out.field("bound", bound),
        };
        out.field("retries", &self.retries).finish()
    }
}

impl FatePolicy {
    /// A shard task's: retries transient errors until they work or the
    /// shard is stopped.
    pub(crate) fn for_shard(
        shard: u32,
        stop: watch::Receiver<Option<Stop>>,
        metrics: Arc<Registry>,
    ) -> Self {
        Self {
            scope: Scope::Shard {
                shard,
                stop,
                metrics,
            },
            retries: 0,
            transient: Backoff::new(TRANSIENT.0, TRANSIENT.1),
            throttled: Backoff::new(THROTTLED.0, THROTTLED.1),
        }
    }

    /// The coordinator's: retries transient errors within `bound`, every
    /// back-off capped at `cap` (a heartbeat retries promptly: a fraction
    /// of its interval). Without jitter: one consumer's coordinator makes
    /// too few calls to need spreading, and a fixed schedule makes the
    /// number of tries within a heartbeat interval known (5 at most: 100,
    /// 200, then every quarter interval).
    pub(crate) fn for_group(bound: Bound, cap: Duration) -> Self {
        let cap = cap.max(TRANSIENT.0);
        Self {
            scope: Scope::Group(bound),
            retries: 0,
            transient: Backoff::new(TRANSIENT.0, cap).without_jitter(),
            throttled: Backoff::new(TRANSIENT.0, cap).without_jitter(),
        }
    }

    /// Whether the call's bound forbids a retry after `delay`.
    fn out_of_bounds(&self, abort_on: AbortOn, delay: Duration) -> bool {
        match &self.scope {
            Scope::Shard { stop, .. } => abort_on.aborts(*stop.borrow()),
            Scope::Group(Bound::Until(until)) => Instant::now() + delay >= *until,
            Scope::Group(Bound::Tries(tries)) => self.retries + 1 >= *tries,
        }
    }

    /// Delays without randomness, for tests.
    #[cfg(test)]
    pub(crate) fn without_jitter(mut self) -> Self {
        self.transient = self.transient.without_jitter();
        self.throttled = self.throttled.without_jitter();
        self
    }

    /// The delay before the next try of `call` after `err`, or `None`
    /// when the error goes back to the caller.
    pub(crate) fn decide(
        &mut self,
        call: CallKind,
        abort_on: AbortOn,
        err: &sls_client::Error,
    ) -> Option<Duration> {
        if self.out_of_bounds(abort_on, Duration::ZERO) {
            return None;
        }
        let garbled = super::fate::is_garbled(err);
        let delay = match fate(call, err) {
            Fate::Retry(_) if garbled && self.retries + 1 >= UNDECODABLE_ATTEMPTS => return None,
            Fate::Retry(RetryKind::Throttling) => self.throttled.delay(self.retries + 1),
            Fate::Retry(_) | Fate::Wait => self.transient.delay(self.retries + 1),
            Fate::Recover(_) | Fate::Fatal => return None,
        };
        if self.out_of_bounds(abort_on, delay) {
            return None;
        }
        self.retries += 1;
        let Scope::Shard { shard, metrics, .. } = &self.scope else {
            tracing::debug!(call = call.name(), error = %err, retry = self.retries, delay_ms = delay.as_millis() as u64, "call failed; retrying");
            return Some(delay);
        };
        let shard = *shard;
        metrics.update(shard, |m| {
            m.call_retries += 1;
            if call == CallKind::PullLogs {
                m.fetch_retries += 1;
            }
            m.retrying = Some(crate::metrics::Retrying {
                call: call.name(),
                error: err.to_string(),
                attempts: self.retries,
            });
        });
        // One line per retry, at most one per back-off cap (30 s) once the
        // back-off has grown.
        tracing::warn!(
            shard,
            call = call.name(),
            error = %err,
            retry = self.retries,
            delay_ms = delay.as_millis() as u64,
            "call failed; retrying"
        );
        Some(delay)
    }
}

impl tower::retry::Policy<ShardCall, super::Reply, sls_client::Error> for FatePolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut ShardCall,
        result: &mut Result<super::Reply, sls_client::Error>,
    ) -> Option<Self::Future> {
        match result {
            Ok(_) => {
                if let (Scope::Shard { shard, metrics, .. }, 1..) = (&self.scope, self.retries) {
                    metrics.update(*shard, |m| m.retrying = None);
                }
                None
            }
            Err(err) => self
                .decide(req.kind(), req.abort_on, err)
                .map(tokio::time::sleep),
        }
    }

    fn clone_request(&mut self, req: &ShardCall) -> Option<ShardCall> {
        Some(req.clone())
    }
}

#[cfg(test)]
mod tests {
    use sls_client::{Error, ServerError};

    use super::*;

    fn policy() -> (FatePolicy, watch::Sender<Option<Stop>>) {
        let (tx, rx) = watch::channel(None);
        (
            FatePolicy::for_shard(0, rx, Arc::new(Registry::default())).without_jitter(),
            tx,
        )
    }

    fn busy() -> Error {
        Error::from(ServerError::new(503, "ServerBusy", "", None))
    }

    #[test]
    fn transient_errors_back_off_to_the_cap_and_never_give_up() {
        let (mut p, _tx) = policy();
        let delays: Vec<u64> = (0..12)
            .map(|_| {
                p.decide(CallKind::PullLogs, AbortOn::AnyStop, &busy())
                    .unwrap()
                    .as_millis() as u64
            })
            .collect();
        assert_eq!(&delays[..4], [100, 200, 400, 800]);
        assert_eq!(delays[11], 30_000);
    }

    #[test]
    fn throttling_backs_off_longer() {
        let (mut p, _tx) = policy();
        let quota = Error::from(ServerError::new(403, "ShardReadQuotaExceed", "", None));
        assert_eq!(
            p.decide(CallKind::GetCursor, AbortOn::AnyStop, &quota),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_pull_refused_for_quota_goes_back_to_be_paced_uncounted() {
        let metrics = Arc::new(Registry::default());
        metrics.start(0);
        let (_tx, rx) = watch::channel(None);
        let mut p = FatePolicy::for_shard(0, rx, metrics.clone());
        for code in ["ShardReadQuotaExceed", "ReadQuotaExceed"] {
            let quota = Error::from(ServerError::new(403, code, "", None));
            assert_eq!(p.decide(CallKind::PullLogs, AbortOn::AnyStop, &quota), None);
        }
        let m = &metrics.snapshot()[0];
        assert_eq!((m.call_retries, m.fetch_retries), (0, 0));
        assert_eq!(m.retrying, None);
    }

    #[test]
    fn permanent_errors_go_back_at_once() {
        let (mut p, _tx) = policy();
        for err in [
            Error::from(ServerError::new(400, "InvalidCursor", "", None)),
            Error::from(ServerError::new(404, "LogStoreNotExist", "", None)),
            Error::TooLarge {
                declared: 2,
                limit: 1,
                groups: None,
            },
        ] {
            assert_eq!(p.decide(CallKind::PullLogs, AbortOn::AnyStop, &err), None);
        }
    }

    #[test]
    fn a_stop_ends_retries_as_the_call_says() {
        let (mut p, tx) = policy();
        tx.send_replace(Some(Stop::Revoke));
        assert_eq!(
            p.decide(CallKind::PullLogs, AbortOn::AnyStop, &busy()),
            None
        );
        // A closing commit goes on through a revoke, not through a loss.
        assert!(
            p.decide(CallKind::UpdateCheckpoint, AbortOn::Loss, &busy())
                .is_some()
        );
        tx.send_replace(Some(Stop::Lose));
        assert_eq!(
            p.decide(CallKind::UpdateCheckpoint, AbortOn::Loss, &busy()),
            None
        );
    }

    #[test]
    fn undecodable_bodies_are_not_retried_forever() {
        let (mut p, _tx) = policy();
        let garbled = Error::Codec(sls_proto::CodecError::UnknownCompressType("x".into()));
        let tries = (0..100)
            .take_while(|_| {
                p.decide(CallKind::PullLogs, AbortOn::AnyStop, &garbled)
                    .is_some()
            })
            .count();
        assert_eq!(tries as u32, UNDECODABLE_ATTEMPTS - 1);
    }
}
