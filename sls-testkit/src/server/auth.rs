//! Request authentication, checked with the same signing functions the
//! client uses (themselves checked against the SDKs' public vectors).

use std::time::{Duration, SystemTime};

use sls_client::Credentials;
use sls_client::signing::{SignableParts, SignatureVersion, sign, sign_v1_with_date};
use time::PrimitiveDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use super::http::Incoming;
use crate::error::ApiError;

/// The most a request's time may differ from the server's.
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

const HTTP_DATE: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day padding:none] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);
const HTTP_DATE_PADDED: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);
const V4_DATE: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

fn parse_time(text: &str, formats: &[&[FormatItem<'static>]]) -> Option<SystemTime> {
    formats.iter().find_map(|f| {
        let parsed = PrimitiveDateTime::parse(text.trim(), f).ok()?;
        Some(SystemTime::from(parsed.assume_utc()))
    })
}

/// Who may call, and how strictly.
#[derive(Debug, Clone)]
pub(crate) struct AuthConfig {
    pub(crate) credentials: Credentials,
    pub(crate) check_date: bool,
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(401, code, message)
}

fn check_skew(sent: SystemTime, now: SystemTime) -> Result<(), ApiError> {
    let skew = now
        .duration_since(sent)
        .or_else(|e| Ok::<_, ()>(e.duration()))
        .unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(ApiError::bad_request(
            "RequestTimeExpired",
            "the request time differs from the server's by more than 15 minutes",
        ));
    }
    Ok(())
}

/// Checks the signature (v1 or v4), the request time and the STS token.
pub(crate) fn verify(
    request: &Incoming,
    config: &AuthConfig,
    now: SystemTime,
) -> Result<(), ApiError> {
    let authorization = request
        .header("authorization")
        .ok_or_else(|| unauthorized("Unauthorized", "the request is not signed"))?;
    let parts = SignableParts::new(&request.headers, &request.query);
    let signable = parts.request(request.method.as_str(), &request.raw_path, &request.body);
    let credentials = &config.credentials;
    // The token first: the signature covers it, so a missing or wrong one
    // would otherwise read as a bad signature.
    if let Some(token) = credentials.security_token() {
        if request.header("x-acs-security-token") != Some(token) {
            return Err(unauthorized(
                "SecurityTokenExpired",
                "the security token is missing or wrong",
            ));
        }
    }

    let expected = if let Some(rest) = authorization.strip_prefix("LOG ") {
        let (access_key_id, _) = rest
            .split_once(':')
            .ok_or_else(|| unauthorized("Unauthorized", "malformed Authorization"))?;
        if access_key_id != credentials.access_key_id() {
            return Err(unauthorized("InvalidAccessKeyId", "unknown AccessKeyId"));
        }
        let date = request
            .header("date")
            .ok_or_else(|| ApiError::bad_request("InvalidDateFormat", "missing Date"))?;
        let sent = parse_time(date, &[HTTP_DATE_PADDED, HTTP_DATE])
            .ok_or_else(|| ApiError::bad_request("InvalidDateFormat", "Date is not RFC 1123"))?;
        if config.check_date {
            check_skew(sent, now)?;
        }
        sign_v1_with_date(&signable, credentials, date)
            .authorization()
            .to_owned()
    } else if let Some(rest) = authorization.strip_prefix("SLS4-HMAC-SHA256 ") {
        let credential = rest
            .split(',')
            .find_map(|part| part.trim().strip_prefix("Credential="))
            .ok_or_else(|| unauthorized("Unauthorized", "malformed Authorization"))?;
        let mut scope = credential.split('/');
        let access_key_id = scope.next().unwrap_or("");
        let region = scope.nth(1).unwrap_or("");
        if access_key_id != credentials.access_key_id() {
            return Err(unauthorized("InvalidAccessKeyId", "unknown AccessKeyId"));
        }
        let sent = request
            .header("x-log-date")
            .and_then(|d| parse_time(d, &[V4_DATE]))
            .ok_or_else(|| {
                ApiError::bad_request("InvalidDateFormat", "missing or bad x-log-date")
            })?;
        if config.check_date {
            check_skew(sent, now)?;
        }
        let version = SignatureVersion::V4 {
            region: region.to_owned(),
        };
        sign(&signable, credentials, &version, sent)
            .authorization()
            .to_owned()
    } else {
        return Err(unauthorized("Unauthorized", "unknown signature scheme"));
    };
    if expected != authorization {
        return Err(unauthorized(
            "SignatureNotMatch",
            "the signature does not match",
        ));
    }
    Ok(())
}
