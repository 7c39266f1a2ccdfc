//! The lease at every timeout ratio a group can be given: at 2 heartbeat
//! intervals (the official Python consumer's default,
//! `consumer_group_time_out = heartbeat_interval * 2`, which any Python
//! member writes into the group when it starts), when another member
//! lowers the group's timeout while we hold shards, and through heartbeat
//! blips shorter than the lease.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sls_consumer::{
    Batch, Checkpoint, ConsumerConfig, Decision, ProcessError, Processor, StartPosition, Worker,
};

use crate::harness::{self, GROUP, LOGSTORE, Log, PROJECT};

/// Records every log id and counts lost shards.
struct Counting {
    log: Log,
    consumer: String,
    lost: Arc<AtomicU64>,
}

impl Processor for Counting {
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        self.log.record(&self.consumer, batch);
        Ok(Decision::Continue)
    }

    async fn on_lost(&mut self, _: u32) {
        self.lost.fetch_add(1, Ordering::Relaxed);
    }
}

fn config(
    hub: &sls_testkit::FakeLogHub,
    consumer: &str,
    interval: Duration,
    timeout: Duration,
) -> ConsumerConfig {
    ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, consumer)
        .client(hub.client())
        .start_position(StartPosition::Begin)
        .heartbeat_interval(interval)
        .heartbeat_timeout(timeout)
        .fetch_interval(Duration::from_millis(100))
        .auto_commit_interval(Some(Duration::from_millis(500)))
        .build()
        .unwrap()
}

async fn start(
    hub: &sls_testkit::FakeLogHub,
    log: &Log,
    consumer: &str,
    interval: Duration,
    timeout: Duration,
) -> (Worker, Arc<AtomicU64>) {
    let lost = Arc::new(AtomicU64::new(0));
    let (log, name, counter) = (log.clone(), consumer.to_owned(), lost.clone());
    let worker = Worker::start(config(hub, consumer, interval, timeout), move |_shard| {
        Counting {
            log: log.clone(),
            consumer: name.clone(),
            lost: counter.clone(),
        }
    })
    .await
    .unwrap();
    (worker, lost)
}

/// Writes 500 logs a second (10 groups of 5 every 100 ms, round robin over
/// the shards) for `seconds`; returns how many.
async fn write_steadily(hub: &sls_testkit::FakeLogHub, seconds: u64) -> u64 {
    let mut next = 0;
    for _ in 0..seconds * 10 {
        next = harness::write(hub, next, 10, 5).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    next
}

fn repeats(log: &Log) -> usize {
    log.counts().values().map(|n| n - 1).sum()
}

/// The reproduction from the issue: one consumer, 1 s heartbeats, a 2 s
/// group timeout, 4 shards, 500 logs/s for 12 s. Before the fix, 24 lease
/// expiries and 3,450 of 6,000 logs delivered twice.
#[tokio::test(start_paused = true)]
async fn a_timeout_of_two_intervals_holds_the_lease() {
    let hub = harness::hub(4).await;
    let log = Log::default();
    let second = Duration::from_secs(1);
    let (worker, lost) = start(&hub, &log, "c1", second, 2 * second).await;
    let total = write_steadily(&hub, 12).await;
    assert!(
        harness::wait_until(Duration::from_secs(30), || log.len() >= total as usize).await,
        "{} of {total}",
        log.len()
    );
    let report = worker.shutdown().await.unwrap();
    assert_eq!(lost.load(Ordering::Relaxed), 0, "shards lost to the lease");
    assert_eq!(repeats(&log), 0, "logs delivered more than once");
    assert_eq!(log.counts().len() as u64, total);
    assert_eq!(report.logs(), total);
}

/// Another member (a Python consumer with 4 s heartbeats starting, say)
/// lowers the group's timeout from 36 s to 8 s, just after one of our
/// heartbeats, while we hold every shard with 12 s heartbeats. Were the
/// worker to keep its own figures, the service would drop it before its
/// next heartbeat and hand the shards round again, every interval; it
/// reads the group's timeout every 5 s, follows it, heartbeats every 4 s,
/// and loses nothing.
#[tokio::test(start_paused = true)]
async fn a_timeout_lowered_by_another_member_is_followed() {
    let hub = harness::hub(4).await;
    let log = Log::default();
    let second = Duration::from_secs(1);
    let (worker, lost) = start(&hub, &log, "c1", 12 * second, 36 * second).await;
    let writer = tokio::spawn({
        let client = hub.client();
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            client
                .update_consumer_group(PROJECT, LOGSTORE, GROUP, Some(8), None)
                .await
                .unwrap();
        }
    });
    let total = write_steadily(&hub, 30).await;
    writer.await.unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(30), || log.len() >= total as usize).await,
        "{} of {total}",
        log.len()
    );
    // The service never dropped the worker: it still owns every shard.
    assert!(
        harness::owners(&hub)
            .values()
            .all(|o| o.as_deref() == Some("c1"))
    );
    worker.shutdown().await.unwrap();
    assert_eq!(lost.load(Ordering::Relaxed), 0, "shards lost");
    assert_eq!(repeats(&log), 0, "logs delivered more than once");
    assert_eq!(log.counts().len() as u64, total);
}

