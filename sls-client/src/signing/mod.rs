//! Request signing: v1 (HMAC-SHA1) and v4 (SLS4-HMAC-SHA256).
//!
//! The signer is a pure function of the request (method, path, query,
//! headers, body), the [`Credentials`], the time and, for v4, the region.
//! It returns the headers to add to the request together with the
//! intermediate strings, for tests and debugging. It never panics, whatever
//! the input.
//!
//! # Layout
//! - `canonical`: header selection, query ordering, percent-encoding, dates.
//! - `v1`: the `LOG <ak>:<signature>` scheme ([`sign_v1_with_date`]).
//! - `v4`: the `SLS4-HMAC-SHA256` scheme.

pub(crate) mod canonical;
mod v1;
mod v4;

use std::fmt;
use std::time::SystemTime;

use crate::Credentials;

pub use self::v1::sign_v1_with_date;

const AUTHORIZATION: &str = "Authorization";
const DATE: &str = "Date";
const CONTENT_MD5: &str = "Content-MD5";
const SIGNATURE_METHOD: &str = "x-log-signaturemethod";
const SECURITY_TOKEN: &str = "x-acs-security-token";
const LOG_DATE: &str = "x-log-date";
const CONTENT_SHA256: &str = "x-log-content-sha256";

/// Which signature to compute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureVersion {
    /// v1: HMAC-SHA1 over a string of the verb, `Content-MD5`,
    /// `Content-Type`, `Date`, the `x-log-*`/`x-acs-*` headers and the
    /// resource.
    V1,
    /// v4: SLS4-HMAC-SHA256, with a signing key scoped to the day and the
    /// region.
    V4 {
        /// The region of the endpoint, such as `cn-hangzhou`.
        region: String,
    },
}

/// What is signed.
///
/// The signer reads only these fields; it never changes the request.
#[derive(Clone, Copy)]
pub struct SignableRequest<'a> {
    /// The HTTP method, upper case as sent (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The path as sent on the wire (already percent-encoded where needed),
    /// without the query, such as `/logstores/app_log`.
    pub path: &'a str,
    /// The query parameters as (key, value), with *decoded* values. Order
    /// does not matter; the signer sorts them by key.
    pub query: &'a [(&'a str, &'a str)],
    /// The request's headers as (name, value), names in any case. Names and
    /// values are trimmed before they are signed.
    pub headers: &'a [(&'a str, &'a str)],
    /// The exact body bytes (empty when there is no body).
    pub body: &'a [u8],
}

impl fmt::Debug for SignableRequest<'_> {
    /// Prints header names only (a value may be a token) and the body size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| *name).collect();
        f.debug_struct("SignableRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The headers and query of an HTTP request, borrowed in the shapes
/// [`SignableRequest`] takes; how the client and a verifying server build
/// one from `http` types. Header values that are not visible ASCII are left
/// out (they cannot be signed as text).
#[derive(Debug, Clone)]
pub struct SignableParts<'a> {
    headers: Vec<(&'a str, &'a str)>,
    query: Vec<(&'a str, &'a str)>,
}

impl<'a> SignableParts<'a> {
    /// Borrows `headers` and decoded `query` parameters.
    pub fn new(headers: &'a http::HeaderMap, query: &'a [(String, String)]) -> Self {
        Self {
            headers: headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
                .collect(),
            query: query
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        }
    }

    /// The request to sign, with its method, path and body.
    pub fn request(
        &'a self,
        method: &'a str,
        path: &'a str,
        body: &'a [u8],
    ) -> SignableRequest<'a> {
        SignableRequest {
            method,
            path,
            query: &self.query,
            headers: &self.headers,
            body,
        }
    }
}

/// What signing produced: the headers to add to the request, and the
/// intermediate strings.
///
/// For v1 the headers are `x-log-signaturemethod`, `Date`, `Content-MD5`
/// (only for a non-empty body), `x-acs-security-token` (only with STS
/// credentials) and `Authorization`; for v4 they are `x-log-date`,
/// `x-log-content-sha256`, `x-acs-security-token` (only with STS
/// credentials) and `Authorization`. Each must *replace* any header of the
/// same name (case-insensitive) in the request.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningOutput {
    headers: Vec<(&'static str, String)>,
    string_to_sign: String,
    canonical_request: Option<String>,
}

