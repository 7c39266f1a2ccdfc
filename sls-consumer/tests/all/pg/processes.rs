//! Consumer processes killed with SIGKILL at seeded random moments and
//! restarted, or frozen with SIGSTOP past their lease and thawed with
//! SIGCONT, while a writer writes, all against one fake LogHub and one
//! PostgreSQL table: every log lands exactly once.
//!
//! A consumer process is this test binary run again, told by its
//! environment to be one: `consumer_process` (ignored by default, and
//! doing nothing without that environment) runs a worker until it is
//! killed, or until its standard input closes (the parent is gone).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use sls_client::Credentials;
use sls_consumer::Worker;
use sls_consumer::exactly_once::ExactlyOnce;
use sls_testkit::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET};

use super::harness::Scratch;
use super::sink::{PgSink, SinkStats};
use super::{PATIENCE, assert_each_log_once, config, errors, rows, wait_for_rows, write};
use crate::harness::GROUP;

/// The consumer's name: set, the process is a consumer.
const CONSUMER_ENV: &str = "SLS_PG_TEST_CONSUMER";
/// The fake LogHub's endpoint.
const HUB_ENV: &str = "SLS_PG_TEST_HUB";
/// The PostgreSQL connection string.
const DB_ENV: &str = "SLS_PG_TEST_DB";
/// The consumer's heartbeat interval in milliseconds, if not the default.
const INTERVAL_ENV: &str = "SLS_PG_TEST_INTERVAL_MS";

const PROCESSES: usize = 3;
const SHARDS: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_consumer_processes_leave_each_log_once() {
    let began = Instant::now();
    let Some((cluster, db, hub)) = super::cluster_and_hub(SHARDS).await else {
        return;
    };
    let logs = Scratch::new("pg-consumers");
    let mut consumers = Consumers::new(&hub, &cluster, &logs);
    for slot in 0..PROCESSES {
        consumers.spawn(slot);
    }
    let writer = {
        let client = hub.client();
        tokio::spawn(async move { write(&client, 0, 400, 5, Duration::from_millis(10)).await })
    };

    // While the writer writes: kill a running consumer, or restart a
    // killed one (under the same name, as a restarted host would).
    let mut rng = fastrand::Rng::with_seed(1313);
    let (mut kills, mut restarts) = (0, 0);
    while !writer.is_finished() {
        tokio::time::sleep(Duration::from_millis(rng.u64(150..700))).await;
        let slot = rng.usize(..PROCESSES);
        if consumers.slots[slot].is_some() {
            consumers.kill(slot);
            kills += 1;
        } else {
            consumers.spawn(slot);
            restarts += 1;
        }
    }
    let total = writer.await.unwrap();
    for slot in 0..PROCESSES {
        if consumers.slots[slot].is_none() {
            consumers.spawn(slot);
            restarts += 1;
        }
    }
    let done = wait_for_rows(&db, total, PATIENCE).await;
    consumers.kill_all();
    assert!(
        done,
        "{} of {total} rows; the consumers said:\n{}",
        rows(&db).await,
        consumers.output()
    );
    assert_each_log_once(&db, total).await;
    eprintln!(
        "{total} logs exactly once in {:.1?} from {PROCESSES} consumer processes, \
         {kills} of them killed (SIGKILL) and {restarts} restarted",
        began.elapsed()
    );
    assert!(kills >= 3, "the schedule kills consumers ({kills})");
}

/// Consumer processes frozen with SIGSTOP (a paused VM, a debugger, a
/// long GC pause) for 0.2 to 3 s, then thawed with SIGCONT, while a writer
/// writes. The members disagree on the heartbeat interval (500, 333 and
/// 250 ms against the group's 1 s timeout: ratios 2, 3 and 4), as a mixed
/// fleet does. A frozen consumer cannot stop its own shards; the service
/// gives them to the others after the timeout, and when the frozen one
/// thaws, its lease is over: its late commits are refused (owner-checked)
/// and its sink writes lose the compare-and-set. Every log lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_consumer_processes_leave_each_log_once() {
    let began = Instant::now();
    let Some((cluster, db, hub)) = super::cluster_and_hub(SHARDS).await else {
        return;
    };
    let logs = Scratch::new("pg-frozen");
    let mut consumers = Consumers::new(&hub, &cluster, &logs);
    for (slot, interval) in ["500", "333", "250"].into_iter().enumerate() {
        consumers.spawn_with(slot, Some(interval));
    }
    let writer = {
        let client = hub.client();
        tokio::spawn(async move { write(&client, 0, 400, 5, Duration::from_millis(25)).await })
    };
    let mut rng = fastrand::Rng::with_seed(2727);
    let (mut freezes, mut past_timeout) = (0, 0);
    while !writer.is_finished() {
        tokio::time::sleep(Duration::from_millis(rng.u64(100..400))).await;
        let slot = rng.usize(..PROCESSES);
        let frozen_for = Duration::from_millis(rng.u64(200..3000));
        consumers.signal(slot, "-STOP");
        tokio::time::sleep(frozen_for).await;
        consumers.signal(slot, "-CONT");
        freezes += 1;
        past_timeout += usize::from(frozen_for > Duration::from_secs(1));
    }
    let total = writer.await.unwrap();
    let done = wait_for_rows(&db, total, PATIENCE).await;
    consumers.kill_all();
    assert!(
        done,
        "{} of {total} rows; the consumers said:\n{}",
        rows(&db).await,
        consumers.output()
    );
    assert_each_log_once(&db, total).await;
    let refused = hub
        .requests()
        .iter()
        .filter(|r| {
            r.call == Some(sls_testkit::CallKind::UpdateCheckpoint) && r.status != Some(200)
        })
        .count();
    eprintln!(
        "{total} logs exactly once in {:.1?} from {PROCESSES} consumer processes, \
         {freezes} freezes (SIGSTOP, {past_timeout} past the group's timeout), \
         {refused} commits refused",
        began.elapsed()
    );
    assert!(
        past_timeout >= 2,
        "the schedule freezes past the timeout ({past_timeout})"
    );
    let stopped = consumers.output();
    assert!(
        !stopped.contains("the consumer stopped by itself"),
        "no consumer stops on its own:\n{stopped}"
    );
}

