//! No poison pills: real data and real service states never stop a shard
//! for good. Large groups, expired checkpoints, panicking processors, and
//! every permanent PullLogs error: each has a fate the user sees.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_client::PutLogsRequest;
use sls_client::retry::Backoff;
use sls_consumer::{
    AfterRetries, Batch, Checkpoint, ConsumerConfig, ConsumerError, CursorReset, Decision,
    ErrorPolicy, Health, OnExpiredCursor, Problem, ProcessError, Processor, ProcessorPanic,
    StartPosition, Worker,
};
use sls_proto::{Cursor, LogGroup};
use sls_testkit::{CallKind, ExpiredCursors, FakeLogHub, Fault, FaultPlan, FaultRule};

use crate::harness::{self, GROUP, INTERVAL, LOGSTORE, Log, PROJECT};

/// Counts logs and batches, optionally panicking or rolling back.
#[derive(Clone, Default)]
struct Counter {
    logs: Arc<AtomicU64>,
    batches: Arc<AtomicU64>,
    resets: Arc<Mutex<Vec<CursorReset>>>,
    /// Panic on this many calls (counted over all shards), then behave.
    panics_left: Arc<AtomicU32>,
    /// Panic on every call.
    always_panic: bool,
    /// Roll back once to this cursor, after the first batch.
    roll_back_to: Arc<Mutex<Option<Cursor>>>,
}

impl Processor for Counter {
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        if self.always_panic {
            panic!("bad record at {}", batch.cursor);
        }
        if self
            .panics_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("bad record at {}", batch.cursor);
        }
        self.logs
            .fetch_add(batch.log_count() as u64, Ordering::SeqCst);
        self.batches.fetch_add(1, Ordering::SeqCst);
        if let Some(to) = self.roll_back_to.lock().unwrap().take() {
            return Ok(Decision::RollBack(to));
        }
        Ok(Decision::Continue)
    }

    async fn on_cursor_reset(&mut self, reset: &CursorReset) {
        self.resets.lock().unwrap().push(reset.clone());
    }
}

fn config(hub: &FakeLogHub) -> sls_consumer::ConsumerConfigBuilder {
    ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "c")
        .client(hub.client())
        .heartbeat_interval(INTERVAL)
        .heartbeat_timeout(INTERVAL * 3)
        .fetch_interval(Duration::from_millis(100))
        .auto_commit_interval(Some(Duration::from_millis(500)))
}

/// Starts a worker whose processors share one [`Counter`].
async fn counting(config: ConsumerConfig, counter: &Counter) -> Worker {
    let seen = counter.clone();
    Worker::start(config, move |_| seen.clone()).await.unwrap()
}

/// Waits (in virtual time) until the counter saw `logs` logs.
async fn counted(counter: &Counter, logs: u64) -> bool {
    harness::wait_until(Duration::from_secs(120), || {
        counter.logs.load(Ordering::SeqCst) >= logs
    })
    .await
}

/// Writes a group of about `bytes` encoded bytes (at most 4096 logs, as
/// the service allows) to `shard`'s hash range; returns its log count.
async fn write_big(hub: &FakeLogHub, shard_key: &str, bytes: usize) -> u64 {
    let logs = 4000.min(bytes / 600).max(1);
    let pad = (bytes / logs).saturating_sub(40);
    let mut builder = LogGroup::builder().topic("big");
    for i in 0..logs {
        // Varied padding keeps lz4 honest about the size.
        let fill: String = (0..pad)
            .map(|j| (b'a' + ((i * 7 + j) % 26) as u8) as char)
            .collect();
        builder = builder.log(1_700_000_000, [("id", i.to_string()), ("pad", fill)]);
    }
    let group = builder.build();
    hub.client()
        .put_logs(PutLogsRequest::from_group(PROJECT, LOGSTORE, &group).hash_key(shard_key))
        .await
        .unwrap();
    logs as u64
}

