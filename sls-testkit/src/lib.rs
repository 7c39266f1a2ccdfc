//! A fake Alibaba Cloud Log Service (SLS, "LogHub") server for offline,
//! deterministic tests: real HTTP on 127.0.0.1, real signature checks (v1
//! and v4), projects, logstores, shards, cursors, PullLogs and PutLogs,
//! split and merge, consumer groups, SPL; faults on demand and a clock
//! tests control. Also the `sls-fake` binary, for SDKs in other languages.
//!
//! Part of sls-rs: [sls-proto](https://docs.rs/sls-proto) (wire types) ·
//! [sls-client](https://docs.rs/sls-client) (signed HTTP client; what
//! [`FakeLogHub::client`] returns) · [sls-consumer](https://docs.rs/sls-consumer)
//! (consumer groups) · **sls-testkit** (this crate). Use it as a
//! dev-dependency.
//!
//! These docs are the reference (types, methods, errors, and what the fake
//! chose where the service is undocumented). How to test a consumer with
//! it, and how to point the official Go, Java and Python SDKs at
//! `sls-fake`, are in the sls-rs guide, the `docs/` folder of the sls-rs
//! repository (chapter "Testing with sls-testkit").
//!
//! ```
//! use sls_client::{Error, PutLogsRequest};
//! use sls_proto::LogGroup;
//! use sls_testkit::{CallKind, FakeLogHub, Fault, FaultPlan, FaultRule};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! // Two shards; the next ListShards answers 503 ServerBusy.
//! let plan = FaultPlan::new()
//!     .rule(FaultRule::new(Fault::error(503, "ServerBusy")).call(CallKind::ListShards).next(1));
//! let hub = FakeLogHub::builder().logstore("demo", "app", 2).faults(plan).start().await.unwrap();
//! let client = hub.client(); // signs with the hub's keys and clock
//!
//! let shards = client.list_shards("demo", "app").await?; // retried once
//! assert_eq!(shards.len(), 2);
//! assert_eq!(hub.count(CallKind::ListShards), 2);
//!
//! let group = LogGroup::builder().log(1_700_000_000, [("k", "v")]).build();
//! client.put_logs(PutLogsRequest::from_group("demo", "app", &group)).await?;
//! assert_eq!(hub.count(CallKind::PutLogs), 1);
//! hub.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `fuzzing` | no | the `fuzzing` module: serves requests without a socket, for the `fake_server` fuzz target; not a stable API |
//!
//! `cargo install sls-testkit` installs the `sls-fake` binary
//! (`sls-fake --help`).
//!
//! # Fidelity
//!
//! Consumer groups follow the service's shard states (`not_alloc`,
//! `already_alloc`, `transfer`, `wait`, `over`) and hand-over protocol as
//! the aliyun-log-consumer-java README describes them; see the
//! `store::groups` notes in the source for the choices made where the
//! service is not documented.
//!
//! The same server runs standalone as `sls-fake` (see `src/bin/sls-fake.rs`)
//! for SDKs in other languages.
//!
//! Faults are injected by a [`FaultPlan`]. The most recent requests are
//! recorded ([`FakeLogHub::requests`]: a ring of
//! [`DEFAULT_REQUEST_LOG_CAPACITY`] records unless
//! [`FakeLogHubBuilder::request_log_capacity`] or `sls-fake --request-log`
//! says otherwise) and every request is counted exactly, by call, status
//! and fault ([`FakeLogHub::request_counts`]), so a long-running `sls-fake`
//! stays bounded. A record keeps at most [`MAX_RECORDED_TEXT`] bytes of a
//! request's text (query, processor, consumer), so the log is bounded in
//! bytes too.
//!
//! Names and counts, as the service limits them (the rules are in
//! [`sls_client::names`], shared with the consumer's configuration):
//! - Logstore names: 3 to 63 lowercase letters, digits, `-` and `_`,
//!   starting and ending with a letter or digit (Alibaba Cloud docs,
//!   developer reference, "Logstores"); project names the same without `_`
//!   (CLI reference, `create_project`). TTL 1 to 3650 days (CreateLogstore
//!   API reference). Refused with 400 `ParameterInvalid` (our choice of
//!   code: none is documented).
//! - Consumer group names: no rule is documented (aliyun-log-go-sdk issue
//!   77: the service refuses some, the Go library only logs it). We refuse
//!   all but 2 to 128 ASCII letters, digits, `-` and `_` (the API
//!   reference's own example, `consumerGroupX`, passes; `bad name/?` does
//!   not), with 400 `ParameterInvalid`. Consumer names with control
//!   characters (or empty, or over 128 bytes) are refused on heartbeats.
//! - At most 30 consumer groups a logstore (CreateConsumerGroup API
//!   reference): the 31st is refused with 403 `ConsumerGroupQuotaExceed`
//!   (the code aliyun-log-python-sdk's consumer, `consumer_client.py`,
//!   lists as a configuration error; the status is our choice).
//! - At most 200 logstores and 400 read-write shards a project (the
//!   "Basic resource limits" page's default quotas; hard limits answer
//!   403): CreateLogstore and SplitShard past them are refused with 403
//!   `ProjectQuotaExceed` (the code of the "Handle resource throttling
//!   errors" page).
//! - [`FakeLogHubBuilder`] refuses bad names too
//!   ([`std::io::ErrorKind::InvalidInput`] from `start`/`serve`).
//!
//! Throughput quotas, as the service's "Data read and write limits" page
//! documents them, on by default ([`Quotas`]; [`FakeLogHubBuilder::quotas`],
//! [`FakeLogHub::set_quotas`], `sls-fake --no-quotas` and one flag each):
//! per shard 20 MB/s and 100 pulls a second (soft), 5 MB/s raw and 500
//! writes a second (soft); per project 600,000 pulls and 600,000 writes a
//! minute (hard). Past one, 403 `ShardReadQuotaExceed`, `ReadQuotaExceed`,
//! `ShardWriteQuotaExceed` or `WriteQuotaExceed` (the codes of the
//! "Handle resource throttling errors" page and of aliyun-log-cpp-sdk's
//! `RestfulApiCommon.h`). Where the docs are silent (our choices, see the
//! `quota` notes in the source): read bytes count the body as sent
//! (compressed), write bytes the raw size; each quota is a token bucket
//! refilled continuously and holding one second's worth; "soft" means a
//! shard's request is admitted while its bucket is not empty and its
//! bytes may overdraw it; a refused request costs nothing. The buckets
//! follow the server's [`Clock`], so paused time drives them.
//!
//! What PutLogs takes, as the service does:
//! - Text is bytes. Keys, values, tags, topic, source, category and machine
//!   uuid are stored and served as written, whatever their encoding (GBK,
//!   Latin-1, binary): the service returns such bytes to consumers
//!   (aliyun-log-python-sdk issue 105, aliyun-log-cli issue 27). Only a
//!   malformed protobuf structure is refused (400 `ParameterInvalid`). A
//!   pull returns each group's bytes exactly as put.
//! - Limits: a body over 10 MB as sent is refused with 413
//!   `PostBodyTooLarge`; a group over 5 MB raw (`x-log-bodyrawsize`) or over
//!   4096 logs with 400 `PostBodyTooLarge`, the status and code the PutLogs
//!   API reference gives for a group over its size and count limits
//!   (AlibabaCloudDocs/sls, API reference, PutLogs: "logs must be less than
//!   or equal to 3 MB and 4096 entries", the size limit since raised). A
//!   refused group is not stored in part.

