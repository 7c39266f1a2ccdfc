//! The one public error type of the client, the service's error codes, and
//! what is retryable.
//!
//! Classification is data: [`ErrorCode`] names the codes, and its
//! [`is_throttling`](ErrorCode::is_throttling) and
//! [`is_transient`](ErrorCode::is_transient) say which mean "slow down" or
//! "retry", separate from the retry mechanics.

use std::fmt;
use std::time::Duration;

use crate::CredentialsError;

/// A boxed error, as errors travel between tower layers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Declares [`ErrorCode`]: each variant with its canonical spelling and the
/// other spellings that parse to it, so the three cannot drift apart.
macro_rules! error_codes {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $canonical:literal $(| $alias:literal)*;
    )*) => {
        /// A service error code (the `errorCode` of an error answer), typed.
        ///
        /// One variant per code that this client, the consumer
        /// (`sls-consumer`) or the fake (`sls-testkit`) tell apart: the
        /// service's documented codes, and two the fake sends where the
        /// service documents none ([`ErrorCode::InvalidRequestURI`],
        /// [`ErrorCode::ConsumeProcessorNotExist`]). [`ErrorCode::Other`]
        /// keeps any other code as it was sent. Each variant is named as
        /// its code is spelled.
        ///
        /// Parsing (`From<&str>`, `From<String>`, [`str::parse`]) never
        /// fails and ignores ASCII case; where SDKs disagree on a spelling,
        /// both parse to one variant ([`ErrorCode::ConsumerNotExist`],
        /// [`ErrorCode::ShardNotExist`]). [`ErrorCode::as_str`] and
        /// `Display` give the canonical spelling.
        ///
        /// An answer without a code (a body that is not the service's JSON
        /// error object: a proxy's page, a cut-off body) has no `ErrorCode`:
        /// [`ServerError::error_code`] and [`Error::error_code`] return
        /// `None` for it. Parsing the empty string itself gives
        /// `Other("")`.
        ///
        /// ```
        /// use sls_client::ErrorCode;
        ///
        /// assert_eq!(ErrorCode::from("shardnotexsit"), ErrorCode::ShardNotExist);
        /// assert_eq!(ErrorCode::ShardNotExist.to_string(), "ShardNotExist");
        /// assert!(ErrorCode::from("ShardWriteQuotaExceed").is_throttling());
        /// assert_eq!(
        ///     "SomethingNew".parse::<ErrorCode>(),
        ///     Ok(ErrorCode::Other("SomethingNew".into()))
        /// );
        /// ```
        ///
        /// The enum is `#[non_exhaustive]`: a later version may give a code
        /// now parsed as `Other` its own variant, so match an unknown code
        /// by [`ErrorCode::as_str`] rather than by `Other("...")`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                $(#[doc = $doc])*
                $variant,
            )*
            /// Any other code, with its text as the server sent it (cut to
            /// 128 bytes, control characters escaped, when it came through
            /// [`ServerError::from_response`]). Two `Other`s are equal when
            /// their texts are, case included.
            Other(String),
        }

        impl ErrorCode {
            /// Every spelling that parses to a known variant, the canonical
            /// one first.
            const SPELLINGS: &'static [(&'static str, ErrorCode)] = &[
                $(
                    ($canonical, ErrorCode::$variant),
                    $(($alias, ErrorCode::$variant),)*
                )*
            ];

            /// The canonical spelling, such as `"ShardNotExist"`; for
            /// [`ErrorCode::Other`], its text.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $canonical,)*
                    Self::Other(code) => code,
                }
            }
        }
    };
}

