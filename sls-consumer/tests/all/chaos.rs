//! A seeded chaos run: consumers start, stop cleanly, crash and are cut off
//! from the service while shards split and pulls and heartbeats fail; a
//! checker then verifies the whole history. A handful of seeds run in CI;
//! `cargo xtask chaos --seeds 1000` (or `SLS_CHAOS_SEEDS=1000 cargo test -p
//! sls-consumer --test all chaos_many -- --ignored`)
//! runs more. A failing seed is printed and replays exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_client::PutLogsRequest;
use sls_consumer::{
    Batch, Checkpoint, ConsumerConfig, Decision, ProcessError, Processor, StartPosition, Worker,
};
use sls_proto::{Cursor, LogGroup};
use sls_testkit::{CallKind, FakeLogHub, Fault, FaultPlan, FaultRule};

use crate::harness::{GROUP, INTERVAL, LOGSTORE, PROJECT};

const KEYS: u32 = 6;
const SLOTS: usize = 3;

/// (consumer, shard, key, sequence), in processing order.
type History = Arc<Mutex<Vec<(usize, u32, u32, u64)>>>;

struct Recorder {
    slot: usize,
    history: History,
}

impl Processor for Recorder {
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut history = self.history.lock().unwrap();
        for group in &batch.groups {
            for log in group.logs() {
                let key = log
                    .get("key")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(u32::MAX);
                let seq = log
                    .get("seq")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(u64::MAX);
                history.push((self.slot, batch.shard, key, seq));
            }
        }
        Ok(Decision::Continue)
    }
}

fn hash_key(key: u32) -> String {
    format!("{:02x}{}", key * 40 + 3, "0".repeat(30))
}

fn faults(seed: u64, cut_off: &BTreeSet<usize>) -> FaultPlan {
    let mut plan = FaultPlan::new()
        .rule(
            FaultRule::new(Fault::error(503, "ServerBusy"))
                .call(CallKind::PullLogs)
                .probability(0.05, seed),
        )
        .rule(
            FaultRule::new(Fault::Reset)
                .call(CallKind::PullLogs)
                .probability(0.02, seed + 1),
        )
        .rule(
            FaultRule::new(Fault::error(503, "ServerBusy"))
                .call(CallKind::Heartbeat)
                .probability(0.05, seed + 2),
        )
        .rule(
            FaultRule::new(Fault::error(500, "InternalServerError"))
                .call(CallKind::UpdateCheckpoint)
                .probability(0.03, seed + 3),
        );
    for slot in cut_off {
        plan = plan.rule(
            FaultRule::new(Fault::Reset)
                .call(CallKind::Heartbeat)
                .consumer(format!("c{slot}")),
        );
    }
    plan
}

async fn start(hub: &FakeLogHub, slot: usize, history: &History) -> Worker {
    let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, format!("c{slot}"))
        .client(hub.client())
        .start_position(StartPosition::Begin)
        .heartbeat_interval(INTERVAL)
        .fetch_interval(Duration::from_millis(100))
        .max_fetch_groups(3)
        .auto_commit_interval(Some(Duration::from_millis(500)))
        .ordered(true)
        .build()
        .unwrap();
    let history = history.clone();
    Worker::start(config, move |_| Recorder {
        slot,
        history: history.clone(),
    })
    .await
    .unwrap()
}

