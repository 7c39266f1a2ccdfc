//! The HTTP side: accept loop, request parsing, authentication, dispatch,
//! and the request id every response carries.
//!
//! # Layout
//! - `http`: [`Incoming`](http::Incoming) requests and replies.
//! - `auth`: signature, date and token checks.
//! - `routes`: dispatch, and the shard, log and logstore handlers.
//! - `groups`: consumer groups.

pub(crate) mod auth;
pub(crate) mod groups;
pub(crate) mod http;
pub(crate) mod routes;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming as Body;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use self::auth::AuthConfig;
use self::http::{Incoming, Reply};
use crate::call::{self, Call};
use crate::clock::Clock;
use crate::error::ApiError;
use crate::store::World;

/// The largest request body read (a little over PutLogs' 10 MB limit, so
/// the limit itself answers with its own error).
const MAX_REQUEST_BODY: usize = 11 << 20;

/// State shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    world: Mutex<World>,
    pub(crate) clock: Clock,
    pub(crate) auth: AuthConfig,
    request_ids: AtomicU64,
}

impl Shared {
    pub(crate) fn new(world: World, clock: Clock, auth: AuthConfig) -> Self {
        Self {
            world: Mutex::new(world),
            clock,
            auth,
            request_ids: AtomicU64::new(0),
        }
    }

    /// The world, locked. Handlers never hold it across an await.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn next_request_id(&self) -> String {
        let n = self.request_ids.fetch_add(1, Ordering::Relaxed) + 1;
        format!("FAKE{n:020X}")
    }

    /// Authenticates and dispatches one request.
    fn handle(&self, request: &Incoming, call: Option<&Call>) -> Reply {
        let result =
            auth::verify(request, &self.auth, self.clock.now()).and_then(|()| match call {
                Some(call) => routes::route(self, request, call),
                None => Err(routes::no_such_api(request)),
            });
        match result {
            Ok(reply) => reply,
            Err(error) => Reply::error(&error),
        }
    }
}

async fn serve_request(
    shared: Arc<Shared>,
    request: hyper::Request<Body>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let reply = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(body) => {
            let incoming = Incoming::new(parts, body.to_bytes());
            let call = call::classify(&incoming);
            let reply = shared.handle(&incoming, call.as_ref());
            tracing::debug!(
                method = %incoming.method,
                path = %incoming.raw_path,
                status = reply.status,
                "sls-fake request"
            );
            reply
        }
        Err(_) => Reply::error(&ApiError::new(
            413,
            "PostBodyTooLarge",
            "the body is too large",
        )),
    };
    let mut response = hyper::Response::new(Full::new(reply.body));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in reply.headers {
        headers.insert(name, value);
    }
    if let Ok(id) = shared.next_request_id().parse() {
        headers.insert("x-log-requestid", id);
    }
    Ok(response)
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
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut shutdown) => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| serve_request(shared.clone(), request));
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
}
