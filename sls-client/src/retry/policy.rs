//! [`RetryPolicy`]: attempt limit, back-off by kind of failure, a budget
//! against retry storms, and no blind retry of non-idempotent writes.

use std::sync::Arc;
use std::time::Duration;

use tower::retry::Policy;
use tower::retry::budget::{Budget, TpsBudget};

use super::Backoff;
use crate::{BoxError, Error, RetryKind, Sent};

/// Whether sending a request twice has the same effect as sending it once.
/// Reads and checkpoint updates are; PutLogs is not.
pub trait Idempotent {
    /// `true` when the request may be repeated after it may have been
    /// processed.
    fn is_idempotent(&self) -> bool;
}

/// Defaults, in one place.
const DEFAULT_MAX_ATTEMPTS: u32 = 5;
const DEFAULT_BASE: Duration = Duration::from_millis(100);
const DEFAULT_CAP: Duration = Duration::from_secs(5);
const DEFAULT_THROTTLING_BASE: Duration = Duration::from_secs(1);
const DEFAULT_THROTTLING_CAP: Duration = Duration::from_secs(30);

/// The client's retry policy, for `tower::retry::Retry` or to call directly
/// through [`RetryPolicy::decide`].
///
/// - Retries what [`Error::retry_kind`] calls retryable, up to an attempt
///   limit (default 5 attempts in all).
/// - Backs off exponentially with full jitter: from 100 ms up to 5 s for
///   transient and server failures, from 1 s up to 30 s when throttled.
/// - A request that is not [`Idempotent`] is retried only when it provably
///   never left ([`Sent::No`]) or the service refused it for quota (403
///   `WriteQuotaExceed`, `ShardWriteQuotaExceed`: it was not stored).
/// - An optional shared budget (tower's `TpsBudget`) caps retries to a
///   fraction of recent successful calls, so an outage does not multiply
///   the load.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    /// Retries made so far for the current request (tower clones the policy
    /// for every call).
    retries: u32,
    backoff: Backoff,
    throttling: Backoff,
    budget: Option<Arc<TpsBudget>>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retries: 0,
            backoff: Backoff::new(DEFAULT_BASE, DEFAULT_CAP),
            throttling: Backoff::new(DEFAULT_THROTTLING_BASE, DEFAULT_THROTTLING_CAP),
            budget: Some(Arc::new(TpsBudget::default())),
        }
    }
}

impl RetryPolicy {
    /// The default policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// A policy that never retries.
    pub fn never() -> Self {
        Self::default().max_attempts(1)
    }

    /// Attempts in all, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Attempts in all, the first included.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The back-off after transient and server failures.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The back-off after throttling.
    pub fn throttling_backoff(mut self, backoff: Backoff) -> Self {
        self.throttling = backoff;
        self
    }

    /// Shares `budget` among every clone of this policy; `None` removes the
    /// budget.
    pub fn budget(mut self, budget: Option<Arc<TpsBudget>>) -> Self {
        self.budget = budget;
        self
    }

    /// Records a success (it refills the budget).
    pub fn record_success(&mut self) {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
    }

    /// Whether to retry after `error`, and after how long. Counts the retry.
    pub fn decide(&mut self, idempotent: bool, error: &Error) -> Option<Duration> {
        self.decide_parts(idempotent, error.retry_kind(), error.request_sent())
    }

    fn decide_parts(
        &mut self,
        idempotent: bool,
        kind: Option<RetryKind>,
        sent: Sent,
    ) -> Option<Duration> {
        let kind = kind?;
        // A quota refusal is the service's answer that it did not take
        // the request: a write it refused may be sent again.
        if !idempotent && sent != Sent::No && kind != RetryKind::Throttling {
            return None;
        }
        if self.retries + 1 >= self.max_attempts {
            return None;
        }
        if let Some(budget) = &self.budget {
            if !budget.withdraw() {
                tracing::debug!("retry budget exhausted; not retrying");
                return None;
            }
        }
        self.retries += 1;
        let backoff = match kind {
            RetryKind::Throttling => &mut self.throttling,
            _ => &mut self.backoff,
        };
        Some(backoff.delay(self.retries))
    }
}

/// An error the policy can classify: ours, or ours boxed between tower
/// layers.
pub trait Classify {
    /// How the failure may be retried, and whether the request may have
    /// been sent.
    fn classify(&self) -> (Option<RetryKind>, Sent);
}

impl Classify for Error {
    fn classify(&self) -> (Option<RetryKind>, Sent) {
        (self.retry_kind(), self.request_sent())
    }
}

impl Classify for BoxError {
    /// An error that is not ours (a timeout layer's, say) counts as
    /// transient, after the request may have been sent.
    fn classify(&self) -> (Option<RetryKind>, Sent) {
        match self.downcast_ref::<Error>() {
            Some(error) => error.classify(),
            None => (Some(RetryKind::Transient), Sent::Maybe),
        }
    }
}

