//! Cursors as requests send them: parsed, and checked against the shard
//! they are for. Used by GetCursorTime (in `routes`) and PullLogs (in
//! `pull`).

use sls_proto::Cursor;

use super::Shared;
use crate::error::ApiError;
use crate::store::Shard;

/// Parses a cursor of `shard`, refusing ones outside it.
pub(crate) fn shard_cursor(shard: &Shard, text: &str) -> Result<i64, ApiError> {
    let cursor = Cursor::parse(text)
        .map_err(|err| ApiError::bad_request("InvalidCursor", format!("cursor {text:?}: {err}")))?
        .sequence();
    if !shard.contains_cursor(cursor) {
        return Err(ApiError::bad_request(
            "InvalidCursor",
            format!("cursor {text:?} is not in shard {}", shard.id),
        ));
    }
    Ok(cursor)
}

/// A pull's cursor: one into data retention dropped is refused with
/// `InvalidCursor`, or read from the oldest data, as the server is set
/// ([`ExpiredCursors`](crate::ExpiredCursors)).
pub(crate) fn pull_cursor(shared: &Shared, shard: &Shard, text: &str) -> Result<i64, ApiError> {
    let mode = *super::lock(&shared.expired_cursors);
    if mode == crate::ExpiredCursors::ReadFromOldest {
        if let Ok(cursor) = Cursor::parse(text) {
            if shard.is_dropped(cursor.sequence()) {
                return Ok(shard.begin_cursor());
            }
        }
    }
    shard_cursor(shard, text)
}
