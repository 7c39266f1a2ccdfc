//! HTTP proxies: [`Proxy`], what the user configures, and the connector
//! that sends each connection through a CONNECT tunnel or straight to the
//! endpoint.
//!
//! Both parts are hyper-util's: [`Matcher`] decides (the proxy variables
//! and `NO_PROXY` rules as curl reads them) and [`Tunnel`] opens the
//! tunnel; this module only chooses the settings and keeps credentials in
//! proxy URLs out of `Debug`, logs and errors.
//!
//! Chosen where the issue is silent:
//! - The environment is honoured by default (`Proxy::from_env`), as the
//!   official Go SDK does: its client clones Go's default transport, whose
//!   proxy is `ProxyFromEnvironment` (aliyun-log-go-sdk `request.go`,
//!   `newDefaultTransport`). Like Go's rule, a proxy from the environment
//!   is never used for a loopback endpoint (`127.0.0.0/8`, `::1`,
//!   `localhost`): a local test server stays direct even where the
//!   machine's `NO_PROXY` forgets it. A proxy set with [`Proxy::all`]
//!   applies to loopback too.
//! - Every scheme goes through a CONNECT tunnel, `http://` endpoints too
//!   (a proxy must then allow CONNECT to their port, which some only allow
//!   to 443); requests are never rewritten into a forward proxy's
//!   absolute form. Proxies are spoken to in plain HTTP: an `https://` or
//!   SOCKS proxy URL is refused.
//! - An unusable proxy variable (an unsupported scheme, not a URL) is
//!   skipped with a warning naming the variable, never its value; a
//!   proxy given to the builder must be valid or the build fails.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tower::{Service, ServiceExt};

use crate::credentials::{Environment, ProcessEnvironment};
use crate::{BoxError, Error};

/// Which HTTP proxy, if any, the client's connections go through.
///
/// ```
/// use sls_client::{Client, Proxy};
///
/// # fn build() -> Result<(), sls_client::Error> {
/// // The default: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (or
/// // their lower-case forms), read when the client is built.
/// let client = Client::builder("https://cn-hangzhou.log.aliyuncs.com")
///     .proxy(Proxy::from_env())
///     .build()?;
///
/// // A proxy of its own, with credentials (sent as Proxy-Authorization,
/// // never logged) and hosts to reach directly.
/// let client = Client::builder("https://cn-hangzhou.log.aliyuncs.com")
///     .proxy(Proxy::all("http://user:secret@proxy.corp:3128").no_proxy("internal.corp, 10.0.0.0/8"))
///     .build()?;
///
/// // No proxy at all, whatever the environment says.
/// let client = Client::builder("https://cn-hangzhou.log.aliyuncs.com")
///     .proxy(Proxy::none())
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Proxy {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    None,
    Env(Arc<dyn Environment>),
    Explicit {
        http: Option<String>,
        https: Option<String>,
        no_proxy: String,
    },
}

impl Proxy {
    /// No proxy: every connection goes straight to the endpoint.
    pub fn none() -> Self {
        Self { kind: Kind::None }
    }

    /// The proxy variables of the process (the default), read when the
    /// client is built: `HTTPS_PROXY` for `https://` endpoints,
    /// `HTTP_PROXY` for `http://` ones, `ALL_PROXY` for either, and the
    /// hosts of `NO_PROXY` reached directly (each variable also in lower
    /// case; `NO_PROXY` as curl reads it: domains match their subdomains,
    /// IP addresses and CIDR ranges, `*` for everything). Loopback
    /// endpoints are always reached directly; in a CGI process
    /// (`REQUEST_METHOD` set) no variable is read, as a request header
    /// could have set `HTTP_PROXY`.
    pub fn from_env() -> Self {
        Self::from_environment(ProcessEnvironment)
    }

    /// As [`Proxy::from_env`], reading `environment` instead of the
    /// process's (for tests: the process environment is global).
    pub fn from_environment(environment: impl Environment) -> Self {
        Self {
            kind: Kind::Env(Arc::new(environment)),
        }
    }

