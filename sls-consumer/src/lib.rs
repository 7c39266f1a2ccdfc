//! Consumer groups for Alibaba Cloud Log Service (LogHub): many processes
//! share one logstore's shards, each log is delivered at least once, and a
//! clean shutdown or rebalance hands shards over at once.
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
//! - **No two owners.** A consumer whose heartbeats fail stops its shards
//!   without committing once its local lease (group timeout minus one
//!   heartbeat interval) runs out, before the service can reassign them;
//!   commits are ownership-checked, so a late commit by a lost consumer is
//!   refused and reported through [`Processor::on_lost`].
//!
//! - **Ordered.** With `ordered(true)` a child shard's first log is
//!   processed only after every parent (and ancestor) is committed to its
//!   end, whether or not the service holds the child back.
//! - **Bounded memory.** Fetched, unprocessed data never exceeds the budget
//!   (`max_buffered_bytes`), counted in decompressed bytes.
//!
//! # Layout
//! - `config`: [`ConsumerConfig`], [`StartPosition`], [`defaults`].
//! - `processor`: [`Processor`], [`Batch`], [`Decision`], [`processor_fn`],
//!   [`ErrorPolicy`].
//! - `checkpoint`: [`Checkpoint`], the processor's handle; commit logic.
//! - `worker`: [`Worker`], [`WorkerReport`].
//! - `heartbeat`: the coordinator loop: assignment, lease, shutdown.
//! - `shard`: one task per held shard.
//! - `budget`: the memory budget and the fetch cap.
//! - `metrics`: [`WorkerMetrics`], [`ShardMetrics`].
//! - `export` (feature `metrics`): the figures through the `metrics` facade.
//! - `logging` (feature `logging`): console or rotating-file logging.
//! - `error`: [`ConsumerError`].

mod budget;
mod calls;
mod checkpoint;
mod config;
mod error;
#[cfg(feature = "metrics")]
mod export;
mod health;
mod heartbeat;
#[cfg(feature = "logging")]
pub mod logging;
mod metrics;
mod processor;
mod shard;
mod worker;

pub use calls::Retrying;
pub use checkpoint::Checkpoint;
pub use config::{
    ConfigError, ConsumerConfig, ConsumerConfigBuilder, OnExpiredCursor, OnGroupDeleted,
    StartPosition, defaults,
};
pub use error::{ConsumerError, ProcessError, ProcessorPanic};
pub use health::{Health, Problem};
pub use metrics::{ShardMetrics, WorkerMetrics};
pub use processor::{
    AfterRetries, Batch, CursorReset, Decision, ErrorPolicy, FnProcessor, Processor, processor_fn,
};
pub use shard::{ShardExit, ShardReport};
pub use worker::{MemoryStats, ShardSummary, Worker, WorkerReport};