/// Shard 0 and shard 1 of a two-shard logstore.
const KEYS: [&str; 2] = [
    "00000000000000000000000000000000",
    "80000000000000000000000000000000",
];

/// Groups of 1 to 5 MB on two shards, read with `settings`: every log is
/// delivered and the buffered bytes never pass the budget.
async fn large_groups_are_all_delivered(
    settings: impl FnOnce(sls_consumer::ConsumerConfigBuilder) -> sls_consumer::ConsumerConfigBuilder,
    budget: u64,
) -> (u64, u64) {
    let hub = harness::hub(2).await;
    let mut total = 0;
    for mb in 1..=5usize {
        for key in KEYS {
            total += write_big(&hub, key, mb * 980_000).await;
        }
    }
    let counter = Counter::default();
    let seen = counter.clone();
    let worker = Worker::start(settings(config(&hub)).build().unwrap(), move |_| {
        seen.clone()
    })
    .await
    .unwrap();
    let done = harness::wait_until(Duration::from_secs(120), || {
        counter.logs.load(Ordering::SeqCst) >= total
    })
    .await;
    let refused: u64 = worker
        .metrics()
        .shards
        .iter()
        .map(|m| m.pulls_refused_for_size)
        .sum();
    let memory = worker.memory();
    let report = worker.shutdown().await.unwrap();
    assert!(
        done,
        "{} of {total} logs",
        counter.logs.load(Ordering::SeqCst)
    );
    assert_eq!(report.logs(), total);
    assert!(report.failure().is_none(), "{:?}", report.failure());
    assert!(
        memory.peak <= budget && memory.budget == budget,
        "peak {} over the budget {budget}",
        memory.peak
    );
    (memory.peak, refused)
}

#[tokio::test(start_paused = true)]
async fn large_groups_with_the_default_settings() {
    // The default 1000-group pull would be ~15 MB a shard: refused from
    // its headers, then asked smaller.
    let (_, refused) = large_groups_are_all_delivered(
        |c| c.max_fetch_groups(1000),
        sls_consumer::defaults::MAX_BUFFERED_BYTES,
    )
    .await;
    assert!(refused >= 1, "no pull was refused for size");
}

#[tokio::test(start_paused = true)]
async fn large_groups_with_the_smallest_budget_and_pull_target() {
    let budget = sls_consumer::defaults::MIN_BUFFERED_BYTES;
    for groups in [1000, 1] {
        large_groups_are_all_delivered(
            |c| {
                c.max_buffered_bytes(budget)
                    .max_pull_bytes(sls_consumer::defaults::MIN_PULL_BYTES)
                    .max_fetch_groups(groups)
                    .max_concurrent_fetches(1)
            },
            budget,
        )
        .await;
    }
}

/// A logstore whose first groups expired: `dead` groups written, 31 days
/// passed (the fake's TTL is 30), `live` groups written after. The group's
/// checkpoint points at the start of the dead data.
async fn expired_checkpoint(dead: u64, live: u64) -> (FakeLogHub, Cursor, u64) {
    let hub = harness::hub(1).await;
    harness::write(&hub, 0, dead, 2).await;
    let dead_cursor = harness::begin(&hub, 0).await.checked_add(1).unwrap();
    harness::set_checkpoint(&hub, 0, dead_cursor).await;
    tokio::time::advance(Duration::from_secs(31 * 86_400)).await;
    let next = harness::write(&hub, 1000, live, 2).await;
    (hub, dead_cursor, next - 1000)
}

