//! A way into the fake server for fuzz targets (feature `fuzzing`, off by
//! default). **Not a stable API**: it exists for the `fake_server` fuzz
//! target (`fuzz/fuzz_targets/fake_server.rs`) and may change with it.
//!
//! [`Harness`] runs one request at a time through the very function that
//! answers a request hyper parsed from a socket (body limit, parsing,
//! classification, fault plan, signature and date checks, routing, the
//! handlers, the reply and its request id), with no socket and no
//! background task. [`Harness::sign`] signs a request with sls-client's
//! signing functions first, so that arbitrary paths, queries, headers and
//! bodies get past authentication and reach the handlers.
//!
//! ```
//! use bytes::Bytes;
//! use sls_client::signing::SignatureVersion;
//! use sls_testkit::fuzzing::Harness;
//!
//! let mut harness = Harness::new();
//! let mut request = http::Request::get("/logstores/app/shards")
//!     .header("host", Harness::HOST)
//!     .body(Bytes::new())
//!     .unwrap();
//! harness.sign(&mut request, &SignatureVersion::V1);
//! let response = harness.call(request).unwrap();
//! assert_eq!(response.status, 200);
//! harness.reset();
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use sls_client::Credentials;
use sls_client::signing::{SignableParts, SignatureVersion, sign};
use sls_proto::{LogGroup, LogGroupBytes};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::handle::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, FakeLogHub};
use crate::server::http::Incoming;
use crate::server::{self, BoxError, Shared};

/// A fake server without a socket, and a world to serve:
///
/// - project [`Harness::PROJECT`] (`demo`), reached with
///   `Host: `[`Harness::HOST`];
/// - logstore [`Harness::LOGSTORE`] (`app`) with 2 shards, holding
///   [`Harness::STORED_GROUPS`] log groups each (cursors of shard `n` start
///   at `(n + 1) * 10^12`);
/// - consumer group [`Harness::GROUP`] (`cg`), heartbeat timeout 60 s,
///   ordered;
/// - the credentials of [`Harness::credentials`] (the default AccessKey,
///   with an STS token), and date checks on;
/// - a manual clock stopped at [`Harness::NOW`], so every run is the same;
/// - no fault plan.
///
/// Requests change the world; [`Harness::reset`] brings it back.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    credentials: Credentials,
    clock: Clock,
    /// Kept so the server's stop signal never fires.
    stop: watch::Sender<bool>,
}

/// A response, as hyper would send it: status, headers (with
/// `x-log-requestid`) and the whole body.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The body; for an error, JSON with `errorCode` and `errorMessage`.
    pub body: Bytes,
}

impl Harness {
    /// The project of the world.
    pub const PROJECT: &'static str = "demo";
    /// A `Host` header naming [`Harness::PROJECT`].
    pub const HOST: &'static str = "demo.127.0.0.1:7878";
    /// The logstore of the world (2 shards, ids 0 and 1).
    pub const LOGSTORE: &'static str = "app";
    /// The consumer group on [`Harness::LOGSTORE`].
    pub const GROUP: &'static str = "cg";
    /// The log groups stored in each shard at the start.
    pub const STORED_GROUPS: usize = 3;
    /// The STS token the server requires (signing adds it).
    pub const SECURITY_TOKEN: &'static str = "fuzz-security-token";
    /// The server's time, in seconds since the Unix epoch (2023-11-14).
    pub const NOW: u64 = 1_700_000_000;

    /// Builds the world described on [`Harness`].
    ///
    /// # Panics
    ///
    /// If a single-threaded tokio runtime cannot be built.
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
        let (stop, stopped) = watch::channel(false);
        let (shared, credentials, clock) = world(stopped);
        Self {
            runtime,
            shared,
            credentials,
            clock,
            stop,
        }
    }

    /// Brings the world back to how [`Harness::new`] built it, and empties
    /// the request log.
    pub fn reset(&mut self) {
        let (shared, credentials, clock) = world(self.stop.subscribe());
        self.shared = shared;
        self.credentials = credentials;
        self.clock = clock;
    }

    /// The only credentials the server accepts.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The server's time (that of [`Harness::NOW`]).
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Signs `request` as sls-client would, at the server's time: the
    /// signature covers the path, the query as the server decodes it, the
    /// headers and the body. The headers signing adds (`Date`,
    /// `Content-MD5`, `x-log-signaturemethod`, `x-log-date`,
    /// `x-log-content-sha256`, `x-acs-security-token`, `Authorization`)
    /// replace any of the same name.
    pub fn sign(&self, request: &mut http::Request<Bytes>, version: &SignatureVersion) {
        // The request as the server will parse it, for the decoded query.
        let (parts, body) = std::mem::take(request).into_parts();
        let incoming = Incoming::new(parts.clone(), body.clone());
        let signable = SignableParts::new(&incoming.headers, &incoming.query);
        let output = sign(
            &signable.request(incoming.method.as_str(), &incoming.raw_path, &body),
            &self.credentials,
            version,
            self.clock.now(),
        );
        *request = http::Request::from_parts(parts, body);
        let headers = request.headers_mut();
        for (name, value) in output.headers() {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
    }

    /// Serves `request` as the server serves one hyper parsed: it should
    /// look like one (a `Host` header naming the project, no absolute URI
    /// needed). Requests are taken as they are; [`Harness::sign`] them to
    /// get past authentication.
    ///
    /// # Errors
    ///
    /// When the server would close the connection instead of answering
    /// (only by a fault plan, and the harness has none).
    pub fn call(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<Response, Box<dyn std::error::Error + Send + Sync>> {
        let request = request.map(Full::new);
        self.runtime.block_on(async {
            let response = server::serve_request(self.shared.clone(), request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, BoxError>(Response {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        })
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

/// The world of [`Harness`], served by a [`Shared`] with no listener.
fn world(stop: watch::Receiver<bool>) -> (Arc<Shared>, Credentials, Clock) {
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(Harness::NOW));
    let credentials = Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
        .with_security_token(Harness::SECURITY_TOKEN);
    let (shared, credentials, clock) = FakeLogHub::builder()
        .credentials(credentials)
        .clock(clock)
        .logstore(Harness::PROJECT, Harness::LOGSTORE, 2)
        .consumer_group(
            Harness::PROJECT,
            Harness::LOGSTORE,
            Harness::GROUP,
            60,
            true,
        )
        .into_shared(stop);
    {
        let now = clock.unix_seconds();
        let mut world = shared.world();
        if let Ok(store) = world.logstore_mut(Harness::PROJECT, Harness::LOGSTORE) {
            for shard in store.shards.values_mut() {
                for n in 1..=Harness::STORED_GROUPS {
                    let group = LogGroupBytes::encode(&LogGroup::synthetic(n, 2));
                    shard.append(
                        crate::store::Shard::store_form(group.as_bytes()),
                        now - 60 * (Harness::STORED_GROUPS - n) as i64,
                    );
                }
            }
        }
    }
    (shared, credentials, clock)
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("credentials", &self.credentials)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}
