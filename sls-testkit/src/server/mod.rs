//! The HTTP side: accept loop, request parsing, authentication, dispatch,
//! and the request id every response carries.
//!
//! # Layout
//! - `http`: [`Incoming`](http::Incoming) requests and replies.
//! - `auth`: signature, date and token checks.
//! - `routes`: dispatch by method and path.
//! - `logstores`: logstore calls.
//! - `shards`: shard calls, cursors by position and time.
//! - `put`: PutLogs.
//! - `pull`: PullLogs, with SPL and the accepted compression.
//! - `cursors`: cursors from requests, checked against their shard.
//! - `groups`: consumer groups.
//! - `log`: the bounded request log and its exact counters.

pub(crate) mod auth;
pub(crate) mod cursors;
pub(crate) mod groups;
pub(crate) mod http;
pub(crate) mod log;
pub(crate) mod logstores;
pub(crate) mod pull;
pub(crate) mod put;
pub(crate) mod routes;
pub(crate) mod shards;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming as Body;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use self::auth::AuthConfig;
use self::http::{Incoming, Reply};
use self::routes::Route;
use crate::call::{Call, CallKind};
use crate::clock::Clock;
use crate::error::ApiError;
use crate::faults::{Fault, FaultPlan};
use crate::store::World;

/// The largest request body read (a little over PutLogs' 10 MB limit, so
/// the limit itself answers with its own error).
const MAX_REQUEST_BODY: usize = 11 << 20;

/// The most bytes of a request's text (query, processor, consumer) a
/// [`RequestRecord`] keeps; longer text is cut on a character boundary and
/// ends with `…`.
pub const MAX_RECORDED_TEXT: usize = 1024;

/// `text`, cut to [`MAX_RECORDED_TEXT`] bytes.
fn clipped(text: &str) -> String {
    if text.len() <= MAX_RECORDED_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_RECORDED_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A request as the log records it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// The API called (`None` for paths the service lacks).
    pub call: Option<CallKind>,
    /// The shard, when the call is about one.
    pub shard: Option<u32>,
    /// The consumer, for heartbeats and checkpoints.
    pub consumer: Option<String>,
    /// The status answered; `None` when the connection was closed instead.
    pub status: Option<u16>,
    /// The fault the plan applied, if any.
    pub fault: Option<Fault>,
    /// The SPL query of a pull, when it carried one.
    pub query: Option<String>,
    /// The consume processor a pull named, when it named one.
    pub processor: Option<String>,
}

pub(crate) type ResponseBody = BoxBody<Bytes, BoxError>;
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// State shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    world: Mutex<World>,
    pub(crate) clock: Clock,
    pub(crate) auth: AuthConfig,
    request_ids: AtomicU64,
    pub(crate) faults: Mutex<FaultPlan>,
    pub(crate) log: Mutex<log::RequestLog>,
    /// How a pull from a cursor into dropped data is answered.
    pub(crate) expired_cursors: Mutex<crate::ExpiredCursors>,
    /// The throughput quotas and their buckets.
    pub(crate) quota: Mutex<crate::quota::QuotaState>,
    stop: watch::Receiver<bool>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub(crate) fn new(
        world: World,
        clock: Clock,
        auth: AuthConfig,
        faults: FaultPlan,
        log_capacity: usize,
        quotas: crate::Quotas,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            world: Mutex::new(world),
            clock,
            auth,
            request_ids: AtomicU64::new(0),
            faults: Mutex::new(faults),
            log: Mutex::new(log::RequestLog::new(log_capacity)),
            expired_cursors: Mutex::new(crate::ExpiredCursors::default()),
            quota: Mutex::new(crate::quota::QuotaState::new(quotas)),
            stop,
        }
    }

    /// The world, locked. Handlers never hold it across an await.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    fn next_request_id(&self) -> String {
        let n = self.request_ids.fetch_add(1, Ordering::Relaxed) + 1;
        format!("FAKE{n:020X}")
    }

    /// Authenticates and dispatches one request.
    fn handle(&self, request: &Incoming, route: Option<&Route>) -> Reply {
        self.world().expire(self.clock.unix_seconds());
        let result =
            auth::verify(request, &self.auth, self.clock.now()).and_then(|()| match route {
                Some(route) => route.handle(self, request),
                None => Err(routes::no_such_api(request)),
            });
        match result {
            Ok(reply) => reply,
            Err(error) => Reply::error(&error),
        }
    }

    /// Logs a request as it arrives; returns its sequence number for the
    /// status. Text from the request is kept up to [`MAX_RECORDED_TEXT`]
    /// bytes, so the log's memory is bounded in bytes, not only in records.
    fn record(&self, call: Option<&Call>, fault: Option<Fault>) -> u64 {
        let text = |text: &Option<String>| text.as_deref().map(clipped);
        lock(&self.log).push(RequestRecord {
            call: call.map(|c| c.kind),
            shard: call.and_then(|c| c.shard),
            consumer: call.and_then(|c| text(&c.consumer)),
            status: None,
            fault,
            query: call.and_then(|c| text(&c.query)),
            processor: call.and_then(|c| text(&c.processor)),
        })
    }

    fn set_status(&self, seq: u64, status: u16) {
        lock(&self.log).set_status(seq, status);
    }
}

