//! A fake LogHub whose clock the test moves, and `sls` run against it.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sls_client::{Checkpoint, CheckpointUpdate, Client, CursorPosition, PutLogsRequest};
use sls_proto::{Cursor, LogGroup};
use sls_testkit::{Clock, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, FakeLogHub};

pub(crate) const PROJECT: &str = "demo";
pub(crate) const LOGSTORE: &str = "app";
pub(crate) const GROUP: &str = "etl";
/// A second logstore of the project, empty at the start.
pub(crate) const COPY: &str = "copy";

/// How far in the past the hub's clock starts: data is written at
/// `start + n` seconds, then the clock is moved to the present
/// ([`Hub::to_present`]) so that "ago" and liveness read sensibly on the
/// CLI, which uses this machine's clock.
const BACK: u64 = 10_000;

/// A fake hub with one consumer group.
pub(crate) struct Hub {
    pub(crate) hub: FakeLogHub,
    /// The hub clock's start, in Unix seconds.
    pub(crate) start: i64,
    /// The present when the hub started, in Unix seconds.
    present: i64,
}

impl Hub {
    /// `shards` shards and group [`GROUP`] with heartbeat `timeout`.
    pub(crate) async fn start(shards: u32, timeout: u32) -> Self {
        let present = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let start = present - BACK;
        let hub = FakeLogHub::builder()
            .logstore(PROJECT, LOGSTORE, shards)
            .logstore(PROJECT, COPY, shards)
            .consume_processor(PROJECT, "errors", "* | where level = 'ERROR'")
            .consumer_group(PROJECT, LOGSTORE, GROUP, timeout, false)
            .clock(Clock::manual(UNIX_EPOCH + Duration::from_secs(start)))
            // The CLI signs with this machine's clock.
            .check_date(false)
            .start()
            .await
            .unwrap();
        Self {
            hub,
            start: start as i64,
            present: present as i64,
        }
    }

    /// A client signing as the hub wants.
    pub(crate) fn client(&self) -> Client {
        self.hub.client()
    }

    /// Now on the hub's clock, in Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        self.hub.clock().unix_seconds()
    }

    /// Moves the hub's clock to `start + offset` seconds.
    pub(crate) fn at(&self, offset: i64) {
        let to = self.start + offset;
        let now = self.now();
        assert!(to >= now, "the clock only moves forward");
        self.hub
            .clock()
            .advance(Duration::from_secs((to - now) as u64));
    }

    /// Moves the hub's clock to the present as of the hub's start.
    pub(crate) fn to_present(&self) {
        self.at(self.present - self.start);
    }

    /// Writes one group of one log `{"id": id}` to `shard` (of 2 shards at
    /// most) at `start + offset`.
    pub(crate) async fn write(&self, shard: u32, offset: i64, id: u64) {
        self.at(offset);
        let key = if shard == 0 { "00" } else { "ff" };
        let group = LogGroup::builder()
            .log(self.now() as u32, [("id", id.to_string())])
            .build();
        self.client()
            .put_logs(
                PutLogsRequest::from_group(PROJECT, LOGSTORE, &group)
                    .hash_key(format!("{key}{}", "0".repeat(30))),
            )
            .await
            .unwrap();
    }

    /// The cursor of the first group received at or after `start + offset`.
    pub(crate) async fn cursor_at(&self, shard: u32, offset: i64) -> Cursor {
        self.client()
            .get_cursor(
                PROJECT,
                LOGSTORE,
                shard,
                CursorPosition::At(self.start + offset),
            )
            .await
            .unwrap()
    }

    /// Saves `cursor` as `shard`'s checkpoint, as `consumer` (forced).
    pub(crate) async fn commit(&self, consumer: &str, shard: u32, cursor: Cursor) {
        self.client()
            .update_checkpoint(
                PROJECT,
                LOGSTORE,
                GROUP,
                consumer,
                CheckpointUpdate::new(shard, cursor).force(true),
            )
            .await
            .unwrap();
    }

    /// The group's checkpoints.
    pub(crate) async fn checkpoints(&self) -> Vec<Checkpoint> {
        self.client()
            .get_checkpoints(PROJECT, LOGSTORE, GROUP, None)
            .await
            .unwrap()
    }

    /// Each shard's checkpoint cursor, by shard.
    pub(crate) async fn cursors(&self) -> Vec<(u32, Option<Cursor>)> {
        self.checkpoints()
            .await
            .into_iter()
            .map(|c| (c.shard, c.cursor))
            .collect()
    }

    /// `sls` with the hub's connection in the environment.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sls"));
        command
            .args(args)
            .env("SLS_ENDPOINT", self.hub.endpoint())
            .env("SLS_PROJECT", PROJECT)
            .env("SLS_LOGSTORE", LOGSTORE)
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
            .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
            .env_remove("SLS_SIGNATURE_VERSION")
            .env_remove("SLS_REGION")
            .env_remove("RUST_BACKTRACE");
        command
    }

    /// Runs `sls args...` with `stdin` as its standard input.
    pub(crate) async fn sls_with_input(&self, args: &[&str], stdin: &[u8]) -> Run {
        run_with_input(self.command(args), stdin.to_vec()).await
    }

    /// Every log of `logstore`, read with the client, as comparable
    /// tuples (topic, source, tags, time, time_ns, fields), sorted.
    pub(crate) async fn logs(&self, logstore: &str) -> Vec<LogTuple> {
        read_logs(&self.client(), logstore).await
    }

    /// Runs `sls args...`; its exit code, stdout and stderr.
    pub(crate) async fn sls(&self, args: &[&str]) -> Run {
        run(self.command(args)).await
    }

    /// Runs `sls args...` and expects it to succeed; its stdout.
    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        let run = self.sls(args).await;
        assert_eq!(run.code, 0, "sls {args:?} failed: {}", run.stderr);
        run.stdout
    }

    /// `sls --output json args...`, parsed.
    pub(crate) async fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let stdout = self.ok(&all).await;
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"))
    }
}

