//! A signed client for Alibaba Cloud Log Service (SLS, "LogHub").
//!
//! [`Client::builder`] configures a client of one endpoint; its methods are
//! the calls a consumer and a producer need (shards and cursors, PullLogs and
//! PutLogs, logstores, consumer groups, heartbeats and checkpoints), each
//! with typed requests and responses. Every call goes through one tower
//! stack (see `stack`): retry, signing, then the HTTP transport.
//!
//! # Layout
//! - `client`: [`Client`], [`ClientBuilder`].
//! - `api`: the typed calls and their request and response types.
//! - `endpoint`: [`Endpoint`]: where requests go and the project's `Host`.
//! - `request`: [`SlsRequest`], [`SlsResponse`], what the stack carries.
//! - `stack`: the tower layers, composed in one place.
//! - `transport`: hyper-util's pooled HTTP/1.1 client, rustls for https.
//! - `credentials`: [`Credentials`], the [`ProvideCredentials`] trait,
//!   [`StaticCredentials`], [`EnvCredentials`] and [`RefreshingCredentials`].
//! - `error`: [`Error`], [`ServerError`], [`RetryKind`] and the code lists
//!   that classify errors.
//! - [`retry`]: [`retry::RetryPolicy`] (a `tower::retry::Policy`) and
//!   [`retry::Backoff`].
//! - [`signing`]: v1 (HMAC-SHA1) and v4 (SLS4-HMAC-SHA256) request
//!   signatures as pure functions.

mod api;
mod client;
mod credentials;
mod endpoint;
mod error;
mod request;
pub mod retry;
pub mod signing;
mod stack;
mod transport;

pub use api::groups::{Checkpoint, CheckpointUpdate, ConsumerGroup};
pub use api::logs::{
    MAX_GROUP_BYTES, MAX_LOGS_PER_GROUP, MAX_PULL_COUNT, PullLogsRequest, PullLogsResponse,
    PutLogsRequest,
};
pub use api::logstores::Logstore;
pub use api::shards::{CursorPosition, Shard, ShardStatus};
pub use client::{Client, ClientBuilder};
pub use credentials::{
    Credentials, CredentialsError, EnvCredentials, Environment, ProvideCredentials, ProvideFuture,
    RefreshingCredentials, StaticCredentials,
};
pub use endpoint::{Endpoint, Scheme};
pub use error::{
    BoxError, Error, RetryKind, Sent, ServerError, THROTTLING_CODES, TRANSIENT_CODES, code_matches,
};
pub use request::{SlsRequest, SlsResponse};