impl<Req, Res, E> Policy<Req, Res, E> for RetryPolicy
where
    Req: Clone + Idempotent,
    E: Classify,
{
    type Future = tokio::time::Sleep;

    fn retry(&mut self, req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => {
                self.record_success();
                None
            }
            Err(error) => {
                let (kind, sent) = error.classify();
                self.decide_parts(req.is_idempotent(), kind, sent)
                    .map(tokio::time::sleep)
            }
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use tower::{Service, ServiceBuilder, ServiceExt};

    use super::*;
    use crate::ServerError;

    #[derive(Debug, Clone)]
    struct Req {
        idempotent: bool,
    }

    impl Idempotent for Req {
        fn is_idempotent(&self) -> bool {
            self.idempotent
        }
    }

    fn deterministic() -> RetryPolicy {
        RetryPolicy::new()
            .backoff(
                Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).without_jitter(),
            )
            .throttling_backoff(
                Backoff::new(Duration::from_secs(1), Duration::from_secs(30)).without_jitter(),
            )
            .budget(None)
    }

    fn server(status: u16, code: &str) -> Error {
        Error::Server(ServerError::new(status, code, "", None))
    }

    #[test]
    fn server_errors_back_off_exponentially_up_to_the_limit() {
        let mut p = deterministic();
        let e = server(500, "InternalServerError");
        let delays: Vec<_> = std::iter::from_fn(|| p.decide(true, &e)).collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800].map(Duration::from_millis),
            "5 attempts = 4 retries"
        );
    }

    #[test]
    fn throttling_backs_off_longer() {
        let mut p = deterministic();
        let first = p
            .decide(true, &server(403, "ShardWriteQuotaExceed"))
            .unwrap();
        assert_eq!(first, Duration::from_secs(1));
        let mut q = deterministic();
        assert!(q.decide(true, &server(503, "ServerBusy")).unwrap() < first);
    }

    #[test]
    fn client_errors_are_not_retried() {
        let mut p = deterministic();
        for code in ["SignatureNotMatch", "ParameterInvalid", "LogStoreNotExist"] {
            assert_eq!(p.decide(true, &server(400, code)), None, "{code}");
        }
    }

    #[test]
    fn writes_are_retried_only_when_they_never_left() {
        let mut p = deterministic();
        let maybe = Error::Transport {
            sent: Sent::Maybe,
            source: "reset".into(),
        };
        let never = Error::Transport {
            sent: Sent::No,
            source: "refused".into(),
        };
        assert_eq!(p.decide(false, &maybe), None);
        assert!(p.decide(false, &never).is_some());
        assert!(p.decide(true, &maybe).is_some());
        // A 5xx means the write reached the server: not retried either.
        assert_eq!(p.decide(false, &server(500, "")), None);
    }

    #[test]
    fn writes_refused_for_quota_are_retried_after_the_throttling_back_off() {
        for code in ["ShardWriteQuotaExceed", "WriteQuotaExceed"] {
            let mut p = deterministic();
            let refused = server(403, code);
            let delays: Vec<_> = std::iter::from_fn(|| p.decide(false, &refused)).collect();
            assert_eq!(delays, [1, 2, 4, 8].map(Duration::from_secs), "{code}");
        }
    }

    #[test]
    fn boxed_errors_classify_like_ours_and_foreign_ones_as_transient() {
        let ours: BoxError = Box::new(server(400, "ParameterInvalid"));
        assert_eq!(ours.classify(), (None, Sent::Maybe));
        let foreign: BoxError = "elapsed".into();
        assert_eq!(
            foreign.classify(),
            (Some(RetryKind::Transient), Sent::Maybe)
        );
    }

    #[test]
    fn the_budget_stops_retry_storms() {
        let budget = Arc::new(TpsBudget::new(Duration::from_secs(10), 1, 0.0));
        let e = server(500, "");
        let mut retried = 0;
        for _ in 0..100 {
            let mut p = deterministic().budget(Some(budget.clone()));
            if p.decide(true, &e).is_some() {
                retried += 1;
            }
        }
        assert!(retried <= 10, "{retried}");
    }

    #[tokio::test(start_paused = true)]
    async fn works_as_a_tower_layer_with_paused_time() {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let inner = tower::service_fn(move |_: Req| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(server(503, "ServerBusy"))
                } else {
                    Ok::<_, Error>("done")
                }
            }
        });
        let mut svc = ServiceBuilder::new().retry(deterministic()).service(inner);
        let start = tokio::time::Instant::now();
        let out = svc
            .ready()
            .await
            .unwrap()
            .call(Req { idempotent: true })
            .await;
        assert_eq!(out.unwrap(), "done");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // 100 ms + 200 ms of back-off, on tokio's paused clock.
        assert_eq!(start.elapsed(), Duration::from_millis(300));
    }
}