    /// Every connection through the proxy at `url`
    /// (`http://[user:password@]host:port`; the scheme may be left out).
    pub fn all(url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            kind: Kind::Explicit {
                http: Some(url.clone()),
                https: Some(url),
                no_proxy: String::new(),
            },
        }
    }

    /// Connections to `http://` endpoints through the proxy at `url`;
    /// `https://` ones go direct.
    pub fn http(url: impl Into<String>) -> Self {
        Self {
            kind: Kind::Explicit {
                http: Some(url.into()),
                https: None,
                no_proxy: String::new(),
            },
        }
    }

    /// Connections to `https://` endpoints through the proxy at `url`;
    /// `http://` ones go direct.
    pub fn https(url: impl Into<String>) -> Self {
        Self {
            kind: Kind::Explicit {
                http: None,
                https: Some(url.into()),
                no_proxy: String::new(),
            },
        }
    }

    /// Hosts reached directly, in `NO_PROXY`'s form: comma-separated
    /// domains (each with its subdomains), IP addresses or CIDR ranges, or
    /// `*`. Only for a proxy set here; [`Proxy::from_env`] reads
    /// `NO_PROXY`.
    pub fn no_proxy(mut self, hosts: impl Into<String>) -> Self {
        if let Kind::Explicit { no_proxy, .. } = &mut self.kind {
            *no_proxy = hosts.into();
        }
        self
    }

    /// Resolves the settings into a connector's routing rules.
    pub(crate) fn route(&self) -> Result<Route, Error> {
        match &self.kind {
            Kind::None => Ok(Route::direct()),
            Kind::Env(env) => Ok(from_variables(env.as_ref())),
            Kind::Explicit {
                http,
                https,
                no_proxy,
            } => {
                let mut builder = Matcher::builder().no(no_proxy.as_str());
                let mut any = false;
                if let Some(url) = http {
                    builder = builder.http(checked(url).map_err(|why| invalid("http", url, why))?);
                    any = true;
                }
                if let Some(url) = https {
                    builder =
                        builder.https(checked(url).map_err(|why| invalid("https", url, why))?);
                    any = true;
                }
                Ok(Route {
                    matcher: any.then(|| Arc::new(builder.build())),
                    loopback_direct: false,
                })
            }
        }
    }
}

impl Default for Proxy {
    /// [`Proxy::from_env`].
    fn default() -> Self {
        Self::from_env()
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::None => f.write_str("Proxy::none()"),
            Kind::Env(_) => f.write_str("Proxy::from_env()"),
            Kind::Explicit {
                http,
                https,
                no_proxy,
            } => f
                .debug_struct("Proxy")
                .field("http", &http.as_deref().map(redacted))
                .field("https", &https.as_deref().map(redacted))
                .field("no_proxy", no_proxy)
                .finish(),
        }
    }
}

/// A builder-set proxy URL that cannot be used; the message shows the URL
/// without its credentials.
fn invalid(scheme: &str, url: &str, why: &str) -> Error {
    Error::InvalidArgument(format!(
        "proxy for {scheme}:// endpoints ({}): {why}",
        redacted(url)
    ))
}

/// Checks a proxy URL: plain HTTP (the scheme may be left out), with a
/// host. Returns it as given (hyper-util parses it again, credentials
/// included) or why it cannot be used.
fn checked(url: &str) -> Result<&str, &'static str> {
    let trimmed = url.trim();
    let uri: Uri = trimmed
        .parse()
        .map_err(|_| "not a valid http://host:port URL")?;
    match uri.scheme_str() {
        None | Some("http") => {}
        Some("https") => return Err("TLS to the proxy is not supported; use http://"),
        Some(_) => return Err("only http:// proxies are supported"),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(trimmed),
        _ => Err("not a valid http://host:port URL"),
    }
}