#[tokio::test(start_paused = true)]
async fn an_expired_checkpoint_resumes_from_the_oldest_data_by_default() {
    let (hub, dead, live_logs) = expired_checkpoint(5, 4).await;
    let counter = Counter::default();
    let seen = counter.clone();
    let worker = Worker::start(config(&hub).build().unwrap(), move |_| seen.clone())
        .await
        .unwrap();
    assert!(counted(&counter, live_logs).await);
    let metrics = worker.metrics();
    let report = worker.shutdown().await.unwrap();
    assert_eq!(report.logs(), live_logs, "every retained log, once");
    let resets = counter.resets.lock().unwrap().clone();
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(resets[0].dead, dead);
    assert_eq!(resets[0].resumed, resets[0].oldest);
    assert_eq!(resets[0].policy, OnExpiredCursor::Oldest);
    assert_eq!(
        dead.distance_to(resets[0].resumed),
        Some(4),
        "the first retained group"
    );
    assert_eq!(metrics.shards[0].cursor_resets, 1);
    assert_eq!(metrics.shards[0].groups_lost, 4);
    // The new checkpoint is past the gap, at the end.
    let end = hub.end_cursor(PROJECT, LOGSTORE, 0).unwrap();
    assert_eq!(report.shards[&0].committed, Some(end));
}

#[tokio::test(start_paused = true)]
async fn an_expired_checkpoint_resumes_from_the_end_when_asked() {
    let (hub, dead, _) = expired_checkpoint(5, 4).await;
    let counter = Counter::default();
    let config = config(&hub)
        .on_expired_cursor(OnExpiredCursor::Newest)
        .build()
        .unwrap();
    let worker = counting(config, &counter).await;
    tokio::time::sleep(INTERVAL * 3).await;
    // Only what is written from now on is read.
    let fresh = harness::write(&hub, 5000, 3, 2).await - 5000;
    assert!(counted(&counter, fresh).await);
    let report = worker.shutdown().await.unwrap();
    assert_eq!(report.logs(), fresh);
    let resets = counter.resets.lock().unwrap().clone();
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].dead, dead);
    assert_eq!(resets[0].policy, OnExpiredCursor::Newest);
    assert_eq!(
        dead.distance_to(resets[0].resumed),
        Some(8),
        "the end when it started"
    );
}

#[tokio::test(start_paused = true)]
async fn an_expired_checkpoint_stops_the_worker_when_asked() {
    let (hub, dead, _) = expired_checkpoint(5, 4).await;
    let counter = Counter::default();
    let config = config(&hub)
        .on_expired_cursor(OnExpiredCursor::Stop)
        .build()
        .unwrap();
    let mut worker = counting(config, &counter).await;
    tokio::time::timeout(INTERVAL * 10, worker.stopped())
        .await
        .expect("the worker stops by itself");
    assert!(matches!(worker.health(), Health::Stopped(_)));
    let failure = worker.shutdown().await.expect_err("stopped by the policy");
    assert_eq!(counter.logs.load(Ordering::Relaxed), 0);
    match &failure {
        ConsumerError::CursorExpired {
            shard: 0,
            cursor,
            oldest,
        } => {
            assert_eq!(*cursor, dead);
            assert_eq!(dead.distance_to(*oldest), Some(4));
        }
        other => panic!("expected CursorExpired, got {other:?}"),
    }
    assert!(counter.resets.lock().unwrap().is_empty());
}

/// A processor rolls back into dropped data: the pull meets the service's
/// `InvalidCursor` (or, from a service that reads such a cursor from the
/// oldest data, a gap before the first group), and the cursor is reset
/// through the policy, once, with the hook.
async fn a_roll_back_into_dropped_data_resets(mode: ExpiredCursors) {
    let hub = harness::hub(1).await;
    hub.set_expired_cursors(mode);
    harness::write(&hub, 0, 3, 2).await;
    assert_eq!(hub.drop_oldest(PROJECT, LOGSTORE, 0, 3), Some(3));
    let live = harness::write(&hub, 1000, 2, 2).await - 1000;
    let oldest = harness::begin(&hub, 0).await;
    let dead = oldest.checked_add(-3).unwrap();
    let counter = Counter::default();
    *counter.roll_back_to.lock().unwrap() = Some(dead);
    let seen = counter.clone();
    let config = config(&hub)
        .start_position(StartPosition::Begin)
        .build()
        .unwrap();
    let worker = Worker::start(config, move |_| seen.clone()).await.unwrap();
    assert!(
        counted(&counter, 2 * live).await,
        "{mode:?}: read, rolled back into dropped data, reset, read again"
    );
    let metrics = worker.metrics();
    let report = worker.shutdown().await.unwrap();
    assert!(report.failure().is_none());
    assert_eq!(
        report.logs(),
        live,
        "{mode:?}: the rolled-back batch is not counted"
    );
    let resets = counter.resets.lock().unwrap().clone();
    assert_eq!(resets.len(), 1, "{mode:?}");
    assert_eq!(resets[0].dead, dead);
    assert_eq!(resets[0].resumed, oldest);
    assert_eq!(metrics.shards[0].groups_lost, 3);
    let refused = hub
        .requests()
        .iter()
        .filter(|r| r.call == Some(CallKind::PullLogs) && r.status == Some(400))
        .count();
    let expected = usize::from(mode == ExpiredCursors::Refuse);
    assert_eq!(refused, expected, "{mode:?}: one InvalidCursor, not a loop");
}

