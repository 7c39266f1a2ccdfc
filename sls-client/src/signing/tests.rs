//! Cross-version properties: no panics, no leaked secrets.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;

const SECRET: &str = "very-secret-key-material";
const TOKEN: &str = "sts-token-should-not-leak";

fn versions() -> [SignatureVersion; 2] {
    [
        SignatureVersion::V1,
        SignatureVersion::V4 {
            region: "cn-hangzhou".to_owned(),
        },
    ]
}

#[test]
fn content_md5_is_absent_for_an_empty_body_and_present_otherwise() {
    let credentials = Credentials::new("ak", SECRET);
    let mut request = SignableRequest {
        method: "POST",
        path: "/logstores/x/shards/lb",
        query: &[],
        headers: &[("Content-MD5", "stale")],
        body: b"",
    };
    let empty = sign(
        &request,
        &credentials,
        &SignatureVersion::V1,
        SystemTime::now(),
    );
    assert_eq!(empty.header("Content-MD5"), None);
    assert!(empty.string_to_sign().starts_with("POST\n\n"));
    request.body = b"abc";
    let full = sign(
        &request,
        &credentials,
        &SignatureVersion::V1,
        SystemTime::now(),
    );
    assert_eq!(
        full.header("content-md5"),
        Some("900150983CD24FB0D6963F7D28E17F72")
    );
}

/// The Python SDK sends `x-log-date` (a copy of `Date`) after signing, and
/// never signs `x-log-meta-*`: v1 must leave both out to verify it.
#[test]
fn v1_leaves_x_log_date_and_meta_headers_unsigned() {
    let credentials = Credentials::new("ak", SECRET);
    let request = SignableRequest {
        method: "GET",
        path: "/logstores",
        query: &[],
        headers: &[
            ("x-log-apiversion", "0.6.0"),
            ("x-log-date", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ("x-log-meta-owner", "me"),
            ("x-acs-extra", "yes"),
        ],
        body: b"",
    };
    let out = sign_v1_with_date(&request, &credentials, "Thu, 01 Jan 1970 00:00:00 GMT");
    let signed = out.string_to_sign();
    assert!(signed.contains("x-log-apiversion:0.6.0\n"), "{signed}");
    assert!(signed.contains("x-acs-extra:yes\n"), "{signed}");
    assert!(!signed.contains("x-log-date"), "{signed}");
    assert!(!signed.contains("x-log-meta-owner"), "{signed}");
}

#[test]
fn signer_headers_replace_request_headers_without_duplicates() {
    let credentials = Credentials::new("ak", SECRET).with_security_token(TOKEN);
    let request = SignableRequest {
        method: "GET",
        path: "/",
        query: &[],
        headers: &[
            ("X-Log-SignatureMethod", "hmac-md5"),
            ("x-acs-security-token", "old"),
            ("x-log-date", "19990101T000000Z"),
        ],
        body: b"",
    };
    let v1 = sign(
        &request,
        &credentials,
        &SignatureVersion::V1,
        SystemTime::UNIX_EPOCH,
    );
    let s = v1.string_to_sign();
    assert_eq!(s.matches("x-log-signaturemethod:").count(), 1);
    assert!(s.contains("x-log-signaturemethod:hmac-sha1\n"));
    assert!(s.contains(&format!("x-acs-security-token:{TOKEN}\n")));
    assert!(!s.contains(":old"));

    let v4 = sign(
        &request,
        &credentials,
        &versions()[1],
        SystemTime::UNIX_EPOCH,
    );
    let c = v4.canonical_request().unwrap_or("");
    assert_eq!(c.matches("x-log-date:").count(), 1);
    assert!(c.contains("x-log-date:19700101T000000Z\n"));
    assert_eq!(v4.header("x-log-date"), Some("19700101T000000Z"));
}

#[test]
fn debug_never_shows_the_secret_or_the_token() {
    let credentials = Credentials::new("ak", SECRET).with_security_token(TOKEN);
    let request = SignableRequest {
        method: "PUT",
        path: "/p",
        query: &[("k", "v")],
        headers: &[("x-acs-security-token", TOKEN)],
        body: SECRET.as_bytes(),
    };
    for version in versions() {
        let out = sign(&request, &credentials, &version, SystemTime::now());
        assert_eq!(out.header("x-acs-security-token"), Some(TOKEN));
        for debug in [
            format!("{out:?}"),
            format!("{out:#?}"),
            format!("{request:?}"),
            format!("{version:?}"),
        ] {
            assert!(!debug.contains(SECRET), "{debug}");
            assert!(!debug.contains(TOKEN), "{debug}");
        }
        assert!(format!("{out:?}").contains("Authorization"));
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,12}",
        "(x-log-|x-acs-|X-Log-Meta-| x-LOG-)[a-z\u{e9}\u{1F600} ]{0,6}",
        Just(String::new()),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((text(), text()), 0..6)
}

proptest! {
    #[test]
    fn signing_never_panics(
        method in text(),
        path in text(),
        query in pairs(),
        headers in pairs(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        secret in text(),
        token in proptest::option::of(text()),
        region in text(),
        seconds in any::<u64>(),
        before_epoch in any::<bool>(),
    ) {
        let query: Vec<(&str, &str)> =
            query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let headers: Vec<(&str, &str)> =
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let request = SignableRequest {
            method: &method,
            path: &path,
            query: &query,
            headers: &headers,
            body: &body,
        };
        let mut credentials = Credentials::new("ak", secret);
        if let Some(token) = token {
            credentials = credentials.with_security_token(token);
        }
        let offset = Duration::from_secs(seconds);
        let time = if before_epoch {
            SystemTime::UNIX_EPOCH.checked_sub(offset)
        } else {
            SystemTime::UNIX_EPOCH.checked_add(offset)
        }
        .unwrap_or(SystemTime::UNIX_EPOCH);
        for version in [SignatureVersion::V1, SignatureVersion::V4 { region: region.clone() }] {
            let out = sign(&request, &credentials, &version, time);
            prop_assert!(!out.authorization().is_empty());
            let _ = format!("{out:?}");
        }
        let _ = sign_v1_with_date(&request, &credentials, &region);
    }
}