//!
//! Behaviour where the service's is not documented (our choices):
//! - Each shard's cursors start at `(shard id + 1) * 10^12`, so a cursor of
//!   one shard is refused by another with `InvalidCursor`.
//! - SplitShard answers the parent (now read-only) and the two children;
//!   MergeShard the new shard and the two parents.
//! - GetCursorTime at a shard's end answers the last group's receive time
//!   (the shard's creation time when it is empty).
//! - SPL on PullLogs is evaluated (`spl` module docs: the subset and its
//!   semantics): a `query`, or the SPL of a consume processor named by
//!   `processor` ([`FakeLogHubBuilder::consume_processor`], `sls-fake
//!   --consume-processor`). Groups whose logs are all filtered out are
//!   omitted (a pull may return none while its cursor advances, as the
//!   service's do); `x-log-count` and `x-log-bodyrawsize` describe what
//!   is returned, `x-log-rawdatasize`, `x-log-rawdatacount` and
//!   `x-log-rawdatalines` what was scanned, `x-log-resultlines` the logs
//!   returned (the headers aliyun-log-go-sdk `log_store.go` and
//!   aliyun-log-rust-sdk `pull_logs.rs` read). A statement outside the
//!   subset gets 400 `ParameterInvalid` with "invalid query: ..." naming
//!   what the fake does not support (the code and prefix the service gives
//!   a bad SPL statement, as quoted in
//!   aliyun/alibabacloud-observability-mcp-server issue 41), never a
//!   silent pass-through. An unknown processor gets 404
//!   `ConsumeProcessorNotExist`: chosen after the service's other
//!   `...NotExist` codes, as we found no evidence of the real one. A pull
//!   with both `query` and `processor` gets 400 `ParameterInvalid`: how the
//!   service combines them is not documented. Processors belong to a
//!   project, as on the service (`PUT /consumeprocessors/{name}`). The
//!   fake's own bounds (undocumented for the service): a statement of at
//!   most 4096 bytes, 32 levels of parentheses and 32 `not`s, string
//!   literals of at most 256 bytes.
//! - PullLogs answers in the compression `Accept-Encoding` names first
//!   among lz4, zstd and deflate, lz4 otherwise (`x-log-compresstype` says
//!   which): the official Go SDK asks for zstd with `Accept-Encoding: zstd`
//!   (aliyun-log-go-sdk `log_store.go`, `GetLogsBytesWithQuery`).
//! - Retention: before a request, at most once per clock second, groups
//!   received more than the logstore's TTL (days) ago are dropped and the
//!   begin cursor moves on. Groups are kept in receive-time order, so the
//!   sweep looks only at each shard's front: its cost is the shard count
//!   plus the groups dropped, whatever the uptime or the data held.
//!   [`FakeLogHub::drop_oldest`] drops a shard's oldest groups on demand,
//!   for an outage longer than retention without waiting days. A pull from
//!   a cursor into dropped data is answered as [`ExpiredCursors`] says:
//!   `InvalidCursor` (the default, what the official consumers' code
//!   expects) or read from the oldest data (what the PullData reference
//!   documents); a consumer should survive both.
//! - Each group is stored lz4-compressed once; a pull without SPL that
//!   accepts lz4 joins the stored blocks ([`sls_proto::Lz4Block::splice`])
//!   instead of recompressing.
//!
//! # Layout
//! - `handle`: [`FakeLogHub`] and its builder.
//! - `clock`: [`Clock`], the server's one time source.
//! - `call`: [`CallKind`], which API a request calls.
//! - `store`: projects, logstores, shards, groups.
//! - `limits`: the service's limits on names and counts.
//! - `quota`: [`Quotas`], the service's read and write throughput quotas.
//! - `server`: HTTP, authentication, routes, PullLogs.
//! - `spl`: the SPL subset pulls run: parser (winnow) and evaluator.
//! - `error`: the service's error responses.
//! - `faults`: [`FaultPlan`], [`FaultRule`], [`Fault`].
//! - [`standalone`]: the server on a socket until a signal, with the
//!   options of `sls-fake` (and of `sls fake` in sls-cli).
//! - `fuzzing` (feature `fuzzing`, not a stable API): a socketless harness
//!   for the `fake_server` fuzz target.

#![cfg_attr(docsrs, feature(doc_cfg))]
// Not in Cargo.toml: a crate inheriting `[lints] workspace = true` cannot
// add its own there. The default threshold, 100 lines.
#![warn(clippy::too_many_lines)]

mod call;
mod clock;
mod error;
mod faults;
#[cfg(feature = "fuzzing")]
#[cfg_attr(docsrs, doc(cfg(feature = "fuzzing")))]
pub mod fuzzing;
mod handle;
mod limits;
mod quota;
mod server;
mod spl;
pub mod standalone;
mod store;

pub use call::CallKind;
pub use clock::Clock;
pub use faults::{Fault, FaultPlan, FaultRule};
pub use handle::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_TTL_DAYS, ExpiredCursors, FakeLogHub,
    FakeLogHubBuilder,
};
pub use quota::Quotas;
pub use server::log::{DEFAULT_REQUEST_LOG_CAPACITY, RequestCounts};
pub use server::{MAX_RECORDED_TEXT, RequestRecord};
pub use store::{ShardAssignment, ShardState, ShardStatus};

/// The crate README's code, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
