//! PullLogs and PutLogs.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method};
use sls_proto::{CompressType, Cursor, LogGroup, LogGroupBytes, LogGroupListView};

use super::buffers::{Buffers, PullBuffers};
use super::logstore_path;
use crate::request::{BODY_RAW_SIZE, COMPRESS_TYPE, SlsRequest, header_str};
use crate::{Client, Error};

/// The most log groups one pull returns.
pub const MAX_PULL_COUNT: u32 = 1000;
/// The most logs in one group.
pub const MAX_LOGS_PER_GROUP: usize = 4096;
/// The largest group, encoded.
pub const MAX_GROUP_BYTES: usize = 5 << 20;

/// A PullLogs call: up to `count` groups of `shard` from `cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullLogsRequest {
    project: String,
    logstore: String,
    shard: u32,
    cursor: Cursor,
    count: u32,
    end_cursor: Option<Cursor>,
    query: Option<String>,
    processor: Option<String>,
    accept: CompressType,
    max_raw_size: Option<u64>,
    buffers: Buffers,
}

/// Bodies at least this large (decompressed) are decompressed and
/// validated on tokio's blocking pool, not on an async worker thread: a
/// 64 MiB body takes tens of milliseconds, long enough to delay every
/// other task of that thread.
pub const OFFLOAD_RAW_SIZE: u64 = 1 << 20;

impl PullLogsRequest {
    /// Pulls from `cursor`, up to 1000 groups.
    pub fn new(project: &str, logstore: &str, shard: u32, cursor: Cursor) -> Self {
        Self {
            project: project.to_owned(),
            logstore: logstore.to_owned(),
            shard,
            cursor,
            count: MAX_PULL_COUNT,
            end_cursor: None,
            query: None,
            processor: None,
            accept: CompressType::Lz4,
            max_raw_size: None,
            buffers: Buffers::default(),
        }
    }

    /// Reads the body and decompresses it into buffers from `buffers`
    /// instead of fresh ones (see [`PullBuffers`]).
    pub fn buffers(mut self, buffers: Arc<dyn PullBuffers>) -> Self {
        self.buffers = Buffers(Some(buffers));
        self
    }

    /// Refuses an answer that declares more than `limit` decompressed
    /// bytes, with [`Error::TooLarge`], from its headers: before its body
    /// is read, decompressed or decoded, so a caller with a memory budget
    /// never holds more than it allowed. The client's decompressor cap
    /// ([`Decompressor::max_raw_size`](sls_proto::Decompressor::max_raw_size))
    /// applies as well, whichever is lower.
    pub fn max_raw_size(mut self, limit: u64) -> Self {
        self.max_raw_size = Some(limit);
        self
    }

    /// The shard pulled from.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// The cursor pulled from.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// The most groups asked for.
    pub fn group_count(&self) -> u32 {
        self.count
    }

    /// The body compression to ask for (`Accept-Encoding`, default lz4);
    /// the service may answer with another, which is decoded all the same.
    pub fn accept_encoding(mut self, codec: CompressType) -> Self {
        self.accept = codec;
        self
    }

    /// At most `count` groups (1..=1000).
    pub fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Stops before `end` (exclusive).
    pub fn end_cursor(mut self, end: Cursor) -> Self {
        self.end_cursor = Some(end);
        self
    }

    /// Filters and transforms on the server with an SPL query (sent as
    /// `query`, with `pullMode=scan_on_stream` as the Go and Python SDKs
    /// send it). The official SDKs' docs prefer a named consume processor
    /// ([`PullLogsRequest::processor`]).
    pub fn query(mut self, spl: impl Into<String>) -> Self {
        self.query = Some(spl.into());
        self
    }

    /// Filters and transforms on the server with a consume processor: the
    /// SPL stored on the service under `name` (PullLogs' `processor`
    /// parameter, sent alone, without `pullMode`, as aliyun-log-go-sdk
    /// `model.go` `PullLogRequest.ToURLParams`, aliyun-log-python-sdk
    /// `pull_logs` and aliyun-log-java-sdk `PullLogsRequest` send it).
    /// Like a query, it may skip groups: the response is
    /// [`filtered`](PullLogsResponse::filtered). Setting both sends both;
    /// how the service combines them is not documented.
    pub fn processor(mut self, name: impl Into<String>) -> Self {
        self.processor = Some(name.into());
        self
    }
}

