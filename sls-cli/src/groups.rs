//! `sls groups list` and `sls groups describe`, and the per-shard view
//! of a group that `reset` shares.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use sls_client::{Checkpoint, ConsumerGroup, CursorPosition, ShardStatus};
use sls_proto::Cursor;

use crate::conn::Target;
use crate::error::{CallContext, CliError};
use crate::shards::{self, status_name};
use crate::table::Table;
use crate::timefmt::{human, now_micros, put_time, rfc3339};

/// The consumer name `sls groups reset` writes checkpoints as. A
/// checkpoint it wrote has no owner.
pub(crate) const RESET_CONSUMER: &str = "sls-cli";

/// The group's checkpoints; `ConsumerGroupNotExist` for an unknown group.
pub(crate) async fn checkpoints(target: &Target, group: &str) -> Result<Vec<Checkpoint>, CliError> {
    target
        .client
        .get_checkpoints(&target.project, &target.logstore, group, None)
        .await
        .call("GetCheckPoint")
}

/// The group's settings.
pub(crate) async fn settings(target: &Target, group: &str) -> Result<ConsumerGroup, CliError> {
    let groups = target
        .client
        .list_consumer_groups(&target.project, &target.logstore)
        .await
        .call("ListConsumerGroup")?;
    groups
        .into_iter()
        .find(|g| g.name == group)
        .ok_or_else(|| CliError::Refused(format!("no consumer group {group:?} in the logstore")))
}

/// Who holds a shard, as far as its checkpoint tells: the consumer that
/// last wrote it, live while that was within the group's timeout.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    /// The consumer that last wrote the checkpoint (not `sls-cli`).
    pub(crate) consumer: Option<String>,
    /// When the checkpoint was last written, in Unix microseconds.
    pub(crate) updated_us: Option<i64>,
    /// Whether `consumer` wrote it within the group's timeout.
    pub(crate) live: bool,
}

impl Owner {
    /// The owner a checkpoint shows, `now_us` being now.
    pub(crate) fn of(checkpoint: Option<&Checkpoint>, timeout: u32, now_us: i64) -> Self {
        let updated_us = checkpoint.map(|c| c.update_time).filter(|t| *t > 0);
        let consumer = checkpoint
            .map(|c| c.consumer.clone())
            .filter(|c| !c.is_empty() && c != RESET_CONSUMER);
        let live = consumer.is_some()
            && updated_us.is_some_and(|t| now_us - t < i64::from(timeout) * 1_000_000);
        Self {
            consumer,
            updated_us,
            live,
        }
    }

    /// Seconds since the last update.
    pub(crate) fn ago(&self, now_us: i64) -> Option<i64> {
        self.updated_us.map(|t| (now_us - t).div_euclid(1_000_000))
    }
}

/// One shard of a group.
#[derive(Debug)]
struct Row {
    shard: u32,
    status: ShardStatus,
    checkpoint: Option<Cursor>,
    checkpoint_time: Option<i64>,
    end_time: i64,
    owner: Owner,
}

impl Row {
    fn lag(&self) -> Option<i64> {
        self.checkpoint_time.map(|t| (self.end_time - t).max(0))
    }
}

/// `sls groups list`.
pub(crate) async fn list(target: &Target, json: bool) -> Result<String, CliError> {
    let groups = target
        .client
        .list_consumer_groups(&target.project, &target.logstore)
        .await
        .call("ListConsumerGroup")?;
    if json {
        let groups: Vec<Value> = groups
            .iter()
            .map(|g| json!({"name": g.name, "timeout_seconds": g.timeout, "in_order": g.order}))
            .collect();
        let doc = json!({"project": target.project, "logstore": target.logstore, "groups": groups});
        return Ok(format!("{doc:#}\n"));
    }
    let mut table = Table::new(&["GROUP", "TIMEOUT", "IN ORDER"]);
    for g in &groups {
        table.row(vec![
            g.name.clone(),
            human(i64::from(g.timeout)),
            if g.order { "yes" } else { "no" }.into(),
        ]);
    }
    Ok(table.render())
}

/// What `sls groups describe` shows: the group's shards as of `now_us`.
#[derive(Debug)]
pub(crate) struct Description {
    group: String,
    settings: ConsumerGroup,
    now_us: i64,
    rows: Vec<Row>,
}

impl Description {
    /// Reads the group's checkpoints, settings and shards.
    pub(crate) async fn read(target: &Target, group: &str) -> Result<Self, CliError> {
        let saved = checkpoints(target, group).await?;
        let settings = settings(target, group).await?;
        let now_us = now_micros();
        let by_shard: BTreeMap<u32, &Checkpoint> = saved.iter().map(|c| (c.shard, c)).collect();
        let mut rows = Vec::new();
        for shard in shards::list(target).await? {
            let id = shard.shard_id;
            let saved = by_shard.get(&id).copied();
            let checkpoint = saved.and_then(|c| c.cursor);
            let checkpoint_time = match checkpoint {
                Some(cursor) => Some(shards::cursor_time(target, id, cursor).await?),
                None => None,
            };
            rows.push(Row {
                shard: id,
                status: shard.status,
                checkpoint,
                checkpoint_time,
                end_time: shards::time_at(target, id, CursorPosition::End).await?,
                owner: Owner::of(saved, settings.timeout, now_us),
            });
        }
        Ok(Self {
            group: group.to_owned(),
            settings,
            now_us,
            rows,
        })
    }

