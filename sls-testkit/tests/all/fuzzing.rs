//! The socketless harness of the `fake_server` fuzz target (feature
//! `fuzzing`): signed requests reach the handlers, unsigned ones are
//! refused, `reset` restores the world.

use bytes::Bytes;
use sls_client::signing::SignatureVersion;
use sls_proto::Cursor;
use sls_testkit::fuzzing::{Harness, Response};

fn request(method: &str, target: &str, body: &[u8]) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(target)
        .header("host", Harness::HOST)
        .header("x-log-apiversion", "0.6.0")
        .body(Bytes::copy_from_slice(body))
        .unwrap()
}

fn call(
    harness: &Harness,
    mut request: http::Request<Bytes>,
    version: &SignatureVersion,
) -> Response {
    harness.sign(&mut request, version);
    harness.call(request).unwrap()
}

fn error_code(response: &Response) -> String {
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    body["errorCode"].as_str().unwrap().to_owned()
}

#[test]
fn signed_requests_reach_the_handlers() {
    let harness = Harness::new();
    let v4 = SignatureVersion::V4 {
        region: "cn-hangzhou".into(),
    };
    for version in [SignatureVersion::V1, v4] {
        let shards = call(
            &harness,
            request("GET", "/logstores/app/shards", b""),
            &version,
        );
        assert_eq!(shards.status, 200, "{:?}", shards.body);
        assert!(shards.headers.contains_key("x-log-requestid"));

        let begin = Cursor::from_sequence(1_000_000_000_000);
        let pull = call(
            &harness,
            request(
                "GET",
                &format!("/logstores/app/shards/0?type=log&count=10&cursor={begin}"),
                b"",
            ),
            &version,
        );
        assert_eq!(pull.status, 200, "{:?}", pull.body);
        assert_eq!(
            pull.headers["x-log-count"],
            Harness::STORED_GROUPS.to_string().as_str()
        );
    }
}

#[test]
fn unsigned_and_tampered_requests_are_refused() {
    let harness = Harness::new();
    let unsigned = harness
        .call(request("GET", "/logstores/app/shards", b""))
        .unwrap();
    assert_eq!(unsigned.status, 401);
    assert_eq!(error_code(&unsigned), "Unauthorized");

    let mut tampered = request("GET", "/logstores/app/shards", b"");
    harness.sign(&mut tampered, &SignatureVersion::V1);
    *tampered.uri_mut() = "/logstores/app".parse().unwrap();
    let refused = harness.call(tampered).unwrap();
    assert_eq!(refused.status, 401);
    assert_eq!(error_code(&refused), "SignatureNotMatch");
}

#[test]
fn reset_restores_the_world() {
    let mut harness = Harness::new();
    let v1 = SignatureVersion::V1;
    let deleted = call(&harness, request("DELETE", "/logstores/app", b""), &v1);
    assert_eq!(deleted.status, 200);
    let gone = call(&harness, request("GET", "/logstores/app", b""), &v1);
    assert_eq!(gone.status, 404);
    assert_eq!(error_code(&gone), "LogStoreNotExist");

    harness.reset();
    let back = call(&harness, request("GET", "/logstores/app", b""), &v1);
    assert_eq!(back.status, 200, "{:?}", back.body);
    let group = call(
        &harness,
        request("GET", "/logstores/app/consumergroups", b""),
        &v1,
    );
    assert_eq!(group.status, 200);
    assert!(String::from_utf8_lossy(&group.body).contains("\"cg\""));
}
