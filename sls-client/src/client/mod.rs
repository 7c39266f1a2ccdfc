//! [`Client`] and its builder; the typed calls live in `api/`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use serde::de::DeserializeOwned;
use sls_proto::Decompressor;
use tower::ServiceExt;
use tracing::Instrument;

use crate::endpoint::Endpoint;
use crate::proxy::Proxy;
use crate::request::{SlsRequest, SlsResponse};
use crate::retry::RetryPolicy;
use crate::signing::SignatureVersion;
use crate::stack::{self, Clock, Stack};
use crate::tls::{ExtraRoot, TlsRoots};
use crate::transport::Transport;
use crate::{EnvCredentials, Error, ProvideCredentials};

/// The API version every request declares.
const API_VERSION: &str = "0.6.0";

/// Defaults, in one place.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Long enough for a pull of 1000 large groups on a slow link.
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Twice the largest body the service sends, compressed or not.
const DEFAULT_MAX_RESPONSE_SIZE: usize = 128 << 20;
/// The smallest response limit [`ClientBuilder::max_response_size`] takes:
/// below it even error answers would not fit.
pub const MIN_RESPONSE_SIZE: usize = 4096;

/// A client of one LogHub endpoint. Cheap to clone; clones share the
/// connection pool.
///
/// ```no_run
/// use sls_client::{Client, Credentials};
///
/// # async fn run() -> Result<(), sls_client::Error> {
/// let client = Client::builder("https://cn-hangzhou.log.aliyuncs.com")
///     .credentials(Credentials::new("access-key-id", "access-key-secret"))
///     .build()?;
/// for shard in client.list_shards("my-project", "my-logstore").await? {
///     println!("shard {} is {:?}", shard.shard_id, shard.status);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Arc<Endpoint>,
    /// Signing over the transport, to compose another stack from
    /// ([`Client::with_retry_policy`]).
    signed: stack::Signed,
    stack: Stack,
    user_agent: HeaderValue,
    decompressor: Decompressor,
    /// The retry policy's attempt limit, for failures outside the stack.
    attempts: u32,
}

impl Client {
    /// Starts configuring a client of `endpoint` (`https://host`,
    /// `host`, or `127.0.0.1:port` for a local test server).
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.into(),
            credentials: None,
            version: SignatureVersion::V1,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            user_agent: format!("sls-rs/{}", env!("CARGO_PKG_VERSION")),
            retry: RetryPolicy::default(),
            decompressor: Decompressor::default(),
            clock: Arc::new(SystemTime::now),
            proxy: Proxy::from_env(),
            tls: TlsRoots::default(),
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// A client like this one but for its retry policy: the same endpoint,
    /// credentials, signature version, clock, user agent, decompressor,
    /// timeouts, proxy, TLS settings and connection pool (the two share
    /// connections; either may be dropped first). Only the retry layer
    /// differs, and with it how many times a corrupted pulled body is
    /// fetched again ([`Client::pull_logs`]).
    ///
    /// [`RetryPolicy::never`] suits a caller that retries by itself, such
    /// as a consumer with its own retry loop: the client's retries would
    /// multiply with its own, and delay a stop behind back-offs it cannot
    /// see. A request refused for its credentials is still signed afresh
    /// once with refreshed credentials (when the provider can refresh
    /// them): that is not a retry of the policy's.
    ///
    /// ```no_run
    /// use sls_client::Client;
    /// use sls_client::retry::RetryPolicy;
    ///
    /// # fn run(client: Client) {
    /// let single_attempt = client.with_retry_policy(RetryPolicy::never());
    /// # }
    /// ```
    pub fn with_retry_policy(&self, policy: RetryPolicy) -> Client {
        let inner = &self.inner;
        Client {
            inner: Arc::new(Inner {
                endpoint: inner.endpoint.clone(),
                signed: inner.signed.clone(),
                attempts: policy.attempts(),
                stack: stack::compose(&inner.signed, policy),
                user_agent: inner.user_agent.clone(),
                decompressor: inner.decompressor,
            }),
        }
    }

    pub(crate) fn decompressor(&self) -> &Decompressor {
        &self.inner.decompressor
    }

    /// How many times to fetch a body that arrives corrupted.
    pub(crate) fn body_attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// Sends a request through the stack (retries, signing, transport),
    /// adding the headers every request carries.
    pub async fn send(&self, mut request: SlsRequest) -> Result<SlsResponse, Error> {
        let host = self.inner.endpoint.host(request.project.as_deref());
        let host = HeaderValue::from_str(&host)
            .map_err(|_| Error::InvalidArgument(format!("invalid host {host:?}")))?;
        let headers = &mut request.headers;
        headers.insert(HOST, host);
        headers.insert(USER_AGENT, self.inner.user_agent.clone());
        headers.insert("x-log-apiversion", HeaderValue::from_static(API_VERSION));
        headers
            .entry("x-log-bodyrawsize")
            .or_insert(HeaderValue::from_static("0"));
        if !request.body.is_empty() && !request.headers.contains_key(CONTENT_TYPE) {
            request
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let span = tracing::debug_span!(
            "sls_request",
            method = %request.method,
            project = request.project.as_deref().unwrap_or(""),
            path = %request.path,
            attempt = tracing::field::Empty,
        );
        self.inner
            .stack
            .clone()
            .oneshot(request)
            .instrument(span)
            .await
    }

    /// Sends a request with a JSON body.
    pub(crate) async fn send_json(
        &self,
        request: SlsRequest,
        body: &impl serde::Serialize,
    ) -> Result<SlsResponse, Error> {
        let body = serde_json::to_vec(body)
            .map_err(|err| Error::InvalidArgument(format!("cannot encode JSON body: {err}")))?;
        self.send(
            request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(Bytes::from(body)),
        )
        .await
    }
}

/// Parses a JSON response body, naming what was expected on failure.
pub(crate) fn parse_json<T: DeserializeOwned>(
    response: &SlsResponse,
    what: &str,
) -> Result<T, Error> {
    serde_json::from_slice(response.body()).map_err(|err| {
        Error::Response(format!(
            "{what}: body is not the expected JSON ({err}); request id {}",
            response.request_id().unwrap_or("none")
        ))
    })
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint.to_string())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]. Every default is set in [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    endpoint: String,
    credentials: Option<Arc<dyn ProvideCredentials>>,
    version: SignatureVersion,
    connect_timeout: Duration,
    attempt_timeout: Duration,
    max_response_size: usize,
    user_agent: String,
    retry: RetryPolicy,
    decompressor: Decompressor,
    clock: Clock,
    proxy: Proxy,
    tls: TlsRoots,
}

