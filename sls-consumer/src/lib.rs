//! Consumer groups for Alibaba Cloud Log Service (SLS, "LogHub"): many
//! processes share one logstore's shards, each log is delivered at least
//! once (exactly once into a transactional sink), and a clean shutdown or
//! rebalance hands shards over at once.
//!
//! Part of sls-rs: [sls-proto](https://docs.rs/sls-proto) (wire types; the
//! logs a [`Batch`] holds) · [sls-client](https://docs.rs/sls-client)
//! (signed HTTP client; give [`ConsumerConfigBuilder::client`] one to set
//! anything the builder does not cover) · **sls-consumer** (this crate) ·
//! [sls-testkit](https://docs.rs/sls-testkit) (a fake LogHub to test
//! consumers on, used below).
//!
//! These docs are the reference: every type, method and error, the
//! guarantees and the fate of each error. The concepts behind them
//! (consumer groups, shards, checkpoints, the lease, a shard's lifecycle,
//! hand-off after a clean stop or a crash, with diagrams), every option
//! with its default and its name in the official Go, Java and Python
//! consumers, operating a consumer, and the test behind each guarantee are
//! in the sls-rs guide, the `docs/` folder of the sls-rs repository.
//!
//! ```
//! use sls_client::PutLogsRequest;
//! use sls_consumer::{Batch, ConsumerConfig, StartPosition, Worker, processor_fn};
//! use sls_proto::LogGroup;
//! use sls_testkit::FakeLogHub;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A fake LogHub on 127.0.0.1 with 2 shards and 3 logs.
//! let hub = FakeLogHub::builder().logstore("demo", "app", 2).start().await?;
//! let group = LogGroup::builder()
//!     .log(1_700_000_000, [("status", "200")])
//!     .log(1_700_000_001, [("status", "404")])
//!     .log(1_700_000_002, [("status", "200")])
//!     .build();
//! hub.client().put_logs(PutLogsRequest::from_group("demo", "app", &group)).await?;
//!
//! let config = ConsumerConfig::builder("demo", "app", "etl", "worker-1")
//!     .client(hub.client()) // for real: .endpoint("https://cn-hangzhou.log.aliyuncs.com")
//!     .start_position(StartPosition::Begin)
//!     .build()?;
//! let (seen, mut statuses) = tokio::sync::mpsc::unbounded_channel();
//! let worker = Worker::start(config, move |_shard| {
//!     let seen = seen.clone();
//!     processor_fn(move |batch: Batch| {
//!         let seen = seen.clone();
//!         async move {
//!             for group in &batch.groups {
//!                 for log in group.logs() {
//!                     let _ = seen.send(log.get("status").map(|s| s.to_string()));
//!                 }
//!             }
//!             Ok(()) // the batch is done: its checkpoint may be committed
//!         }
//!     })
//! })
//! .await?;
//!
//! let mut received = Vec::new();
//! while received.len() < 3 {
//!     received.push(statuses.recv().await.flatten().unwrap());
//! }
//! let report = worker.shutdown().await?; // commits, then hands the shards back
//! assert_eq!(report.logs(), 3);
//! assert_eq!(received, ["200", "404", "200"]);
//! # hub.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | no | publishes worker and shard figures through the [`metrics`](https://docs.rs/metrics) facade, named and typed for Prometheus: counters `_total`, lag in seconds per shard, calls by outcome, latency histograms, health; every name, type and label in `export`'s table (built with the feature) |
//! | `logging` | no | [`logging`]: console or rotating-file logging for the worker (tracing-subscriber, file-rotate) |
//!
//! # Against the service
//!
//! ```no_run
//! use sls_consumer::{Batch, ConsumerConfig, StartPosition, Worker, processor_fn};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ConsumerConfig::builder("my-project", "my-logstore", "etl", "worker-1")
//!     .endpoint("https://cn-hangzhou.log.aliyuncs.com") // keys from ALIBABA_CLOUD_* variables
//!     .start_position(StartPosition::Begin)
//!     .build()?;
//! let worker = Worker::start(config, |_shard| {
//!     processor_fn(|batch: Batch| async move {
//!         for group in &batch.groups {
//!             for log in group.logs() {
//!                 println!("{} {:?}", log.time(), log.get("message"));
//!             }
//!         }
//!         Ok(())
//!     })
//! })
//! .await?;
//! tokio::signal::ctrl_c().await?;
//! let report = worker.shutdown().await?;
//! println!("processed {} logs", report.logs());
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//! - **At least once.** A batch's `next_cursor` is committed only after the
//!   processor returned for it; checkpoints never move backwards except by
//!   an explicit [`Decision::RollBack`].
//! - **Clean handoff, no duplicates.** On revoke or shutdown the in-flight
//!   batch finishes, its checkpoint is committed, and only then is the shard
//!   left out of the heartbeat, so the next owner starts exactly where this
//!   one stopped. A shutdown ends with a heartbeat holding nothing, so the
//!   service reassigns at once instead of after the timeout.
//! - **Crashes.** A consumer that dies without shutdown leaves its shards to
//!   the service's timeout; the next owner re-reads from the last committed
//!   checkpoint, so logs after it (up to one auto-commit interval) may be
//!   delivered twice.
//! - **No two owners.** A consumer whose heartbeats fail (each failure is
//!   retried promptly within the interval) stops its shards without
//!   committing once its local lease runs out: the group's timeout *in
//!   force* (read back from the service every 5 s, or every interval if
//!   shorter, as another member may have changed it) less a quarter interval, counted from when the last
//!   answered heartbeat was sent, so before the service can reassign them.
//!   Any timeout of at least 2 intervals (the official Python consumer's
//!   ratio) holds without flapping. Commits are ownership-checked, so a
//!   late commit by a lost consumer is refused and reported through
//!   [`Processor::on_lost`].
//!
//! - **Ordered.** With `ordered(true)` a child shard's first log is
//!   processed only after every parent (and ancestor) is committed to its
//!   end, whether or not the service holds the child back.
//! - **Bounded memory.** Fetched, unprocessed data never exceeds the budget
//!   (`max_buffered_bytes`), counted in decompressed bytes.
//!
//! # Blocking processors
//! A processor written with blocking calls (a synchronous database driver,
//! file writes, code ported from the Go or Java consumers) implements
//! [`BlockingProcessor`] and is wrapped in [`Blocking`], which runs every
//! call on tokio's blocking pool: one slow shard then holds a pool thread,
//! not a runtime worker, and the other shards and the heartbeat go on.
//! Panics become [`ProcessorPanic`] as for async processors, and the hooks
//! map one to one.
//!
//! ```no_run
//! use sls_consumer::{Batch, Blocking, BlockingCheckpoint, BlockingProcessor};
//! use sls_consumer::{ConsumerConfig, Decision, ProcessError, Worker};
//!
//! struct Sink;
//!
//! impl BlockingProcessor for Sink {
//!     fn process(&mut self, batch: &Batch, _: &mut BlockingCheckpoint)
//!         -> Result<Decision, ProcessError> {
//!         std::thread::sleep(std::time::Duration::from_millis(50)); // a blocking write
//!         Ok(Decision::Continue)
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ConsumerConfig::builder("my-project", "my-logstore", "etl", "worker-1")
//!     .endpoint("https://cn-hangzhou.log.aliyuncs.com")
//!     .build()?;
//! let worker = Worker::start(config, |_shard| Blocking::new(Sink)).await?;
//! # worker.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # No poison pills
//! Real data and real service states never stop a shard for good while the
//! worker looks alive; every error a call can meet has one fate (one
//! table, in one place, matched on [`sls_client::ErrorCode`]; the client's
//! own retries are off for the worker's calls, so this is the only retry
//! layer):
//!
//! | error | fate |
//! |---|---|
//! | transport failure, timeout, 5xx, `ServerBusy`, `RequestTimeout`, a body garbled in transit | retried with back-off (100 ms doubling to 30 s, full jitter) while the shard runs; a body that never decodes, 8 times, then fatal |
//! | `ReadQuotaExceed`, `ShardReadQuotaExceed` (throttling) | retried with a longer back-off (1 s to 60 s) |
//! | a pull's answer larger than its reservation ([`sls_client::Error::TooLarge`], refused from its headers) | asked again with fewer groups, down to one; one group over the whole budget stops the worker ([`ConsumerError::GroupOverBudget`]) |
//! | `InvalidCursor` on PullLogs | the cursor is checked against the oldest retained data: expired → [`OnExpiredCursor`]; otherwise the worker stops ([`ConsumerError::CursorRefused`]) |
//! | `ConsumerNotMatch`, `ConsumerNotExist` on a commit | the shard was lost ([`Processor::on_lost`]) |
//! | `ConsumerGroupNotExist` | the coordinator recreates the group ([`OnGroupDeleted`]) or stops the worker; shard calls wait meanwhile |
//! | a heartbeat's transient failure | retried at once with a short back-off (100 ms, 200 ms, then a quarter interval) until the next heartbeat is due; past the lease every shard is dropped uncommitted ([`Processor::on_lost`]) |
//! | `NotExistConsumerWithBody` on a heartbeat (the service dropped this consumer) | every shard is dropped uncommitted, and the next heartbeat joins again |
//! | anything else (bad keys after one credential refresh, a missing project, logstore or shard, `ParameterInvalid`, an unknown code) | the worker stops with [`ConsumerError::ShardCall`] (shard, call, the service's error) |
//!
//! A panic in [`Processor::process`] or a hook is caught and goes through
//! the [`ErrorPolicy`] like a returned error ([`ProcessorPanic`]). Stalls
//! show in [`Worker::health`] and [`Worker::metrics`], not only in a log
//! line.
//!
//! Evidence of the service's behaviour this is built on (read in the
//! official SDKs and their trackers; our own summaries):
//! - groups up to 5 MB each, the Go producer batching 512 KB and 4096 logs
//!   a group (aliyun-log-go-sdk `producer/producer_config.go`), so a
//!   1000-group pull can be hundreds of MB; memory trouble from large
//!   pulls in aliyun-log-python-sdk issues 40 and 172, Go PR 310, the
//!   Flink connector's PRs 67 and 79. The service documents no byte cap on
//!   a pull, so the consumer sets its own.
//! - strings that are not UTF-8: aliyun-log-python-sdk issue 105 (it
//!   re-parses as bytes and drops what does not decode), aliyun-log-cli
//!   issue 27, aliyun-log-java-sdk PR 38 (`getValueBytes`), the Flink
//!   connector's PR 39. Logs reach processors as bytes ([`sls_proto`]).
//! - a checkpoint into dropped data: aliyun-log-consumer-java's
//!   `LogHubFetchTask` resets to the start position on `InvalidCursor`,
//!   aliyun-log-python-sdk's `consumer_fetch_task` jumps to the end, and
//!   aliyun-log-go-sdk's consumer retries the same cursor forever. The
//!   PullData API reference says a cursor before the oldest data reads
//!   from the oldest data; the worker therefore checks a checkpoint against
//!   the oldest data before it pulls, which sees the gap either way.
//! - processor failures: the Go consumer recovers a panic and offers the
//!   batch again (aliyun-log-go-sdk issue 69), Java and Python log and
//!   skip it (aliyun-log-python-sdk issue 125 asks for a strict mode).
//!
//! # Layout
//! - `config`: [`ConsumerConfig`], [`StartPosition`], [`defaults`]; `build()`
//!   refuses what the service would refuse, names included
//!   ([`sls_client::names`]), with a [`ConfigError`] naming the field.
//! - `processor`: [`Processor`], [`Batch`], [`Decision`], [`processor_fn`],
//!   [`ErrorPolicy`].
//! - `blocking`: [`BlockingProcessor`], a processor written with
//!   blocking code, and [`Blocking`], which runs one on tokio's blocking
//!   pool (see "Blocking processors" above).
//! - `checkpoint`: [`Checkpoint`], the processor's handle; commit logic.
//! - `worker`: [`Worker`], [`WorkerReport`].
//! - `heartbeat`: the coordinator loop: assignment, lease, shutdown, health.
//! - `health`: [`Health`], [`Problem`].
//! - `calls`: the consumer's tower stack around the client and the fate of
//!   every error ([`Retrying`]).
//! - `shard`: one task per held shard, in stages (start, pull, process,
//!   commit), with the pull sizing.
//! - `budget`: the memory budget and the fetch cap.
//! - `metrics`: [`WorkerMetrics`], [`ShardMetrics`].
//! - `export`: the figures through the `metrics` facade (its table of
//!   names, types and labels is public with feature `metrics`; without it
//!   the module does nothing).
//! - `logging` (feature `logging`): console or rotating-file logging.
//! - `error`: [`ConsumerError`].
//! - [`exactly_once`]: a transactional sink's pattern ([`exactly_once::ExactlyOnce`]).

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::too_many_lines)]

mod blocking;
mod budget;
mod calls;
mod checkpoint;
mod config;
mod error;
pub mod exactly_once;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod export;
#[cfg(not(feature = "metrics"))]
mod export;
mod health;
mod heartbeat;
#[cfg(feature = "logging")]
#[cfg_attr(docsrs, doc(cfg(feature = "logging")))]
pub mod logging;
mod metrics;
mod processor;
mod report;
mod shard;
mod worker;

pub use blocking::{Blocking, BlockingCheckpoint, BlockingProcessor};
pub use checkpoint::Checkpoint;
pub use config::{
    ConfigError, ConsumerConfig, ConsumerConfigBuilder, OnExpiredCursor, OnGroupDeleted,
    StartPosition, defaults,
};
pub use error::{ConsumerError, ProcessError, ProcessorPanic};
pub use health::{Health, Problem};
pub use metrics::{MemoryStats, Retrying, ShardMetrics, WorkerMetrics};
pub use processor::{
    AfterRetries, Batch, CursorReset, Decision, ErrorPolicy, FnProcessor, Processor, processor_fn,
};
pub use report::{ShardSummary, WorkerReport};
pub use shard::{ShardExit, ShardReport};
pub use worker::Worker;

/// The crate README's code, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