error_codes! {
    // Requests the service refuses as malformed.
    /// The request's `Date` is too far from the service's clock.
    RequestTimeExpired = "RequestTimeExpired";
    /// The request's `Date` is not an RFC 1123 date.
    InvalidDateFormat = "InvalidDateFormat";
    /// A request with a body lacks `x-log-bodyrawsize`.
    MissingBodyRawSize = "MissingBodyRawSize";
    /// `x-log-bodyrawsize` is not a valid size.
    InvalidBodyRawSize = "InvalidBodyRawSize";
    /// `x-log-compresstype` names no supported compression.
    InvalidCompressType = "InvalidCompressType";
    /// A parameter is invalid; the message says which.
    ParameterInvalid = "ParameterInvalid";
    /// The cursor is not one of this shard's, or has expired.
    InvalidCursor = "InvalidCursor";
    /// The request's path or method names no API: the code the fake
    /// (`sls-testkit`) sends for an API it lacks.
    InvalidRequestURI = "InvalidRequestURI";
    /// A PutLogs body did not decompress.
    PostBodyUncompressError = "PostBodyUncompressError";
    /// A request body, or a log group in it, is over the service's limits
    ///.
    PostBodyTooLarge = "PostBodyTooLarge";

    // Resources that exist already, or would be one too many.
    /// The consumer group exists already.
    ConsumerGroupAlreadyExist = "ConsumerGroupAlreadyExist";
    /// The logstore has as many consumer groups as it may.
    ConsumerGroupQuotaExceed = "ConsumerGroupQuotaExceed";
    /// The project has as many logstores or shards as it may.
    ProjectQuotaExceed = "ProjectQuotaExceed";
    /// The logstore exists already.
    LogStoreAlreadyExist = "LogStoreAlreadyExist";

    // Consumer groups and checkpoints.
    /// A heartbeat names a consumer the group does not know: it
    /// expired, or never joined.
    NotExistConsumerWithBody = "NotExistConsumerWithBody";
    /// A checkpoint is not a valid cursor of the shard.
    InvalidShardCheckPoint = "InvalidShardCheckPoint";

    // Credentials and signatures.
    /// The signature does not match the request.
    SignatureNotMatch = "SignatureNotMatch";
    /// The credentials may not do this.
    Unauthorized = "Unauthorized";
    /// The service does not know the access key id.
    InvalidAccessKeyId = "InvalidAccessKeyId";
    /// The STS security token has expired.
    SecurityTokenExpired = "SecurityTokenExpired";

    // Throttling ([`ErrorCode::is_throttling`]).
    /// The project's write quota is used up.
    WriteQuotaExceed = "WriteQuotaExceed";
    /// The shard's write quota is used up.
    ShardWriteQuotaExceed = "ShardWriteQuotaExceed";
    /// The project's read quota is used up.
    ReadQuotaExceed = "ReadQuotaExceed";
    /// The shard's read quota is used up.
    ShardReadQuotaExceed = "ShardReadQuotaExceed";

    // Resources that do not exist.
    /// The project does not exist.
    ProjectNotExist = "ProjectNotExist";
    /// The logstore does not exist.
    LogStoreNotExist = "LogStoreNotExist";
    /// The shard does not exist. Also parsed from `ShardNotExsit`,
    /// the spelling the official Go SDK's consumer matches
    /// (aliyun/aliyun-log-go-sdk, `consumer/checkpoint_tracker.go`).
    ShardNotExist = "ShardNotExist" | "ShardNotExsit";
    /// The consumer group does not exist.
    ConsumerGroupNotExist = "ConsumerGroupNotExist";
    /// The consumer is not in the group. Also parsed from
    /// `ConsumerNotExsit`, the spelling the official Go SDK's consumer
    /// matches (aliyun/aliyun-log-go-sdk, `consumer/checkpoint_tracker.go`,
    /// compared ignoring case).
    ConsumerNotExist = "ConsumerNotExist" | "ConsumerNotExsit";
    /// A checkpoint update names a consumer that does not hold the shard
    ///.
    ConsumerNotMatch = "ConsumerNotMatch";
    /// A pull names a consume processor the project lacks. The code
    /// the fake (`sls-testkit`) sends: the service's own is not documented.
    ConsumeProcessorNotExist = "ConsumeProcessorNotExist";

    // Transient server failures ([`ErrorCode::is_transient`]).
    /// The service failed.
    InternalServerError = "InternalServerError";
    /// The service timed out on the request.
    RequestTimeout = "RequestTimeout";
    /// The service is overloaded.
    ServerBusy = "ServerBusy";
}