impl SigningOutput {
    /// Assembles the output: the scheme's own `headers`, then the STS token
    /// when there is one, then `Authorization`.
    fn assemble(
        mut headers: Vec<(&'static str, String)>,
        token: Option<&str>,
        authorization: String,
        string_to_sign: String,
        canonical_request: Option<String>,
    ) -> Self {
        if let Some(token) = token {
            headers.push((SECURITY_TOKEN, token.to_owned()));
        }
        headers.push((AUTHORIZATION, authorization));
        Self {
            headers,
            string_to_sign,
            canonical_request,
        }
    }

    /// The headers to set on the request, as (name, value).
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// Consumes the output, returning the headers to set on the request.
    pub fn into_headers(self) -> Vec<(&'static str, String)> {
        self.headers
    }

    /// The value of the header `name` (case-insensitive) that signing adds,
    /// if it adds one.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Authorization` header value.
    pub fn authorization(&self) -> &str {
        self.header(AUTHORIZATION).unwrap_or("")
    }

    /// The string that was signed. With STS credentials it contains the
    /// security token: do not log it.
    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    /// The v4 canonical request (`None` for v1). With STS credentials it
    /// contains the security token: do not log it.
    pub fn canonical_request(&self) -> Option<&str> {
        self.canonical_request.as_deref()
    }
}

impl fmt::Debug for SigningOutput {
    /// Prints the headers with the security token redacted, and leaves out
    /// the intermediate strings (which contain the token too).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a [(&'static str, String)]);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(self.0.iter().map(|(name, value)| {
                        let shown = if name.eq_ignore_ascii_case(SECURITY_TOKEN) {
                            "** redacted **"
                        } else {
                            value.as_str()
                        };
                        (*name, shown)
                    }))
                    .finish()
            }
        }
        f.debug_struct("SigningOutput")
            .field("headers", &Headers(&self.headers))
            .finish_non_exhaustive()
    }
}

/// Signs `request` with `credentials` at `time`.
///
/// v1 formats `time` as the `Date` header (`Thu, 01 Jan 1970 00:00:00 GMT`);
/// v4 as `x-log-date` (`19700101T000000Z`). Times outside the years
/// -9999..=9999 are clamped. See [`SigningOutput`] for the headers returned.
///
/// # Example
///
/// ```
/// use std::time::SystemTime;
/// use sls_client::Credentials;
/// use sls_client::signing::{sign, SignableRequest, SignatureVersion};
///
/// let credentials = Credentials::new("my-key-id", "my-secret");
/// let request = SignableRequest {
///     method: "GET",
///     path: "/logstores",
///     query: &[("offset", "0"), ("size", "100")],
///     headers: &[("x-log-apiversion", "0.6.0"), ("x-log-bodyrawsize", "0")],
///     body: b"",
/// };
/// let version = SignatureVersion::V4 { region: "cn-hangzhou".into() };
/// let signed = sign(&request, &credentials, &version, SystemTime::now());
///
/// assert!(signed
///     .authorization()
///     .starts_with("SLS4-HMAC-SHA256 Credential=my-key-id/"));
/// for (name, value) in signed.headers() {
///     // request_builder.header(*name, value) ...
///     assert!(!value.contains("my-secret"));
/// }
/// ```
pub fn sign(
    request: &SignableRequest<'_>,
    credentials: &Credentials,
    version: &SignatureVersion,
    time: SystemTime,
) -> SigningOutput {
    let time = canonical::utc(time);
    match version {
        SignatureVersion::V1 => {
            sign_v1_with_date(request, credentials, &canonical::http_date(time))
        }
        SignatureVersion::V4 { region } => v4::sign_v4(request, credentials, region, time),
    }
}

#[cfg(test)]
mod tests;
