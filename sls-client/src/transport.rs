//! The innermost service: sends an [`SlsRequest`] over HTTP/1.1 with
//! hyper-util's pooled client (keep-alive; rustls for `https://`, through
//! a proxy's CONNECT tunnel where the `proxy` route says) and reads the
//! response under a size cap and a per-attempt timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::utf8_percent_encode;
use tower::Service;

use crate::endpoint::Endpoint;
use crate::proxy::{ProxyConnector, Route};
use crate::request::{SlsRequest, SlsResponse, header_str};
use crate::{Error, PullBuffers, Sent, ServerError};

/// Query encoding: everything but RFC 3986's unreserved characters, as
/// the v4 signature encodes them.
use crate::signing::canonical::RFC3986 as QUERY;

/// Sends requests to one endpoint.
#[derive(Clone)]
pub(crate) struct Transport {
    client: HyperClient<HttpsConnector<ProxyConnector>, Full<Bytes>>,
    endpoint: Arc<Endpoint>,
    attempt_timeout: Duration,
    max_response_size: usize,
}

impl Transport {
    pub(crate) fn new(
        endpoint: Arc<Endpoint>,
        connect_timeout: Duration,
        attempt_timeout: Duration,
        max_response_size: usize,
        route: Route,
        tls: rustls::ClientConfig,
    ) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(ProxyConnector::new(http, route));
        let client = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(55))
            .build(https);
        Self {
            client,
            endpoint,
            attempt_timeout,
            max_response_size,
        }
    }

    async fn send(self, request: SlsRequest) -> Result<SlsResponse, Error> {
        let mut path = request.path.clone();
        for (i, (key, value)) in request.query.iter().enumerate() {
            path.push(if i == 0 { '?' } else { '&' });
            path.extend(utf8_percent_encode(key, QUERY));
            path.push('=');
            path.extend(utf8_percent_encode(value, QUERY));
        }
        let uri = self.endpoint.uri(request.project.as_deref(), &path)?;
        let mut http_request = http::Request::builder()
            .method(request.method.clone())
            .uri(uri)
            .body(Full::new(request.body.clone()))
            .map_err(|err| Error::InvalidArgument(format!("cannot build request: {err}")))?;
        *http_request.headers_mut() = request.headers;

        let started = tokio::time::Instant::now();
        let exchange = async {
            let response = self.client.request(http_request).await.map_err(|err| {
                let sent = if err.is_connect() {
                    Sent::No
                } else {
                    Sent::Maybe
                };
                Error::Transport {
                    sent,
                    source: Box::new(err),
                }
            })?;
            let (parts, body) = response.into_parts();
            if let (true, Some(limit)) = (parts.status.is_success(), request.max_raw_size) {
                let declared = header_str(&parts.headers, "x-log-bodyrawsize")
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if let Some(declared) = declared.filter(|d| *d > limit) {
                    // Refused before a byte of the body is read; dropping
                    // the body closes the connection rather than drain it.
                    let groups = header_str(&parts.headers, "x-log-count")
                        .and_then(|v| v.trim().parse::<u32>().ok());
                    return Err(Error::TooLarge {
                        declared,
                        limit,
                        groups,
                    });
                }
            }
            let body = match (&request.body_buffers, parts.status.is_success()) {
                (Some(buffers), true) => {
                    let declared = header_str(&parts.headers, "content-length")
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    read_into(body, declared, buffers.as_ref(), self.max_response_size).await?
                }
                _ => Limited::new(body, self.max_response_size)
                    .collect()
                    .await
                    .map_err(|err| {
                        if err.is::<http_body_util::LengthLimitError>() {
                            too_long(self.max_response_size)
                        } else {
                            Error::Transport {
                                sent: Sent::Maybe,
                                source: err,
                            }
                        }
                    })?
                    .to_bytes(),
            };
            Ok::<_, Error>((parts, body))
        };
        let (parts, body) = tokio::time::timeout(self.attempt_timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(self.attempt_timeout))??;
        let request_id = header_str(&parts.headers, "x-log-requestid")
            .map(|id| crate::error::bounded(id.to_owned(), crate::error::MAX_REQUEST_ID));
        tracing::debug!(
            method = %request.method,
            path = %request.path,
            attempt = request.attempts.load(std::sync::atomic::Ordering::Relaxed),
            status = parts.status.as_u16(),
            request_id = request_id.as_deref().unwrap_or(""),
            latency_ms = started.elapsed().as_millis() as u64,
            "sls response"
        );
        if !parts.status.is_success() {
            return Err(
                ServerError::from_response(parts.status.as_u16(), request_id, &body).into(),
            );
        }
        Ok(SlsResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// The first reservation for a body read into a buffer that is too small,
/// whatever its `Content-Length` claims: past it, the buffer grows with
/// what arrives.
const FIRST_RESERVE: usize = 256 << 10;

fn too_long(limit: usize) -> Error {
    Error::Response(format!("response body exceeds {limit} bytes"))
}

/// Reads a body of at most `limit` bytes into one buffer from `buffers`,
/// chunk by chunk as it arrives, so the chunks' memory goes back to the
/// connection at once and the body is copied once.
async fn read_into(
    mut body: hyper::body::Incoming,
    declared: Option<u64>,
    buffers: &dyn PullBuffers,
    limit: usize,
) -> Result<Bytes, Error> {
    let declared = declared.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX).min(limit));
    let mut buf = buffers.take(declared);
    buf.clear();
    buf.reserve(declared.min(FIRST_RESERVE.max(buf.capacity())));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| Error::Transport {
            sent: Sent::Maybe,
            source: Box::new(err),
        })?;
        if let Ok(data) = frame.into_data() {
            if data.len() > limit - buf.len() {
                return Err(too_long(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

impl Service<SlsRequest> for Transport {
    type Response = SlsResponse;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<SlsResponse, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: SlsRequest) -> Self::Future {
        Box::pin(self.clone().send(request))
    }
}
