//! The one public error type of the client, and what is retryable.
//!
//! Classification is data: the error codes that mean "retry" or "slow down"
//! are `const` lists here, separate from the retry mechanics.

use std::fmt;
use std::time::Duration;

use crate::CredentialsError;

/// A boxed error, as errors travel between tower layers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Error codes that mean the service is throttling us: back off longer.
pub const THROTTLING_CODES: &[&str] = &[
    "WriteQuotaExceed",
    "ShardWriteQuotaExceed",
    "ReadQuotaExceed",
    "ShardReadQuotaExceed",
];

/// Error codes that mean a transient server-side failure, whatever the
/// status says.
pub const TRANSIENT_CODES: &[&str] = &["ServerBusy", "RequestTimeout", "InternalServerError"];

/// Older servers misspell some codes; compare through this table.
const SPELLINGS: &[(&str, &str)] = &[
    ("ConsumerNotExsit", "ConsumerNotExist"),
    ("ShardNotExsit", "ShardNotExist"),
];

/// Compares two error codes as the service means them: ignoring case and
/// the old misspellings.
pub fn code_matches(code: &str, expected: &str) -> bool {
    let canonical = |c: &str| -> String {
        for (old, new) in SPELLINGS {
            if c.eq_ignore_ascii_case(old) {
                return new.to_ascii_lowercase();
            }
        }
        c.to_ascii_lowercase()
    };
    canonical(code) == canonical(expected)
}

/// How an error may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryKind {
    /// A network failure or timeout: retry soon (for writes, only if the
    /// request provably never left, or the call is idempotent).
    Transient,
    /// The service is throttling: retry after a longer back-off.
    Throttling,
    /// The service failed (5xx): retry with back-off.
    Server,
}

/// An error response from the service: HTTP status, error code, message and
/// request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    status: u16,
    code: String,
    message: String,
    request_id: Option<String>,
}

/// The most of an unparseable error body kept in the message.
const MAX_ECHOED_BODY: usize = 256;
/// The most kept of a server's error code, message and request id (in
/// bytes): a hostile server's megabyte message must not become a megabyte
/// of every log line and error text.
const MAX_CODE: usize = 128;
const MAX_MESSAGE: usize = 1024;
pub(crate) const MAX_REQUEST_ID: usize = 128;

/// Server text made safe to show: control characters (newlines, terminal
/// escapes) escaped, then cut to at most `max` bytes on a character
/// boundary and marked with "…" when cut.
pub(crate) fn bounded(text: String, max: usize) -> String {
    let mut text = if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        text
    };
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

