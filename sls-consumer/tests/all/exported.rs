//! The `metrics` facade export (feature `metrics`), read as a Prometheus
//! server reads it: metrics-exporter-prometheus's rendered text.
//!
//! Each test installs its recorder for its own thread only (the tests run
//! on a current-thread runtime, so the worker's tasks run there too).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use metrics_util::MetricKindMask;
use sls_consumer::StartPosition;

use crate::harness::{self, GROUP, INTERVAL, LOGSTORE, Log, PROJECT};

/// One sample: its name and labels.
type Series = (String, BTreeMap<String, String>);

/// Prometheus text, parsed: each metric's type, and each sample's value.
#[derive(Debug, Default)]
struct Scrape {
    types: BTreeMap<String, String>,
    samples: BTreeMap<Series, f64>,
}

impl Scrape {
    /// Parses the text format (the subset the exporter writes: no
    /// escapes in label values, no timestamps).
    fn parse(text: &str) -> Self {
        let mut scrape = Self::default();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("a TYPE line");
                scrape.types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.strip_suffix('}').expect("closed labels")),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once('=').expect("label=value");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("a value: {line}"));
            scrape.samples.insert((name.to_owned(), labels), value);
        }
        scrape
    }

    /// The samples of `consumer`'s series named `name`.
    fn of<'a>(
        &'a self,
        name: &'a str,
        consumer: &'a str,
    ) -> impl Iterator<Item = (&'a BTreeMap<String, String>, f64)> + 'a {
        self.samples
            .iter()
            .filter(move |((n, labels), _)| {
                n == name && labels.get("consumer").map(String::as_str) == Some(consumer)
            })
            .map(|((_, labels), v)| (labels, *v))
    }

    /// The shards `consumer` has series for.
    fn shards(&self, consumer: &str) -> BTreeSet<String> {
        self.samples
            .keys()
            .filter(|(_, l)| l.get("consumer").map(String::as_str) == Some(consumer))
            .filter_map(|(_, l)| l.get("shard").cloned())
            .collect()
    }
}

/// The names of the table in `text` (the crate docs or docs/operating.md)
/// with their type and extra labels.
fn table(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|l| l.trim_start_matches("//!").trim().strip_prefix("| `"))
        .filter(|l| l.starts_with("sls_consumer_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells[0].trim_end_matches('`').to_owned();
            (name, cells[1].to_owned(), cells[2].to_owned())
        })
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A recorder that drops series idle for 300 ms (of real time), renders
/// `_seconds` histograms with buckets, as the crate docs advise.
fn recorder() -> PrometheusRecorder {
    PrometheusBuilder::new()
        .idle_timeout(
            MetricKindMask::COUNTER | MetricKindMask::GAUGE,
            Some(Duration::from_millis(300)),
        )
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[0.001, 0.01, 0.1, 1.0, 10.0],
        )
        .unwrap()
        .build_recorder()
}

#[test]
fn docs_operating_has_the_crate_docs_table() {
    let crate_docs = table(&read("src/export.rs"));
    let operating = table(&read("../docs/operating.md"));
    assert!(crate_docs.len() > 20);
    assert_eq!(crate_docs, operating);
}

