//! An in-process fake LogHub (Alibaba Cloud Log Service) server for
//! offline, deterministic tests: real HTTP on 127.0.0.1, real signature
//! checks (v1 and v4), projects, logstores, shards with MD5 key ranges,
//! cursors, PullLogs and PutLogs, split and merge.
//!
//! Consumer groups follow PROTOCOL.md §6; see the `store::groups` notes in
//! the source for the choices made where the service is not documented.
//!
//! The same server runs standalone as `sls-fake` (see `src/bin/sls-fake.rs`)
//! for SDKs in other languages.
//!
//! Faults are injected by a [`FaultPlan`]; every request is recorded
//! ([`FakeLogHub::requests`]).

//!
//! Behaviour where the service's is not documented (see PROTOCOL.md):
//! - Each shard's cursors start at `(shard id + 1) * 10^12`, so a cursor of
//!   one shard is refused by another with `InvalidCursor`.
//! - SplitShard answers the parent (now read-only) and the two children;
//!   MergeShard the new shard and the two parents.
//! - GetCursorTime at a shard's end answers the last group's receive time
//!   (the shard's creation time when it is empty).
//! - An SPL `query` on PullLogs is accepted but not evaluated: every group
//!   passes, and `x-log-rawdatasize`/`x-log-rawdatacount` equal the figures.
//! - Retention: before each request, groups received more than the
//!   logstore's TTL (days) ago are dropped and the begin cursor moves on.
//!   [`FakeLogHub::drop_oldest`] drops a shard's oldest groups on demand,
//!   for an outage longer than retention without waiting days. A pull from
//!   a cursor into dropped data is answered as [`ExpiredCursors`] says:
//!   `InvalidCursor` (the default, what the official consumers' code
//!   expects) or read from the oldest data (what the PullData reference
//!   documents); a consumer should survive both.
//! - Each group is stored lz4-compressed once; a pull joins the stored
//!   blocks ([`sls_proto::Lz4Block::splice`]) instead of recompressing.
//!
//! # Layout
//! - `handle`: [`FakeLogHub`] and its builder.
//! - `clock`: [`Clock`], the server's one time source.
//! - `call`: [`CallKind`], which API a request calls.
//! - `store`: projects, logstores, shards, groups.
//! - `server`: HTTP, authentication, routes.
//! - `error`: the service's error responses.
//! - `faults`: [`FaultPlan`], [`FaultRule`], [`Fault`].
//! - `fuzzing` (feature `fuzzing`, not a stable API): a socketless harness
//!   for the `fake_server` fuzz target.

mod call;
mod clock;
mod error;
mod faults;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod handle;
mod server;
mod store;

pub use call::CallKind;
pub use clock::Clock;
pub use faults::{Fault, FaultPlan, FaultRule};
pub use handle::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_TTL_DAYS, ExpiredCursors, FakeLogHub,
    FakeLogHubBuilder,
};
pub use server::RequestRecord;
pub use store::{ShardAssignment, ShardState, ShardStatus};
