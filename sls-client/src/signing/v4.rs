//! Signature v4: `Authorization: SLS4-HMAC-SHA256 Credential=<ak>/<scope>,Signature=<hex>`.

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::canonical::{
    canonical_headers, hmac_sha256, iso8601_basic, percent_encode, push_header_lines, sorted_query,
};
use super::{CONTENT_SHA256, LOG_DATE, SECURITY_TOKEN, SignableRequest, SigningOutput};
use crate::Credentials;

const ALGORITHM: &str = "SLS4-HMAC-SHA256";
const PRODUCT: &str = "sls";
const TERMINATOR: &str = "aliyun_v4_request";
const KEY_PREFIX: &str = "aliyun_v4";

/// Whether a canonical header name is part of the v4 canonical request:
/// `host`, `content-type`, `x-acs-*` and `x-log-*` except `x-log-meta-*`
/// (the Go SDK's rule).
fn is_signed(name: &str) -> bool {
    name == "host"
        || name == "content-type"
        || name.starts_with("x-acs-")
        || (name.starts_with("x-log-") && !name.starts_with("x-log-meta-"))
}

/// Signs with v4 at `time` (already in UTC).
pub(crate) fn sign_v4(
    request: &SignableRequest<'_>,
    credentials: &Credentials,
    region: &str,
    time: OffsetDateTime,
) -> SigningOutput {
    let datetime = iso8601_basic(time);
    // `datetime` is ASCII and at least 16 bytes long; fall back to the whole
    // string rather than panic should that ever change.
    let date = datetime.get(..8).unwrap_or(&datetime);
    let payload_hash = hex::encode(Sha256::digest(request.body));
    let token = credentials.security_token();

    let mut added: Vec<(&str, &str)> = vec![(LOG_DATE, &datetime), (CONTENT_SHA256, &payload_hash)];
    if let Some(token) = token {
        added.push((SECURITY_TOKEN, token));
    }
    let headers = canonical_headers(request.headers, is_signed, &added);
    let canonical_request = canonical_request(request, &headers, &payload_hash);

    let scope = format!("{date}/{region}/{PRODUCT}/{TERMINATOR}");
    let string_to_sign = format!(
        "{ALGORITHM}\n{datetime}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(credentials.access_key_secret(), date, region);
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope},Signature={signature}",
        credentials.access_key_id()
    );

    let mut headers = Vec::with_capacity(4);
    headers.push((LOG_DATE, datetime.clone()));
    headers.push((CONTENT_SHA256, payload_hash));
    SigningOutput::assemble(
        headers,
        token,
        authorization,
        string_to_sign,
        Some(canonical_request),
    )
}

/// `METHOD\nPATH\nQUERY\nCANONICAL_HEADERS\nSIGNED_HEADERS\nPAYLOAD_HASH`,
/// where every canonical header line ends in `\n`.
fn canonical_request(
    request: &SignableRequest<'_>,
    headers: &[(String, String)],
    payload_hash: &str,
) -> String {
    let mut s = String::with_capacity(512);
    s.push_str(request.method);
    s.push('\n');
    s.push_str(request.path);
    s.push('\n');
    for (i, (key, value)) in sorted_query(request.query).into_iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        s.push_str(key);
        if !value.is_empty() {
            s.push('=');
            s.push_str(&percent_encode(value));
        }
    }
    s.push('\n');
    push_header_lines(&mut s, headers);
    s.push('\n');
    for (i, (name, _)) in headers.iter().enumerate() {
        if i > 0 {
            s.push(';');
        }
        s.push_str(name);
    }
    s.push('\n');
    s.push_str(payload_hash);
    s
}