/// `url` with any `user:password@` replaced by `***@`, for messages.
pub(crate) fn redacted(url: &str) -> String {
    // A scheme only if what precedes `://` is a scheme token: in
    // `user:pa://ss@host` the `://` is inside the password.
    let is_scheme = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    };
    let (scheme, rest) = match url.find("://") {
        Some(at) if is_scheme(&url[..at]) => url.split_at(at + 3),
        _ => ("", url),
    };
    // Up to the last `@` anywhere: a password may hold `/` or `?` when
    // the URL is malformed, and over-hiding a path is harmless.
    match rest.rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The proxy variables, as curl (and hyper-util's `Matcher::from_env`)
/// read them, through `env`. Unusable values are skipped with a warning
/// that names the variable only.
fn from_variables(env: &dyn Environment) -> Route {
    if env.get("REQUEST_METHOD").is_some() {
        return Route::direct();
    }
    let first = |names: [&'static str; 2]| {
        names.into_iter().find_map(|name| {
            let value = env.get(name)?;
            let value = value.trim().to_owned();
            if value.is_empty() {
                return None;
            }
            match checked(&value) {
                Ok(_) => Some(value),
                Err(why) => {
                    tracing::warn!(variable = name, "proxy variable ignored: {why}");
                    None
                }
            }
        })
    };
    let all = first(["ALL_PROXY", "all_proxy"]);
    let http = first(["HTTP_PROXY", "http_proxy"]).or_else(|| all.clone());
    let https = first(["HTTPS_PROXY", "https_proxy"]).or(all);
    if http.is_none() && https.is_none() {
        return Route::direct();
    }
    let no_proxy = ["NO_PROXY", "no_proxy"]
        .into_iter()
        .find_map(|name| env.get(name))
        .unwrap_or_default();
    let mut builder = Matcher::builder().no(no_proxy);
    if let Some(url) = http {
        builder = builder.http(url);
    }
    if let Some(url) = https {
        builder = builder.https(url);
    }
    Route {
        matcher: Some(Arc::new(builder.build())),
        loopback_direct: true,
    }
}

/// Where connections go: which destinations a proxy takes.
#[derive(Clone)]
pub(crate) struct Route {
    /// `None`: everything direct.
    matcher: Option<Arc<Matcher>>,
    /// Loopback destinations skip the proxy (proxies from the
    /// environment).
    loopback_direct: bool,
}

impl Route {
    fn direct() -> Self {
        Self {
            matcher: None,
            loopback_direct: false,
        }
    }

    /// Whether any destination may go through a proxy.
    pub(crate) fn is_direct(&self) -> bool {
        self.matcher.is_none()
    }

    /// The tunnel for `dst`, or `None` to connect directly.
    fn tunnel(&self, dst: &Uri) -> Option<(Uri, Option<http::HeaderValue>)> {
        let matcher = self.matcher.as_ref()?;
        if self.loopback_direct && dst.host().is_some_and(is_loopback) {
            return None;
        }
        let intercept = matcher.intercept(dst)?;
        Some((intercept.uri().clone(), intercept.basic_auth().cloned()))
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `dst` with its port written out (80 for `http`, 443 for `https`): the
/// tunnel asks for `host:443` when the port is left out, whatever the
/// scheme.
fn with_port(dst: Uri) -> Uri {
    if dst.port().is_some() {
        return dst;
    }
    let port = if dst.scheme_str() == Some("http") {
        80
    } else {
        443
    };
    let Some(host) = dst.host() else {
        return dst;
    };
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut parts = dst.clone().into_parts();
    match authority.parse() {
        Ok(authority) => {
            parts.authority = Some(authority);
            Uri::from_parts(parts).unwrap_or(dst)
        }
        Err(_) => dst,
    }
}

/// The TCP connector under TLS: straight to the destination, or through a
/// CONNECT tunnel of the proxy the route names for it.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    tcp: HttpConnector,
    route: Route,
}

impl ProxyConnector {
    pub(crate) fn new(tcp: HttpConnector, route: Route) -> Self {
        Self { tcp, route }
    }
}

impl Service<Uri> for ProxyConnector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The TCP connector is always ready; each call clones it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let tcp = self.tcp.clone();
        match self.route.tunnel(&dst) {
            None => Box::pin(async move { tcp.oneshot(dst).await.map_err(Into::into) }),
            Some((proxy, auth)) => {
                let mut tunnel = Tunnel::new(proxy, tcp);
                if let Some(auth) = auth {
                    tunnel = tunnel.with_auth(auth);
                }
                tracing::trace!(
                    host = dst.host().unwrap_or(""),
                    "connecting through the proxy"
                );
                Box::pin(async move { tunnel.oneshot(with_port(dst)).await.map_err(Into::into) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn via(route: &Route, dst: &str) -> Option<String> {
        route
            .tunnel(&dst.parse().unwrap())
            .map(|(proxy, _)| proxy.to_string())
    }

    #[test]
    fn variables_choose_the_proxy_by_scheme_and_no_proxy_bypasses() {
        let route = Proxy::from_environment(env(&[
            ("HTTPS_PROXY", "http://secure:3128"),
            ("http_proxy", "plain:8080"),
            ("NO_PROXY", "internal.corp, 10.0.0.0/8"),
        ]))
        .route()
        .unwrap();
        assert_eq!(
            via(&route, "https://p.cn-hangzhou.log.aliyuncs.com/x").as_deref(),
            Some("http://secure:3128/")
        );
        assert_eq!(
            via(&route, "http://p.cn-hangzhou.log.aliyuncs.com/x").as_deref(),
            Some("http://plain:8080/")
        );
        assert_eq!(via(&route, "https://sls.internal.corp/"), None);
        assert_eq!(via(&route, "https://10.1.2.3:443/"), None);
        // Loopback never goes through a proxy from the environment.
        assert_eq!(via(&route, "http://127.0.0.1:8080/"), None);
        assert_eq!(via(&route, "http://[::1]:8080/"), None);
        assert_eq!(via(&route, "http://localhost:8080/"), None);
    }

    #[test]
    fn all_proxy_is_the_fallback_and_cgi_reads_nothing() {
        let route = Proxy::from_environment(env(&[("all_proxy", "http://any:1")]))
            .route()
            .unwrap();
        assert_eq!(
            via(&route, "https://a.b/").as_deref(),
            Some("http://any:1/")
        );
        assert_eq!(via(&route, "http://a.b/").as_deref(), Some("http://any:1/"));
        let route = Proxy::from_environment(env(&[
            ("HTTP_PROXY", "http://any:1"),
            ("REQUEST_METHOD", "GET"),
        ]))
        .route()
        .unwrap();
        assert!(route.is_direct());
        assert!(
            Proxy::from_environment(env(&[]))
                .route()
                .unwrap()
                .is_direct()
        );
    }

    #[test]
    fn unusable_variables_are_skipped() {
        let route = Proxy::from_environment(env(&[
            ("HTTPS_PROXY", "socks5://user:pw@s:1080"),
            ("HTTP_PROXY", "http://ok:3128"),
        ]))
        .route()
        .unwrap();
        assert_eq!(via(&route, "https://a.b/"), None);
        assert_eq!(
            via(&route, "http://a.b/").as_deref(),
            Some("http://ok:3128/")
        );
    }

    #[test]
    fn a_proxy_set_by_hand_applies_to_loopback_unless_listed() {
        let route = Proxy::all("http://127.0.0.1:3128").route().unwrap();
        assert!(via(&route, "http://127.0.0.1:8080/").is_some());
        let route = Proxy::all("http://127.0.0.1:3128")
            .no_proxy("127.0.0.1")
            .route()
            .unwrap();
        assert_eq!(via(&route, "http://127.0.0.1:8080/"), None);
        let route = Proxy::https("http://p:1").route().unwrap();
        assert_eq!(via(&route, "http://a.b/"), None);
        assert!(via(&route, "https://a.b/").is_some());
    }

    #[test]
    fn bad_urls_fail_the_build_without_their_credentials() {
        for url in [
            "https://user:hunter2@proxy:3128",
            "socks5://user:hunter2@proxy:1080",
            "http://user:hunter2@",
        ] {
            let err = Proxy::all(url).route().err().expect(url).to_string();
            assert!(err.starts_with("invalid argument: proxy for"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn debug_and_messages_hide_credentials() {
        let proxy = Proxy::all("http://user:hunter2@proxy:3128/").no_proxy("a.b");
        let debug = format!("{proxy:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("***@proxy:3128"), "{debug}");
        assert_eq!(redacted("http://proxy:1"), "http://proxy:1");
        assert_eq!(redacted("u:p@proxy:1"), "***@proxy:1");
        assert_eq!(redacted("http://u:p@w@proxy:1/x"), "http://***@proxy:1/x");
        assert_eq!(redacted("http://u:p/w?d@proxy:1"), "http://***@proxy:1");
        // `://` inside a password is not a scheme.
        assert_eq!(redacted("alice:pa://ss@proxy:3128"), "***@proxy:3128");
    }

    #[test]
    fn the_port_is_written_out_before_tunnelling() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(with_port(uri("http://a.b/")), uri("http://a.b:80/"));
        assert_eq!(with_port(uri("https://a.b/x")), uri("https://a.b:443/x"));
        assert_eq!(with_port(uri("http://a.b:81/")), uri("http://a.b:81/"));
        assert_eq!(with_port(uri("http://[::1]/")), uri("http://[::1]:80/"));
    }
}