impl ErrorCode {
    /// The known variant `code` spells, ignoring ASCII case; without
    /// allocating.
    fn known(code: &str) -> Option<&'static ErrorCode> {
        Self::SPELLINGS
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(code))
            .map(|(_, variant)| variant)
    }

    /// Whether the code means the service is throttling us (the read and
    /// write quotas): back off longer.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self,
            Self::WriteQuotaExceed
                | Self::ShardWriteQuotaExceed
                | Self::ReadQuotaExceed
                | Self::ShardReadQuotaExceed
        )
    }

    /// Whether the code means a transient server-side failure, whatever
    /// the HTTP status says (`ServerBusy`, `RequestTimeout`,
    /// `InternalServerError`).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::ServerBusy | Self::RequestTimeout | Self::InternalServerError
        )
    }
}

impl From<&str> for ErrorCode {
    /// Parses a code, ignoring ASCII case and accepting the known
    /// misspellings; any other text becomes [`ErrorCode::Other`].
    fn from(code: &str) -> Self {
        match Self::known(code) {
            Some(known) => known.clone(),
            None => Self::Other(code.to_owned()),
        }
    }
}

impl From<String> for ErrorCode {
    /// Parses a code as `From<&str>` does, keeping the string for
    /// [`ErrorCode::Other`].
    fn from(code: String) -> Self {
        match Self::known(&code) {
            Some(known) => known.clone(),
            None => Self::Other(code),
        }
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = std::convert::Infallible;

    /// Parses a code; never fails (see [`ErrorCode`]).
    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(code))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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

    /// The service's error code as sent, such as `ConsumerGroupNotExist`
    /// (empty when the body carried none). [`ServerError::error_code`]
    /// gives it typed.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The service's error code, typed; `None` when the answer carried none
    /// (a body that is not the service's JSON error object, or an empty
    /// `errorCode`).
    pub fn error_code(&self) -> Option<ErrorCode> {
        (!self.code.is_empty()).then(|| ErrorCode::from(self.code.as_str()))
    }

    /// The service's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `x-log-requestid` of the response, to quote to support.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// How this error may be retried, if at all: throttling codes
    /// ([`ErrorCode::is_throttling`]) after a longer back-off; a 5xx status
    /// or a transient code ([`ErrorCode::is_transient`]) as a server
    /// failure.
    pub fn retry_kind(&self) -> Option<RetryKind> {
        // Known codes only: classifying never allocates.
        let code = ErrorCode::known(&self.code);
        if code.is_some_and(ErrorCode::is_throttling) {
            Some(RetryKind::Throttling)
        } else if self.status >= 500 || code.is_some_and(ErrorCode::is_transient) {
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
    /// The service's error code as sent, for server errors (empty when
    /// the answer carried none). [`Error::error_code`] gives it typed.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Server(e) => Some(e.code()),
            _ => None,
        }
    }

    /// The service's error code, typed: for server errors whose answer
    /// carried one ([`ServerError::error_code`]); `None` otherwise.
    ///
    /// ```
    /// use sls_client::{Error, ErrorCode, ServerError};
    ///
    /// let err = Error::from(ServerError::new(404, "LogStoreNotExist", "no such logstore", None));
    /// match err.error_code() {
    ///     Some(ErrorCode::LogStoreNotExist) => {} // create it, say
    ///     _ => panic!("{err}"),
    /// }
    /// ```
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Server(e) => e.error_code(),
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
    use proptest::prelude::*;

    use super::*;

    /// Every known variant, once.
    fn variants() -> Vec<ErrorCode> {
        let mut all: Vec<ErrorCode> = Vec::new();
        for (_, variant) in ErrorCode::SPELLINGS {
            if !all.contains(variant) {
                all.push(variant.clone());
            }
        }
        all
    }