/// What a run of `sls` did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// A log with its group's topic, source and tags, bytes as stored.
pub(crate) type LogTuple = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Vec<u8>)>,
    u32,
    Option<u32>,
    Vec<(Vec<u8>, Vec<u8>)>,
);

/// Every log of `logstore` in [`PROJECT`], read with `client`, sorted.
pub(crate) async fn read_logs(client: &Client, logstore: &str) -> Vec<LogTuple> {
    let mut logs = Vec::new();
    for shard in client.list_shards(PROJECT, logstore).await.unwrap() {
        let id = shard.shard_id;
        let mut cursor = client
            .get_cursor(PROJECT, logstore, id, CursorPosition::Begin)
            .await
            .unwrap();
        let end = client
            .get_cursor(PROJECT, logstore, id, CursorPosition::End)
            .await
            .unwrap();
        while cursor != end {
            let pulled = client
                .pull_logs(sls_client::PullLogsRequest::new(
                    PROJECT, logstore, id, cursor,
                ))
                .await
                .unwrap();
            for group in &pulled.groups {
                let tags: Vec<(Vec<u8>, Vec<u8>)> = group
                    .tags()
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                for log in group.logs() {
                    logs.push((
                        group.topic().map(|t| t.to_vec()),
                        group.source().map(|s| s.to_vec()),
                        tags.clone(),
                        log.time(),
                        log.time_ns(),
                        log.contents()
                            .map(|(k, v)| (k.to_vec(), v.to_vec()))
                            .collect(),
                    ));
                }
            }
            cursor = pulled.next_cursor;
        }
    }
    logs.sort();
    logs
}

/// Runs `command` with `stdin` as its input, off the runtime.
pub(crate) async fn run_with_input(mut command: Command, stdin: Vec<u8>) -> Run {
    use std::io::Write;
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            // The command may stop reading early (a bad line).
            let _ = input.write_all(&stdin);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        output
    })
    .await
    .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs `command` off the runtime (the hub serves on it meanwhile).
pub(crate) async fn run(mut command: Command) -> Run {
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A running `sls` whose stdout is read a line at a time.
pub(crate) struct Live {
    pub(crate) child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Live {
    /// Starts `command` with stdout piped.
    pub(crate) fn spawn(command: Command) -> Self {
        let mut command = tokio::process::Command::from(command);
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        use tokio::io::AsyncBufReadExt;
        Self {
            child,
            lines: tokio::io::BufReader::new(stdout).lines(),
        }
    }

    /// The next line of stdout (bounded: 60 s), `None` at its end.
    pub(crate) async fn line(&mut self) -> Option<String> {
        tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .expect("a line within 60 s")
            .unwrap()
    }

    /// Sends SIGINT, as Ctrl-C does, and waits for the exit code.
    pub(crate) async fn interrupt(mut self) -> i32 {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        // Drain stdout so a full pipe cannot block the process.
        while self.lines.next_line().await.ok().flatten().is_some() {}
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("exits within 60 s after SIGINT")
            .unwrap();
        status.code().unwrap_or(-1)
    }
}
