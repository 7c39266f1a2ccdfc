//! Dispatch by method and path to the handlers: logstores in
//! `logstores`, shards in `shards`, PutLogs in `put`, PullLogs in `pull`,
//! consumer groups in `groups`.

use super::http::{Incoming, Reply};
use super::{Shared, groups, logstores, pull, put, shards};
use crate::call::{Call, CallKind};
use crate::error::ApiError;

/// Runs the handler of a classified request.
pub(crate) fn route(shared: &Shared, req: &Incoming, call: &Call) -> Result<Reply, ApiError> {
    let ls = call.logstore.as_deref().unwrap_or("");
    let shard = call.shard.unwrap_or(0);
    let group = call.group.as_deref().unwrap_or("");
    match call.kind {
        CallKind::ListLogstores => logstores::list(shared, req),
        CallKind::CreateLogstore => logstores::create(shared, req),
        CallKind::GetLogstore => logstores::get(shared, req, ls),
        CallKind::DeleteLogstore => logstores::delete(shared, req, ls),
        CallKind::ListShards => shards::list(shared, req, ls),
        CallKind::SplitShard => shards::split(shared, req, ls, shard),
        CallKind::MergeShard => shards::merge(shared, req, ls, shard),
        CallKind::GetCursor => shards::cursor(shared, req, ls, shard),
        CallKind::GetCursorTime => shards::cursor_time(shared, req, ls, shard),
        CallKind::PullLogs => pull::pull_logs(shared, req, ls, shard),
        CallKind::PutLogs => {
            // `.../shards/route`, not a logstore named `route`.
            let hash_key = if req.segments.len() == 4 && req.segments[3] == "route" {
                Some(req.required("key")?)
            } else {
                None
            };
            put::put_logs(shared, req, ls, hash_key)
        }
        CallKind::ListConsumerGroups => groups::list(shared, req, ls),
        CallKind::CreateConsumerGroup => groups::create(shared, req, ls),
        CallKind::UpdateConsumerGroup => groups::update(shared, req, ls, group),
        CallKind::DeleteConsumerGroup => groups::delete(shared, req, ls, group),
        CallKind::Heartbeat => groups::heartbeat(shared, req, ls, group),
        CallKind::UpdateCheckpoint => groups::update_checkpoint(shared, req, ls, group),
        CallKind::GetCheckpoints => groups::checkpoints(shared, req, ls, group),
    }
}

/// The error of a path or method the service lacks.
pub(crate) fn no_such_api(req: &Incoming) -> ApiError {
    ApiError::new(
        404,
        "InvalidRequestURI",
        format!("no such API: {} {}", req.method, req.raw_path),
    )
}
