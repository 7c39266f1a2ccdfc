//! The `service` example's code (`sls_examples::operate`) against
//! sls-testkit, read over HTTP on 127.0.0.1 as Prometheus and a kubelet
//! read it: `/metrics` is Prometheus text with the names and labels the
//! crate docs list; `/readyz` turns 503 while the fake fails heartbeats
//! and back to 200 after. Real time (the endpoints are real sockets): a
//! dozen seconds.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sls_client::PutLogsRequest;
use sls_examples::operate::{self, Settings, Source};
use sls_proto::sample::AccessLogs;
use sls_testkit::{CallKind, FakeLogHub, Fault, FaultPlan, FaultRule};
use tokio::net::TcpListener;

const HEARTBEAT: Duration = Duration::from_secs(1);

/// Samples of Prometheus text: (name, labels) → value; panics on a line
/// that is not the format.
fn parse(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("name{labels} value");
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').expect("closed labels")),
            None => (series, ""),
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        let labels = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').expect("label=\"value\"");
                let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                (k.to_owned(), v.expect("a quoted value").to_owned())
            })
            .collect();
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        samples.insert((name.to_owned(), labels), value);
    }
    samples
}

/// Polls `path` until its status is `code`, up to `limit`.
async fn until_status(addr: SocketAddr, path: &str, code: u16, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if operate::get(addr, path).await.map(|(c, _)| c).ok() == Some(code) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_probes_over_http() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "access", 2)
        .start()
        .await
        .unwrap();
    let mut logs = AccessLogs::new(7);
    for _ in 0..10 {
        let group = logs.group(20);
        hub.client()
            .put_logs(PutLogsRequest::from_group("demo", "access", &group))
            .await
            .unwrap();
    }
    let metrics = operate::install_recorder(HEARTBEAT).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = Settings {
        source: Source::Client(hub.client()),
        project: "demo".into(),
        logstore: "access".into(),
        group: "svc".into(),
        consumer: "svc-1".into(),
        http_addr: addr,
        heartbeat: Some(HEARTBEAT),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(operate::run(settings, listener, metrics, async {
        let _ = stopped.await;
    }));

    assert!(until_status(addr, "/livez", 200, Duration::from_secs(10)).await);
    assert!(until_status(addr, "/readyz", 200, Duration::from_secs(10)).await);
    // Everything processed, and a heartbeat round published it.
    let started = Instant::now();
    let samples = loop {
        let (code, body) = operate::get(addr, "/metrics").await.unwrap();
        assert_eq!(code, 200);
        let samples = parse(&body);
        let processed: f64 = samples
            .iter()
            .filter(|((n, _), _)| n == "sls_consumer_processed_logs_total")
            .map(|(_, v)| v)
            .sum();
        let lag = samples
            .keys()
            .filter(|(n, _)| n == "sls_consumer_lag_seconds")
            .count();
        if processed == 200.0 && lag == 2 {
            break samples;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (name, per_shard) in [
        ("sls_consumer_processed_logs_total", true),
        ("sls_consumer_pulled_wire_bytes_total", true),
        ("sls_consumer_pulled_raw_bytes_total", true),
        ("sls_consumer_lag_seconds", true),
        ("sls_consumer_lag_groups", true),
        ("sls_consumer_calls_total", false),
        ("sls_consumer_call_duration_seconds_bucket", false),
        ("sls_consumer_process_duration_seconds_count", false),
        ("sls_consumer_heartbeat_failures_total", false),
        ("sls_consumer_last_heartbeat_timestamp_seconds", false),
        ("sls_consumer_health", false),
        ("sls_consumer_held_shards", false),
    ] {
        let series: Vec<_> = samples.keys().filter(|(n, _)| n == name).collect();
        assert!(!series.is_empty(), "{name} missing");
        for (_, labels) in series {
            for (key, value) in [
                ("project", "demo"),
                ("logstore", "access"),
                ("group", "svc"),
                ("consumer", "svc-1"),
            ] {
                assert_eq!(labels.get(key).map(String::as_str), Some(value), "{name}");
            }
            assert_eq!(labels.contains_key("shard"), per_shard, "{name}");
        }
    }

    // Heartbeats fail (500, retried until the next is due, then failed):
    // not ready, still live; ready again once they are answered.
    hub.set_faults(
        FaultPlan::new().rule(
            FaultRule::new(Fault::error(500, "InternalServerError")).call(CallKind::Heartbeat),
        ),
    );
    assert!(until_status(addr, "/readyz", 503, Duration::from_secs(5)).await);
    assert_eq!(operate::get(addr, "/livez").await.unwrap().0, 200);
    hub.set_faults(FaultPlan::new());
    assert!(until_status(addr, "/readyz", 200, Duration::from_secs(5)).await);
    let (_, body) = operate::get(addr, "/metrics").await.unwrap();
    let failures: f64 = parse(&body)
        .iter()
        .filter(|((n, _), _)| n == "sls_consumer_heartbeat_failures_total")
        .map(|(_, v)| v)
        .sum();
    assert!(failures >= 1.0, "{failures}");

    // A clean shutdown: the report, no error.
    stop.send(()).unwrap();
    let report = service.await.unwrap().unwrap().unwrap();
    assert_eq!(report.logs(), 200);
    hub.shutdown().await;
}