/// What a pull returned.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PullLogsResponse {
    /// The cursor the pull started from.
    pub cursor: Cursor,
    /// Where the next pull starts (`x-log-cursor`); equal to
    /// [`PullLogsResponse::cursor`] at the end of a read-only shard.
    pub next_cursor: Cursor,
    /// The number of groups (`x-log-count`), checked against the body.
    pub count: usize,
    /// The decompressed size of the body (`x-log-bodyrawsize`).
    pub raw_size: u64,
    /// The sequence number of the last group returned
    /// (`x-log-read-last-cursor`), when the server sent it.
    pub read_last_cursor: Option<Cursor>,
    /// Whether the pull reached the newest data (`x-log-end-of-cursor: 1`).
    pub end_of_cursor: bool,
    /// The server receive time of the cursor, in Unix seconds, when sent.
    pub cursor_time: Option<i64>,
    /// With an SPL query or processor: the raw size scanned before
    /// filtering (`x-log-rawdatasize`).
    pub raw_size_before_query: Option<u64>,
    /// With an SPL query or processor: the groups scanned before filtering
    /// (`x-log-rawdatacount`).
    pub count_before_query: Option<u64>,
    /// With an SPL query or processor: the logs scanned before filtering
    /// (`x-log-rawdatalines`, read by the Go SDK's `PullLogMeta` and the
    /// Rust SDK's `PullLogsResponse`).
    pub lines_before_query: Option<u64>,
    /// With an SPL query or processor: the logs returned
    /// (`x-log-resultlines`).
    pub result_lines: Option<u64>,
    /// The compression of the body as received.
    pub compress_type: CompressType,
    /// The body as received, before decompression.
    pub compressed: Bytes,
    /// The groups, decoded in place.
    pub groups: LogGroupListView,
    /// Whether an SPL query or consume processor filtered the pull (groups
    /// may not be consecutive, and a pull may return none while its cursor
    /// advances).
    pub filtered: bool,
}

impl PullLogsResponse {
    /// The cursor of each returned group, oldest first, when the groups are
    /// consecutive (no SPL query); see [`Cursor::group_cursors`].
    pub fn group_cursors(&self) -> Option<Vec<Cursor>> {
        Cursor::group_cursors(
            self.cursor,
            self.read_last_cursor,
            self.groups.len(),
            self.filtered,
        )
        .map(Iterator::collect)
    }
}

/// Where PutLogs sends a group.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// The service picks a read-write shard.
    LoadBalanced,
    /// The shard whose range holds this MD5 key.
    HashKey(String),
}

/// A PutLogs call: one log group, compressed.
#[derive(Debug, Clone)]
pub struct PutLogsRequest {
    project: String,
    logstore: String,
    group: LogGroupBytes,
    compression: CompressType,
    route: Route,
    idempotent: bool,
}

impl PutLogsRequest {
    /// Writes an encoded group (lz4, load-balanced).
    pub fn new(project: &str, logstore: &str, group: LogGroupBytes) -> Self {
        Self {
            project: project.to_owned(),
            logstore: logstore.to_owned(),
            group,
            compression: CompressType::Lz4,
            route: Route::LoadBalanced,
            idempotent: false,
        }
    }

    /// Writes an owned group.
    pub fn from_group(project: &str, logstore: &str, group: &LogGroup) -> Self {
        Self::new(project, logstore, LogGroupBytes::encode(group))
    }

    /// The body compression (default lz4).
    pub fn compression(mut self, compression: CompressType) -> Self {
        self.compression = compression;
        self
    }

    /// Sends to the shard whose range holds `key` (32 hex digits).
    pub fn hash_key(mut self, key: impl Into<String>) -> Self {
        self.route = Route::HashKey(key.into());
        self
    }

    /// Allows retries after the request may have reached the server, at the
    /// price of possible duplicates (off by default).
    pub fn retry_may_duplicate(mut self, allow: bool) -> Self {
        self.idempotent = allow;
        self
    }
}

fn parse_header<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Result<Option<T>, Error> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| Error::Response(format!("PullLogs: malformed {name} header"))),
    }
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, Error> {
    value.ok_or_else(|| Error::Response(format!("PullLogs: response lacks the {name} header")))
}

