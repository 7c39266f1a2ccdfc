//! The `metrics` facade export (feature `metrics`).

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use sls_consumer::StartPosition;

use crate::harness::{self, INTERVAL, Log};

#[tokio::test(start_paused = true)]
async fn figures_reach_the_installed_recorder() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");
    let hub = harness::hub(2).await;
    let total = harness::write(&hub, 0, 10, 3).await;
    let log = Log::default();
    let worker = harness::start(&hub, &log, "exported", StartPosition::Begin).await;
    assert!(harness::wait_until(Duration::from_secs(20), || log.len() as u64 >= total).await);
    tokio::time::sleep(INTERVAL * 2).await;
    let mut processed = 0.0;
    let mut lag_seen = false;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let consumer = key
            .labels()
            .any(|l| l.key() == "consumer" && l.value() == "exported");
        if !consumer {
            continue;
        }
        match (key.name(), value) {
            ("sls_consumer_processed_logs", DebugValue::Gauge(v)) => processed += v.into_inner(),
            ("sls_consumer_lag_groups", DebugValue::Gauge(v)) => {
                lag_seen = true;
                assert_eq!(v.into_inner(), 0.0, "caught up");
            }
            _ => {}
        }
    }
    assert_eq!(processed, total as f64);
    assert!(lag_seen);
    worker.shutdown().await.unwrap();
}