/// HMAC-SHA256 chain: `"aliyun_v4" + secret` → date → region → `sls` →
/// `aliyun_v4_request`.
fn signing_key(secret: &str, date: &str, region: &str) -> [u8; 32] {
    let mut prefixed = String::with_capacity(KEY_PREFIX.len() + secret.len());
    prefixed.push_str(KEY_PREFIX);
    prefixed.push_str(secret);
    let k_date = hmac_sha256(prefixed.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, PRODUCT.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::signing::{SignatureVersion, sign};

    /// 2022-08-08T03:23:30Z.
    fn when() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_659_929_010)
    }

    fn credentials() -> Credentials {
        Credentials::new("acsddda21dsd", "zxasdasdasw2")
    }

    const BODY: &[u8] = b"adasd= -asd zcas";
    /// The Go test's header map (including its empty-named header).
    const HEADERS: [(&str, &str); 6] = [
        ("hello", "world"),
        ("hello-Text", "a12X- "),
        (" Ko ", ""),
        ("", "AA"),
        ("x-log-test", "het123"),
        ("x-acs-ppp", "dds"),
    ];
    const QUERY: [(&str, &str); 4] = [(" abc", "efg"), (" agc ", ""), ("", "efg"), ("A-bc", "eFg")];

    type Pairs = &'static [(&'static str, &'static str)];

    fn run(method: &str, region: &str, full: bool, body: &[u8]) -> SigningOutput {
        let (headers, query): (Pairs, Pairs) = if full { (&HEADERS, &QUERY) } else { (&[], &[]) };
        let req = SignableRequest {
            method,
            path: "/logstores",
            query,
            headers,
            body,
        };
        let version = SignatureVersion::V4 {
            region: region.to_owned(),
        };
        sign(&req, &credentials(), &version, when())
    }

    fn signature(out: &SigningOutput) -> &str {
        out.authorization()
            .rsplit_once("Signature=")
            .map_or("", |(_, sig)| sig)
    }

    #[test]
    fn vector_a_no_headers_no_query() {
        let out = run("POST", "cn-shanghai", false, BODY);
        assert_eq!(
            out.authorization(),
            "SLS4-HMAC-SHA256 Credential=acsddda21dsd/20220808/cn-shanghai/sls/\
             aliyun_v4_request,Signature=\
             8a10a5e723cb2e75964816de660b2c16a58af8bc0261f7f0722d832468c76ce8"
        );
        assert_eq!(out.header("x-log-date"), Some("20220808T032330Z"));
    }

    #[test]
    fn vector_b_headers_and_query() {
        let out = run("POST", "cn-hangzhou", true, BODY);
        let canonical = out.canonical_request().unwrap_or("");
        assert!(
            canonical.starts_with("POST\n/logstores\n=efg& abc=efg& agc &A-bc=eFg\n"),
            "{canonical}"
        );
        assert!(
            canonical.contains("\n\nx-acs-ppp;x-log-content-sha256;x-log-date;x-log-test\n"),
            "{canonical}"
        );
        assert_eq!(
            signature(&out),
            "a98f5632e93836e63839cd836a54055f480020a9364ca944e2d34f2eb9bf1bed"
        );
    }

    #[test]
    fn vector_c_empty_body() {
        let out = run("POST", "cn-hangzhou", true, b"");
        assert_eq!(
            out.header("x-log-content-sha256"),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            signature(&out),
            "5a66d8f8051983e0e9d08e0f960ef9252ef971eead5bb5c7acec8617a2eb2701"
        );
    }

    #[test]
    fn vector_d_empty_body_get() {
        let out = run("GET", "cn-hangzhou", true, b"");
        assert_eq!(
            signature(&out),
            "d92741852500791d662a8d469ff61627c0559ecd86c3f59b7bf6772b6c62666a"
        );
    }

    #[test]
    fn sts_token_is_added_and_signed() {
        let req = SignableRequest {
            method: "GET",
            path: "/",
            query: &[],
            headers: &[("Host", "p.cn-hangzhou.log.aliyuncs.com")],
            body: b"",
        };
        let version = SignatureVersion::V4 {
            region: "cn-hangzhou".to_owned(),
        };
        let out = sign(
            &req,
            &credentials().with_security_token("tok"),
            &version,
            when(),
        );
        assert_eq!(out.header("x-acs-security-token"), Some("tok"));
        let canonical = out.canonical_request().unwrap_or("");
        assert!(
            canonical.contains("\nx-acs-security-token:tok\n"),
            "{canonical}"
        );
        assert!(
            canonical.contains("\nhost;x-acs-security-token;x-log-content-sha256;x-log-date\n"),
            "{canonical}"
        );
    }
}