/// One seeded run; `Err` explains what the checker found.
async fn run(seed: u64) -> Result<(), String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let hub = FakeLogHub::builder()
        .logstore(PROJECT, LOGSTORE, 2)
        .start()
        .await
        .unwrap();
    let client = hub.client();
    let history: History = Arc::default();
    let mut workers: Vec<Option<Worker>> = (0..SLOTS).map(|_| None).collect();
    workers[0] = Some(start(&hub, 0, &history).await);
    let mut cut_off: BTreeSet<usize> = BTreeSet::new();
    let mut unclean = false;
    let mut seqs: BTreeMap<u32, u64> = BTreeMap::new();
    let mut checkpoints: BTreeMap<u32, Cursor> = BTreeMap::new();
    hub.set_faults(faults(seed, &cut_off));

    for _step in 0..30 {
        // Write a little on every step.
        for _ in 0..2 {
            let key = rng.u32(..KEYS);
            let seq = seqs.entry(key).or_default();
            let mut builder = LogGroup::builder();
            for _ in 0..3 {
                builder = builder.log(
                    1_700_000_000,
                    [("key", key.to_string()), ("seq", seq.to_string())],
                );
                *seq += 1;
            }
            client
                .put_logs(
                    PutLogsRequest::from_group(PROJECT, LOGSTORE, &builder.build())
                        .hash_key(hash_key(key)),
                )
                .await
                .map_err(|e| format!("seed {seed}: write failed: {e}"))?;
        }
        let slot = rng.usize(..SLOTS);
        match rng.u32(..100) {
            0..15 if workers[slot].is_none() => {
                cut_off.remove(&slot);
                hub.set_faults(faults(seed, &cut_off));
                workers[slot] = Some(start(&hub, slot, &history).await);
            }
            15..22 => {
                if let Some(worker) = workers[slot].take() {
                    worker
                        .shutdown()
                        .await
                        .map_err(|e| format!("seed {seed}: shutdown: {e}"))?;
                }
            }
            22..27 if workers[slot].is_some() => {
                // Dropped without shutdown: a crash.
                workers[slot] = None;
                unclean = true;
            }
            27..31 if workers[slot].is_some() => {
                unclean = true;
                cut_off.insert(slot);
                hub.set_faults(faults(seed, &cut_off));
            }
            31..35 => {
                cut_off.clear();
                hub.set_faults(faults(seed, &cut_off));
            }
            35..40 => {
                let shards = client
                    .list_shards(PROJECT, LOGSTORE)
                    .await
                    .map_err(|e| e.to_string())?;
                let writable: Vec<_> = shards
                    .iter()
                    .filter(|s| s.status == sls_client::ShardStatus::Readwrite)
                    .collect();
                if writable.len() < 6 {
                    let s = writable[rng.usize(..writable.len())];
                    let begin = u128::from_str_radix(&s.inclusive_begin_key, 16).unwrap_or(0);
                    let end = u128::from_str_radix(&s.exclusive_end_key, 16).unwrap_or(u128::MAX);
                    let mid = format!("{:032x}", begin + (end - begin) / 2);
                    let _ = client
                        .split_shard(PROJECT, LOGSTORE, s.shard_id, &mid)
                        .await;
                }
            }
            _ => {}
        }
        tokio::time::sleep(INTERVAL / 2).await;
        // Checkpoints never go backwards.
        if let Ok(now) = client.get_checkpoints(PROJECT, LOGSTORE, GROUP, None).await {
            for cp in now {
                if let Some(cursor) = cp.cursor {
                    if let Some(before) = checkpoints.insert(cp.shard, cursor) {
                        if cursor < before {
                            return Err(format!(
                                "seed {seed}: shard {} checkpoint went back",
                                cp.shard
                            ));
                        }
                    }
                }
            }
        }
    }

    // Heal, make sure someone consumes, and let everything be read.
    cut_off.clear();
    hub.set_faults(faults(seed, &cut_off));
    if workers.iter().all(Option::is_none) {
        workers[0] = Some(start(&hub, 0, &history).await);
    }
    let total: u64 = seqs.values().sum();
    let mut delivered = 0;
    for _ in 0..2400 {
        let seen: BTreeSet<(u32, u64)> =
            history.lock().unwrap().iter().map(|e| (e.2, e.3)).collect();
        delivered = seen.len() as u64;
        if delivered >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for worker in workers.into_iter().flatten() {
        worker
            .shutdown()
            .await
            .map_err(|e| format!("seed {seed}: final shutdown: {e}"))?;
    }
    if delivered < total {
        return Err(format!(
            "seed {seed}: {delivered} of {total} logs delivered"
        ));
    }

    // The history: duplicates only after unclean handoffs, and per key the
    // first deliveries come in written order (ordered consumption).
    let history = history.lock().unwrap().clone();
    let mut seen: BTreeSet<(u32, u64)> = BTreeSet::new();
    let mut duplicates = 0;
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    for (_, _, key, seq) in &history {
        if !seen.insert((*key, *seq)) {
            duplicates += 1;
            continue;
        }
        if let Some(previous) = last.insert(*key, *seq) {
            if *seq < previous {
                return Err(format!(
                    "seed {seed}: key {key}: {seq} first delivered after {previous}"
                ));
            }
        }
    }
    if duplicates > 0 && !unclean {
        return Err(format!(
            "seed {seed}: {duplicates} duplicates without a crash or partition"
        ));
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn chaos_a_few_seeds() {
    for seed in [1, 2, 3] {
        if let Err(failure) = run(seed).await {
            panic!("{failure} (replay: this seed in `run`)");
        }
    }
}

#[tokio::test(start_paused = true)]
#[ignore = "many seeds: SLS_CHAOS_SEEDS=N cargo test -p sls-consumer --test all chaos_many -- --ignored"]
async fn chaos_many() {
    let seeds: u64 = std::env::var("SLS_CHAOS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    for seed in 0..seeds {
        if let Err(failure) = run(seed).await {
            panic!("{failure}");
        }
    }
}
