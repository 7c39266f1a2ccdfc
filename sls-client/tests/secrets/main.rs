//! Secrets and tokens never appear in logs (at TRACE, ours and our
//! dependencies'), in `Debug` of the client, its builder, credentials or
//! errors, or in error messages.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use sls_client::{Client, PullLogsRequest, PutLogsRequest, StaticCredentials};
use sls_proto::{Cursor, LogGroup};
use tracing_subscriber::fmt::MakeWriter;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

// Its own test binary: the TRACE capture installs a subscriber, and tracing's
// per-callsite interest cache is shared by every thread of a process, so a
// test running beside others could miss events.
#[path = "../all/harness.rs"]
#[allow(dead_code)]
mod harness;

use crate::harness::ACCESS_KEY_SECRET;

const SECURITY_TOKEN: &str = "STS-TOKEN-never-logged";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(ACCESS_KEY_SECRET),
        "secret in {what}: {text}"
    );
    assert!(!text.contains(SECURITY_TOKEN), "token in {what}: {text}");
}

#[tokio::test]
async fn trace_logs_and_debug_output_hold_no_secret() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/logstores/app/shards"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/logstores/app/shards/0"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"errorCode": "SignatureNotMatch", "errorMessage": "bad"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let credentials = harness::credentials().with_security_token(SECURITY_TOKEN);
    let builder = Client::builder(server.address().to_string())
        .credentials(StaticCredentials::new(credentials.clone()))
        .retry_policy(harness::fast_retries());
    let builder_debug = format!("{builder:?}");
    let client = builder.build().unwrap();

    client.list_shards("proj", "app").await.unwrap();
    let pull_err = client
        .pull_logs(PullLogsRequest::new(
            "proj",
            "app",
            0,
            Cursor::from_sequence(1),
        ))
        .await
        .unwrap_err();
    let put_err = client
        .put_logs(PutLogsRequest::from_group(
            "proj",
            "app",
            &LogGroup::synthetic(1, 1),
        ))
        .await
        .unwrap_err();

    // The token went to the server, signed.
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .all(|r| r.headers.get("x-acs-security-token").unwrap() == SECURITY_TOKEN)
    );

    let logged = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("sls response"),
        "TRACE capture saw the client: {logged}"
    );
    assert_clean("TRACE logs", &logged);
    for (what, text) in [
        ("builder Debug", builder_debug),
        ("client Debug", format!("{client:?}")),
        ("credentials Debug", format!("{credentials:?}")),
        ("pull error", format!("{pull_err} {pull_err:?}")),
        ("put error", format!("{put_err} {put_err:?}")),
    ] {
        assert_clean(what, &text);
    }
}
