//! A whole consumer run, traced at TRACE (ours, the client's, hyper's and
//! the fake server's events), with failing calls and a consumer whose
//! secret is wrong: no secret or token appears in the logs, in `Debug` of
//! any value a user holds, or in any error.
//!
//! Its own test binary, like sls-client's: tracing's callsite interest
//! cache is per process, so a capture beside other tests could miss events.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_client::{Credentials, PutLogsRequest};
use sls_consumer::{Batch, ConsumerConfig, ProcessError, StartPosition, Worker, processor_fn};
use sls_proto::LogGroup;
use sls_testkit::{CallKind, FakeLogHub, Fault, FaultPlan, FaultRule};
use tracing_subscriber::fmt::MakeWriter;

const SECRET: &str = "SECRET-never-logged-7f3a";
const TOKEN: &str = "STS-TOKEN-never-logged-91c2";
const WRONG_SECRET: &str = "WRONG-SECRET-never-logged-5d0e";

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
    for secret in [SECRET, TOKEN, WRONG_SECRET] {
        assert!(!text.contains(secret), "{secret} in {what}: {text}");
    }
}

fn config(client: sls_client::Client, consumer: &str) -> ConsumerConfig {
    ConsumerConfig::builder("demo", "app", "etl", consumer)
        .client(client)
        .start_position(StartPosition::Begin)
        .heartbeat_interval(Duration::from_secs(1))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_traced_run_with_failures_shows_no_secret() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let credentials = Credentials::new("test-id", SECRET).with_security_token(TOKEN);
    let hub = FakeLogHub::builder()
        .credentials(credentials.clone())
        .logstore("demo", "app", 2)
        .faults(
            FaultPlan::new()
                .rule(
                    // Retried by the consumer's retry layer (the only
                    // one: the client's own is off for the worker).
                    FaultRule::new(Fault::error(503, "ServerBusy"))
                        .call(CallKind::PullLogs)
                        .next(8),
                )
                .rule(
                    // More than one heartbeat's prompt retries (5 tries
                    // within the interval): one fails for good.
                    FaultRule::new(Fault::error(500, "InternalServerError"))
                        .call(CallKind::Heartbeat)
                        .next(8),
                ),
        )
        .start()
        .await
        .unwrap();
    let client = hub.client();
    for _ in 0..4 {
        client
            .put_logs(PutLogsRequest::from_group(
                "demo",
                "app",
                &LogGroup::synthetic(5, 3),
            ))
            .await
            .unwrap();
    }

    let seen = Arc::new(Mutex::new(0usize));
    let counter = seen.clone();
    let good = config(client.clone(), "good");
    let good_debug = format!("{good:?}");
    let worker = Worker::start(good, move |_| {
        let counter = counter.clone();
        processor_fn(move |batch: Batch| {
            let counter = counter.clone();
            async move {
                *counter.lock().unwrap() += batch.log_count();
                Ok::<(), ProcessError>(())
            }
        })
    })
    .await
    .unwrap();
    let worker_debug = format!("{worker:?}");

    // A consumer with the wrong secret cannot even join.
    let wrong = hub
        .client_builder()
        .credentials(Credentials::new("test-id", WRONG_SECRET).with_security_token(TOKEN))
        .build()
        .unwrap();
    let wrong_config = config(wrong, "wrong");
    let wrong_debug = format!("{wrong_config:?}");
    let refused = Worker::start(wrong_config, |_| {
        processor_fn(|_: Batch| async { Ok::<(), ProcessError>(()) })
    })
    .await
    .unwrap_err();

    for _ in 0..100 {
        if *seen.lock().unwrap() >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let report = worker.shutdown().await.unwrap();
    assert_eq!(report.logs(), 20);

    let logged = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The capture saw the run, its failures and the refusal.
    for needle in [
        "heartbeat failed",
        "call failed; retrying",
        "ServerBusy",
        "InternalServerError",
    ] {
        assert!(
            logged.contains(needle),
            "no {needle:?} in the TRACE capture"
        );
    }
    assert_clean("TRACE logs", &logged);
    for (what, text) in [
        ("credentials Debug", format!("{credentials:?}")),
        ("hub Debug", format!("{hub:?}")),
        ("client Debug", format!("{client:?}")),
        ("config Debug", good_debug),
        ("wrong config Debug", wrong_debug),
        ("worker Debug", worker_debug),
        ("report Debug", format!("{report:?}")),
        ("refusal", format!("{refused} {refused:?}")),
    ] {
        assert_clean(what, &text);
    }
    assert!(
        refused.to_string().contains("SignatureNotMatch"),
        "{refused}"
    );
}
