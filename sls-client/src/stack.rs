//! The client's tower stack, composed in one place.
//!
//! From the outside in:
//! 1. [`RetryPolicy`] (`tower::retry`): decides from the typed [`Error`]
//!    whether and when to try again; every attempt goes through the layers
//!    below afresh.
//! 2. [`Sign`]: fetches credentials and signs with the current time, so a
//!    retried request carries a fresh `Date` and signature.
//! 3. [`Transport`]: HTTP/1.1 over the pooled hyper client, with the
//!    per-attempt timeout, the response size cap, the request id captured
//!    from `x-log-requestid`, and non-2xx statuses turned into
//!    [`ServerError`](crate::ServerError)s.
//!
//! The client keeps the layers under the retry (`Signed`), so
//! [`Client::with_retry_policy`](crate::Client::with_retry_policy) composes
//! another stack over the same signer and transport.
//!
//! Errors stay typed ([`Error`]) through every layer, so the retry policy
//! classifies them without downcasting. The result is boxed at the crate
//! edge as a `BoxCloneSyncService`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::SystemTime;

use http::HeaderValue;
use http::header::HeaderName;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::request::{SlsRequest, SlsResponse};
use crate::retry::RetryPolicy;
use crate::signing::{SignableParts, SignatureVersion, sign};
use crate::transport::Transport;
use crate::{Error, ErrorCode, ProvideCredentials};

/// The stack, boxed.
pub(crate) type Stack = BoxCloneSyncService<SlsRequest, SlsResponse, Error>;

/// The wall clock the signer reads; tests fix it.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The layers under the retry layer: signing over the transport. Kept by
/// the client, so a client with another retry policy shares them (and with
/// them the credentials, the clock and the transport's connection pool).
pub(crate) type Signed = Sign<Transport>;

/// The signing layer over `transport`.
pub(crate) fn signed(
    transport: Transport,
    credentials: Arc<dyn ProvideCredentials>,
    version: SignatureVersion,
    clock: Clock,
) -> Signed {
    Sign {
        inner: transport,
        credentials,
        version: Arc::new(version),
        clock,
    }
}

/// Builds the stack: `retry` over (a clone of) `signed`.
pub(crate) fn compose(signed: &Signed, retry: RetryPolicy) -> Stack {
    let service = ServiceBuilder::new().retry(retry).service(signed.clone());
    BoxCloneSyncService::new(service)
}

/// Signs each attempt of a request.
#[derive(Clone)]
pub(crate) struct Sign<S> {
    inner: S,
    credentials: Arc<dyn ProvideCredentials>,
    version: Arc<SignatureVersion>,
    clock: Clock,
}

impl<S> Service<SlsRequest> for Sign<S>
where
    S: Service<SlsRequest, Response = SlsResponse, Error = Error> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = SlsResponse;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<SlsResponse, Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: SlsRequest) -> Self::Future {
        // Keep the service that was polled ready; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let credentials = self.credentials.clone();
        let version = self.version.clone();
        let clock = self.clock.clone();
        let attempt = request.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::Span::current().record("attempt", attempt);
        Box::pin(async move {
            let unsigned = request.clone();
            let signed = sign_request(request, &*credentials, &version, clock()).await?;
            match inner.call(signed).await {
                Err(err) if is_auth_failure(&err) && credentials.invalidate() => {
                    // The keys may have been rotated: fetch fresh ones and
                    // try once more.
                    tracing::debug!(error = %err, "credentials refused; refreshing them once");
                    let signed = sign_request(unsigned, &*credentials, &version, clock()).await?;
                    inner.ready().await?.call(signed).await
                }
                result => result,
            }
        })
    }
}

/// Whether the service refused the request's credentials.
fn is_auth_failure(err: &Error) -> bool {
    err.http_status() == Some(401)
        && matches!(
            err.error_code(),
            Some(
                ErrorCode::SignatureNotMatch
                    | ErrorCode::InvalidAccessKeyId
                    | ErrorCode::Unauthorized
                    | ErrorCode::SecurityTokenExpired
            )
        )
}

/// Signs `request` with fresh credentials at `now`.
async fn sign_request(
    mut request: SlsRequest,
    credentials: &dyn ProvideCredentials,
    version: &SignatureVersion,
    now: SystemTime,
) -> Result<SlsRequest, Error> {
    let credentials = credentials.provide().await?;
    let output = {
        let parts = SignableParts::new(&request.headers, &request.query);
        let signable = parts.request(request.method.as_str(), &request.path, &request.body);
        sign(&signable, &credentials, version, now)
    };
    for (name, value) in output.into_headers() {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::InvalidArgument(format!("bad header name {name}")))?;
        let value = HeaderValue::from_str(&value).map_err(|_| {
            // Never echo the value: it may be a token.
            Error::InvalidArgument(format!("header {name} has a value HTTP cannot carry"))
        })?;
        request.headers.insert(name, value);
    }
    Ok(request)
}
