//! Shard calls: list, split, merge, and cursors by position or time.

use serde::Serialize;
use sls_proto::Cursor;

use super::Shared;
use super::cursors::shard_cursor;
use super::http::{Incoming, Reply};
use crate::error::ApiError;
use crate::store::{Logstore, Shard, keys};

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

pub(crate) fn list(shared: &Shared, req: &Incoming, ls: &str) -> Result<Reply, ApiError> {
    let world = shared.world();
    let store = world.logstore(req.project()?, ls)?;
    let shards: Vec<ShardJson> = store.shards.values().map(shard_json).collect();
    Ok(Reply::json(&shards))
}

pub(crate) fn split(shared: &Shared, req: &Incoming, ls: &str, id: u32) -> Result<Reply, ApiError> {
    let key = req.required("key")?;
    let now = shared.clock.unix_seconds();
    let mut world = shared.world();
    world.project(req.project()?)?.check_shard_quota(1)?;
    let store = world.logstore_mut(req.project()?, ls)?;
    let ids = store.split(id, key, now)?;
    Ok(shards_reply(store, &ids))
}

pub(crate) fn merge(shared: &Shared, req: &Incoming, ls: &str, id: u32) -> Result<Reply, ApiError> {
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

pub(crate) fn cursor(
    shared: &Shared,
    req: &Incoming,
    ls: &str,
    id: u32,
) -> Result<Reply, ApiError> {
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

pub(crate) fn cursor_time(
    shared: &Shared,
    req: &Incoming,
    ls: &str,
    id: u32,
) -> Result<Reply, ApiError> {
    let world = shared.world();
    let shard = world.logstore(req.project()?, ls)?.shard(id)?;
    let cursor = shard_cursor(shard, req.required("cursor")?)?;
    Ok(Reply::json(
        &serde_json::json!({"cursor_time": shard.cursor_time(cursor).to_string()}),
    ))
}