impl Client {
    /// Pulls log groups from a shard.
    ///
    /// ```no_run
    /// use sls_client::{Client, CursorPosition, PullLogsRequest};
    ///
    /// # async fn run(client: Client) -> Result<(), sls_client::Error> {
    /// let mut cursor = client.get_cursor("proj", "store", 0, CursorPosition::Begin).await?;
    /// loop {
    ///     let pulled = client
    ///         .pull_logs(PullLogsRequest::new("proj", "store", 0, cursor).count(100))
    ///         .await?;
    ///     for group in &pulled.groups {
    ///         for log in group.logs() {
    ///             println!("{} {:?}", log.time(), log.get("message"));
    ///         }
    ///     }
    ///     if pulled.next_cursor == cursor {
    ///         break;
    ///     }
    ///     cursor = pulled.next_cursor;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// A body that arrives but does not decompress or decode (corrupted in
    /// transit) is fetched again, up to the retry policy's attempt limit;
    /// HTTP-level failures are retried inside each fetch by the same policy.
    pub async fn pull_logs(&self, pull: PullLogsRequest) -> Result<PullLogsResponse, Error> {
        let mut attempt = 1;
        loop {
            match self.pull_once(&pull).await {
                Err(Error::Codec(err)) if attempt < self.body_attempts() => {
                    tracing::debug!(error = %err, attempt, "pulled body did not decompress; pulling again");
                }
                Err(Error::Decode(err)) if attempt < self.body_attempts() => {
                    tracing::debug!(error = %err, attempt, "pulled body did not decode; pulling again");
                }
                result => return result,
            }
            attempt += 1;
        }
    }

    async fn pull_once(&self, pull: &PullLogsRequest) -> Result<PullLogsResponse, Error> {
        if !(1..=MAX_PULL_COUNT).contains(&pull.count) {
            return Err(Error::InvalidArgument(format!(
                "pull count must be 1..=1000, got {}",
                pull.count
            )));
        }
        let mut request = SlsRequest::new(
            Method::GET,
            Some(&pull.project),
            format!("{}/shards/{}", logstore_path(&pull.logstore), pull.shard),
        )
        .query("type", "log")
        .query("cursor", pull.cursor.to_string())
        .query("count", pull.count.to_string())
        .header(ACCEPT, HeaderValue::from_static("application/x-protobuf"))
        .header(
            ACCEPT_ENCODING,
            HeaderValue::from_static(pull.accept.header_value().unwrap_or("identity")),
        );
        if let Some(end) = pull.end_cursor {
            request = request.query("end_cursor", end.to_string());
        }
        if let Some(spl) = &pull.query {
            request = request
                .query("query", spl.clone())
                .query("pullMode", "scan_on_stream");
        }
        if let Some(name) = &pull.processor {
            request = request.query("processor", name.clone());
        }
        // Refused from the headers when larger than the caller allows or
        // than the decompressor would take: before the body is read.
        let cap = self.decompressor().max_raw_size() as u64;
        request = request.max_raw_size(pull.max_raw_size.map_or(cap, |limit| limit.min(cap)));
        if let Some(buffers) = &pull.buffers.0 {
            request = request.body_buffers(buffers.clone());
        }
        let response = self.send(request).await?;
        let headers = response.headers();

        let next_cursor = required(header_str(headers, "x-log-cursor"), "x-log-cursor")?;
        let next_cursor = Cursor::parse(next_cursor)
            .map_err(|err| Error::Response(format!("PullLogs: bad x-log-cursor: {err}")))?;
        let count: usize = required(parse_header(headers, "x-log-count")?, "x-log-count")?;
        let raw_size: u64 = required(
            parse_header(headers, "x-log-bodyrawsize")?,
            "x-log-bodyrawsize",
        )?;
        let compress_type = match header_str(headers, "x-log-compresstype") {
            Some(value) => CompressType::from_header(value)?,
            None => CompressType::None,
        };
        let read_last_cursor = match header_str(headers, "x-log-read-last-cursor") {
            Some(value) if !value.trim().is_empty() => Some(
                Cursor::parse_decimal(value.trim().as_bytes()).map_err(|err| {
                    Error::Response(format!("PullLogs: bad x-log-read-last-cursor: {err}"))
                })?,
            ),
            _ => None,
        };
        let end_of_cursor = header_str(headers, "x-log-end-of-cursor") == Some("1");
        let cursor_time = parse_header(headers, "x-log-cursor-time")?;
        let raw_size_before_query = parse_header(headers, "x-log-rawdatasize")?;
        let count_before_query = parse_header(headers, "x-log-rawdatacount")?;
        let lines_before_query = parse_header(headers, "x-log-rawdatalines")?;
        let result_lines = parse_header(headers, "x-log-resultlines")?;

        let compressed = response.body().clone();
        let decompressor = *self.decompressor();
        let body = compressed.clone();
        let buffers = pull.buffers.0.clone();
        let decode = move || -> Result<LogGroupListView, Error> {
            let raw = match buffers {
                // An uncompressed body is its own buffer.
                Some(buffers) if compress_type != CompressType::None => {
                    let mut out = buffers.take(usize::try_from(raw_size).unwrap_or(usize::MAX));
                    decompressor
                        .decompress_into(compress_type, &body, raw_size, &mut out)
                        .map(|()| Bytes::from(out))
                }
                _ => decompressor.decompress(compress_type, body, raw_size),
            }
            .map_err(|err| match err {
                sls_proto::CodecError::RawSizeOverLimit { declared, limit } => Error::TooLarge {
                    declared,
                    limit: limit as u64,
                    groups: u32::try_from(count).ok(),
                },
                err => Error::Codec(err),
            })?;
            Ok(LogGroupListView::decode(raw)?)
        };
        let groups = if raw_size >= OFFLOAD_RAW_SIZE {
            tokio::task::spawn_blocking(decode).await.map_err(|err| {
                Error::Response(format!("PullLogs: decoding task failed: {err}"))
            })??
        } else {
            decode()?
        };
        if groups.len() != count {
            return Err(Error::Response(format!(
                "PullLogs: x-log-count says {count} groups but the body holds {}",
                groups.len()
            )));
        }
        Ok(PullLogsResponse {
            cursor: pull.cursor,
            next_cursor,
            count,
            raw_size,
            read_last_cursor,
            end_of_cursor,
            cursor_time,
            raw_size_before_query,
            count_before_query,
            lines_before_query,
            result_lines,
            compress_type,
            compressed,
            groups,
            filtered: pull.query.is_some() || pull.processor.is_some(),
        })
    }

