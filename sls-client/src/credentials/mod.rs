//! Credentials: an AccessKey pair with an optional STS token, and the
//! providers that supply them to every request.
//!
//! A secret or a token never reaches `Debug` output, an error or a log: the
//! types here print them as `** redacted **`.
//!
//! # Layout
//! - `future`: [`ProvideFuture`], free of allocation for static providers.
//! - `env`: [`EnvCredentials`] and the [`Environment`] it reads through.
//! - `refreshing`: [`RefreshingCredentials`] for STS-style expiring keys.

mod env;
mod future;
mod refreshing;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

pub(crate) use self::env::ProcessEnvironment;
pub use self::env::{EnvCredentials, Environment};
pub use self::future::ProvideFuture;
pub use self::refreshing::RefreshingCredentials;

const REDACTED: &str = "** redacted **";

/// An AccessKey id and secret, with an STS security token when the keys
/// are temporary.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    inner: Arc<Inner>,
}

#[derive(PartialEq, Eq)]
struct Inner {
    access_key_id: String,
    access_key_secret: String,
    security_token: Option<String>,
    expiry: Option<SystemTime>,
}

impl Credentials {
    /// Long-lived keys.
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                access_key_id: access_key_id.into(),
                access_key_secret: access_key_secret.into(),
                security_token: None,
                expiry: None,
            }),
        }
    }

    /// Temporary keys from STS, sent with their token.
    pub fn with_security_token(self, token: impl Into<String>) -> Self {
        self.map(|inner| inner.security_token = Some(token.into()))
    }

    /// When temporary keys stop working; a refreshing provider renews them
    /// ahead of this time.
    pub fn with_expiry(self, expiry: SystemTime) -> Self {
        self.map(|inner| inner.expiry = Some(expiry))
    }

    fn map(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            access_key_id: shared.access_key_id.clone(),
            access_key_secret: shared.access_key_secret.clone(),
            security_token: shared.security_token.clone(),
            expiry: shared.expiry,
        });
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The AccessKey id (not secret: it names the key and appears in every
    /// signature).
    pub fn access_key_id(&self) -> &str {
        &self.inner.access_key_id
    }

    /// The AccessKey secret. Handle with care: never log it.
    pub fn access_key_secret(&self) -> &str {
        &self.inner.access_key_secret
    }

    /// The STS token, for temporary keys. Never log it.
    pub fn security_token(&self) -> Option<&str> {
        self.inner.security_token.as_deref()
    }

    /// When the keys expire, if they do.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.inner.expiry
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.inner.access_key_id)
            .field("access_key_secret", &REDACTED)
            .field(
                "security_token",
                &self.inner.security_token.as_ref().map(|_| REDACTED),
            )
            .field("expiry", &self.inner.expiry)
            .finish()
    }
}

/// Why credentials could not be had. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// A required environment variable is unset or empty.
    #[error("environment variable {0} is not set")]
    MissingVariable(&'static str),
    /// The user's fetch (for example an STS AssumeRole call) failed.
    #[error("fetching credentials failed: {0}")]
    Fetch(String),
    /// The fetched credentials had already expired.
    #[error("fetched credentials are already expired")]
    Expired,
}

/// A source of credentials, asked before every request (so it must be
/// cheap when nothing changed).
pub trait ProvideCredentials: fmt::Debug + Send + Sync + 'static {
    /// The credentials to sign the next request with.
    fn provide(&self) -> ProvideFuture<'_>;

    /// The service refused the credentials: forget cached ones so the next
    /// [`ProvideCredentials::provide`] fetches afresh. Returns whether that
    /// can give different credentials (the client then retries the call
    /// once); fixed credentials return `false`.
    fn invalidate(&self) -> bool {
        false
    }
}

impl<P: ProvideCredentials + ?Sized> ProvideCredentials for Arc<P> {
    fn provide(&self) -> ProvideFuture<'_> {
        (**self).provide()
    }

    fn invalidate(&self) -> bool {
        (**self).invalidate()
    }
}

/// Fixed credentials.
#[derive(Debug, Clone)]
pub struct StaticCredentials(Credentials);

impl StaticCredentials {
    /// A provider that always returns `credentials`.
    pub fn new(credentials: Credentials) -> Self {
        Self(credentials)
    }
}

impl From<Credentials> for StaticCredentials {
    fn from(credentials: Credentials) -> Self {
        Self(credentials)
    }
}

impl ProvideCredentials for StaticCredentials {
    fn provide(&self) -> ProvideFuture<'_> {
        ProvideFuture::ready(Ok(self.0.clone()))
    }
}

impl ProvideCredentials for Credentials {
    fn provide(&self) -> ProvideFuture<'_> {
        ProvideFuture::ready(Ok(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::new("my-id", "top-secret-key").with_security_token("sts-token-xyz");
        let shown = format!("{c:?} {:?}", StaticCredentials::new(c.clone()));
        assert!(shown.contains("my-id"));
        assert!(!shown.contains("top-secret-key"), "{shown}");
        assert!(!shown.contains("sts-token-xyz"), "{shown}");
        assert_eq!(c.security_token(), Some("sts-token-xyz"));
        assert_eq!(c.access_key_secret(), "top-secret-key");
    }

    #[tokio::test]
    async fn static_provider_returns_its_credentials() {
        let c = Credentials::new("id", "secret");
        assert_eq!(
            StaticCredentials::new(c.clone()).provide().await.unwrap(),
            c
        );
        let shared: Arc<dyn ProvideCredentials> = Arc::new(c.clone());
        assert_eq!(shared.provide().await.unwrap(), c);
    }
}
