//! Signature v1: `Authorization: LOG <AccessKeyId>:<base64(HMAC-SHA1)>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest as _, Md5};

use super::canonical::{
    canonical_headers, find_header, hmac_sha1, push_header_lines, sorted_query,
};
use super::{CONTENT_MD5, DATE, SECURITY_TOKEN, SIGNATURE_METHOD, SignableRequest, SigningOutput};
use crate::Credentials;

/// The value of `x-log-signaturemethod` for v1.
const HMAC_SHA1: &str = "hmac-sha1";

/// Whether a canonical header name is part of the v1 string to sign.
///
/// Every `x-acs-*` header and every `x-log-*` header except `x-log-meta-*`
/// and `x-log-date`. aliyun-log-python-sdk (`aliyun/log/auth.py`) sends
/// `x-log-date` beside `Date` *after* signing, and excludes `x-log-meta-*`;
/// aliyun-log-go-sdk (`signature.go`) sends neither with v1, so this rule
/// verifies both.
fn is_signed(name: &str) -> bool {
    name.starts_with("x-acs-")
        || (name.starts_with("x-log-") && !name.starts_with("x-log-meta-") && name != "x-log-date")
}

/// Signs `request` with signature v1, using `date` verbatim as the `Date`
/// header (it should be RFC 1123 in GMT, such as
/// `Thu, 01 Jan 1970 00:00:00 GMT`).
///
/// This is [`sign`](super::sign) for
/// [`SignatureVersion::V1`](super::SignatureVersion::V1) with the date given
/// as text, for callers (and test vectors) that format the date themselves.
///
/// A `Date`, `Content-MD5`, `x-log-signaturemethod` or (with STS
/// credentials) `x-acs-security-token` header already in `request` is
/// replaced by the signer's own: the headers returned must replace any of
/// the same name. `Content-MD5` is computed from the body (and left out for
/// an empty body), never read from the request.
pub fn sign_v1_with_date(
    request: &SignableRequest<'_>,
    credentials: &Credentials,
    date: &str,
) -> SigningOutput {
    let content_md5 = if request.body.is_empty() {
        None
    } else {
        Some(hex::encode_upper(Md5::digest(request.body)))
    };
    let token = credentials.security_token();

    let mut added: Vec<(&str, &str)> = vec![(SIGNATURE_METHOD, HMAC_SHA1)];
    if let Some(token) = token {
        added.push((SECURITY_TOKEN, token));
    }
    let headers = canonical_headers(request.headers, is_signed, &added);
    let content_type = find_header(request.headers, "content-type").unwrap_or("");

    let string_to_sign = string_to_sign(
        request,
        content_md5.as_deref().unwrap_or(""),
        content_type,
        date,
        &headers,
    );
    let signature = STANDARD.encode(hmac_sha1(
        credentials.access_key_secret().as_bytes(),
        string_to_sign.as_bytes(),
    ));
    let authorization = format!("LOG {}:{signature}", credentials.access_key_id());

    let mut headers = Vec::with_capacity(5);
    headers.push((SIGNATURE_METHOD, HMAC_SHA1.to_owned()));
    headers.push((DATE, date.to_owned()));
    if let Some(md5) = content_md5 {
        headers.push((CONTENT_MD5, md5));
    }
    SigningOutput::assemble(headers, token, authorization, string_to_sign, None)
}

