//! Logstore calls: list, create, get, delete.

use serde::Deserialize;

use super::Shared;
use super::http::{Incoming, Reply};
use crate::error::ApiError;

pub(crate) fn list(shared: &Shared, req: &Incoming) -> Result<Reply, ApiError> {
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

pub(crate) fn create(shared: &Shared, req: &Incoming) -> Result<Reply, ApiError> {
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

pub(crate) fn get(shared: &Shared, req: &Incoming, ls: &str) -> Result<Reply, ApiError> {
    let world = shared.world();
    let store = world.logstore(req.project()?, ls)?;
    Ok(Reply::json(&serde_json::json!({
        "logstoreName": ls,
        "ttl": store.ttl,
        "shardCount": store.shards.values().filter(|s| s.status == crate::ShardStatus::ReadWrite).count(),
    })))
}

pub(crate) fn delete(shared: &Shared, req: &Incoming, ls: &str) -> Result<Reply, ApiError> {
    let mut world = shared.world();
    let project = world.project_mut(req.project()?)?;
    project
        .logstores
        .remove(ls)
        .ok_or_else(|| ApiError::not_found("LogStoreNotExist", &format!("logstore {ls}")))?;
    Ok(Reply::empty())
}
