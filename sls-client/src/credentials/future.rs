//! [`ProvideFuture`]: the future of [`super::ProvideCredentials::provide`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Credentials, CredentialsError};

type Boxed<'a> = Pin<Box<dyn Future<Output = Result<Credentials, CredentialsError>> + Send + 'a>>;

/// The credentials a provider will give: ready at once for static
/// providers (no allocation), or a boxed future for those that fetch.
#[must_use = "futures do nothing unless polled"]
pub struct ProvideFuture<'a>(State<'a>);

enum State<'a> {
    Ready(Option<Result<Credentials, CredentialsError>>),
    Pending(Boxed<'a>),
}

impl<'a> ProvideFuture<'a> {
    /// A future that is already complete.
    pub fn ready(result: Result<Credentials, CredentialsError>) -> Self {
        Self(State::Ready(Some(result)))
    }

    /// A future that fetches.
    pub fn new(
        future: impl Future<Output = Result<Credentials, CredentialsError>> + Send + 'a,
    ) -> Self {
        Self(State::Pending(Box::pin(future)))
    }
}

impl Future for ProvideFuture<'_> {
    type Output = Result<Credentials, CredentialsError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            State::Ready(result) => match result.take() {
                Some(result) => Poll::Ready(result),
                None => Poll::Ready(Err(CredentialsError::Fetch(
                    "credentials future polled after completion".into(),
                ))),
            },
            State::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for ProvideFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.0 {
            State::Ready(_) => "ready",
            State::Pending(_) => "pending",
        };
        f.debug_tuple("ProvideFuture").field(&state).finish()
    }
}
