//! A signed HTTP client for Alibaba Cloud Log Service (SLS, "LogHub"):
//! shards and cursors, PullLogs and PutLogs, logstores, consumer groups,
//! heartbeats and checkpoints, with v1 and v4 signatures, retries, proxies
//! and rustls.
//!
//! Part of sls-rs: [sls-proto](https://docs.rs/sls-proto) (wire types) ·
//! **sls-client** (this crate) ·
//! [sls-consumer](https://docs.rs/sls-consumer) (consumer groups on top of
//! this client) · [sls-testkit](https://docs.rs/sls-testkit) (a fake
//! LogHub for tests, used below).
//!
//! These docs are the reference (types, methods, errors). An overview of
//! the calls, retries, credentials, proxies and TLS roots, and the
//! service's behaviour this client relies on, with public sources, are in
//! the sls-rs guide, the `docs/` folder of the sls-rs repository (chapters
//! "The client and the wire format" and the protocol notes).
//!
//! ```
//! use sls_client::{Client, CursorPosition, PullLogsRequest, PutLogsRequest};
//! use sls_proto::LogGroup;
//! use sls_testkit::FakeLogHub;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A fake LogHub on 127.0.0.1 stands in for the service.
//! let hub = FakeLogHub::builder().logstore("demo", "app", 2).start().await?;
//! let client = Client::builder(hub.endpoint()) // "https://cn-hangzhou.log.aliyuncs.com" for real
//!     .credentials(hub.credentials().clone()) // EnvCredentials::new() for real
//!     .build()?;
//!
//! let group = LogGroup::builder().topic("web").log(1_700_000_000, [("status", "200")]).build();
//! client.put_logs(PutLogsRequest::from_group("demo", "app", &group)).await?;
//!
//! let mut pulled = 0;
//! for shard in client.list_shards("demo", "app").await? {
//!     let cursor = client.get_cursor("demo", "app", shard.shard_id, CursorPosition::Begin).await?;
//!     let answer = client.pull_logs(PullLogsRequest::new("demo", "app", shard.shard_id, cursor)).await?;
//!     for group in &answer.groups {
//!         for log in group.logs() {
//!             assert_eq!(log.get("status"), Some("200".into()));
//!             pulled += 1;
//!         }
//!     }
//! }
//! assert_eq!(pulled, 1);
//! # hub.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! This crate has no optional features: TLS is rustls with the `ring`
//! provider, with webpki's roots and optionally the system's.
//!
//! # Use
//!
//! [`Client::builder`] configures a client of one endpoint; its methods are
//! the calls a consumer and a producer need (shards and cursors, PullLogs and
//! PutLogs, logstores, consumer groups, heartbeats and checkpoints), each
//! with typed requests and responses. Every call goes through one tower
//! stack (see `stack`): retry, signing, then the HTTP transport.
//!
//! ```no_run
//! use sls_client::{Client, CursorPosition, EnvCredentials, PullLogsRequest, PutLogsRequest};
//! use sls_proto::LogGroup;
//!
//! async fn run() -> Result<(), sls_client::Error> {
//!     let client = Client::builder("https://cn-hangzhou.log.aliyuncs.com")
//!         .credentials(EnvCredentials::new()) // ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN
//!         .build()?;
//!
//!     let group = LogGroup::builder().topic("app").log(1_700_000_000, [("level", "info")]).build();
//!     client.put_logs(PutLogsRequest::from_group("proj", "store", &group)).await?;
//!
//!     let cursor = client.get_cursor("proj", "store", 0, CursorPosition::Begin).await?;
//!     let pulled = client.pull_logs(PullLogsRequest::new("proj", "store", 0, cursor)).await?;
//!     for group in &pulled.groups {
//!         for log in group.logs() {
//!             println!("{:?}", log.contents().collect::<Vec<_>>());
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! A failed call is an [`Error`]; [`Error::error_code`] gives the service's
//! error code as an [`ErrorCode`] to match on, and [`Error::retry_kind`]
//! whether trying again may help. The client retries what may be retried
//! itself ([`retry::RetryPolicy`], 5 attempts by default);
//! [`Client::with_retry_policy`] gives a client of the same endpoint,
//! credentials and connection pool with another policy, such as
//! [`RetryPolicy::never`](retry::RetryPolicy::never) for a caller that
//! retries by itself.
//!
//! # Layout
//! - `client`: [`Client`], [`ClientBuilder`].
//! - `api`: the typed calls and their request and response types.
//! - `endpoint`: [`Endpoint`]: where requests go and the project's `Host`.
//! - `request`: [`SlsRequest`], [`SlsResponse`], what the stack carries.
//! - `stack`: the tower layers, composed in one place.
//! - `transport`: hyper-util's pooled HTTP/1.1 client, rustls for https.
//! - `proxy`: [`Proxy`] (the proxy variables by default, or one set by
//!   hand) and the connector that tunnels through it (CONNECT).
//! - `tls`: the roots `https://` endpoints are checked against: webpki's,
//!   the system's ([`ClientBuilder::tls_native_roots`]) and extra ones
//!   ([`ClientBuilder::add_root_certificates_pem`]).
//! - `credentials`: [`Credentials`], the [`ProvideCredentials`] trait,
//!   [`StaticCredentials`], [`EnvCredentials`] and [`RefreshingCredentials`].
//! - `error`: [`Error`], [`ServerError`], [`ErrorCode`] (the service's
//!   error codes, typed, and which of them are retryable) and
//!   [`RetryKind`].
//! - [`names`]: the service's naming rules for projects, logstores,
//!   consumer groups and consumers, shared with the consumer and the fake.
//! - [`retry`]: [`retry::RetryPolicy`] (a `tower::retry::Policy`) and
//!   [`retry::Backoff`].
//! - [`signing`]: v1 (HMAC-SHA1) and v4 (SLS4-HMAC-SHA256) request
//!   signatures as pure functions.

mod api;
mod client;
mod credentials;
mod endpoint;
mod error;
pub mod names;
mod proxy;
mod request;
pub mod retry;
pub mod signing;
mod stack;
mod tls;
mod transport;

pub use api::buffers::PullBuffers;
pub use api::groups::{Checkpoint, CheckpointUpdate, ConsumerGroup};
pub use api::logs::{
    MAX_GROUP_BYTES, MAX_LOGS_PER_GROUP, MAX_PULL_COUNT, OFFLOAD_RAW_SIZE, PullLogsRequest,
    PullLogsResponse, PutLogsRequest,
};
pub use api::logstores::Logstore;
pub use api::shards::{CursorPosition, Shard, ShardStatus};
pub use client::{Client, ClientBuilder, MIN_RESPONSE_SIZE};
pub use credentials::{
    Credentials, CredentialsError, EnvCredentials, Environment, ProvideCredentials, ProvideFuture,
    RefreshingCredentials, StaticCredentials,
};
pub use endpoint::{Endpoint, Scheme};
pub use error::{BoxError, Error, ErrorCode, RetryKind, Sent, ServerError};
pub use proxy::Proxy;
pub use request::{SlsRequest, SlsResponse};

/// The crate README's code, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
