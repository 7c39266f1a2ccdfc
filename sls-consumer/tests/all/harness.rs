//! A fake LogHub with numbered logs, and processors that record what they
//! see.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_client::PutLogsRequest;
use sls_consumer::{
    Batch, ConsumerConfig, ConsumerConfigBuilder, FnProcessor, ProcessError, StartPosition, Worker,
    processor_fn,
};
use sls_proto::{ByteSlice, LogGroup};
use sls_testkit::FakeLogHub;

pub(crate) const PROJECT: &str = "demo";
pub(crate) const LOGSTORE: &str = "app";
pub(crate) const GROUP: &str = "etl";
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// One delivery: consumer, shard, log id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) consumer: String,
    pub(crate) shard: u32,
    pub(crate) id: u64,
}

#[derive(Clone, Default)]
pub(crate) struct Log(pub(crate) Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub(crate) fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Records every log of `batch` as delivered to `consumer`.
    pub(crate) fn record(&self, consumer: &str, batch: &Batch) {
        let mut seen = self.0.lock().unwrap();
        for group in &batch.groups {
            for entry in group.logs() {
                let id = entry
                    .get("id")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(u64::MAX);
                seen.push(Seen {
                    consumer: consumer.to_owned(),
                    shard: batch.shard,
                    id,
                });
            }
        }
    }

    /// How many times each id was delivered.
    pub(crate) fn counts(&self) -> BTreeMap<u64, usize> {
        let mut counts = BTreeMap::new();
        for seen in self.all() {
            *counts.entry(seen.id).or_default() += 1;
        }
        counts
    }
}

pub(crate) async fn hub(shards: u32) -> FakeLogHub {
    FakeLogHub::builder()
        .logstore(PROJECT, LOGSTORE, shards)
        .start()
        .await
        .unwrap()
}

/// Writes `groups` groups of `per_group` logs, numbered from `first`, round
/// robin over the shards; returns the next number.
pub(crate) async fn write(hub: &FakeLogHub, first: u64, groups: u64, per_group: u64) -> u64 {
    let client = hub.client();
    let mut id = first;
    for _ in 0..groups {
        let mut builder = LogGroup::builder().topic("test");
        for _ in 0..per_group {
            builder = builder.log(1_700_000_000, [("id", id.to_string())]);
            id += 1;
        }
        client
            .put_logs(PutLogsRequest::from_group(
                PROJECT,
                LOGSTORE,
                &builder.build(),
            ))
            .await
            .unwrap();
    }
    id
}

pub(crate) fn config(hub: &FakeLogHub, consumer: &str, start: StartPosition) -> ConsumerConfig {
    builder(hub, consumer, start).build().unwrap()
}

/// [`config`]'s settings, to add more to.
pub(crate) fn builder(
    hub: &FakeLogHub,
    consumer: &str,
    start: StartPosition,
) -> ConsumerConfigBuilder {
    ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, consumer)
        .client(hub.client())
        .start_position(start)
        .heartbeat_interval(INTERVAL)
        .heartbeat_timeout(INTERVAL * 3)
        .fetch_interval(Duration::from_millis(100))
        .max_fetch_groups(5)
        .auto_commit_interval(Some(Duration::from_millis(500)))
}

type Recorder =
    FnProcessor<Box<dyn FnMut(Batch) -> std::future::Ready<Result<(), ProcessError>> + Send>>;

/// A processor that records every log id it is given.
pub(crate) fn recorder(
    log: &Log,
    consumer: &str,
) -> impl Fn(u32) -> Recorder + Send + Sync + 'static {
    let log = log.clone();
    let consumer = consumer.to_owned();
    move |_shard| {
        let log = log.clone();
        let consumer = consumer.clone();
        let f: Box<dyn FnMut(Batch) -> std::future::Ready<Result<(), ProcessError>> + Send> =
            Box::new(move |batch: Batch| {
                log.record(&consumer, &batch);
                std::future::ready(Ok(()))
            });
        processor_fn(f)
    }
}

