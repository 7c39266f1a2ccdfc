//! Consumer-group calls: create, update, list, delete, heartbeat,
//! checkpoints. The state machine is in `store::groups`.

use serde::{Deserialize, Serialize};
use sls_proto::Cursor;

use super::Shared;
use super::http::{Incoming, Reply};
use crate::clock::unix_seconds;
use crate::error::ApiError;
use crate::limits;
use crate::store::groups::ConsumerGroupState;
use sls_client::names::NameKind;

#[derive(Deserialize)]
struct CreateGroup {
    #[serde(rename = "consumerGroup")]
    name: String,
    timeout: u32,
    #[serde(default)]
    order: bool,
}

#[derive(Deserialize)]
struct UpdateGroup {
    timeout: Option<u32>,
    order: Option<bool>,
}

#[derive(Serialize)]
struct GroupJson<'a> {
    name: &'a str,
    timeout: u32,
    order: bool,
}

#[derive(Deserialize)]
struct CheckpointBody {
    shard: u32,
    checkpoint: String,
}

#[derive(Serialize)]
struct CheckpointJson {
    shard: u32,
    checkpoint: String,
    #[serde(rename = "updateTime")]
    update_time: i64,
    consumer: String,
}

fn now_ms(shared: &Shared) -> i64 {
    let now = shared.clock.now();
    unix_seconds(now) * 1000
        + i64::from(
            now.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_millis())
                .unwrap_or(0),
        )
}

pub(crate) fn create(shared: &Shared, req: &Incoming, ls: &str) -> Result<Reply, ApiError> {
    let body: CreateGroup = req.json()?;
    if body.name.is_empty() || body.timeout == 0 {
        return Err(ApiError::invalid(
            "consumerGroup must be set and timeout positive",
        ));
    }
    limits::check_name(NameKind::ConsumerGroup, &body.name)?;
    let mut world = shared.world();
    let store = world.logstore_mut(req.project()?, ls)?;
    if store.groups.contains_key(&body.name) {
        return Err(ApiError::bad_request(
            "ConsumerGroupAlreadyExist",
            format!("consumer group {} already exists", body.name),
        ));
    }
    if store.groups.len() >= limits::MAX_CONSUMER_GROUPS {
        return Err(limits::quota(
            "ConsumerGroupQuotaExceed",
            "consumer groups in a logstore",
            limits::MAX_CONSUMER_GROUPS,
        ));
    }
    store
        .groups
        .insert(body.name, ConsumerGroupState::new(body.timeout, body.order));
    Ok(Reply::empty())
}

pub(crate) fn update(
    shared: &Shared,
    req: &Incoming,
    ls: &str,
    group: &str,
) -> Result<Reply, ApiError> {
    let body: UpdateGroup = req.json()?;
    let mut world = shared.world();
    world
        .logstore_mut(req.project()?, ls)?
        .with_group(group, |g, _| {
            if let Some(timeout) = body.timeout.filter(|t| *t > 0) {
                g.timeout = timeout;
            }
            if let Some(order) = body.order {
                g.order = order;
            }
            Ok(())
        })?;
    Ok(Reply::empty())
}

pub(crate) fn list(shared: &Shared, req: &Incoming, ls: &str) -> Result<Reply, ApiError> {
    let world = shared.world();
    let store = world.logstore(req.project()?, ls)?;
    let groups: Vec<GroupJson<'_>> = store
        .groups
        .iter()
        .map(|(name, g)| GroupJson {
            name,
            timeout: g.timeout,
            order: g.order,
        })
        .collect();
    Ok(Reply::json(&groups))
}

pub(crate) fn delete(
    shared: &Shared,
    req: &Incoming,
    ls: &str,
    group: &str,
) -> Result<Reply, ApiError> {
    let mut world = shared.world();
    world
        .logstore_mut(req.project()?, ls)?
        .groups
        .remove(group)
        .ok_or_else(|| {
            ApiError::not_found("ConsumerGroupNotExist", &format!("consumer group {group}"))
        })?;
    Ok(Reply::empty())
}

pub(crate) fn heartbeat(
    shared: &Shared,
    req: &Incoming,
    ls: &str,
    group: &str,
) -> Result<Reply, ApiError> {
    let consumer = req.required("consumer")?.to_owned();
    limits::check_name(NameKind::Consumer, &consumer)?;
    let held: Vec<u32> = if req.body.is_empty() {
        Vec::new()
    } else {
        req.json()?
    };
    let now = now_ms(shared);
    let mut world = shared.world();
    let shards = world
        .logstore_mut(req.project()?, ls)?
        .with_group(group, |g, store| g.heartbeat(store, &consumer, &held, now))?;
    Ok(Reply::json(&shards))
}

pub(crate) fn update_checkpoint(
    shared: &Shared,
    req: &Incoming,
    ls: &str,
    group: &str,
) -> Result<Reply, ApiError> {
    let consumer = req.required("consumer")?.to_owned();
    let force = req
        .param(&["forceSuccess"])
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let body: CheckpointBody = req.json()?;
    let cursor = Cursor::parse(&body.checkpoint)
        .map_err(|err| {
            ApiError::bad_request("InvalidShardCheckPoint", format!("checkpoint: {err}"))
        })?
        .sequence();
    let now_us = now_ms(shared) * 1000;
    let mut world = shared.world();
    world
        .logstore_mut(req.project()?, ls)?
        .with_group(group, |g, store| {
            g.update_checkpoint(store, &consumer, body.shard, cursor, force, now_us)
        })?;
    Ok(Reply::empty())
}

/// GetCheckPoint: the group's checkpoints, or `shard`'s alone.
pub(crate) fn checkpoints(
    shared: &Shared,
    req: &Incoming,
    ls: &str,
    group: &str,
    shard: Option<u32>,
) -> Result<Reply, ApiError> {
    let mut world = shared.world();
    let rows = world
        .logstore_mut(req.project()?, ls)?
        .with_group(group, |g, store| {
            if let Some(id) = shard {
                store.shard(id)?;
            }
            Ok(g.checkpoints(store, shard))
        })?;
    let rows: Vec<CheckpointJson> = rows
        .into_iter()
        .map(|row| CheckpointJson {
            shard: row.shard,
            checkpoint: row
                .checkpoint
                .map(|c| Cursor::from_sequence(c).to_string())
                .unwrap_or_default(),
            update_time: row.update_time_us,
            consumer: row.consumer,
        })
        .collect();
    Ok(Reply::json(&rows))
}
