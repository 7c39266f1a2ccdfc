//! Where requests go: the endpoint, and how a project joins it.
//!
//! The service takes the project from the `Host` header
//! (`{project}.{endpoint}`). For a named endpoint we also connect to that
//! name; for an IP address or `localhost` (a test server) we connect to the
//! endpoint itself and only send the project in `Host`.

use std::fmt;
use std::net::IpAddr;

use http::Uri;

use crate::Error;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP, for tests and private networks.
    Http,
    /// HTTPS (TLS with certificate checks), what production uses.
    Https,
}

/// A parsed endpoint, such as `https://cn-hangzhou.log.aliyuncs.com` or
/// `127.0.0.1:8080` (no scheme means `https`, except for IPs and
/// `localhost`, which mean `http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: Scheme,
    /// Host and optional port, as written (`[::1]:80` keeps its brackets).
    authority: String,
    /// Connect to the authority directly rather than `{project}.{authority}`.
    direct: bool,
}

impl Endpoint {
    /// Parses an endpoint string.
    pub fn parse(endpoint: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::InvalidArgument(format!("endpoint {endpoint:?}: {why}"));
        let trimmed = endpoint.trim();
        let (scheme, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
            (Some(Scheme::Https), rest)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            (Some(Scheme::Http), rest)
        } else if trimmed.contains("://") {
            return Err(invalid("only http:// and https:// are supported"));
        } else {
            (None, trimmed)
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.ends_with(':') || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(invalid("expected host[:port] with no path"));
        }
        let authority: http::uri::Authority = rest
            .parse()
            .map_err(|_| invalid("not a valid host[:port]"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let direct = host.parse::<IpAddr>().is_ok() || host.eq_ignore_ascii_case("localhost");
        let scheme = scheme.unwrap_or(if direct { Scheme::Http } else { Scheme::Https });
        Ok(Self {
            scheme,
            authority: rest.to_ascii_lowercase(),
            direct,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Whether requests connect to the endpoint itself (IPs, `localhost`).
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// The `Host` header for a project (or the bare endpoint without one).
    pub fn host(&self, project: Option<&str>) -> String {
        match project {
            Some(project) => format!("{project}.{}", self.authority),
            None => self.authority.clone(),
        }
    }

    /// The URI to connect to for `path_and_query`.
    pub(crate) fn uri(&self, project: Option<&str>, path_and_query: &str) -> Result<Uri, Error> {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        let authority = if self.direct {
            self.authority.clone()
        } else {
            self.host(project)
        };
        format!("{scheme}://{authority}{path_and_query}")
            .parse()
            .map_err(|_| Error::InvalidArgument(format!("cannot form a URI for {authority}")))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}", self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_endpoints_put_the_project_in_the_host_and_the_uri() {
        let e = Endpoint::parse("cn-hangzhou.log.aliyuncs.com").unwrap();
        assert_eq!(e.scheme(), Scheme::Https);
        assert!(!e.is_direct());
        assert_eq!(e.host(Some("p")), "p.cn-hangzhou.log.aliyuncs.com");
        assert_eq!(
            e.uri(Some("p"), "/logstores?x=1").unwrap().to_string(),
            "https://p.cn-hangzhou.log.aliyuncs.com/logstores?x=1"
        );
    }

    #[test]
    fn ip_and_localhost_endpoints_connect_directly() {
        for (raw, authority) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://localhost:9", "localhost:9"),
            ("http://[::1]:7/", "[::1]:7"),
        ] {
            let e = Endpoint::parse(raw).unwrap();
            assert!(e.is_direct(), "{raw}");
            assert_eq!(e.scheme(), Scheme::Http);
            assert_eq!(e.host(Some("proj")), format!("proj.{authority}"));
            assert_eq!(
                e.uri(Some("proj"), "/").unwrap().to_string(),
                format!("http://{authority}/")
            );
        }
        assert_eq!(
            Endpoint::parse("https://10.0.0.1").unwrap().scheme(),
            Scheme::Https
        );
    }

    #[test]
    fn bad_endpoints_are_named() {
        for bad in ["", "ftp://x", "x.com/path", "user@x.com", "http://"] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{bad}");
        }
    }
}