impl ServerError {
    /// An error response with the given parts.
    pub fn new(
        status: u16,
        code: impl Into<String>,
        message: impl Into<String>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            request_id,
        }
    }

    /// Reads an error response. A body that is not the service's JSON error
    /// object still gives an error, with an empty code and the start of the
    /// body in the message. What comes from the server is kept only up to
    /// a bound (128 bytes of code and request id, 1 KiB of message, each
    /// plus a "…" when cut), with control characters escaped.
    pub fn from_response(status: u16, request_id: Option<String>, body: &[u8]) -> Self {
        let request_id = request_id.map(|id| bounded(id, MAX_REQUEST_ID));
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(rename = "errorCode")]
            code: String,
            #[serde(rename = "errorMessage", default)]
            message: String,
        }
        match serde_json::from_slice::<Body>(body) {
            Ok(parsed) => Self::new(
                status,
                bounded(parsed.code, MAX_CODE),
                bounded(parsed.message, MAX_MESSAGE),
                request_id,
            ),
            Err(_) => {
                let shown = String::from_utf8_lossy(&body[..body.len().min(MAX_ECHOED_BODY)]);
                Self::new(
                    status,
                    "",
                    format!("error body is not the service's JSON error object: {shown:?}"),
                    request_id,
                )
            }
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The service's error code, such as `ConsumerGroupNotExist` (empty when
    /// the body carried none).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The service's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `x-log-requestid` of the response, to quote to support.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// Whether the code is `expected`, ignoring case and old misspellings.
    pub fn is(&self, expected: &str) -> bool {
        code_matches(&self.code, expected)
    }

    /// How this error may be retried, if at all.
    pub fn retry_kind(&self) -> Option<RetryKind> {
        if THROTTLING_CODES.iter().any(|c| self.is(c)) {
            Some(RetryKind::Throttling)
        } else if self.status >= 500 || TRANSIENT_CODES.iter().any(|c| self.is(c)) {
            Some(RetryKind::Server)
        } else {
            None
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

/// Whether a failed request may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The request never left (connect failed, for example): any call may
    /// be retried.
    No,
    /// The request may have been processed.
    Maybe,
}

/// Every way a call can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error.
    #[error("service error: {0}")]
    Server(#[from] ServerError),
    /// The connection failed.
    #[error("transport error ({}): {source}", if *.sent == Sent::No { "request not sent" } else { "request may have been sent" })]
    Transport {
        /// Whether the request may have reached the server.
        sent: Sent,
        /// The underlying failure.
        #[source]
        source: BoxError,
    },
    /// No response within the timeout.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// Credentials could not be had.
    #[error("credentials: {0}")]
    Credentials(#[from] CredentialsError),
    /// The response is not what the protocol says.
    #[error("malformed response: {0}")]
    Response(String),
    /// A body could not be decompressed.
    #[error("response body: {0}")]
    Codec(#[from] sls_proto::CodecError),
    /// A body could not be decoded.
    #[error("response body: {0}")]
    Decode(#[from] sls_proto::DecodeError),
    /// The caller passed a value the service would refuse.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A pull's answer declared (`x-log-bodyrawsize`) more raw bytes than
    /// the caller's limit ([`PullLogsRequest::max_raw_size`](crate::PullLogsRequest::max_raw_size))
    /// or the client's decompressor accepts. Refused from the headers,
    /// before the body was read or decompressed. Not retried: the same
    /// request would get the same answer; ask for fewer groups.
    #[error("pulled body declares {declared} raw bytes{}, over the limit of {limit}; ask for fewer groups", match .groups { Some(n) => format!(" for {n} groups"), None => String::new() })]
    TooLarge {
        /// The declared raw size.
        declared: u64,
        /// The limit it exceeds.
        limit: u64,
        /// The number of groups the answer declared (`x-log-count`), when
        /// it did.
        groups: Option<u32>,
    },
}

impl Error {
    /// The service's error code, for server errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Server(e) => Some(e.code()),
            _ => None,
        }
    }

    /// The request id, for server errors.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Server(e) => e.request_id(),
            _ => None,
        }
    }

    /// The HTTP status, for server errors.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Server(e) => Some(e.status()),
            _ => None,
        }
    }

    /// Whether the service answered with the error code `code` (ignoring
    /// case and old misspellings).
    pub fn is_code(&self, code: &str) -> bool {
        self.code().is_some_and(|c| code_matches(c, code))
    }

    /// How this error may be retried, if at all. Whether a non-idempotent
    /// write may be retried also depends on [`Error::request_sent`].
    pub fn retry_kind(&self) -> Option<RetryKind> {
        match self {
            Self::Server(e) => e.retry_kind(),
            Self::Transport { .. } | Self::Timeout(_) => Some(RetryKind::Transient),
            // A body cut short or garbled in transit reads as malformed.
            Self::Response(_) | Self::Codec(_) | Self::Decode(_) => Some(RetryKind::Transient),
            Self::Credentials(_) | Self::InvalidArgument(_) | Self::TooLarge { .. } => None,
        }
    }

    /// Whether the request may have reached the server.
    pub fn request_sent(&self) -> Sent {
        match self {
            Self::Transport { sent, .. } => *sent,
            Self::Credentials(_) | Self::InvalidArgument(_) => Sent::No,
            _ => Sent::Maybe,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_ignoring_case_and_old_spellings() {
        assert!(code_matches("consumernotexsit", "ConsumerNotExist"));
        assert!(code_matches("ShardNotExsit", "shardnotexist"));
        assert!(code_matches("ServerBusy", "SERVERBUSY"));
        assert!(!code_matches("ShardNotExist", "ConsumerNotExist"));
    }

    #[test]
    fn server_errors_parse_and_classify() {
        let e = ServerError::from_response(
            403,
            Some("req-1".into()),
            br#"{"errorCode":"ShardWriteQuotaExceed","errorMessage":"slow down"}"#,
        );
        assert_eq!(e.code(), "ShardWriteQuotaExceed");
        assert_eq!(e.retry_kind(), Some(RetryKind::Throttling));
        assert_eq!(
            e.to_string(),
            "HTTP 403 ShardWriteQuotaExceed: slow down (request id req-1)"
        );

        let busy = ServerError::from_response(
            503,
            None,
            br#"{"errorCode":"ServerBusy","errorMessage":""}"#,
        );
        assert_eq!(busy.retry_kind(), Some(RetryKind::Server));
        let timeout = ServerError::new(500, "RequestTimeout", "", None);
        assert_eq!(timeout.retry_kind(), Some(RetryKind::Server));
        for code in [
            "SignatureNotMatch",
            "ProjectNotExist",
            "ParameterInvalid",
            "ConsumerGroupAlreadyExist",
        ] {
            assert_eq!(
                ServerError::new(400, code, "", None).retry_kind(),
                None,
                "{code}"
            );
        }
    }

    #[test]
    fn non_json_error_bodies_are_still_typed_errors() {
        let body = "<html>bad gateway</html>".repeat(50);
        let e = ServerError::from_response(502, None, body.as_bytes());
        assert_eq!(e.code(), "");
        assert!(e.message().contains("not the service's JSON"));
        assert!(e.message().len() < 400);
        assert_eq!(e.retry_kind(), Some(RetryKind::Server));
        let e = ServerError::from_response(400, None, b"");
        assert_eq!(e.retry_kind(), None);
    }

    #[test]
    fn error_accessors() {
        let e = Error::from(ServerError::new(
            404,
            "LogStoreNotExist",
            "no",
            Some("r".into()),
        ));
        assert_eq!(e.http_status(), Some(404));
        assert_eq!(e.request_id(), Some("r"));
        assert!(e.is_code("logstorenotexist"));
        assert_eq!(e.retry_kind(), None);
        let t = Error::Transport {
            sent: Sent::No,
            source: "connection refused".into(),
        };
        assert_eq!(t.retry_kind(), Some(RetryKind::Transient));
        assert_eq!(t.request_sent(), Sent::No);
        assert!(t.to_string().contains("request not sent"));
        assert_eq!(
            Error::Timeout(Duration::from_secs(1)).request_sent(),
            Sent::Maybe
        );
    }
}
