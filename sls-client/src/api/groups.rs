//! Consumer groups, heartbeats and checkpoints.

use http::Method;
use serde::{Deserialize, Serialize};
use sls_proto::Cursor;

use super::logstore_path;
use crate::client::parse_json;
use crate::request::SlsRequest;
use crate::{Client, Error};

/// A consumer group's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConsumerGroup {
    /// The group's name.
    #[serde(rename = "consumerGroup", alias = "name")]
    pub name: String,
    /// Seconds without a heartbeat after which a consumer is dropped.
    pub timeout: u32,
    /// Whether children shards wait until their parents are consumed.
    pub order: bool,
}

impl ConsumerGroup {
    /// A group named `name` that drops a consumer after `timeout` seconds
    /// without a heartbeat; with `order`, children shards wait until their
    /// parents are consumed.
    pub fn new(name: impl Into<String>, timeout: u32, order: bool) -> Self {
        Self {
            name: name.into(),
            timeout,
            order,
        }
    }
}

/// A shard's saved position in a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The shard.
    pub shard: u32,
    /// The saved cursor; `None` when the shard was never committed.
    pub cursor: Option<Cursor>,
    /// When it was saved, in microseconds since the epoch.
    pub update_time: i64,
    /// Who saved it.
    pub consumer: String,
}

/// A checkpoint to save: [`Client::update_checkpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointUpdate {
    /// The shard.
    pub shard: u32,
    /// The cursor of the next group to process.
    pub cursor: Cursor,
    /// Save even if the consumer does not own the shard (`forceSuccess`).
    pub force: bool,
}

impl CheckpointUpdate {
    /// Saves `cursor` for `shard`, only if the consumer owns the shard.
    pub fn new(shard: u32, cursor: Cursor) -> Self {
        Self {
            shard,
            cursor,
            force: false,
        }
    }

    /// Saves whoever owns the shard.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }
}

#[derive(Deserialize)]
struct RawCheckpoint {
    shard: u32,
    checkpoint: String,
    #[serde(rename = "updateTime", default)]
    update_time: i64,
    #[serde(default)]
    consumer: String,
}

fn group_path(logstore: &str, group: &str) -> String {
    format!("{}/consumergroups/{group}", logstore_path(logstore))
}

impl Client {
    /// Creates a consumer group; fails with `ConsumerGroupAlreadyExist` if
    /// it exists.
    ///
    /// Retried like a read: a repeat of a create that did land fails with
    /// `ConsumerGroupAlreadyExist`, which callers handle anyway.
    pub async fn create_consumer_group(
        &self,
        project: &str,
        logstore: &str,
        group: &ConsumerGroup,
    ) -> Result<(), Error> {
        let request = SlsRequest::new(
            Method::POST,
            Some(project),
            format!("{}/consumergroups", logstore_path(logstore)),
        )
        .idempotent(true);
        self.send_json(request, group).await.map(drop)
    }

    /// Changes a group's timeout and/or order flag.
    pub async fn update_consumer_group(
        &self,
        project: &str,
        logstore: &str,
        group: &str,
        timeout: Option<u32>,
        order: Option<bool>,
    ) -> Result<(), Error> {
        #[derive(Serialize)]
        struct Body {
            #[serde(skip_serializing_if = "Option::is_none")]
            timeout: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            order: Option<bool>,
        }
        let request = SlsRequest::new(Method::PUT, Some(project), group_path(logstore, group));
        self.send_json(request, &Body { timeout, order })
            .await
            .map(drop)
    }

    /// Lists a logstore's consumer groups.
    pub async fn list_consumer_groups(
        &self,
        project: &str,
        logstore: &str,
    ) -> Result<Vec<ConsumerGroup>, Error> {
        let request = SlsRequest::new(
            Method::GET,
            Some(project),
            format!("{}/consumergroups", logstore_path(logstore)),
        );
        parse_json(&self.send(request).await?, "ListConsumerGroup")
    }

    /// Deletes a consumer group and its checkpoints.
    pub async fn delete_consumer_group(
        &self,
        project: &str,
        logstore: &str,
        group: &str,
    ) -> Result<(), Error> {
        let request = SlsRequest::new(Method::DELETE, Some(project), group_path(logstore, group));
        self.send(request).await.map(drop)
    }

    /// Sends a heartbeat with the shards `consumer` holds; returns the
    /// shards it should hold.
    pub async fn heartbeat(
        &self,
        project: &str,
        logstore: &str,
        group: &str,
        consumer: &str,
        held: &[u32],
    ) -> Result<Vec<u32>, Error> {
        // Repeating a heartbeat has the effect of sending it once.
        let request = SlsRequest::new(Method::POST, Some(project), group_path(logstore, group))
            .query("type", "heartbeat")
            .query("consumer", consumer)
            .idempotent(true);
        parse_json(
            &self.send_json(request, &held).await?,
            "ConsumerGroupHeartBeat",
        )
    }

    /// Saves a shard's checkpoint for `consumer`.
    pub async fn update_checkpoint(
        &self,
        project: &str,
        logstore: &str,
        group: &str,
        consumer: &str,
        update: CheckpointUpdate,
    ) -> Result<(), Error> {
        let CheckpointUpdate {
            shard,
            cursor,
            force,
        } = update;
        #[derive(Serialize)]
        struct Body {
            shard: u32,
            checkpoint: String,
        }
        let request = SlsRequest::new(Method::POST, Some(project), group_path(logstore, group))
            .query("type", "checkpoint")
            .query("consumer", consumer)
            .query("forceSuccess", if force { "true" } else { "false" })
            .idempotent(true);
        let body = Body {
            shard,
            checkpoint: cursor.to_string(),
        };
        self.send_json(request, &body).await.map(drop)
    }

    /// Reads the checkpoints of a group, of one shard or of all.
    pub async fn get_checkpoints(
        &self,
        project: &str,
        logstore: &str,
        group: &str,
        shard: Option<u32>,
    ) -> Result<Vec<Checkpoint>, Error> {
        let mut request = SlsRequest::new(Method::GET, Some(project), group_path(logstore, group));
        if let Some(shard) = shard {
            request = request.query("shard", shard.to_string());
        }
        let raw: Vec<RawCheckpoint> = parse_json(&self.send(request).await?, "GetCheckPoint")?;
        raw.into_iter()
            .map(|c| {
                let cursor = match c.checkpoint.as_str() {
                    "" => None,
                    text => Some(Cursor::parse(text).map_err(|err| {
                        Error::Response(format!(
                            "GetCheckPoint: bad checkpoint of shard {}: {err}",
                            c.shard
                        ))
                    })?),
                };
                Ok(Checkpoint {
                    shard: c.shard,
                    cursor,
                    update_time: c.update_time,
                    consumer: c.consumer,
                })
            })
            .collect()
    }
}