    /// Writes one log group.
    ///
    /// ```no_run
    /// use sls_client::{Client, PutLogsRequest};
    /// use sls_proto::LogGroup;
    ///
    /// # async fn run(client: Client) -> Result<(), sls_client::Error> {
    /// let group = LogGroup::builder()
    ///     .topic("app")
    ///     .log(1_700_000_000, [("level", "info"), ("message", "started")])
    ///     .build();
    /// client.put_logs(PutLogsRequest::from_group("proj", "store", &group)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn put_logs(&self, put: PutLogsRequest) -> Result<(), Error> {
        let raw = put.group.as_bytes();
        if put.group.log_count() > MAX_LOGS_PER_GROUP || raw.len() > MAX_GROUP_BYTES {
            return Err(Error::InvalidArgument(format!(
                "a log group holds at most {MAX_LOGS_PER_GROUP} logs and {MAX_GROUP_BYTES} bytes; this one has {} logs, {} bytes",
                put.group.log_count(),
                raw.len()
            )));
        }
        let body = put.compression.compress(raw)?;
        let path = logstore_path(&put.logstore);
        let mut request = match &put.route {
            Route::LoadBalanced => SlsRequest::new(
                Method::POST,
                Some(&put.project),
                format!("{path}/shards/lb"),
            ),
            Route::HashKey(key) => SlsRequest::new(
                Method::POST,
                Some(&put.project),
                format!("{path}/shards/route"),
            )
            .query("key", key.clone()),
        }
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        )
        .header(BODY_RAW_SIZE, HeaderValue::from(raw.len() as u64))
        .idempotent(put.idempotent)
        .body(body);
        if let Some(value) = put.compression.header_value() {
            request = request.header(COMPRESS_TYPE, HeaderValue::from_static(value));
        }
        self.send(request).await.map(drop)
    }
}
