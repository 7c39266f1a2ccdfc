//! Logstores.

use http::Method;
use serde::{Deserialize, Serialize};

use super::logstore_path;
use crate::client::parse_json;
use crate::request::SlsRequest;
use crate::{Client, Error};

/// A logstore's settings, as created and as returned by GetLogstore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Logstore {
    /// The name.
    #[serde(rename = "logstoreName")]
    pub name: String,
    /// Days data is kept.
    pub ttl: u32,
    /// The number of shards at creation.
    #[serde(rename = "shardCount")]
    pub shard_count: u32,
}

impl Logstore {
    /// A logstore with `shard_count` shards keeping data `ttl` days.
    pub fn new(name: impl Into<String>, ttl: u32, shard_count: u32) -> Self {
        Self {
            name: name.into(),
            ttl,
            shard_count,
        }
    }
}

impl Client {
    /// Creates a logstore.
    pub async fn create_logstore(&self, project: &str, logstore: &Logstore) -> Result<(), Error> {
        let request = SlsRequest::new(Method::POST, Some(project), "/logstores");
        self.send_json(request, logstore).await.map(drop)
    }

    /// Reads a logstore's settings.
    pub async fn get_logstore(&self, project: &str, logstore: &str) -> Result<Logstore, Error> {
        let request = SlsRequest::new(Method::GET, Some(project), logstore_path(logstore));
        parse_json(&self.send(request).await?, "GetLogstore")
    }

    /// Lists the logstores of a project.
    pub async fn list_logstores(&self, project: &str) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct Body {
            logstores: Vec<String>,
        }
        let request = SlsRequest::new(Method::GET, Some(project), "/logstores")
            .query("offset", "0")
            .query("size", "500");
        let body: Body = parse_json(&self.send(request).await?, "ListLogstores")?;
        Ok(body.logstores)
    }

    /// Deletes a logstore and its data.
    pub async fn delete_logstore(&self, project: &str, logstore: &str) -> Result<(), Error> {
        let request = SlsRequest::new(Method::DELETE, Some(project), logstore_path(logstore));
        self.send(request).await.map(drop)
    }
}
