//! [`SlsRequest`] and [`SlsResponse`]: what travels through the client's
//! tower stack, between the typed calls and the HTTP transport.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};

use crate::PullBuffers;
use crate::retry::Idempotent;

/// `x-log-bodyrawsize`: the uncompressed length of the body.
pub(crate) const BODY_RAW_SIZE: HeaderName = HeaderName::from_static("x-log-bodyrawsize");
/// `x-log-compresstype`: the body's compression.
pub(crate) const COMPRESS_TYPE: HeaderName = HeaderName::from_static("x-log-compresstype");

/// One call to the service: method, project, path, decoded query
/// parameters, headers and body. The stack adds the signature on every
/// attempt.
#[derive(Debug, Clone)]
pub struct SlsRequest {
    pub(crate) method: Method,
    pub(crate) project: Option<String>,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) idempotent: bool,
    /// A successful answer declaring (`x-log-bodyrawsize`) more raw bytes
    /// than this is refused from its headers, before its body is read.
    pub(crate) max_raw_size: Option<u64>,
    /// Attempts made so far, shared by the clones the retry layer sends.
    pub(crate) attempts: Arc<AtomicU32>,
    /// Where a successful answer's body is read into, instead of a fresh
    /// buffer.
    pub(crate) body_buffers: Option<Arc<dyn PullBuffers>>,
}

impl SlsRequest {
    /// A request with no query, headers or body. GET, PUT and DELETE are
    /// idempotent; POST is not unless [`SlsRequest::idempotent`] says so.
    pub fn new(method: Method, project: Option<&str>, path: impl Into<String>) -> Self {
        let idempotent = method != Method::POST;
        Self {
            method,
            project: project.map(str::to_owned),
            path: path.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            idempotent,
            max_raw_size: None,
            attempts: Arc::default(),
            body_buffers: None,
        }
    }

    /// Adds a query parameter (the value decoded; the transport encodes it).
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Sets a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Declares whether sending the request twice has the effect of sending
    /// it once (so it may be retried after it may have been processed).
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Refuses a successful answer whose `x-log-bodyrawsize` declares more
    /// than `limit` raw bytes, with [`Error::TooLarge`](crate::Error::TooLarge), as soon as its
    /// headers arrive: its body is neither read nor decompressed.
    pub fn max_raw_size(mut self, limit: u64) -> Self {
        self.max_raw_size = Some(limit);
        self
    }

    /// Reads a successful answer's body into a buffer from `buffers`.
    pub(crate) fn body_buffers(mut self, buffers: Arc<dyn PullBuffers>) -> Self {
        self.body_buffers = Some(buffers);
        self
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The project, when the call is about one.
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// The path, such as `/logstores/app/shards`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query parameters, decoded.
    pub fn query_params(&self) -> &[(String, String)] {
        &self.query
    }

    /// The headers so far.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl Idempotent for SlsRequest {
    fn is_idempotent(&self) -> bool {
        self.idempotent
    }
}

/// A successful (2xx) response, its body read in full.
#[derive(Debug, Clone)]
pub struct SlsResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl SlsResponse {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body as received (still compressed, if it was).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The `x-log-requestid` header.
    pub fn request_id(&self) -> Option<&str> {
        header_str(&self.headers, "x-log-requestid")
    }
}

/// A header as text, if present and ASCII.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