#[tokio::test(start_paused = true)]
async fn a_roll_back_into_dropped_data_gets_invalid_cursor_and_resets() {
    a_roll_back_into_dropped_data_resets(ExpiredCursors::Refuse).await;
}

#[tokio::test(start_paused = true)]
async fn a_roll_back_into_dropped_data_read_from_the_oldest_shows_the_gap() {
    a_roll_back_into_dropped_data_resets(ExpiredCursors::ReadFromOldest).await;
}

fn policy(then: AfterRetries) -> ErrorPolicy {
    ErrorPolicy::new(
        2,
        Backoff::new(Duration::from_millis(100), Duration::from_secs(1)),
        then,
    )
}

#[tokio::test(start_paused = true)]
async fn a_processor_that_panics_once_is_retried_under_every_policy() {
    for then in [
        AfterRetries::KeepRetrying,
        AfterRetries::Skip,
        AfterRetries::Stop,
    ] {
        let hub = harness::hub(2).await;
        let total = harness::write(&hub, 0, 6, 3).await;
        let counter = Counter::default();
        counter.panics_left.store(1, Ordering::SeqCst);
        let seen = counter.clone();
        let config = config(&hub).error_policy(policy(then)).build().unwrap();
        let worker = Worker::start(config, move |_| seen.clone()).await.unwrap();
        assert!(
            counted(&counter, total).await,
            "{then:?}: {} of {total}",
            counter.logs.load(Ordering::SeqCst)
        );
        let panics: u64 = worker.metrics().shards.iter().map(|m| m.panics).sum();
        let report = worker.shutdown().await.unwrap();
        assert_eq!(panics, 1, "{then:?}");
        assert_eq!(
            report.logs(),
            total,
            "{then:?}: the batch was offered again"
        );
        assert!(report.failure().is_none(), "{then:?}");
    }
}

/// A processor that never returns from `process`.
struct Stuck;

impl Processor for Stuck {
    async fn process(
        &mut self,
        _: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        std::future::pending().await
    }
}

/// A one-shard hub with `groups` groups of 2 logs, and a worker whose
/// processor panics on every batch, under `then`.
async fn always_panicking(
    groups: u64,
    then: AfterRetries,
    settings: impl FnOnce(sls_consumer::ConsumerConfigBuilder) -> sls_consumer::ConsumerConfigBuilder,
) -> (FakeLogHub, Worker) {
    let hub = harness::hub(1).await;
    harness::write(&hub, 0, groups, 2).await;
    let counter = Counter {
        always_panic: true,
        ..Counter::default()
    };
    let config = settings(config(&hub).error_policy(policy(then)))
        .build()
        .unwrap();
    let worker = Worker::start(config, move |_| counter.clone())
        .await
        .unwrap();
    (hub, worker)
}