#[tokio::test(start_paused = true)]
async fn names_types_and_labels_as_documented_counters_grow_released_shards_vanish() {
    let recorder = recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let scrape = || Scrape::parse(&handle.render());

    let hub = harness::hub(2).await;
    let mut total = harness::write(&hub, 0, 10, 3).await;
    let log = Log::default();
    let a = harness::start(&hub, &log, "a", StartPosition::Begin).await;
    assert!(harness::wait_until(Duration::from_secs(20), || log.len() as u64 >= total).await);
    tokio::time::sleep(INTERVAL * 2).await;

    // Every documented name, of its documented type, with its labels.
    let first = scrape();
    for (name, kind, extra) in table(&read("src/export.rs")) {
        let Some(rendered) = first.types.get(&name) else {
            panic!("{name} is not rendered");
        };
        assert_eq!(rendered, &kind, "{name}");
        let sampled = match kind.as_str() {
            "histogram" => format!("{name}_count"),
            _ => name.clone(),
        };
        let samples: Vec<_> = first.of(&sampled, "a").collect();
        assert!(!samples.is_empty(), "{name} has no sample of consumer a");
        for (labels, _) in samples {
            for (key, value) in [
                ("project", PROJECT),
                ("logstore", LOGSTORE),
                ("group", GROUP),
                ("consumer", "a"),
            ] {
                assert_eq!(labels.get(key).map(String::as_str), Some(value), "{name}");
            }
            for label in ["shard", "call", "outcome", "state"] {
                assert_eq!(
                    labels.contains_key(label),
                    extra.contains(&format!("`{label}`")),
                    "{name}: {label} in {labels:?}"
                );
            }
        }
    }
    let sum = |s: &Scrape, name: &str| s.of(name, "a").map(|(_, v)| v).sum::<f64>();
    assert_eq!(
        sum(&first, "sls_consumer_processed_logs_total"),
        total as f64
    );
    assert_eq!(first.shards("a"), BTreeSet::from(["0".into(), "1".into()]));
    for (labels, lag) in first.of("sls_consumer_lag_seconds", "a") {
        assert_eq!(lag, 0.0, "caught up: {labels:?}");
    }
    let ok_pulls = first
        .of("sls_consumer_calls_total", "a")
        .filter(|(l, _)| l["call"] == "PullLogs" && l["outcome"] == "ok")
        .count();
    assert_eq!(ok_pulls, 1);
    let healthy = first
        .of("sls_consumer_health", "a")
        .map(|(l, v)| (l["state"].clone(), v))
        .collect::<BTreeMap<_, _>>();
    assert_eq!(healthy["healthy"], 1.0);
    assert_eq!(healthy["degraded"] + healthy["stopped"], 0.0);
    assert!(sum(&first, "sls_consumer_last_heartbeat_timestamp_seconds") > 1.7e9);
    assert!(sum(&first, "sls_consumer_pulled_wire_bytes_total") > 0.0);
    assert!(sum(&first, "sls_consumer_pulled_raw_bytes_total") > 0.0);

    // Counters only grow.
    total = harness::write(&hub, total, 10, 3).await;
    assert!(harness::wait_until(Duration::from_secs(20), || log.len() as u64 >= total).await);
    tokio::time::sleep(INTERVAL * 2).await;
    let second = scrape();
    for ((name, labels), before) in &first.samples {
        if first.types.get(name).map(String::as_str) == Some("counter") {
            let after = second.samples[&(name.clone(), labels.clone())];
            assert!(after >= *before, "{name}{labels:?}: {before} then {after}");
        }
    }
    assert_eq!(
        sum(&second, "sls_consumer_processed_logs_total"),
        total as f64
    );

    // A second consumer takes a shard: a's series of it vanish once idle
    // (300 ms of real time, while a's heartbeats go on touching the rest).
    let b = harness::start(&hub, &log, "b", StartPosition::Begin).await;
    assert!(harness::wait_until(Duration::from_secs(30), || a.metrics().shards.len() == 1).await);
    let kept = a.metrics().shards[0].shard.to_string();
    tokio::time::sleep(INTERVAL * 2).await;
    let _ = scrape(); // the exporter notes what it saw
    std::thread::sleep(Duration::from_millis(400));
    tokio::time::sleep(INTERVAL * 2).await;
    let third = scrape();
    assert_eq!(third.shards("a"), BTreeSet::from([kept.clone()]));
    assert_eq!(
        third.of("sls_consumer_held_shards", "a").next().unwrap().1,
        1.0
    );
    let released: Vec<_> = third
        .samples
        .keys()
        .filter(|(_, l)| l.get("consumer").map(String::as_str) == Some("a"))
        .filter(|(_, l)| l.get("shard").is_some_and(|s| *s != kept))
        .collect();
    assert!(released.is_empty(), "{released:?}");
    assert_eq!(third.shards("b").len(), 1);
    // The worker's own series stay (touched every heartbeat).
    assert!(
        third.of("sls_consumer_calls_total", "a").count()
            >= first.of("sls_consumer_calls_total", "a").count()
    );

    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}