/// A body that sends its first half, then fails: the connection is cut
/// mid-body while `Content-Length` promised the whole.
struct Truncated {
    first: Option<Bytes>,
    declared: u64,
}

impl hyper::body::Body for Truncated {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        std::task::Poll::Ready(Some(match self.first.take() {
            Some(first) => Ok(hyper::body::Frame::data(first)),
            None => Err("body truncated by the fault plan".into()),
        }))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.declared)
    }
}

/// Flips bytes across the body, deterministically.
fn corrupt(body: &Bytes) -> Bytes {
    let mut bytes = body.to_vec();
    for i in (0..bytes.len()).step_by(7) {
        bytes[i] ^= 0x5a;
    }
    Bytes::from(bytes)
}

/// Answers one request, from reading its body to the response: parsing,
/// classification, the fault plan, authentication, routing, the handlers
/// and the reply. Generic over the body so that the `fuzzing` harness runs
/// this very function on a request built in memory; the server runs it on
/// what hyper parsed from a socket.
pub(crate) async fn serve_request<B>(
    shared: Arc<Shared>,
    request: hyper::Request<B>,
) -> Result<hyper::Response<ResponseBody>, BoxError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            let reply = Reply::error(&ApiError::new(
                413,
                "PostBodyTooLarge",
                "the body is too large",
            ));
            let index = shared.record(None, None);
            shared.set_status(index, reply.status);
            return Ok(respond(&shared, reply, None));
        }
        // The client went away mid-body: nothing to answer.
        Err(err) => return Err(err),
    };
    let incoming = Incoming::new(parts, body);
    let route = Route::parse(&incoming);
    let call = route.as_ref().map(|route| route.call(&incoming));
    let fault = call
        .as_ref()
        .and_then(|c| lock(&shared.faults).decide(c, shared.clock.unix_seconds()));
    // Logged on arrival: a request dropped mid-way (a client timing out
    // during injected latency) still shows, with no status.
    let index = shared.record(call.as_ref(), fault.clone());
    let reply = match &fault {
        Some(Fault::Reset) => return Err("connection reset by the fault plan".into()),
        Some(Fault::Hang) => {
            stopped(&mut shared.stop.clone()).await;
            return Err("server stopped".into());
        }
        Some(Fault::Error { status, code }) => {
            let mut reply = Reply::json(&serde_json::json!({
                "errorCode": code,
                "errorMessage": "injected by the fault plan",
            }));
            reply.status = *status;
            reply
        }
        Some(Fault::Latency(delay)) => {
            tokio::time::sleep(*delay).await;
            shared.handle(&incoming, route.as_ref())
        }
        _ => shared.handle(&incoming, route.as_ref()),
    };
    tracing::debug!(
        method = %incoming.method,
        path = %incoming.raw_path,
        status = reply.status,
        fault = ?fault,
        "sls-fake request"
    );
    shared.set_status(index, reply.status);
    if matches!(fault, Some(Fault::TruncateBody)) && reply.body.is_empty() {
        // Nothing to cut: the call is done and its whole answer is lost.
        return Err("connection closed after the call by the fault plan".into());
    }
    Ok(respond(&shared, reply, fault.as_ref()))
}

fn respond(shared: &Shared, reply: Reply, fault: Option<&Fault>) -> hyper::Response<ResponseBody> {
    let body: ResponseBody = match fault {
        Some(Fault::TruncateBody) if !reply.body.is_empty() => {
            let half = reply.body.slice(..reply.body.len() / 2);
            Truncated {
                first: Some(half),
                declared: reply.body.len() as u64,
            }
            .boxed()
        }
        Some(Fault::CorruptBody) => Full::new(corrupt(&reply.body))
            .map_err(|never| match never {})
            .boxed(),
        _ => Full::new(reply.body)
            .map_err(|never| match never {})
            .boxed(),
    };
    let mut response = hyper::Response::new(body);
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in reply.headers {
        headers.insert(name, value);
    }
    if let Ok(id) = shared.next_request_id().parse() {
        headers.insert("x-log-requestid", id);
    }
    response
}

/// Resolves once shutdown is asked for (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves connections from `listener` until `shutdown` turns true.
pub(crate) async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = stopped(&mut shutdown) => break,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let mut stop = shutdown.clone();
        connections.spawn(async move {
            let service = service_fn(move |request: hyper::Request<Body>| {
                serve_request(shared.clone(), request)
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    // Every open connection was told to finish its request and close.
    while connections.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::{MAX_RECORDED_TEXT, clipped};

    #[test]
    fn recorded_text_is_clipped_on_a_character_boundary() {
        assert_eq!(clipped("short"), "short");
        let long = "é".repeat(MAX_RECORDED_TEXT);
        let kept = clipped(&long);
        assert!(kept.len() <= MAX_RECORDED_TEXT + '…'.len_utf8());
        assert!(kept.ends_with('…'));
        assert!(kept.trim_end_matches('…').chars().all(|c| c == 'é'));
    }
}