/// The first health that is not `Healthy` (or the last one seen when
/// `until` holds for it), within `limit`.
async fn health_until(
    worker: &mut Worker,
    limit: Duration,
    until: impl Fn(&Health) -> bool,
) -> Health {
    tokio::time::timeout(limit, async {
        loop {
            let health = worker.health_changed().await;
            if until(&health) {
                return health;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("health never got there: {:?}", worker.health()))
}

#[tokio::test(start_paused = true)]
async fn a_processor_that_always_panics_follows_the_policy() {
    // Stop: the worker stops with the panic as the error.
    let (_hub, mut worker) = always_panicking(2, AfterRetries::Stop, |c| c).await;
    tokio::time::timeout(INTERVAL * 10, worker.stopped())
        .await
        .expect("stops");
    // A worker that stopped on its own says why from `shutdown`.
    let failure = worker
        .shutdown()
        .await
        .expect_err("stopped by the processor");
    let ConsumerError::Processor { shard: 0, source } = &failure else {
        panic!("{failure:?}");
    };
    let panic = source
        .downcast_ref::<ProcessorPanic>()
        .expect("the panic is the error");
    assert!(panic.message().starts_with("bad record at"), "{panic}");

    // Skip: every batch skipped after its retries, the shard goes on and
    // its checkpoint reaches the end.
    let (hub, worker) = always_panicking(3, AfterRetries::Skip, |c| c.max_fetch_groups(1)).await;
    let end = hub.end_cursor(PROJECT, LOGSTORE, 0).unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(30), || worker
            .metrics()
            .shards
            .first()
            .is_some_and(|m| m.batches_skipped == 3 && m.committed == Some(end)))
        .await,
        "{:?}",
        worker.metrics()
    );
    let panics = worker.metrics().shards[0].panics;
    assert_eq!(panics, 9, "3 batches x (1 try + 2 retries)");
    assert!(worker.shutdown().await.unwrap().failure().is_none());

    // Keep retrying: no data is skipped, the worker keeps going, and the
    // stall shows in the health signal and the metrics.
    let (hub, mut worker) = always_panicking(2, AfterRetries::KeepRetrying, |c| c).await;
    let stuck_at = Problem::NoProgress {
        shard: 0,
        position: Some(harness::begin(&hub, 0).await),
    };
    let failing = Problem::ProcessorFailing { shard: 0 };
    health_until(&mut worker, INTERVAL * 20, |h| {
        h.problems().contains(&stuck_at) && h.problems().contains(&failing)
    })
    .await;
    assert!(worker.metrics().shards[0].stalled);
    assert!(worker.metrics().shards[0].failures_in_a_row > 2);
    let report = worker.shutdown().await.unwrap();
    assert_eq!(report.shards[&0].committed, None, "nothing skipped");
}

#[tokio::test(start_paused = true)]
async fn a_processor_stuck_in_process_shows_in_health() {
    let hub = harness::hub(1).await;
    harness::write(&hub, 0, 1, 1).await;
    let config = config(&hub)
        .process_stall_after(Duration::from_secs(5))
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let worker = Worker::start(config, |_| Stuck).await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        worker.health(),
        Health::Degraded(vec![Problem::ProcessorStuck { shard: 0 }])
    );
    let running = worker.metrics().shards[0].processing_for.unwrap();
    assert!(running >= Duration::from_secs(5), "{running:?}");
    // Shutdown gives up on it at the timeout, uncommitted.
    let report = tokio::time::timeout(Duration::from_secs(10), worker.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        report.shards[&0].last_exit,
        Some(sls_consumer::ShardExit::Lost)
    ));
}