pub(crate) async fn start(
    hub: &FakeLogHub,
    log: &Log,
    consumer: &str,
    start: StartPosition,
) -> Worker {
    Worker::start(config(hub, consumer, start), recorder(log, consumer))
        .await
        .unwrap()
}

/// Waits (in virtual time) until `done` holds, up to `limit`.
pub(crate) async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// The oldest retained cursor of `shard`.
pub(crate) async fn begin(hub: &FakeLogHub, shard: u32) -> sls_proto::Cursor {
    hub.client()
        .get_cursor(PROJECT, LOGSTORE, shard, sls_client::CursorPosition::Begin)
        .await
        .unwrap()
}

/// Creates the group (as a worker would, with a 3 s timeout) and sets its
/// checkpoint of `shard` to `cursor`, as another tool or an earlier run
/// would have left it.
pub(crate) async fn set_checkpoint(hub: &FakeLogHub, shard: u32, cursor: sls_proto::Cursor) {
    let client = hub.client();
    let group = sls_client::ConsumerGroup::new(GROUP, 3, false);
    match client
        .create_consumer_group(PROJECT, LOGSTORE, &group)
        .await
    {
        Err(err) if err.error_code() != Some(sls_client::ErrorCode::ConsumerGroupAlreadyExist) => {
            panic!("{err}")
        }
        _ => {}
    }
    let update = sls_client::CheckpointUpdate::new(shard, cursor).force(true);
    client
        .update_checkpoint(PROJECT, LOGSTORE, GROUP, "someone", update)
        .await
        .unwrap();
}

/// The group's checkpoint of `shard` on the server, if any.
pub(crate) fn checkpoint(hub: &FakeLogHub, shard: u32) -> Option<sls_proto::Cursor> {
    hub.group_assignments(PROJECT, LOGSTORE, GROUP)
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.shard == shard)
        .and_then(|a| a.checkpoint)
}

/// Which consumer owns each shard, on the server.
pub(crate) fn owners(hub: &FakeLogHub) -> BTreeMap<u32, Option<String>> {
    hub.group_assignments(PROJECT, LOGSTORE, GROUP)
        .unwrap_or_default()
        .into_iter()
        .map(|a| (a.shard, a.owner))
        .collect()
}

/// Logs carrying a key and a per-key sequence number, each key routed to
/// its own spot of the hash range: for ordering checks across splits and
/// merges.
pub(crate) mod keyed {
    use std::collections::BTreeMap;

    use sls_client::{Client, PutLogsRequest};
    use sls_proto::LogView;
    use sls_proto::{ByteSlice, LogGroup};

    use super::{LOGSTORE, PROJECT};

    /// How many keys.
    pub(crate) const KEYS: u32 = 8;

    /// The hash key that routes `key`'s logs (spread over the range).
    pub(crate) fn hash_key(key: u32) -> String {
        format!("{:02x}{}", key * 32 + 5, "0".repeat(30))
    }

    /// Writes one group of 3 logs for `key`, numbered on from `seqs`.
    /// Retried even when a retry may duplicate: the tests inject no write
    /// fault that stores before failing.
    pub(crate) async fn write(
        client: &Client,
        key: u32,
        seqs: &mut BTreeMap<u32, u64>,
    ) -> Result<(), sls_client::Error> {
        let seq = seqs.entry(key).or_default();
        let mut builder = LogGroup::builder();
        for _ in 0..3 {
            builder = builder.log(
                1_700_000_000,
                [("key", key.to_string()), ("seq", seq.to_string())],
            );
            *seq += 1;
        }
        let group = builder.build();
        let put = PutLogsRequest::from_group(PROJECT, LOGSTORE, &group)
            .hash_key(hash_key(key))
            .retry_may_duplicate(true);
        client.put_logs(put).await.map(drop)
    }

    /// A log's (key, sequence); `MAX` for what is missing or malformed.
    pub(crate) fn read(log: &LogView<'_>) -> (u32, u64) {
        let field = |name| log.get(name).and_then(|v| v.to_str().ok()?.parse().ok());
        (
            field("key").map_or(u32::MAX, |k: u64| u32::try_from(k).unwrap_or(u32::MAX)),
            field("seq").unwrap_or(u64::MAX),
        )
    }
}
