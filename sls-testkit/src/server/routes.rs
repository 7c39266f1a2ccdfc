//! Dispatch by method and path, and the handlers of shards, PutLogs and
//! logstores. PullLogs is in `pull`, consumer groups in `groups`.

use serde::{Deserialize, Serialize};
use sls_proto::{CompressType, Cursor, Decompressor, LogGroupBytes};

use super::Shared;
use super::groups;
use super::http::{Incoming, Reply};
use crate::call::{Call, CallKind};
use crate::error::ApiError;
use crate::store::{Logstore, Shard, keys};

/// The largest PutLogs body, as sent (compressed): 413 `PostBodyTooLarge`
/// beyond it (the service's limit).
const MAX_PUT_BODY: usize = 10 << 20;
/// The largest group, raw, and the most logs in one: the service's
/// limits, as the client knows them. A group beyond either is refused
/// whole with 400 `PostBodyTooLarge`: the PutLogs API reference gives that
/// status and code for "logs must be less than or equal to 3 MB and 4096
/// entries" (AlibabaCloudDocs/sls, the PutLogs page of the API reference;
/// the size limit has since grown to 5 MB, the docs' "Log group" page), and the
/// official SDKs refuse more than 4096 logs before sending.
use sls_client::{MAX_GROUP_BYTES as MAX_GROUP, MAX_LOGS_PER_GROUP as MAX_LOGS};

/// The shard JSON of ListShards, SplitShard and MergeShard.
#[derive(Serialize)]
struct ShardJson {
    #[serde(rename = "shardID")]
    shard_id: u32,
    status: &'static str,
    #[serde(rename = "inclusiveBeginKey")]
    begin: String,
    #[serde(rename = "exclusiveEndKey")]
    end: String,
    #[serde(rename = "createTime")]
    create_time: i64,
}

fn shard_json(shard: &Shard) -> ShardJson {
    ShardJson {
        shard_id: shard.id,
        status: shard.status.as_str(),
        begin: keys::format(shard.begin_key),
        end: keys::format(shard.end_key),
        create_time: shard.create_time,
    }
}