/// Every PullLogs error docs/protocol.md lists ("Errors and retries"),
/// returned on every pull: what
/// the worker does. Transient ones are retried (the shard shows as failing
/// in the health signal) and delivery resumes when they stop; the read
/// quotas are paced, neither failing nor stalled; permanent ones stop the
/// worker with the error, never a silent loop.
#[tokio::test(start_paused = true)]
async fn every_pull_error_has_a_fate() {
    let transient: &[(u16, &str)] = &[
        (500, "InternalServerError"),
        (500, "RequestTimeout"),
        (503, "ServerBusy"),
    ];
    // The read quotas: the shard paces itself and tries again, forever;
    // not a failing call, not a stall, not a failure.
    for code in ["ReadQuotaExceed", "ShardReadQuotaExceed"] {
        let hub = harness::hub(1).await;
        let total = harness::write(&hub, 0, 2, 2).await;
        hub.set_faults(
            FaultPlan::new().rule(FaultRule::new(Fault::error(403, code)).call(CallKind::PullLogs)),
        );
        let log = Log::default();
        let worker = Worker::start(config(&hub).build().unwrap(), harness::recorder(&log, "c"))
            .await
            .unwrap();
        for _ in 0..20 {
            tokio::time::sleep(INTERVAL).await;
            assert!(
                worker.health().is_healthy(),
                "{code}: {:?}",
                worker.health()
            );
        }
        let m = worker.metrics().shards[0].clone();
        assert!(m.pulls_refused_for_quota >= 5, "{code}: {m:?}");
        assert_eq!((m.fetch_retries, m.call_retries), (0, 0), "{code}");
        assert!(m.retrying.is_none() && !m.stalled, "{code}: {m:?}");
        hub.set_faults(FaultPlan::new());
        assert!(
            harness::wait_until(Duration::from_secs(30), || log.len() as u64 >= total).await,
            "{code}: delivery resumes"
        );
        let report = worker.shutdown().await.unwrap();
        assert!(report.failure().is_none(), "{code}");
    }
    let fatal: &[(u16, &str)] = &[
        (400, "ParameterInvalid"),
        (400, "RequestTimeExpired"),
        (400, "InvalidDateFormat"),
        (401, "SignatureNotMatch"),
        (401, "Unauthorized"),
        (401, "InvalidAccessKeyId"),
        (401, "SecurityTokenExpired"),
        (404, "ProjectNotExist"),
        (404, "LogStoreNotExist"),
        (404, "ShardNotExist"),
        (400, "SomeCodeNobodyKnows"),
    ];
    for &(status, code) in transient {
        let hub = harness::hub(1).await;
        let total = harness::write(&hub, 0, 2, 2).await;
        hub.set_faults(
            FaultPlan::new()
                .rule(FaultRule::new(Fault::error(status, code)).call(CallKind::PullLogs)),
        );
        let log = Log::default();
        let mut worker = Worker::start(config(&hub).build().unwrap(), harness::recorder(&log, "c"))
            .await
            .unwrap();
        let failing = Problem::CallFailing {
            shard: 0,
            call: "PullLogs",
        };
        health_until(&mut worker, INTERVAL * 60, |h| {
            h.problems().contains(&failing)
        })
        .await;
        let retrying = worker.metrics().shards[0].retrying.clone().unwrap();
        assert!(retrying.error.contains(code), "{code}: {retrying:?}");
        hub.set_faults(FaultPlan::new());
        assert!(
            harness::wait_until(Duration::from_secs(120), || log.len() as u64 >= total).await,
            "{code}: delivery resumes"
        );
        let report = worker.shutdown().await.unwrap();
        assert!(report.failure().is_none(), "{code}");
    }
    for &(status, code) in fatal {
        let hub = harness::hub(1).await;
        harness::write(&hub, 0, 2, 2).await;
        hub.set_faults(
            FaultPlan::new()
                .rule(FaultRule::new(Fault::error(status, code)).call(CallKind::PullLogs)),
        );
        let log = Log::default();
        let mut worker = Worker::start(config(&hub).build().unwrap(), harness::recorder(&log, "c"))
            .await
            .unwrap();
        tokio::time::timeout(INTERVAL * 10, worker.stopped())
            .await
            .unwrap_or_else(|_| panic!("{code}: the worker stops"));
        match worker.shutdown().await {
            Err(ConsumerError::ShardCall {
                shard: 0,
                call: "PullLogs",
                source,
            }) => assert_eq!(
                source.error_code(),
                Some(sls_client::ErrorCode::from(code)),
                "{code}: {source}"
            ),
            other => panic!("{code}: {other:?}"),
        }
        let pulls = hub.count(CallKind::PullLogs);
        assert!(pulls <= 3, "{code}: {pulls} pulls, not retried forever");
    }
    // InvalidCursor on a cursor within the retained data: no reset can fix
    // it, so the worker stops and says so.
    let hub = harness::hub(1).await;
    harness::write(&hub, 0, 2, 2).await;
    hub.set_faults(
        FaultPlan::new()
            .rule(FaultRule::new(Fault::error(400, "InvalidCursor")).call(CallKind::PullLogs)),
    );
    let mut worker = Worker::start(config(&hub).build().unwrap(), |_| Counter::default())
        .await
        .unwrap();
    tokio::time::timeout(INTERVAL * 10, worker.stopped())
        .await
        .expect("stops");
    let failure = worker.shutdown().await.expect_err("stopped on the cursor");
    assert!(
        matches!(failure, ConsumerError::CursorRefused { shard: 0, .. }),
        "{failure:?}"
    );
}