    #[test]
    fn every_variant_round_trips_through_its_spelling() {
        let all = variants();
        // The codes the client, the consumer and the fake tell apart.
        let expected = [
            "RequestTimeExpired",
            "InvalidDateFormat",
            "MissingBodyRawSize",
            "InvalidBodyRawSize",
            "InvalidCompressType",
            "ParameterInvalid",
            "InvalidCursor",
            "InvalidRequestURI",
            "ConsumerGroupAlreadyExist",
            "ConsumerGroupQuotaExceed",
            "ProjectQuotaExceed",
            "NotExistConsumerWithBody",
            "InvalidShardCheckPoint",
            "LogStoreAlreadyExist",
            "PostBodyUncompressError",
            "PostBodyTooLarge",
            "SignatureNotMatch",
            "Unauthorized",
            "InvalidAccessKeyId",
            "SecurityTokenExpired",
            "WriteQuotaExceed",
            "ShardWriteQuotaExceed",
            "ReadQuotaExceed",
            "ShardReadQuotaExceed",
            "ProjectNotExist",
            "LogStoreNotExist",
            "ShardNotExist",
            "ConsumerGroupNotExist",
            "ConsumerNotExist",
            "ConsumerNotMatch",
            "ConsumeProcessorNotExist",
            "InternalServerError",
            "RequestTimeout",
            "ServerBusy",
        ];
        let mut names: Vec<&str> = all.iter().map(ErrorCode::as_str).collect();
        names.sort_unstable();
        let mut expected = expected.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected);
        for code in &all {
            let text = code.as_str();
            assert_eq!(ErrorCode::from(text), *code);
            assert_eq!(ErrorCode::from(text.to_owned()), *code);
            assert_eq!(text.parse::<ErrorCode>(), Ok(code.clone()));
            assert_eq!(code.to_string(), text);
            // Each variant is named as its code is spelled.
            assert_eq!(format!("{code:?}"), text);
            assert!(!matches!(code, ErrorCode::Other(_)));
        }
        // No spelling is claimed by two variants.
        for (i, (a, _)) in ErrorCode::SPELLINGS.iter().enumerate() {
            for (b, _) in &ErrorCode::SPELLINGS[i + 1..] {
                assert!(!a.eq_ignore_ascii_case(b), "{a} twice");
            }
        }
    }

    #[test]
    fn both_spellings_of_the_misspelled_codes_parse_to_one_variant() {
        assert_eq!(
            ErrorCode::from("ConsumerNotExsit"),
            ErrorCode::ConsumerNotExist
        );
        assert_eq!(ErrorCode::from("ShardNotExsit"), ErrorCode::ShardNotExist);
        assert_eq!(
            ErrorCode::from("consumernotexsit").as_str(),
            "ConsumerNotExist"
        );
        assert_eq!(
            ErrorCode::from("SHARDNOTEXSIT").to_string(),
            "ShardNotExist"
        );
    }

    #[test]
    fn parsing_ignores_ascii_case() {
        for (spelling, code) in ErrorCode::SPELLINGS {
            assert_eq!(ErrorCode::from(spelling.to_ascii_lowercase()), *code);
            assert_eq!(ErrorCode::from(spelling.to_ascii_uppercase()), *code);
        }
        assert_eq!(ErrorCode::from("sErVeRbUsY"), ErrorCode::ServerBusy);
    }

    #[test]
    fn unknown_codes_keep_their_text() {
        for text in [
            "SomethingNew",
            "somethingnew",
            "",
            "ServerBusy ",
            "ServerBusy…",
            "ÉchecServeur",
            "\\n",
        ] {
            let code = ErrorCode::from(text);
            assert_eq!(code, ErrorCode::Other(text.to_owned()));
            assert_eq!(code.as_str(), text);
            assert_eq!(code.to_string(), text);
            assert!(!code.is_throttling() && !code.is_transient());
        }
        // Other compares its text as sent.
        assert_ne!(
            ErrorCode::from("SomethingNew"),
            ErrorCode::from("somethingnew")
        );
    }

    #[test]
    fn throttling_and_transient_codes_are_the_old_lists() {
        let all = variants();
        let throttling: Vec<&str> = all
            .iter()
            .filter(|c| c.is_throttling())
            .map(ErrorCode::as_str)
            .collect();
        assert_eq!(throttling, THROTTLING_CODES);
        let transient: Vec<&str> = all
            .iter()
            .filter(|c| c.is_transient())
            .map(ErrorCode::as_str)
            .collect();
        let mut expected = TRANSIENT_CODES.to_vec();
        expected.sort_unstable();
        let mut transient = transient;
        transient.sort_unstable();
        assert_eq!(transient, expected);
    }

    #[test]
    fn error_codes_are_none_without_a_code() {
        let e = ServerError::from_response(502, None, b"<html>bad gateway</html>");
        assert_eq!(e.error_code(), None);
        assert_eq!(ServerError::new(500, "", "", None).error_code(), None);
        assert_eq!(Error::from(e).error_code(), None);
        assert_eq!(Error::Timeout(Duration::from_secs(1)).error_code(), None);
        let e = ServerError::from_response(
            404,
            None,
            br#"{"errorCode":"ShardNotExsit","errorMessage":"gone"}"#,
        );
        // The text as sent; the code typed.
        assert_eq!(e.code(), "ShardNotExsit");
        assert_eq!(e.error_code(), Some(ErrorCode::ShardNotExist));
        assert_eq!(Error::from(e).error_code(), Some(ErrorCode::ShardNotExist));
    }

    /// The code lists, the comparison and `retry_kind` as they were before
    /// [`ErrorCode`], to check the new ones against.
    const THROTTLING_CODES: &[&str] = &[
        "WriteQuotaExceed",
        "ShardWriteQuotaExceed",
        "ReadQuotaExceed",
        "ShardReadQuotaExceed",
    ];
    const TRANSIENT_CODES: &[&str] = &["ServerBusy", "RequestTimeout", "InternalServerError"];

    fn old_code_matches(code: &str, expected: &str) -> bool {
        const SPELLINGS: &[(&str, &str)] = &[
            ("ConsumerNotExsit", "ConsumerNotExist"),
            ("ShardNotExsit", "ShardNotExist"),
        ];
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

    fn old_retry_kind(status: u16, code: &str) -> Option<RetryKind> {
        if THROTTLING_CODES.iter().any(|c| old_code_matches(code, c)) {
            Some(RetryKind::Throttling)
        } else if status >= 500 || TRANSIENT_CODES.iter().any(|c| old_code_matches(code, c)) {
            Some(RetryKind::Server)
        } else {
            None
        }
    }

    /// A known spelling in random ASCII case, or any text.
    fn code_text() -> impl Strategy<Value = String> {
        let known = (0..ErrorCode::SPELLINGS.len(), any::<u64>()).prop_map(|(i, mask)| {
            ErrorCode::SPELLINGS[i]
                .0
                .chars()
                .enumerate()
                .map(|(j, c)| {
                    if mask >> (j % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect()
        });
        prop_oneof![known, any::<String>(), "[a-zA-Z]{0,30}"]
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_keeps_unknown_text(text in any::<String>()) {
            let code = ErrorCode::from(text.as_str());
            match &code {
                ErrorCode::Other(kept) => prop_assert_eq!(kept, &text),
                known => prop_assert!(ErrorCode::SPELLINGS
                    .iter()
                    .any(|(spelling, v)| v == known && spelling.eq_ignore_ascii_case(&text))),
            }
            prop_assert_eq!(ErrorCode::from(code.as_str()), code.clone());
            prop_assert_eq!(text.parse::<ErrorCode>(), Ok(code));
        }

        #[test]
        fn parsing_ignores_case_and_classifies_as_before(
            text in code_text(),
            other in code_text(),
            status in 100u16..600,
        ) {
            let code = ErrorCode::from(text.as_str());
            if !matches!(code, ErrorCode::Other(_)) {
                prop_assert_eq!(ErrorCode::from(text.to_ascii_uppercase()), code.clone());
                prop_assert_eq!(ErrorCode::from(text.to_ascii_lowercase()), code);
            }
            prop_assert_eq!(
                ServerError::new(status, text.clone(), "", None).retry_kind(),
                old_retry_kind(status, &text)
            );
            prop_assert_eq!(
                ErrorCode::from(text.as_str()) == ErrorCode::from(other.as_str()),
                old_code_matches(&text, &other)
            );
        }
    }

    #[test]
    fn codes_match_ignoring_case_and_old_spellings() {
        let code = ErrorCode::from;
        assert_eq!(code("consumernotexsit"), code("ConsumerNotExist"));
        assert_eq!(code("ShardNotExsit"), code("shardnotexist"));
        assert_eq!(code("ServerBusy"), code("SERVERBUSY"));
        assert_ne!(code("ShardNotExist"), code("ConsumerNotExist"));
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
        assert_eq!(e.error_code(), Some(ErrorCode::LogStoreNotExist));
        assert_eq!(e.error_code(), Some(ErrorCode::from("logstorenotexist")));
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
