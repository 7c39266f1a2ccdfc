//! Consumer issues the chaos run found. Two it steps around until they
//! are fixed: each switch below, turned on, brings back the part of the
//! scenario that shows its issue, and names a seed that does.
//!
//! One it does not step around, as it is rare and stepping around it would
//! keep holders from ever meeting dropped data: a holder that processed
//! data retention then drops commits that position before its next pull;
//! the fake refuses a checkpoint outside the retained data (400
//! `InvalidShardCheckPoint`), the consumer takes that for a permanent
//! error, and the worker stops (`ShardCall { call: "UpdateCheckPoint", .. }`)
//! where a reset was due. Seed 161 shows it in about half of its repeats.

/// Whether a retention drop may take every group of a shard in runs whose
/// fake reads a cursor into dropped data from the oldest data
/// ([`ExpiredCursors::ReadFromOldest`](sls_testkit::ExpiredCursors)).
///
/// Off for now: a holder whose position was dropped with everything after
/// it gets an empty answer whose next cursor is past the gap, and moves
/// there as if a query had filtered the groups out (`nothing_pulled` in
/// `sls-consumer/src/shard/mod.rs`): no `on_cursor_reset`, no
/// `cursor_resets` nor `groups_lost`, and the checker fails the seed for
/// a jump no reset explains (seed 0, and about half of the even seeds).
/// Turn it on once the consumer checks such a jump against retention.
pub(super) const EMPTY_ANSWERS_AFTER_DROPS: bool = false;

/// Whether pull answers are corrupted (as in other runs) in runs whose
/// fake answers a pull from dropped data with 400 `InvalidCursor`.
///
/// Off for now: a corrupted `InvalidCursor` answer reads as an HTTP 400
/// without an error code (`sls_client::ServerError::from_response`), which
/// the consumer's fate table takes for a permanent error: the worker stops
/// with `ShardCall { call: "PullLogs", .. }` instead of pulling again
/// (seed 1, about one repeat in ten). Turn it on once an unreadable error
/// answer is retried like a garbled body.
pub(super) const CORRUPT_INVALID_CURSOR_ANSWERS: bool = false;