/// Runs the handler of a classified request.
pub(crate) fn route(shared: &Shared, req: &Incoming, call: &Call) -> Result<Reply, ApiError> {
    let ls = call.logstore.as_deref().unwrap_or("");
    let shard = call.shard.unwrap_or(0);
    let group = call.group.as_deref().unwrap_or("");
    match call.kind {
        CallKind::ListLogstores => list_logstores(shared, req),
        CallKind::CreateLogstore => create_logstore(shared, req),
        CallKind::GetLogstore => get_logstore(shared, req, ls),
        CallKind::DeleteLogstore => delete_logstore(shared, req, ls),
        CallKind::ListShards => list_shards(shared, req, ls),
        CallKind::SplitShard => split_shard(shared, req, ls, shard),
        CallKind::MergeShard => merge_shard(shared, req, ls, shard),
        CallKind::GetCursor => get_cursor(shared, req, ls, shard),
        CallKind::GetCursorTime => get_cursor_time(shared, req, ls, shard),
        CallKind::PullLogs => super::pull::pull_logs(shared, req, ls, shard),
        CallKind::PutLogs => {
            let hash_key = if req.segments.last().map(String::as_str) == Some("route") {
                Some(req.required("key")?)
            } else {
                None
            };
            put_logs(shared, req, ls, hash_key)
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

fn list_logstores(shared: &Shared, req: &Incoming) -> Result<Reply, ApiError> {
    let world = shared.world();
    let names: Vec<&String> = world.project(req.project()?)?.logstores.keys().collect();
    Ok(Reply::json(&serde_json::json!({
        "count": names.len(), "total": names.len(), "logstores": names,
    })))
}

#[derive(Deserialize)]
struct CreateLogstore {
    #[serde(rename = "logstoreName")]
    name: String,
    #[serde(default = "default_ttl")]
    ttl: u32,
    #[serde(rename = "shardCount", default = "default_shards")]
    shard_count: u32,
}

fn default_ttl() -> u32 {
    30
}

fn default_shards() -> u32 {
    2
}

fn create_logstore(shared: &Shared, req: &Incoming) -> Result<Reply, ApiError> {
    let body: CreateLogstore = req.json()?;
    if body.name.is_empty() || !(1..=256).contains(&body.shard_count) {
        return Err(ApiError::invalid(
            "logstoreName must be set and shardCount 1..=256",
        ));
    }
    let now = shared.clock.unix_seconds();
    let mut world = shared.world();
    world.project_mut(req.project()?)?.create_logstore(
        body.name,
        body.ttl,
        body.shard_count,
        now,
    )?;
    Ok(Reply::empty())
}

fn get_logstore(shared: &Shared, req: &Incoming, ls: &str) -> Result<Reply, ApiError> {
    let world = shared.world();
    let store = world.logstore(req.project()?, ls)?;
    Ok(Reply::json(&serde_json::json!({
        "logstoreName": ls,
        "ttl": store.ttl,
        "shardCount": store.shards.values().filter(|s| s.status == crate::ShardStatus::ReadWrite).count(),
    })))
}

fn delete_logstore(shared: &Shared, req: &Incoming, ls: &str) -> Result<Reply, ApiError> {
    let mut world = shared.world();
    let project = world.project_mut(req.project()?)?;
    project
        .logstores
        .remove(ls)
        .ok_or_else(|| ApiError::not_found("LogStoreNotExist", &format!("logstore {ls}")))?;
    Ok(Reply::empty())
}

fn list_shards(shared: &Shared, req: &Incoming, ls: &str) -> Result<Reply, ApiError> {
    let world = shared.world();
    let store = world.logstore(req.project()?, ls)?;
    let shards: Vec<ShardJson> = store.shards.values().map(shard_json).collect();
    Ok(Reply::json(&shards))
}

fn split_shard(shared: &Shared, req: &Incoming, ls: &str, id: u32) -> Result<Reply, ApiError> {
    let key = req.required("key")?;
    let now = shared.clock.unix_seconds();
    let mut world = shared.world();
    world.project(req.project()?)?.check_shard_quota(1)?;
    let store = world.logstore_mut(req.project()?, ls)?;
    let ids = store.split(id, key, now)?;
    Ok(shards_reply(store, &ids))
}

fn merge_shard(shared: &Shared, req: &Incoming, ls: &str, id: u32) -> Result<Reply, ApiError> {
    let now = shared.clock.unix_seconds();
    let mut world = shared.world();
    let store = world.logstore_mut(req.project()?, ls)?;
    let ids = store.merge(id, now)?;
    Ok(shards_reply(store, &ids))
}

/// The JSON of the shards a split or merge touched.
fn shards_reply(store: &Logstore, ids: &[u32]) -> Reply {
    let shards: Vec<ShardJson> = ids
        .iter()
        .filter_map(|id| store.shards.get(id))
        .map(shard_json)
        .collect();
    Reply::json(&shards)
}

/// Parses a cursor of `shard`, refusing ones outside it.
fn shard_cursor(shard: &Shard, text: &str) -> Result<i64, ApiError> {
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

fn get_cursor(shared: &Shared, req: &Incoming, ls: &str, id: u32) -> Result<Reply, ApiError> {
    let world = shared.world();
    let shard = world.logstore(req.project()?, ls)?.shard(id)?;
    let cursor = match req.required("from")? {
        "begin" => shard.begin_cursor(),
        "end" => shard.end_cursor(),
        time => shard.cursor_at(time.parse().map_err(|_| {
            ApiError::invalid(format!(
                "from must be begin, end or a Unix time, got {time:?}"
            ))
        })?),
    };
    Ok(Reply::json(
        &serde_json::json!({"cursor": Cursor::from_sequence(cursor).to_string()}),
    ))
}

fn get_cursor_time(shared: &Shared, req: &Incoming, ls: &str, id: u32) -> Result<Reply, ApiError> {
    let world = shared.world();
    let shard = world.logstore(req.project()?, ls)?.shard(id)?;
    let cursor = shard_cursor(shard, req.required("cursor")?)?;
    Ok(Reply::json(
        &serde_json::json!({"cursor_time": shard.cursor_time(cursor).to_string()}),
    ))
}

fn put_logs(
    shared: &Shared,
    req: &Incoming,
    ls: &str,
    hash_key: Option<&str>,
) -> Result<Reply, ApiError> {
    if req.body.len() > MAX_PUT_BODY {
        return Err(ApiError::new(
            413,
            "PostBodyTooLarge",
            "the body exceeds 10 MB",
        ));
    }
    let raw_size: u64 = req
        .header("x-log-bodyrawsize")
        .ok_or_else(|| {
            ApiError::bad_request("MissingBodyRawSize", "x-log-bodyrawsize is required")
        })?
        .trim()
        .parse()
        .map_err(|_| {
            ApiError::bad_request("InvalidBodyRawSize", "x-log-bodyrawsize is not a number")
        })?;
    let codec = CompressType::from_header(req.header("x-log-compresstype").unwrap_or(""))
        .map_err(|err| ApiError::bad_request("InvalidCompressType", err.to_string()))?;
    if raw_size > MAX_GROUP as u64 {
        return Err(ApiError::bad_request(
            "PostBodyTooLarge",
            format!("a log group holds at most {MAX_GROUP} bytes; this one has {raw_size}"),
        ));
    }
    let raw = Decompressor::with_max_raw_size(MAX_GROUP)
        .decompress(codec, req.body.clone(), raw_size)
        .map_err(|err| ApiError::bad_request("PostBodyUncompressError", err.to_string()))?;
    // Structure only: text is stored and served as sent, whatever its
    // encoding, as the service does (aliyun-log-python-sdk issue 105). The old PutLogs
    // reference lists 400 `InvalidEncoding` for "non-UTF8 characters", but
    // consumers do receive GBK, Latin-1 and binary text from the service.
    let group = LogGroupBytes::decode(raw)
        .map_err(|err| ApiError::invalid(format!("the body is not a LogGroup: {err}")))?;
    if group.log_count() > MAX_LOGS {
        return Err(ApiError::bad_request(
            "PostBodyTooLarge",
            format!(
                "a log group holds at most {MAX_LOGS} logs; this one has {}",
                group.log_count()
            ),
        ));
    }
    // The group's bytes as received: a pull returns them unchanged.
    let block = Shard::store_form(group.as_bytes());
    let now = shared.clock.unix_seconds();
    let mut world = shared.world();
    let store = world.logstore_mut(req.project()?, ls)?;
    let id = store.route(hash_key)?;
    store.shard_mut(id)?.append(block, now);
    Ok(Reply::empty())
}