/// The consumer processes, by slot; killed when dropped.
struct Consumers {
    slots: Vec<Option<Child>>,
    hub: String,
    db: String,
    logs: PathBuf,
}

impl Consumers {
    /// No process yet; each will reach `hub` and `cluster`, and write its
    /// output under `logs`.
    fn new(
        hub: &sls_testkit::FakeLogHub,
        cluster: &super::harness::PgCluster,
        logs: &Scratch,
    ) -> Self {
        Self {
            slots: (0..PROCESSES).map(|_| None).collect(),
            hub: hub.endpoint(),
            db: cluster.connection_string(),
            logs: logs.path().to_owned(),
        }
    }

    fn spawn(&mut self, slot: usize) {
        self.spawn_with(slot, None);
    }

    /// Starts slot `slot`'s process, with a heartbeat interval of
    /// `interval_ms` if given.
    fn spawn_with(&mut self, slot: usize, interval_ms: Option<&str>) {
        let log = |dir: &Path| {
            File::options()
                .create(true)
                .append(true)
                .open(dir.join(format!("p{slot}.log")))
                .expect("a log file")
        };
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut command = Command::new(exe);
        if let Some(interval) = interval_ms {
            command.env(INTERVAL_ENV, interval);
        }
        let child = command
            .args([consumer_test_name().as_str(), "--exact", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env(CONSUMER_ENV, format!("p{slot}"))
            .env(HUB_ENV, &self.hub)
            .env(DB_ENV, &self.db)
            .stdin(Stdio::piped())
            .stdout(log(&self.logs))
            .stderr(log(&self.logs))
            .spawn()
            .expect("starting a consumer process");
        self.slots[slot] = Some(child);
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to slot `slot`'s process.
    fn signal(&self, slot: usize, signal: &str) {
        if let Some(child) = &self.slots[slot] {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("kill(1), from procps");
            assert!(status.success(), "kill {signal} failed");
        }
    }

    /// SIGKILL: no shutdown, no commit, connections cut.
    fn kill(&mut self, slot: usize) {
        if let Some(mut child) = self.slots[slot].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn kill_all(&mut self) {
        for slot in 0..self.slots.len() {
            self.kill(slot);
        }
    }

    /// What the consumers printed.
    fn output(&self) -> String {
        (0..self.slots.len())
            .map(|slot| {
                let text = std::fs::read_to_string(self.logs.join(format!("p{slot}.log")))
                    .unwrap_or_default();
                format!("-- p{slot}\n{text}")
            })
            .collect()
    }
}

impl Drop for Consumers {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// `consumer_process`'s name as the test harness knows it.
fn consumer_test_name() -> String {
    let module = module_path!();
    let module = module.split_once("::").map_or(module, |(_, rest)| rest);
    format!("{module}::consumer_process")
}

/// A consumer process of `killed_consumer_processes_leave_each_log_once`
/// and `frozen_consumer_processes_leave_each_log_once`; returns at once
/// without its environment.
#[test]
#[ignore = "a consumer process that the tests above start"]
fn consumer_process() {
    let (Ok(name), Ok(hub), Ok(db)) = (
        std::env::var(CONSUMER_ENV),
        std::env::var(HUB_ENV),
        std::env::var(DB_ENV),
    ) else {
        return;
    };
    // The parent holds the other end of standard input: when it is gone,
    // so is this process.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config = config(GROUP, &name);
        if let Some(ms) = std::env::var(INTERVAL_ENV)
            .ok()
            .and_then(|ms| ms.parse().ok())
        {
            config = config.heartbeat_interval(Duration::from_millis(ms));
        }
        let config = config
            .endpoint(hub)
            .credentials(Credentials::new(
                DEFAULT_ACCESS_KEY_ID,
                DEFAULT_ACCESS_KEY_SECRET,
            ))
            .max_fetch_groups(3)
            .error_policy(errors())
            .build()
            .unwrap();
        let db: tokio_postgres::Config = db.parse().unwrap();
        let stats = Arc::new(SinkStats::default());
        let commits = Arc::new(AtomicU64::new(0));
        let mut worker = Worker::start(config, move |_shard| {
            ExactlyOnce::new(
                PgSink::new(db.clone(), stats.clone()).losing_answers(5, commits.clone()),
            )
        })
        .await
        .unwrap();
        // Runs until killed.
        worker.stopped().await;
        let report = worker.shutdown().await;
        panic!("the consumer stopped by itself: {report:?}");
    });
}