/// A caught-up shard commits its last batches on the interval, without
/// waiting for more data (a crash would otherwise re-deliver them).
#[tokio::test(start_paused = true)]
async fn a_caught_up_shard_commits_on_the_interval() {
    let hub = harness::hub(1).await;
    harness::write(&hub, 0, 3, 2).await;
    let log = Log::default();
    let worker = Worker::start(config(&hub).build().unwrap(), harness::recorder(&log, "c"))
        .await
        .unwrap();
    let end = hub.end_cursor(PROJECT, LOGSTORE, 0).unwrap();
    let committed = || harness::checkpoint(&hub, 0);
    // Auto-commit every 500 ms: within a few intervals of reading it all.
    assert!(
        harness::wait_until(Duration::from_secs(3), || committed() == Some(end)).await,
        "{:?}",
        committed()
    );
    drop(worker);
}

/// Logs whose keys, values, tags, topic and source are GBK, Latin-1,
/// random binary, UTF-8 Chinese and ASCII (some in a 2 MB group) reach the
/// processor byte-exact, in the view and in the owned types.
#[tokio::test(start_paused = true)]
async fn text_that_is_not_utf8_is_delivered_byte_exact() {
    use sls_proto::sample::MessyLogs;

    /// Each group as received: its encoded bytes and its owned form.
    type Received = Arc<Mutex<Vec<(Vec<u8>, LogGroup)>>>;
    struct Collect(Received);
    impl Processor for Collect {
        async fn process(
            &mut self,
            batch: &Batch,
            _: &mut Checkpoint<'_>,
        ) -> Result<Decision, ProcessError> {
            let mut seen = self.0.lock().unwrap();
            for group in &batch.groups {
                seen.push((group.encoded().to_vec(), group.to_message()));
            }
            Ok(Decision::Continue)
        }
    }

    let hub = harness::hub(2).await;
    let mut messy = MessyLogs::new(12);
    let mut written = vec![messy.group_of_size(2 << 20)];
    written.extend((0..20).map(|n| messy.group(5 + n)));
    assert!(
        written
            .iter()
            .flat_map(|g| &g.logs)
            .flat_map(|l| &l.contents)
            .any(|c| std::str::from_utf8(&c.key).is_err()),
        "the data holds keys that are not UTF-8"
    );
    for group in &written {
        hub.client()
            .put_logs(PutLogsRequest::from_group(PROJECT, LOGSTORE, group))
            .await
            .unwrap();
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let collect = seen.clone();
    let worker = Worker::start(config(&hub).build().unwrap(), move |_| {
        Collect(collect.clone())
    })
    .await
    .unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(60), || seen.lock().unwrap().len()
            >= written.len())
        .await
    );
    let report = worker.shutdown().await.unwrap();
    assert!(report.failure().is_none());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), written.len(), "each group once");
    for group in &written {
        let encoded = sls_proto::prost::Message::encode_to_vec(group);
        assert!(
            seen.iter()
                .any(|(bytes, owned)| *bytes == encoded && owned == group),
            "a group did not arrive byte-exact"
        );
    }
}

