//! Partitions, zombies, rollbacks, failing processors, splits and faulty
//! pulls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_client::retry::{Backoff, RetryPolicy};
use sls_consumer::{
    AfterRetries, Batch, Checkpoint, ConsumerConfig, Decision, ErrorPolicy, ProcessError,
    Processor, StartPosition, Worker,
};
use sls_proto::{ByteSlice, Cursor};
use sls_testkit::{CallKind, Fault, FaultPlan, FaultRule};

use crate::harness::{self, GROUP, INTERVAL, LOGSTORE, Log, PROJECT, Seen};

/// One processed log: when (virtual time), by whom, which shard, which id.
type Event = (tokio::time::Instant, String, u32, u64);

/// Records ids with the virtual time they were processed at.
#[derive(Clone, Default)]
struct Timeline(Arc<Mutex<Vec<Event>>>);

fn ids(batch: &Batch) -> Vec<u64> {
    batch
        .groups
        .groups()
        .flat_map(|g| {
            g.logs()
                .map(|l| {
                    l.get("id")
                        .and_then(|v| v.to_str().ok()?.parse().ok())
                        .unwrap_or(u64::MAX)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

struct Timed {
    name: String,
    timeline: Timeline,
    lost: Arc<Mutex<Vec<u32>>>,
}

impl Processor for Timed {
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        let now = tokio::time::Instant::now();
        let mut t = self.timeline.0.lock().unwrap();
        for id in ids(batch) {
            t.push((now, self.name.clone(), batch.shard, id));
        }
        Ok(Decision::Continue)
    }

    async fn on_lost(&mut self, shard: u32) {
        self.lost.lock().unwrap().push(shard);
    }
}

fn timed(
    name: &str,
    timeline: &Timeline,
    lost: &Arc<Mutex<Vec<u32>>>,
) -> impl Fn(u32) -> Timed + Send + Sync + 'static {
    let (name, timeline, lost) = (name.to_owned(), timeline.clone(), lost.clone());
    move |_| Timed {
        name: name.clone(),
        timeline: timeline.clone(),
        lost: lost.clone(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_partitioned_consumer_stops_before_its_shards_move() {
    let hub = harness::hub(4).await;
    let mut next = harness::write(&hub, 0, 20, 5).await;
    let timeline = Timeline::default();
    let lost = Arc::new(Mutex::new(Vec::new()));
    let a = Worker::start(
        harness::config(&hub, "a", StartPosition::Begin),
        timed("a", &timeline, &lost),
    )
    .await
    .unwrap();
    let b = Worker::start(
        harness::config(&hub, "b", StartPosition::Begin),
        timed("b", &timeline, &Arc::default()),
    )
    .await
    .unwrap();
    tokio::time::sleep(INTERVAL * 6).await;
    // Cut a off: every heartbeat of a fails, while data keeps coming.
    hub.set_faults(
        FaultPlan::new().rule(
            FaultRule::new(Fault::error(503, "ServerBusy"))
                .call(CallKind::Heartbeat)
                .consumer("a"),
        ),
    );
    for _ in 0..10 {
        next = harness::write(&hub, next, 2, 5).await;
        tokio::time::sleep(INTERVAL).await;
    }
    assert!(
        harness::wait_until(Duration::from_secs(30), || {
            let t = timeline.0.lock().unwrap();
            let seen: std::collections::BTreeSet<u64> = t.iter().map(|e| e.3).collect();
            seen.len() as u64 >= next
        })
        .await
    );
    assert!(
        !lost.lock().unwrap().is_empty(),
        "a noticed it lost its shards"
    );
    // For every shard, a's last processing precedes b's first after a was
    // cut off: never both at once.
    let t = timeline.0.lock().unwrap().clone();
    let mut by_shard: BTreeMap<u32, Vec<(tokio::time::Instant, String)>> = BTreeMap::new();
    for (at, who, shard, _) in t {
        by_shard.entry(shard).or_default().push((at, who));
    }
    for (shard, events) in by_shard {
        let mut last_owner = String::new();
        let mut switches = 0;
        for (_, who) in &events {
            if *who != last_owner {
                switches += 1;
                last_owner = who.clone();
            }
        }
        assert!(
            switches <= 2,
            "shard {shard} switched owners {switches} times: interleaved processing"
        );
    }
    drop(a);
    b.shutdown().await.unwrap();
}

/// When each consumer got and lost each shard.
type Holds = Arc<Mutex<Vec<(tokio::time::Instant, &'static str, u32, bool)>>>;

struct HoldRecorder {
    name: &'static str,
    holds: Holds,
}

impl Processor for HoldRecorder {
    async fn process(
        &mut self,
        _: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        Ok(Decision::Continue)
    }

    async fn on_assigned(&mut self, shard: u32) {
        let now = tokio::time::Instant::now();
        self.holds
            .lock()
            .unwrap()
            .push((now, self.name, shard, true));
    }

    async fn on_lost(&mut self, shard: u32) {
        let now = tokio::time::Instant::now();
        self.holds
            .lock()
            .unwrap()
            .push((now, self.name, shard, false));
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_heartbeat_does_not_stretch_the_lease() {
    // Found by the chaos run: the lease was checked only between
    // heartbeats, so a heartbeat call stuck in retries let a consumer hold
    // its shards after the service had given them to another.
    let hub = harness::hub(2).await;
    harness::write(&hub, 0, 4, 5).await;
    let holds = Holds::default();
    let start = |name: &'static str| {
        let holds = holds.clone();
        // No auto-commit: a refused commit would reveal the loss on its own.
        let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, name)
            .client(hub.client())
            .heartbeat_interval(INTERVAL)
            .auto_commit_interval(None)
            .build()
            .unwrap();
        Worker::start(config, move |_| HoldRecorder {
            name,
            holds: holds.clone(),
        })
    };
    let a = start("a").await.unwrap();
    let b = start("b").await.unwrap();
    tokio::time::sleep(INTERVAL * 6).await;
    // a's heartbeats now hang until the client's attempt timeout (60 s).
    hub.set_faults(
        FaultPlan::new().rule(
            FaultRule::new(Fault::Hang)
                .call(CallKind::Heartbeat)
                .consumer("a"),
        ),
    );
    let cut = tokio::time::Instant::now();
    tokio::time::sleep(INTERVAL * 10).await;
    let holds = holds.lock().unwrap().clone();
    let lost: Vec<_> = holds.iter().filter(|h| h.1 == "a" && !h.3).collect();
    assert!(!lost.is_empty(), "a let its shards go: {holds:?}");
    for &(lost_at, _, shard, _) in lost {
        // Within the lease (timeout 3 s less one interval) of the cut.
        assert!(
            lost_at - cut <= INTERVAL * 2,
            "a held shard {shard} {:?}",
            lost_at - cut
        );
        let taken = holds
            .iter()
            .find(|h| h.1 == "b" && h.2 == shard && h.3 && h.0 > cut)
            .expect("b took the shard");
        assert!(
            lost_at <= taken.0,
            "shard {shard}: b got it before a let go"
        );
    }
    drop(a);
    b.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_zombies_late_commit_is_refused_and_reported_as_lost() {
    let hub = harness::hub(1).await;
    harness::write(&hub, 0, 4, 5).await;
    let lost = Arc::new(Mutex::new(Vec::new()));
    // a believes in a 60 s lease; another member (an official consumer:
    // ours only ever raise it) then sets the group's timeout to 3 s.
    let zombie_config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "a")
        .client(hub.client())
        .heartbeat_interval(INTERVAL)
        .heartbeat_timeout(Duration::from_secs(60))
        .fetch_interval(Duration::from_millis(100))
        .auto_commit_interval(Some(Duration::from_millis(500)))
        .build()
        .unwrap();
    let timeline = Timeline::default();
    let a = Worker::start(zombie_config, timed("a", &timeline, &lost))
        .await
        .unwrap();
    tokio::time::sleep(INTERVAL * 3).await;
    hub.client()
        .update_consumer_group(PROJECT, LOGSTORE, GROUP, Some(3), None)
        .await
        .unwrap();
    let log = Log::default();
    let b = harness::start(&hub, &log, "b", StartPosition::Begin).await;
    // a's heartbeats fail, and so does every read of the group (which
    // would tell a of the 3 s timeout, and a would then give the shard up
    // in time): a is a zombie, as a paused process would be.
    hub.set_faults(
        FaultPlan::new()
            .rule(
                FaultRule::new(Fault::error(503, "ServerBusy"))
                    .call(CallKind::Heartbeat)
                    .consumer("a"),
            )
            .rule(
                FaultRule::new(Fault::error(503, "ServerBusy")).call(CallKind::ListConsumerGroups),
            ),
    );
    // The service drops a after 3 s; b owns the shard; a keeps reading new
    // data and its next commit is refused.
    harness::wait_until(INTERVAL * 6, || {
        harness::owners(&hub)
            .values()
            .all(|o| o.as_deref() == Some("b"))
    })
    .await;
    harness::write(&hub, 100, 2, 5).await;
    assert!(
        harness::wait_until(Duration::from_secs(20), || !lost.lock().unwrap().is_empty()).await,
        "a was told it lost the shard"
    );
    let refused = hub
        .requests()
        .iter()
        .filter(|r| {
            r.call == Some(CallKind::UpdateCheckpoint)
                && r.consumer.as_deref() == Some("a")
                && r.status != Some(200)
        })
        .count();
    assert!(refused >= 1, "a's late commit was refused");
    drop(a);
    b.shutdown().await.unwrap();
}

/// Rolls back once, after its third batch, to its first batch's cursor.
struct RollsBack {
    log: Log,
    first: Option<Cursor>,
    batches: u32,
}

impl Processor for RollsBack {
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        self.first.get_or_insert(batch.cursor);
        self.batches += 1;
        let mut seen = self.log.0.lock().unwrap();
        for id in ids(batch) {
            seen.push(Seen {
                consumer: "r".into(),
                shard: batch.shard,
                id,
            });
        }
        Ok(if self.batches == 3 {
            Decision::RollBack(self.first.unwrap())
        } else {
            Decision::Continue
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_rollback_redelivers_from_its_cursor() {
    let hub = harness::hub(1).await;
    let total = harness::write(&hub, 0, 20, 2).await;
    let log = Log::default();
    let processor_log = log.clone();
    let worker = Worker::start(
        harness::config(&hub, "r", StartPosition::Begin),
        move |_| RollsBack {
            log: processor_log.clone(),
            first: None,
            batches: 0,
        },
    )
    .await
    .unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(30), || log.counts().len() as u64
            >= total)
        .await
    );
    tokio::time::sleep(INTERVAL * 2).await;
    worker.shutdown().await.unwrap();
    let counts = log.counts();
    // Batches of 5 groups x 2 logs: the first three batches (30 logs) were
    // delivered twice, the rest once.
    let twice: Vec<u64> = counts
        .iter()
        .filter(|(_, n)| **n == 2)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(twice, (0..30).collect::<Vec<_>>());
    assert!(counts.values().all(|&n| n <= 2));
}

/// Fails every batch `failures` times before succeeding (or always).
struct Flaky {
    log: Log,
    failures: u32,
    tries: BTreeMap<Cursor, u32>,
}

impl Processor for Flaky {
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        let tries = self.tries.entry(batch.cursor).or_default();
        *tries += 1;
        if *tries <= self.failures {
            return Err("downstream unavailable".into());
        }
        let mut seen = self.log.0.lock().unwrap();
        for id in ids(batch) {
            seen.push(Seen {
                consumer: "f".into(),
                shard: batch.shard,
                id,
            });
        }
        Ok(Decision::Continue)
    }
}

#[tokio::test(start_paused = true)]
async fn failing_batches_follow_the_error_policy() {
    let hub = harness::hub(1).await;
    let total = harness::write(&hub, 0, 6, 2).await;
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).without_jitter();

    // Two failures per batch, three retries allowed: everything once.
    let log = Log::default();
    let l = log.clone();
    let policy = ErrorPolicy::new(3, backoff.clone(), AfterRetries::Stop);
    let config = harness::builder(&hub, "f1", StartPosition::Begin)
        .error_policy(policy)
        .build()
        .unwrap();
    let worker = Worker::start(config, move |_| Flaky {
        log: l.clone(),
        failures: 2,
        tries: BTreeMap::new(),
    })
    .await
    .unwrap();
    assert!(harness::wait_until(Duration::from_secs(30), || log.len() as u64 >= total).await);
    let report = worker.shutdown().await.unwrap();
    assert!(report.failure().is_none());
    assert!(log.counts().values().all(|&n| n == 1));

    // Always failing with Stop: the worker stops and reports the error.
    let hub = harness::hub(1).await;
    harness::write(&hub, 0, 2, 2).await;
    let policy = ErrorPolicy::new(2, backoff, AfterRetries::Stop);
    let l = Log::default();
    let config = harness::builder(&hub, "f2", StartPosition::Begin)
        .error_policy(policy)
        .build()
        .unwrap();
    let worker = Worker::start(config, move |_| Flaky {
        log: l.clone(),
        failures: u32::MAX,
        tries: BTreeMap::new(),
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let failure = worker.shutdown().await.expect_err("the policy stops it");
    assert!(
        matches!(failure, sls_consumer::ConsumerError::Processor { .. }),
        "{failure:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_split_mid_stream_drains_the_parent_and_reads_the_children() {
    let hub = harness::hub(1).await;
    let mut next = harness::write(&hub, 0, 10, 5).await;
    let log = Log::default();
    let worker = harness::start(&hub, &log, "c", StartPosition::Begin).await;
    tokio::time::sleep(INTERVAL).await;
    hub.client()
        .split_shard(PROJECT, LOGSTORE, 0, "80000000000000000000000000000000")
        .await
        .unwrap();
    next = harness::write(&hub, next, 10, 5).await;
    assert!(
        harness::wait_until(Duration::from_secs(60), || log.counts().len() as u64
            >= next)
        .await,
        "{} of {next}",
        log.counts().len()
    );
    tokio::time::sleep(INTERVAL * 3).await;
    let states = hub.group_assignments(PROJECT, LOGSTORE, GROUP).unwrap();
    assert_eq!(states[0].state, sls_testkit::ShardState::Over, "{states:?}");
    assert_eq!(states[0].checkpoint, hub.end_cursor(PROJECT, LOGSTORE, 0));
    worker.shutdown().await.unwrap();
    assert!(log.counts().values().all(|&n| n == 1));
}

#[tokio::test(start_paused = true)]
async fn faulty_pulls_lose_and_duplicate_nothing() {
    let hub = harness::hub(4).await;
    let total = harness::write(&hub, 0, 60, 5).await;
    hub.set_faults(
        FaultPlan::new()
            .rule(
                FaultRule::new(Fault::error(503, "ServerBusy"))
                    .call(CallKind::PullLogs)
                    .probability(0.04, 1),
            )
            .rule(FaultRule::new(Fault::Throttle { per_second: 20 }).call(CallKind::PullLogs))
            .rule(
                FaultRule::new(Fault::Reset)
                    .call(CallKind::PullLogs)
                    .probability(0.03, 2),
            )
            .rule(
                FaultRule::new(Fault::Hang)
                    .call(CallKind::PullLogs)
                    .probability(0.03, 3),
            ),
    );
    let client = hub
        .client_builder()
        .attempt_timeout(Duration::from_secs(2))
        .retry_policy(RetryPolicy::new().budget(None))
        .build()
        .unwrap();
    let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "c")
        .client(client)
        .heartbeat_interval(INTERVAL * 5)
        .fetch_interval(Duration::from_millis(100))
        .max_fetch_groups(3)
        .build()
        .unwrap();
    let log = Log::default();
    let worker = Worker::start(config, harness::recorder(&log, "c"))
        .await
        .unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(600), || log.counts().len() as u64
            >= total)
        .await,
        "{} of {total}",
        log.counts().len()
    );
    let faults = hub.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(faults > 5, "the plan fired ({faults})");
    worker.shutdown().await.unwrap();
    assert!(
        log.counts().values().all(|&n| n == 1),
        "a retried pull duplicated logs"
    );
}

#[tokio::test(start_paused = true)]
async fn a_deleted_group_stops_the_worker_with_the_error_when_asked() {
    let hub = harness::hub(2).await;
    harness::write(&hub, 0, 4, 2).await;
    let log = Log::default();
    let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "c")
        .client(hub.client())
        .heartbeat_interval(INTERVAL)
        .on_group_deleted(sls_consumer::OnGroupDeleted::Stop)
        .build()
        .unwrap();
    let mut worker = Worker::start(config, harness::recorder(&log, "c"))
        .await
        .unwrap();
    tokio::time::sleep(INTERVAL * 2).await;
    hub.client()
        .delete_consumer_group(PROJECT, LOGSTORE, GROUP)
        .await
        .unwrap();
    tokio::time::timeout(INTERVAL * 5, worker.stopped())
        .await
        .expect("the worker stopped by itself");
    // Everything but shutdown stays callable on a stopped worker, and
    // nothing waits for a worker that will never run again.
    tokio::time::timeout(Duration::from_millis(1), async {
        worker.stopped().await;
        worker.replay_finished().await;
    })
    .await
    .expect("a stopped worker answers at once");
    assert_eq!(worker.metrics().memory.buffered, 0);
    assert_eq!(worker.memory().buffered, 0);
    let failure = worker.shutdown().await.expect_err("the error is reported");
    assert!(
        failure.to_string().contains("ConsumerGroupNotExist"),
        "{failure}"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_completes_when_the_service_is_gone() {
    let hub = harness::hub(2).await;
    let total = harness::write(&hub, 0, 4, 2).await;
    let log = Log::default();
    let worker = harness::start(&hub, &log, "c", StartPosition::Begin).await;
    for _ in 0..100 {
        if log.len() as u64 >= total {
            break;
        }
        tokio::time::sleep(INTERVAL / 10).await;
    }
    let client = hub.client();
    hub.shutdown().await;
    // Calls on a stopped server fail at once, typed, and are known unsent.
    let err = client.list_shards(PROJECT, LOGSTORE).await.unwrap_err();
    assert_eq!(err.request_sent(), sls_client::Sent::No, "{err}");
    // The worker's last commits and farewell heartbeats fail, but shutdown
    // still ends (within its timeout) and says what it processed.
    let report = tokio::time::timeout(Duration::from_secs(60), worker.shutdown())
        .await
        .expect("shutdown did not hang")
        .unwrap();
    assert_eq!(report.logs(), total);
}

#[tokio::test(start_paused = true)]
async fn shutdown_on_a_signal() {
    let hub = harness::hub(1).await;
    let total = harness::write(&hub, 0, 3, 2).await;
    let log = Log::default();
    let worker = harness::start(&hub, &log, "c", StartPosition::Begin).await;
    let report = worker
        .shutdown_on(tokio::time::sleep(INTERVAL * 3))
        .await
        .unwrap();
    assert_eq!(report.logs(), total);
    assert!(report.failure().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_deleted_group_is_recreated_and_consumption_goes_on() {
    let hub = harness::hub(2).await;
    let next = harness::write(&hub, 0, 4, 2).await;
    let log = Log::default();
    let worker = harness::start(&hub, &log, "c", StartPosition::Begin).await;
    assert!(harness::wait_until(Duration::from_secs(10), || log.len() as u64 >= next).await);
    hub.client()
        .delete_consumer_group(PROJECT, LOGSTORE, GROUP)
        .await
        .unwrap();
    let rejoined = harness::wait_until(INTERVAL * 3, || {
        hub.group_consumers(PROJECT, LOGSTORE, GROUP)
            .is_some_and(|c| c == ["c"])
    })
    .await;
    assert!(
        rejoined,
        "the group was created again and the worker rejoined"
    );
    let total = harness::write(&hub, next, 4, 2).await;
    let done = harness::wait_until(Duration::from_secs(20), || {
        log.counts().len() as u64 >= total
    })
    .await;
    assert!(done, "{} of {total}", log.counts().len());
    tokio::time::sleep(INTERVAL * 2).await;
    let report = worker.shutdown().await.unwrap();
    assert!(report.failure().is_none());
    // Commits land in the new group.
    let checkpoints = hub
        .client()
        .get_checkpoints(PROJECT, LOGSTORE, GROUP, None)
        .await
        .unwrap();
    for c in checkpoints {
        assert_eq!(
            c.cursor,
            hub.end_cursor(PROJECT, LOGSTORE, c.shard),
            "shard {}",
            c.shard
        );
    }
}

/// Runs a worker with `filter` on a one-shard hub holding ids 0..6 (three
/// groups of two) until it has committed the shard's end; returns the ids
/// it was given and the hub.
async fn consume_filtered(
    hub: sls_testkit::FakeLogHub,
    filter: impl FnOnce(sls_consumer::ConsumerConfigBuilder) -> sls_consumer::ConsumerConfigBuilder,
) -> (Vec<u64>, sls_testkit::FakeLogHub) {
    let total = harness::write(&hub, 0, 3, 2).await;
    assert_eq!(total, 6);
    let config = filter(
        ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "q")
            .client(hub.client())
            .heartbeat_interval(INTERVAL)
            .auto_commit_interval(Some(Duration::from_millis(500))),
    )
    .build()
    .unwrap();
    let log = Log::default();
    let worker = Worker::start(config, harness::recorder(&log, "q"))
        .await
        .unwrap();
    let end = hub.end_cursor(PROJECT, LOGSTORE, 0);
    let client = hub.client();
    // Done when the checkpoint reaches the end: filtered-out groups are
    // passed over, not waited for.
    let mut committed = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let checkpoints = client
            .get_checkpoints(PROJECT, LOGSTORE, GROUP, Some(0))
            .await
            .unwrap();
        if checkpoints.first().and_then(|c| c.cursor) == end {
            committed = true;
            break;
        }
    }
    assert!(committed, "the checkpoint reached the end");
    worker.shutdown().await.unwrap();
    let ids = log.all().into_iter().map(|seen| seen.id).collect();
    (ids, hub)
}

#[tokio::test(start_paused = true)]
async fn a_query_consumer_gets_only_matching_logs() {
    let hub = harness::hub(1).await;
    let (ids, hub) =
        consume_filtered(hub, |config| config.query("* | where id >= 3 and id != 4")).await;
    assert_eq!(ids, [3, 5]);
    let pulls: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.call == Some(CallKind::PullLogs))
        .collect();
    assert!(!pulls.is_empty());
    assert!(
        pulls.iter().all(
            |r| r.query.as_deref() == Some("* | where id >= 3 and id != 4")
                && r.processor.is_none()
        ),
        "every pull carried the query"
    );
}

#[tokio::test(start_paused = true)]
async fn a_processor_consumer_gets_only_what_the_processor_keeps() {
    let hub = sls_testkit::FakeLogHub::builder()
        .logstore(PROJECT, LOGSTORE, 1)
        .consume_processor(
            PROJECT,
            "odd",
            "* | where id like '%1' or id like '%3' or id like '%5'",
        )
        .start()
        .await
        .unwrap();
    let (ids, hub) = consume_filtered(hub, |config| config.processor("odd")).await;
    assert_eq!(ids, [1, 3, 5]);
    let pulls: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.call == Some(CallKind::PullLogs))
        .collect();
    assert!(
        pulls
            .iter()
            .all(|r| r.processor.as_deref() == Some("odd") && r.query.is_none()),
        "every pull named the processor"
    );
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_outage_longer_than_the_timeout_recovers() {
    let hub = harness::hub(2).await;
    let mut next = harness::write(&hub, 0, 6, 5).await;
    let log = Log::default();
    let worker = harness::start(&hub, &log, "c", StartPosition::Begin).await;
    assert!(harness::wait_until(Duration::from_secs(10), || log.len() as u64 >= next).await);
    // Heartbeats fail for 5 intervals (the timeout is 3).
    hub.set_faults(FaultPlan::new().rule(FaultRule::new(Fault::Reset).call(CallKind::Heartbeat)));
    next = harness::write(&hub, next, 6, 5).await;
    tokio::time::sleep(INTERVAL * 5).await;
    hub.set_faults(FaultPlan::new());
    next = harness::write(&hub, next, 6, 5).await;
    let all = harness::wait_until(Duration::from_secs(30), || {
        log.counts().len() as u64 >= next
    })
    .await;
    assert!(all, "{} of {next}", log.counts().len());
    assert!(
        harness::wait_until(INTERVAL * 3, || harness::owners(&hub)
            .values()
            .all(|o| o.as_deref() == Some("c")))
        .await,
        "it holds its shards again"
    );
    worker.shutdown().await.unwrap();
}