    /// The largest lag and its shard (the lowest id among equals).
    fn max_lag(&self) -> Option<(i64, u32)> {
        self.rows
            .iter()
            .filter_map(|r| r.lag().map(|l| (l, r.shard)))
            .max_by_key(|(lag, shard)| (*lag, std::cmp::Reverse(*shard)))
    }

    /// Shards no live consumer holds.
    fn unowned(&self) -> Vec<u32> {
        self.rows
            .iter()
            .filter(|r| !r.owner.live)
            .map(|r| r.shard)
            .collect()
    }

    /// The distinct live owners.
    fn consumers(&self) -> BTreeSet<&str> {
        self.rows
            .iter()
            .filter(|r| r.owner.live)
            .filter_map(|r| r.owner.consumer.as_deref())
            .collect()
    }

    /// The JSON document (`docs/cli.md` names its fields).
    pub(crate) fn to_json(&self, target: &Target) -> Value {
        let now_us = self.now_us;
        let shards: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let mut m = Map::new();
                m.insert("shard".into(), json!(r.shard));
                m.insert("status".into(), json!(status_name(r.status)));
                m.insert(
                    "checkpoint".into(),
                    json!(r.checkpoint.map(|c| c.to_string())),
                );
                put_time(&mut m, "checkpoint_time", r.checkpoint_time);
                put_time(&mut m, "end_time", Some(r.end_time));
                m.insert("lag_seconds".into(), json!(r.lag()));
                m.insert("consumer".into(), json!(r.owner.consumer));
                m.insert("owned".into(), json!(r.owner.live));
                put_time(
                    &mut m,
                    "updated_at",
                    r.owner.updated_us.map(|t| t.div_euclid(1_000_000)),
                );
                m.insert("updated_ago_seconds".into(), json!(r.owner.ago(now_us)));
                Value::Object(m)
            })
            .collect();
        let max_lag = self.max_lag();
        let mut doc = Map::new();
        doc.insert("project".into(), json!(target.project));
        doc.insert("logstore".into(), json!(target.logstore));
        doc.insert("group".into(), json!(self.group));
        doc.insert("timeout_seconds".into(), json!(self.settings.timeout));
        doc.insert("in_order".into(), json!(self.settings.order));
        put_time(&mut doc, "now", Some(now_us.div_euclid(1_000_000)));
        doc.insert("shards".into(), Value::Array(shards));
        doc.insert(
            "summary".into(),
            json!({
                "max_lag_seconds": max_lag.map(|(lag, _)| lag),
                "max_lag_shard": max_lag.map(|(_, shard)| shard),
                "unowned_shards": self.unowned(),
                "consumers": self.consumers(),
            }),
        );
        Value::Object(doc)
    }

    /// The table and the summary lines.
    pub(crate) fn to_table(&self) -> String {
        let now_us = self.now_us;
        let mut table = Table::new(&[
            "SHARD",
            "STATUS",
            "CHECKPOINT",
            "CHECKPOINT TIME",
            "END TIME",
            "LAG",
            "OWNER",
            "UPDATED",
        ]);
        for r in &self.rows {
            table.row(vec![
                r.shard.to_string(),
                status_name(r.status).into(),
                r.checkpoint.map_or_else(|| "-".into(), |c| c.to_string()),
                r.checkpoint_time.map_or_else(|| "-".into(), rfc3339),
                rfc3339(r.end_time),
                r.lag().map_or_else(|| "-".into(), lag_text),
                owner_text(&r.owner),
                r.owner
                    .ago(now_us)
                    .map_or_else(|| "never".into(), |s| format!("{} ago", human(s))),
            ]);
        }
        let mut out = table.render();
        out.push('\n');
        out.push_str(&format!(
            "group {}: timeout {}, {}\n",
            self.group,
            human(i64::from(self.settings.timeout)),
            if self.settings.order {
                "in order"
            } else {
                "not in order"
            }
        ));
        out.push_str(&match self.max_lag() {
            Some((lag, shard)) => format!("max lag: {} (shard {shard})\n", lag_text(lag)),
            None => "max lag: - (no checkpoints)\n".into(),
        });
        out.push_str(&format!("unowned shards: {}\n", list_text(&self.unowned())));
        let consumers: Vec<&str> = self.consumers().into_iter().collect();
        out.push_str(&format!(
            "consumers seen: {}\n",
            if consumers.is_empty() {
                "none".into()
            } else {
                format!("{} ({})", consumers.len(), consumers.join(", "))
            }
        ));
        out
    }
}

/// `sls groups describe GROUP`.
pub(crate) async fn describe(target: &Target, group: &str, json: bool) -> Result<String, CliError> {
    let description = Description::read(target, group).await?;
    Ok(if json {
        format!("{:#}\n", description.to_json(target))
    } else {
        description.to_table()
    })
}

/// `3m12s behind`, or `up to date`.
fn lag_text(lag: i64) -> String {
    if lag == 0 {
        "up to date".into()
    } else {
        format!("{} behind", human(lag))
    }
}

/// The owner cell: the live consumer, or why there is none.
fn owner_text(owner: &Owner) -> String {
    match (&owner.consumer, owner.live) {
        (Some(c), true) => c.clone(),
        (Some(c), false) => format!("(unowned; last {c})"),
        (None, _) => "(unowned)".into(),
    }
}

/// `2 (0, 3)` or `none`.
fn list_text(shards: &[u32]) -> String {
    if shards.is_empty() {
        return "none".into();
    }
    let ids: Vec<String> = shards.iter().map(u32::to_string).collect();
    format!("{} ({})", shards.len(), ids.join(", "))
}