/// Retention drops data while it is being processed: the commit of the
/// processed position is refused (`InvalidShardCheckPoint`), which is not
/// a reason to stop; the next pull meets the dropped position and resets
/// through the policy. (Found by the chaos run.)
#[tokio::test(start_paused = true)]
async fn retention_dropping_data_being_processed_resets_instead_of_stopping() {
    struct DropWhileProcessing {
        hub: Arc<FakeLogHub>,
        dropped: bool,
        counter: Counter,
    }
    impl Processor for DropWhileProcessing {
        async fn process(
            &mut self,
            batch: &Batch,
            checkpoint: &mut Checkpoint<'_>,
        ) -> Result<Decision, ProcessError> {
            if !self.dropped {
                self.dropped = true;
                self.hub.drop_oldest(PROJECT, LOGSTORE, 0, 3);
                // Past the auto-commit interval: the next commit comes
                // before the next pull.
                tokio::time::sleep(Duration::from_millis(600)).await;
            }
            self.counter.process(batch, checkpoint).await
        }
        async fn on_cursor_reset(&mut self, reset: &CursorReset) {
            self.counter.on_cursor_reset(reset).await;
        }
    }

    let hub = Arc::new(harness::hub(1).await);
    harness::write(&hub, 0, 5, 1).await;
    let counter = Counter::default();
    let (shared, seen) = (hub.clone(), counter.clone());
    let config = config(&hub).max_fetch_groups(1).build().unwrap();
    let worker = Worker::start(config, move |_| DropWhileProcessing {
        hub: shared.clone(),
        dropped: false,
        counter: seen.clone(),
    })
    .await
    .unwrap();
    let end = hub.end_cursor(PROJECT, LOGSTORE, 0).unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(30), || worker
            .metrics()
            .shards
            .first()
            .is_some_and(|m| m.committed == Some(end)))
        .await,
        "{:?}",
        worker.metrics()
    );
    let refused_commits = hub
        .requests()
        .iter()
        .filter(|r| r.call == Some(CallKind::UpdateCheckpoint) && r.status == Some(400))
        .count();
    let report = worker.shutdown().await.unwrap();
    assert!(report.failure().is_none(), "{:?}", report.failure());
    assert!(
        refused_commits >= 1,
        "the commit into dropped data was tried"
    );
    let resets = counter.resets.lock().unwrap().clone();
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(report.shards[&0].committed, Some(end));
}

/// A shutdown keeps heartbeating while its shards finish, so the service
/// gives a shard to no one else while it commits (the chaos run's SQLite
/// sink mode once found a drain that outlived its lease). One that does not
/// finish is abandoned at the shutdown timeout, uncommitted, as a loss.
#[tokio::test(start_paused = true)]
async fn a_shutdown_keeps_the_lease_until_the_shutdown_timeout() {
    let hub = harness::hub(1).await;
    harness::write(&hub, 0, 1, 1).await;
    let config = config(&hub)
        .shutdown_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let worker = Worker::start(config, |_| Stuck).await.unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(10), || worker
            .metrics()
            .shards
            .first()
            .is_some_and(|m| m.processing_for.is_some()))
        .await
    );
    let began = tokio::time::Instant::now();
    let shutdown = tokio::spawn(worker.shutdown());
    // Past the group's timeout (3 s) and well into the drain, the shard is
    // still ours on the service.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(harness::owners(&hub)[&0].as_deref(), Some("c"));
    let report = shutdown.await.unwrap().unwrap();
    let took = began.elapsed();
    // The shutdown timeout (30 s), plus the grace the abandoned tasks get.
    assert!(took >= Duration::from_secs(30), "shutdown took {took:?}");
    assert!(took <= Duration::from_secs(32), "shutdown took {took:?}");
    assert!(matches!(
        report.shards[&0].last_exit,
        Some(sls_consumer::ShardExit::Lost)
    ));
}