/// A mixed group: members with timeouts of 2, 4 and 3 intervals join one
/// after another, each raising the group's timeout to its own as it
/// starts (never lowering it), and leave cleanly in turn. Every member
/// follows the timeout in force; the hand-offs are clean, so nothing is
/// delivered twice.
#[tokio::test(start_paused = true)]
async fn members_with_different_timeouts_share_a_group_cleanly() {
    let hub = harness::hub(4).await;
    let log = Log::default();
    let second = Duration::from_secs(1);
    let (a, lost_a) = start(&hub, &log, "a", second, 2 * second).await;
    let writer = tokio::spawn({
        let hub_client = hub.client();
        async move {
            let mut next = 0;
            for _ in 0..200 {
                let mut builder = sls_proto::LogGroup::builder();
                for _ in 0..5 {
                    builder = builder.log(1_700_000_000, [("id", next.to_string())]);
                    next += 1;
                }
                let request =
                    sls_client::PutLogsRequest::from_group(PROJECT, LOGSTORE, &builder.build());
                hub_client.put_logs(request).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            next
        }
    });
    tokio::time::sleep(4 * second).await;
    let (b, lost_b) = start(&hub, &log, "b", second, 4 * second).await;
    tokio::time::sleep(4 * second).await;
    let (c, lost_c) = start(&hub, &log, "c", 2 * second, 6 * second).await;
    tokio::time::sleep(4 * second).await;
    b.shutdown().await.unwrap();
    tokio::time::sleep(4 * second).await;
    let total = writer.await.unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(30), || log.len() >= total as usize).await,
        "{} of {total}",
        log.len()
    );
    a.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
    for (name, lost) in [("a", lost_a), ("b", lost_b), ("c", lost_c)] {
        assert_eq!(lost.load(Ordering::Relaxed), 0, "{name} lost shards");
    }
    assert_eq!(repeats(&log), 0, "logs delivered more than once");
    assert_eq!(log.counts().len() as u64, total);
}

/// A service that answers 500 to everything: the lease runs out and every
/// shard stops at its end, not behind retries the worker cannot see (the
/// client's own retries are off for the worker's calls), and before the
/// service could give a shard to anyone else.
#[tokio::test(start_paused = true)]
async fn an_outage_stops_every_shard_when_the_lease_ends() {
    use sls_testkit::{Fault, FaultPlan, FaultRule};
    let hub = harness::hub(4).await;
    harness::write(&hub, 0, 8, 5).await;
    let second = Duration::from_secs(1);
    let rounds = [
        ("c1", second, 2 * second),
        ("c2", second, 3 * second),
        ("c3", 2 * second, 9 * second),
    ];
    for (name, interval, timeout) in rounds {
        let stops = Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = stops.clone();
        let worker = Worker::start(config(&hub, name, interval, timeout), move |_shard| {
            StopClock(recorded.clone())
        })
        .await
        .unwrap();
        assert!(
            harness::wait_until(10 * second, || harness::owners(&hub)
                .values()
                .all(|o| o.as_deref() == Some(name)))
            .await
        );
        let outage = tokio::time::Instant::now();
        hub.set_faults(
            FaultPlan::new().rule(FaultRule::new(Fault::error(500, "InternalServerError"))),
        );
        assert!(harness::wait_until(2 * timeout, || stops.lock().unwrap().len() == 4).await);
        let last = stops.lock().unwrap().iter().copied().max().unwrap();
        // The last answered heartbeat went out before the outage, so the
        // service cannot reassign before outage + timeout; every shard
        // stopped before that, a quarter interval early at the latest.
        let took = last - outage;
        assert!(
            took < timeout - interval / 4 + Duration::from_millis(1),
            "{interval:?}/{timeout:?}: {took:?}"
        );
        eprintln!(
            "interval {interval:?}, timeout {timeout:?}: outage to every shard stopped {took:?}"
        );
        hub.set_faults(FaultPlan::new());
        drop(worker);
        // Let the service forget the crashed worker before the next round.
        tokio::time::sleep(2 * timeout).await;
    }
}

/// Records when each shard was lost.
struct StopClock(Arc<std::sync::Mutex<Vec<tokio::time::Instant>>>);

impl Processor for StopClock {
    async fn process(
        &mut self,
        _: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        Ok(Decision::Continue)
    }

    async fn on_lost(&mut self, _: u32) {
        self.0.lock().unwrap().push(tokio::time::Instant::now());
    }
}
