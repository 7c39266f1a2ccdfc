//! [`RefreshingCredentials`]: expiring keys (STS AssumeRole and the like),
//! renewed ahead of expiry by the user's own fetch.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Mutex;

use super::{Credentials, CredentialsError, ProvideCredentials, ProvideFuture};

type Fetch = dyn Fn() -> Pin<Box<dyn Future<Output = Result<Credentials, CredentialsError>> + Send>>
    + Send
    + Sync;
type Clock = dyn Fn() -> SystemTime + Send + Sync;

/// How long before expiry a refresh starts, by default.
const DEFAULT_REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
/// The most a refresh is moved earlier at random, by default, so that many
/// processes that got keys together do not refresh together.
const DEFAULT_JITTER: Duration = Duration::from_secs(60);

/// Credentials fetched by a user's async function and cached until shortly
/// before they expire. Concurrent callers share one in-flight fetch. When a
/// refresh fails while the cached keys are still valid, the cached keys are
/// used (and the next call tries again).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use sls_client::{Credentials, ProvideCredentials, RefreshingCredentials};
///
/// # tokio_test_block_on(async {
/// let provider = RefreshingCredentials::new(|| async {
///     // Call STS AssumeRole here.
///     Ok(Credentials::new("STS.id", "secret")
///         .with_security_token("token")
///         .with_expiry(SystemTime::now() + Duration::from_secs(3600)))
/// });
/// let credentials = provider.provide().await?;
/// assert_eq!(credentials.access_key_id(), "STS.id");
/// # Ok::<(), sls_client::CredentialsError>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub struct RefreshingCredentials {
    fetch: Arc<Fetch>,
    clock: Arc<Clock>,
    refresh_ahead: Duration,
    jitter: Duration,
    cache: Mutex<Option<Cached>>,
}

#[derive(Clone)]
struct Cached {
    credentials: Credentials,
    /// When to fetch again; `None` for keys that do not expire.
    refresh_at: Option<SystemTime>,
}

impl RefreshingCredentials {
    /// Credentials from `fetch`, called again ahead of each expiry.
    pub fn new<F, Fut>(fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Credentials, CredentialsError>> + Send + 'static,
    {
        Self {
            fetch: Arc::new(move || Box::pin(fetch())),
            clock: Arc::new(SystemTime::now),
            refresh_ahead: DEFAULT_REFRESH_AHEAD,
            jitter: DEFAULT_JITTER,
            cache: Mutex::new(None),
        }
    }

    /// Starts refreshing this long before expiry (default 5 minutes).
    pub fn refresh_ahead(mut self, refresh_ahead: Duration) -> Self {
        self.refresh_ahead = refresh_ahead;
        self
    }

    /// Moves each refresh earlier by a random amount up to `jitter`
    /// (default 1 minute).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Reads wall-clock time from `clock` instead of the system (for tests).
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn refresh_at(&self, credentials: &Credentials) -> Option<SystemTime> {
        let expiry = credentials.expiry()?;
        let jitter = self.jitter.mul_f64(fastrand::f64());
        Some(
            expiry
                .checked_sub(self.refresh_ahead + jitter)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        )
    }

    async fn get(&self) -> Result<Credentials, CredentialsError> {
        // Holding the lock across the fetch makes concurrent callers wait for
        // the one fetch in flight instead of starting their own.
        let mut cache = self.cache.lock().await;
        let now = (self.clock)();
        if let Some(cached) = cache.as_ref() {
            if cached.refresh_at.is_none_or(|at| now < at) {
                return Ok(cached.credentials.clone());
            }
        }
        match (self.fetch)().await {
            Ok(credentials) => {
                if credentials.expiry().is_some_and(|expiry| expiry <= now) {
                    return Err(CredentialsError::Expired);
                }
                let refresh_at = self.refresh_at(&credentials);
                *cache = Some(Cached {
                    credentials: credentials.clone(),
                    refresh_at,
                });
                Ok(credentials)
            }
            Err(err) => match cache.as_ref() {
                Some(cached) if cached.credentials.expiry().is_none_or(|e| now < e) => {
                    tracing::warn!(error = %err, "credentials refresh failed; using the cached keys until they expire");
                    Ok(cached.credentials.clone())
                }
                _ => Err(err),
            },
        }
    }
}

impl ProvideCredentials for RefreshingCredentials {
    fn provide(&self) -> ProvideFuture<'_> {
        ProvideFuture::new(self.get())
    }

    /// Drops the cached keys (unless a refresh is running, which will
    /// replace them anyway).
    fn invalidate(&self) -> bool {
        if let Ok(mut cache) = self.cache.try_lock() {
            *cache = None;
        }
        true
    }
}

impl fmt::Debug for RefreshingCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshingCredentials")
            .field("refresh_ahead", &self.refresh_ahead)
            .field("jitter", &self.jitter)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use super::*;

    /// A provider whose fetch counts calls and hands out keys valid for an
    /// hour of a clock the test moves.
    fn provider(
        fetches: Arc<AtomicUsize>,
        now: Arc<AtomicU64>,
        fail: bool,
    ) -> RefreshingCredentials {
        let clock_now = now.clone();
        RefreshingCredentials::new(move || {
            let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(now.load(Ordering::SeqCst));
            async move {
                tokio::task::yield_now().await;
                if fail && n > 1 {
                    return Err(CredentialsError::Fetch("sts down".into()));
                }
                Ok(Credentials::new(format!("id-{n}"), "secret")
                    .with_expiry(at + Duration::from_secs(3600)))
            }
        })
        .refresh_ahead(Duration::from_secs(300))
        .jitter(Duration::from_secs(60))
        .with_clock(move || {
            SystemTime::UNIX_EPOCH + Duration::from_secs(clock_now.load(Ordering::SeqCst))
        })
    }

    #[tokio::test]
    async fn caches_until_shortly_before_expiry() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let now = Arc::new(AtomicU64::new(1_000_000));
        let p = provider(fetches.clone(), now.clone(), false);
        assert_eq!(p.provide().await.unwrap().access_key_id(), "id-1");
        // 54 minutes on: still before expiry - 5 min - up to 1 min of jitter.
        now.fetch_add(54 * 60 - 1, Ordering::SeqCst);
        assert_eq!(p.provide().await.unwrap().access_key_id(), "id-1");
        // 55 minutes on: inside the refresh window whatever the jitter.
        now.fetch_add(61, Ordering::SeqCst);
        assert_eq!(p.provide().await.unwrap().access_key_id(), "id-2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_fetch() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let p = Arc::new(provider(
            fetches.clone(),
            Arc::new(AtomicU64::new(0)),
            false,
        ));
        let calls: Vec<_> = (0..16)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.provide().await })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap().access_key_id(), "id-1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_valid_keys_and_then_fails() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let now = Arc::new(AtomicU64::new(0));
        let p = provider(fetches.clone(), now.clone(), true);
        assert_eq!(p.provide().await.unwrap().access_key_id(), "id-1");
        now.store(3500, Ordering::SeqCst); // in the refresh window, not expired
        assert_eq!(p.provide().await.unwrap().access_key_id(), "id-1");
        now.store(3600, Ordering::SeqCst); // expired
        let err = p.provide().await.unwrap_err();
        assert_eq!(err, CredentialsError::Fetch("sts down".into()));
        assert!(!format!("{err} {p:?}").contains("secret"));
    }
}