/// `VERB\nCONTENT-MD5\nCONTENT-TYPE\nDATE\n` + `name:value\n` per signed
/// header + path + `?k=v&...` (decoded values, sorted by key) when there is a
/// query.
fn string_to_sign(
    request: &SignableRequest<'_>,
    content_md5: &str,
    content_type: &str,
    date: &str,
    headers: &[(String, String)],
) -> String {
    let mut s = String::with_capacity(256);
    for part in [request.method, content_md5, content_type, date] {
        s.push_str(part);
        s.push('\n');
    }
    push_header_lines(&mut s, headers);
    s.push_str(request.path);
    if !request.query.is_empty() {
        s.push('?');
        for (i, (key, value)) in sorted_query(request.query).into_iter().enumerate() {
            if i > 0 {
                s.push('&');
            }
            s.push_str(key);
            s.push('=');
            s.push_str(value);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::signing::{SignatureVersion, sign};

    const DATE_2010: &str = "Mon, 3 Jan 2010 08:33:47 GMT";

    fn mock() -> Credentials {
        Credentials::new("mockAccessKeyID", "mockAccessKeySecret")
    }

    fn request<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a [(&'a str, &'a str)],
        headers: &'a [(&'a str, &'a str)],
        body: &'a [u8],
    ) -> SignableRequest<'a> {
        SignableRequest {
            method,
            path,
            query,
            headers,
            body,
        }
    }

    #[test]
    fn vector_1_list_logstores() {
        let headers = [
            ("x-log-apiversion", "0.6.0"),
            ("x-log-signaturemethod", "hmac-sha1"),
            ("x-log-bodyrawsize", "0"),
            ("Date", DATE_2010),
        ];
        let req = request("GET", "/logstores", &[], &headers, b"");
        let out = sign_v1_with_date(&req, &mock(), DATE_2010);
        assert_eq!(
            out.string_to_sign(),
            "GET\n\n\nMon, 3 Jan 2010 08:33:47 GMT\nx-log-apiversion:0.6.0\n\
             x-log-bodyrawsize:0\nx-log-signaturemethod:hmac-sha1\n/logstores"
        );
        assert_eq!(
            out.authorization(),
            "LOG mockAccessKeyID:Rwm6cTKzoti4HWoe+GKcb6Kv07E="
        );
        assert_eq!(out.header("content-md5"), None);
        assert_eq!(out.header("date"), Some(DATE_2010));
    }

    #[test]
    fn vector_2_protobuf_body() {
        let body = [
            10, 50, 10, 30, 8, 248, 178, 147, 158, 5, 18, 22, 10, 7, 84, 101, 115, 116, 75, 101,
            121, 18, 11, 84, 101, 115, 116, 67, 111, 110, 116, 101, 110, 116, 26, 0, 34, 14, 49,
            48, 46, 50, 51, 48, 46, 50, 48, 49, 46, 49, 49, 55,
        ];
        let headers = [
            ("x-log-apiversion", "0.6.0"),
            ("x-log-bodyrawsize", "50"),
            ("Content-Type", "application/x-protobuf"),
            ("Content-Length", "50"),
        ];
        let req = request("GET", "/logstores/app_log", &[], &headers, &body);
        let out = sign_v1_with_date(&req, &mock(), DATE_2010);
        assert_eq!(
            out.header("Content-MD5"),
            Some("8D6881250FF5559F59BBDF04100F6E59")
        );
        assert_eq!(
            out.authorization(),
            "LOG mockAccessKeyID:87xQWqFaOSewqRIma8kPjGYlXHc="
        );
    }

    const API_VERSION: [(&str, &str); 1] = [("x-log-apiversion", "0.6.0")];

    #[test]
    fn vector_3_empty_keys_at_epoch() {
        let req = request("GET", "/", &[], &API_VERSION, b"");
        let out = sign(
            &req,
            &Credentials::new("", ""),
            &SignatureVersion::V1,
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(out.header("Date"), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
        assert_eq!(out.authorization(), "LOG :SApFTtfTFKHmzdEdaMe5TjNn+RQ=");
        assert_eq!(out.header("Content-MD5"), None);
        assert_eq!(out.header("x-log-signaturemethod"), Some("hmac-sha1"));
    }

    const BODY_4: &[u8] = b"\n            {\"key\": \"value\"}\n        ";
    const QUERY_4: [(&str, &str); 3] = [("type", "log"), ("offset", "0"), ("line", "100")];

    fn vector_4_request(with_token: bool) -> SigningOutput {
        let headers = [
            ("Content-Type", "application/json"),
            ("x-log-apiversion", "0.6.0"),
        ];
        let req = request(
            "POST",
            "/logstores/test-logstore",
            &QUERY_4,
            &headers,
            BODY_4,
        );
        let mut credentials = Credentials::new("test-access-key-id", "test-access-key");
        if with_token {
            credentials = credentials.with_security_token("test-security-token");
        }
        sign(
            &req,
            &credentials,
            &SignatureVersion::V1,
            SystemTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn vector_4_json_body_and_query() {
        let out = vector_4_request(false);
        assert_eq!(
            out.header("Content-MD5"),
            Some("CE688F8D1AC3ED309BA9BE0A5ABAFCE5")
        );
        assert!(
            out.string_to_sign()
                .ends_with("\n/logstores/test-logstore?line=100&offset=0&type=log"),
            "{}",
            out.string_to_sign()
        );
        assert_eq!(
            out.authorization(),
            "LOG test-access-key-id:4pL2xZJERC3tPKtRiHh9+nMG3tI="
        );
    }

    #[test]
    fn vector_5_sts_token_is_added_and_signed() {
        let out = vector_4_request(true);
        assert_eq!(
            out.header("x-acs-security-token"),
            Some("test-security-token")
        );
        assert!(
            out.string_to_sign()
                .contains("\nx-acs-security-token:test-security-token\n")
        );
        assert_eq!(
            out.authorization(),
            "LOG test-access-key-id:ZQt+0wIvpd+O9yIJKeKxZTJ2hv0="
        );
    }

    #[test]
    fn empty_query_value_stays_as_key_equals() {
        let req = request("GET", "/p", &[("b", ""), ("a", "x y")], &[], b"");
        let out = sign_v1_with_date(&req, &mock(), "d");
        assert!(out.string_to_sign().ends_with("\n/p?a=x y&b="));
    }
}
