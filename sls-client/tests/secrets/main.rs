//! Secrets and tokens never appear in logs (at TRACE, ours and our
//! dependencies'), in `Debug` of the client, its builder, credentials or
//! errors, or in error messages; nor does a proxy URL's password, or the
//! `Proxy-Authorization` value made from it.

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

#[path = "../all/connect_proxy.rs"]
#[allow(dead_code)]
mod connect_proxy;

use crate::harness::ACCESS_KEY_SECRET;

const SECURITY_TOKEN: &str = "STS-TOKEN-never-logged";
const PROXY_PASSWORD: &str = "PROXY-PASSWORD-never-logged";

/// The `Proxy-Authorization` value the proxy password makes.
fn proxy_authorization() -> String {
    use base64::Engine;
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("proxy-user:{PROXY_PASSWORD}"));
    format!("Basic {token}")
}

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
    assert!(
        !text.contains(PROXY_PASSWORD),
        "proxy password in {what}: {text}"
    );
    let authorization = proxy_authorization();
    let token = authorization.trim_start_matches("Basic ");
    assert!(
        !text.contains(token),
        "proxy authorization in {what}: {text}"
    );
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

    // Through a proxy with credentials: accepted once, refused (407)
    // with the wrong ones.
    let proxy =
        connect_proxy::ConnectProxy::start(*server.address(), Some(proxy_authorization())).await;
    let proxied_builder = Client::builder(server.address().to_string())
        .credentials(StaticCredentials::new(credentials.clone()))
        .retry_policy(harness::fast_retries())
        .proxy(sls_client::Proxy::all(
            proxy.url(Some(&format!("proxy-user:{PROXY_PASSWORD}"))),
        ));
    let proxied_debug = format!("{proxied_builder:?}");
    let proxied = proxied_builder.build().unwrap();
    proxied.list_shards("proj", "app").await.unwrap();
    assert_eq!(proxy.tunnels(), 1, "the call went through the proxy");
    let refused = Client::builder(server.address().to_string())
        .credentials(StaticCredentials::new(credentials.clone()))
        .retry_policy(harness::fast_retries())
        .proxy(sls_client::Proxy::all(
            proxy.url(Some(&format!("other:{PROXY_PASSWORD}x"))),
        ))
        .build()
        .unwrap();
    let proxy_err = refused.list_shards("proj", "app").await.unwrap_err();
    let mut proxy_chain = format!("{proxy_err} {proxy_err:?}");
    let mut source = std::error::Error::source(&proxy_err);
    while let Some(cause) = source {
        proxy_chain.push_str(&format!(" {cause} {cause:?}"));
        source = cause.source();
    }
    assert!(
        proxy_chain.contains("proxy authorization required"),
        "{proxy_chain}"
    );

    let logged = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("sls response"),
        "TRACE capture saw the client: {logged}"
    );
    assert!(
        logged.contains("client proxy settings") && logged.contains("***@127.0.0.1"),
        "the proxy was logged, redacted: {logged}"
    );
    assert_clean("TRACE logs", &logged);
    for (what, text) in [
        ("builder Debug", builder_debug),
        ("client Debug", format!("{client:?}")),
        ("credentials Debug", format!("{credentials:?}")),
        ("pull error", format!("{pull_err} {pull_err:?}")),
        ("put error", format!("{put_err} {put_err:?}")),
        ("proxied builder Debug", proxied_debug),
        ("proxied client Debug", format!("{proxied:?}")),
        ("proxy error", proxy_chain),
    ] {
        assert_clean(what, &text);
    }
}