impl ClientBuilder {
    /// Where credentials come from (default: the `ALIBABA_CLOUD_*`
    /// environment variables, read on every request).
    pub fn credentials(mut self, provider: impl ProvideCredentials) -> Self {
        self.credentials = Some(Arc::new(provider));
        self
    }

    /// The signature (default v1; v4 needs the endpoint's region).
    pub fn signature_version(mut self, version: SignatureVersion) -> Self {
        self.version = version;
        self
    }

    /// How long to wait for a TCP connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take, response body included (default 60 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// The largest response body accepted (default 128 MiB, at least
    /// [`MIN_RESPONSE_SIZE`]).
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// The `User-Agent` (default `sls-rs/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The retry policy (default [`RetryPolicy::default`]).
    /// [`Client::with_retry_policy`] derives a client with another one.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The decompressor for pulled bodies (default: 64 MiB cap).
    pub fn decompressor(mut self, decompressor: Decompressor) -> Self {
        self.decompressor = decompressor;
        self
    }

    /// The wall clock used for signatures (default the system clock); for
    /// tests against a server with a fixed time.
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The HTTP proxy (default [`Proxy::from_env`]: `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`, read at
    /// [`ClientBuilder::build`]; loopback endpoints always direct).
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = proxy;
        self
    }

    /// Trusts the certificates of a PEM bundle (every `CERTIFICATE`
    /// block) as roots for `https://` endpoints, beside the others: the CA
    /// of a TLS-inspecting proxy, say. Checked at
    /// [`ClientBuilder::build`].
    pub fn add_root_certificates_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.tls.extra.push(ExtraRoot::Pem(pem.as_ref().to_vec()));
        self
    }

    /// Trusts one DER-encoded certificate as a root for `https://`
    /// endpoints, beside the others. Checked at [`ClientBuilder::build`].
    pub fn add_root_certificate_der(mut self, der: impl AsRef<[u8]>) -> Self {
        self.tls.extra.push(ExtraRoot::Der(der.as_ref().to_vec()));
        self
    }

    /// Whether to trust the roots bundled with the client (webpki-roots,
    /// Mozilla's list; default on). Turn off to trust only the system's
    /// store or roots added by hand.
    pub fn tls_built_in_roots(mut self, enabled: bool) -> Self {
        self.tls.built_in = enabled;
        self
    }

    /// Whether to also trust the operating system's root store (default
    /// off), read once at [`ClientBuilder::build`] by rustls-native-certs
    /// (on Linux the OpenSSL locations, `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` included). The build fails if the store holds no
    /// usable certificate.
    pub fn tls_native_roots(mut self, enabled: bool) -> Self {
        self.tls.native = enabled;
        self
    }

    /// Builds the client. Fails, naming the setting, on an invalid
    /// endpoint or user agent, a zero timeout, a response limit under
    /// [`MIN_RESPONSE_SIZE`], a proxy URL that cannot be used, or root
    /// certificates that do not parse.
    pub fn build(self) -> Result<Client, Error> {
        let endpoint = Arc::new(Endpoint::parse(&self.endpoint)?);
        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            Error::InvalidArgument(
                "user_agent: must be a valid header value (visible ASCII)".into(),
            )
        })?;
        for (name, timeout) in [
            ("connect_timeout", self.connect_timeout),
            ("attempt_timeout", self.attempt_timeout),
        ] {
            if timeout.is_zero() {
                return Err(Error::InvalidArgument(format!(
                    "{name}: must be positive (got 0)"
                )));
            }
        }
        if self.max_response_size < MIN_RESPONSE_SIZE {
            return Err(Error::InvalidArgument(format!(
                "max_response_size: must be at least {MIN_RESPONSE_SIZE} bytes (got {})",
                self.max_response_size
            )));
        }
        let credentials = self
            .credentials
            .unwrap_or_else(|| Arc::new(EnvCredentials::new()));
        let route = self.proxy.route()?;
        // The proxy's Debug hides credentials.
        tracing::debug!(proxy = ?self.proxy, direct = route.is_direct(), "client proxy settings");
        let tls = self.tls.client_config()?;
        let transport = Transport::new(
            endpoint.clone(),
            self.connect_timeout,
            self.attempt_timeout,
            self.max_response_size,
            route,
            tls,
        );
        let attempts = self.retry.attempts();
        let signed = stack::signed(transport, credentials, self.version, self.clock);
        let stack = stack::compose(&signed, self.retry);
        Ok(Client {
            inner: Arc::new(Inner {
                endpoint,
                signed,
                stack,
                user_agent,
                decompressor: self.decompressor,
                attempts,
            }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .field("version", &self.version)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("max_response_size", &self.max_response_size)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("proxy", &self.proxy)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}
