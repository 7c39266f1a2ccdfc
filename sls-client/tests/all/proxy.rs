//! Proxies: calls to the fake LogHub through a CONNECT proxy on
//! 127.0.0.1, `NO_PROXY`-style bypass, proxy credentials (sent, never
//! shown), and the environment's variables read through an injected
//! environment (the process's is global; no test here touches it).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use base64::Engine;
use sls_client::{Client, Error, Proxy, Sent};
use sls_testkit::FakeLogHub;

use crate::connect_proxy::ConnectProxy;

async fn hub() -> FakeLogHub {
    FakeLogHub::builder()
        .logstore("demo", "app", 2)
        .start()
        .await
        .unwrap()
}

/// A client of `endpoint` signing as the fake expects, with `proxy`.
fn client(hub: &FakeLogHub, endpoint: String, proxy: Proxy) -> Client {
    let clock = hub.clock().clone();
    Client::builder(endpoint)
        .credentials(hub.credentials().clone())
        .clock(move || clock.now())
        .retry_policy(sls_client::retry::RetryPolicy::never())
        .proxy(proxy)
        .build()
        .unwrap()
}

/// `http://sls.test:PORT`: a name no resolver knows, so a call can only
/// succeed through the proxy, which maps every name to the fake.
fn named_endpoint(hub: &FakeLogHub) -> String {
    format!("http://sls.test:{}", hub.address().port())
}

#[tokio::test]
async fn calls_go_through_a_connect_tunnel_to_the_fake() {
    let hub = hub().await;
    let proxy = ConnectProxy::start(hub.address(), None).await;
    let client = client(&hub, named_endpoint(&hub), Proxy::all(proxy.url(None)));
    assert_eq!(client.list_shards("demo", "app").await.unwrap().len(), 2);
    // The tunnel is to the project's host, port written out.
    let port = hub.address().port();
    assert_eq!(proxy.targets(), [format!("demo.sls.test:{port}")]);
    // The pooled connection (the tunnel) is kept for the next call.
    client.list_shards("demo", "app").await.unwrap();
    assert_eq!(proxy.tunnels(), 1);
}

#[tokio::test]
async fn a_loopback_endpoint_takes_a_proxy_set_by_hand_unless_listed_in_no_proxy() {
    let hub = hub().await;
    let proxy = ConnectProxy::start(hub.address(), None).await;
    let through = client(&hub, hub.endpoint(), Proxy::all(proxy.url(None)));
    through.list_shards("demo", "app").await.unwrap();
    assert_eq!(proxy.tunnels(), 1);

    let bypass = client(
        &hub,
        hub.endpoint(),
        Proxy::all(proxy.url(None)).no_proxy("example.invalid, 127.0.0.0/8"),
    );
    bypass.list_shards("demo", "app").await.unwrap();
    assert_eq!(proxy.tunnels(), 1, "NO_PROXY: straight to the fake");
    assert_eq!(proxy.targets().len(), 1);
}

#[tokio::test]
async fn proxy_credentials_are_sent_as_basic_auth() {
    let hub = hub().await;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:pa ss@word")
    );
    let proxy = ConnectProxy::start(hub.address(), Some(expected.clone())).await;
    // Percent-encoded in the URL, decoded before encoding.
    let url = proxy.url(Some("alice:pa%20ss%40word"));
    let client = client(&hub, named_endpoint(&hub), Proxy::all(url));
    client.list_shards("demo", "app").await.unwrap();
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(*proxy.seen.authorizations.lock().unwrap(), [expected]);
}

#[tokio::test]
async fn a_refused_tunnel_is_a_transport_error_before_sending_without_the_password() {
    let hub = hub().await;
    let proxy = ConnectProxy::start(hub.address(), Some("Basic nope".to_owned())).await;
    let password = "hunter2-proxy-secret";
    let url = proxy.url(Some(&format!("alice:{password}")));
    let client = client(&hub, named_endpoint(&hub), Proxy::all(url.clone()));
    let err = client.list_shards("demo", "app").await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { sent: Sent::No, .. }),
        "{err:?}"
    );
    let chain = crate::tls::error_chain(&err);
    assert!(chain.contains("proxy authorization required"), "{chain}");
    for text in [chain, format!("{err:?}"), format!("{client:?}")] {
        assert!(!text.contains(password), "{text}");
    }
    let builder = Client::builder(named_endpoint(&hub)).proxy(Proxy::all(url));
    let debug = format!("{builder:?}");
    assert!(!debug.contains(password), "{debug}");
    assert!(debug.contains("***@127.0.0.1"), "{debug}");
    assert_eq!(proxy.seen.tunnels.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_environments_variables_are_honoured_but_never_for_loopback() {
    let hub = hub().await;
    let proxy = ConnectProxy::start(hub.address(), None).await;
    let env = |pairs: &[(&str, String)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    let variables = env(&[("http_proxy", proxy.url(None))]);
    let named = client(
        &hub,
        named_endpoint(&hub),
        Proxy::from_environment(variables.clone()),
    );
    named.list_shards("demo", "app").await.unwrap();
    assert_eq!(proxy.tunnels(), 1);

    // The same variables, a loopback endpoint: direct.
    let local = client(&hub, hub.endpoint(), Proxy::from_environment(variables));
    local.list_shards("demo", "app").await.unwrap();
    assert_eq!(proxy.tunnels(), 1);
}

#[tokio::test]
async fn an_unusable_proxy_fails_the_build_naming_it_without_credentials() {
    for url in [
        "https://u:hunter2@proxy:3128",
        "socks5h://u:hunter2@proxy:1080",
    ] {
        let err = Client::builder("https://cn-hangzhou.log.aliyuncs.com")
            .proxy(Proxy::all(url))
            .build()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("proxy"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
