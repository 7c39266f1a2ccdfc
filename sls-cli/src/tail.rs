//! `sls tail`: a logstore's logs as they arrive (or from a time, up to a
//! time), read as a member of a consumer group, as JSON lines or text.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use sls_consumer::{Batch, ConsumerConfig, StartPosition, Worker, processor_fn};
use sls_proto::{LogGroupView, LogView};

use crate::cli::{TailArgs, TailFormat};
use crate::conn::Target;
use crate::error::{CallContext, CliError};
use crate::logline::{
    SHARD, SOURCE, TAG, TIME, TIME_NS, TOPIC, key_name, push_member, text_token, value_json,
};
use crate::output::{Interrupt, print};
use crate::timefmt::{now_micros, parse_time, rfc3339};

/// How often the tail's consumer heartbeats. A bounded tail (`--to`)
/// learns that every shard got there on a heartbeat, so a short interval
/// ends it soon after.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// `TIME`, or `now`: this machine's clock, plus `now_extra` seconds.
fn time_or_now(text: &str, now_extra: i64) -> Result<i64, CliError> {
    if text.trim() == "now" {
        return Ok(now_micros().div_euclid(1_000_000) + now_extra);
    }
    parse_time(text)
}

/// `--from`: `begin`, `end`, `now` or a time.
fn start(from: &str) -> Result<StartPosition, CliError> {
    match from.trim() {
        "begin" => Ok(StartPosition::Begin),
        "end" => Ok(StartPosition::End),
        other => time_or_now(other, 0).map(StartPosition::At),
    }
}

/// What the per-shard processors share with the command.
#[derive(Debug)]
struct Shared {
    format: TailFormat,
    /// Logs printed.
    logs: AtomicU64,
    /// Set when stdout was closed (`sls tail | head`).
    closed: AtomicBool,
    /// Wakes the command when `closed` is set.
    wake: tokio::sync::Notify,
}

/// `sls tail`.
pub(crate) async fn run(target: &Target, args: &TailArgs, json: bool) -> Result<String, CliError> {
    let from = start(&args.from)?;
    // A shard stops before the first data received at or after `--to`:
    // `--to now` is the next second, so that what was received in this
    // second is read too.
    let to = args
        .to
        .as_deref()
        .map(|to| time_or_now(to, 1))
        .transpose()?;
    let format = args.format.unwrap_or(if json {
        TailFormat::Json
    } else {
        TailFormat::Text
    });
    let pid = std::process::id();
    let (group, throwaway) = match &args.group {
        Some(group) => (group.clone(), false),
        None => (format!("tail-{pid}"), true),
    };
    let mut config = ConsumerConfig::builder(
        &target.project,
        &target.logstore,
        &group,
        format!("tail-{pid}"),
    )
    .client(target.client.clone())
    .start_position(from)
    .heartbeat_interval(HEARTBEAT);
    if let Some(query) = &args.query {
        config = config.query(query.clone());
    }
    if let Some(processor) = &args.processor {
        config = config.processor(processor.clone());
    }
    if let Some(to) = to {
        config = config.end_time(to);
    }
    if let Some(name) = &args.group {
        // Joining sets the group's in-order flag to the worker's: keep
        // the group's own.
        let groups = target
            .client
            .list_consumer_groups(&target.project, &target.logstore)
            .await
            .call("ListConsumerGroup")?;
        if let Some(existing) = groups.iter().find(|g| &g.name == name) {
            config = config.ordered(existing.order);
        }
    }
    let config = config
        .build()
        .map_err(|err| CliError::Usage(format!("bad option: {err}")))?;
    let shared = Arc::new(Shared {
        format,
        logs: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        wake: tokio::sync::Notify::new(),
    });
    let mut interrupt = Interrupt::catch()?;
    let for_shards = shared.clone();
    let mut worker = Worker::start(config, move |_shard| {
        let shared = for_shards.clone();
        processor_fn(move |batch: Batch| {
            print_batch(&shared, &batch);
            std::future::ready(Ok(()))
        })
    })
    .await
    .map_err(CliError::Consumer)?;
    {
        // A bounded replay's end comes when the worker stops too.
        let ended = async {
            if to.is_some() {
                worker.replay_finished().await;
            } else {
                worker.stopped().await;
            }
        };
        tokio::select! {
            () = ended => {}
            () = interrupt.wait() => {}
            () = shared.wake.notified() => {}
        }
    }
    let ended = worker.shutdown().await.map_err(CliError::Consumer);
    if throwaway {
        // The group existed only for this tail: a logstore holds at most
        // 30 groups.
        let deleted = target
            .client
            .delete_consumer_group(&target.project, &target.logstore, &group)
            .await
            .call("DeleteConsumerGroup");
        if let Err(err) = deleted {
            eprintln!("sls: the tail's own group {group} is left behind: {err}");
        }
    }
    ended?;
    if std::io::stderr().is_terminal() {
        eprintln!("sls tail: {} logs", shared.logs.load(Ordering::Relaxed));
    }
    Ok(String::new())
}

/// Prints a batch's logs, one line each.
fn print_batch(shared: &Shared, batch: &Batch) {
    if shared.closed.load(Ordering::Relaxed) {
        return;
    }
    let mut out = String::new();
    let mut logs = 0;
    for group in &batch.groups {
        for log in group.logs() {
            match shared.format {
                TailFormat::Json => json_line(&mut out, batch.shard, &group, &log),
                TailFormat::Text => text_line(&mut out, batch.shard, &group, &log),
            }
            out.push('\n');
            logs += 1;
        }
    }
    match print(out.as_bytes()) {
        Ok(true) => {
            shared.logs.fetch_add(logs, Ordering::Relaxed);
        }
        Ok(false) => stop(shared),
        Err(err) => {
            eprintln!("sls: {err}");
            stop(shared);
        }
    }
}

/// Ends the tail: its output is gone.
fn stop(shared: &Shared) {
    shared.closed.store(true, Ordering::Relaxed);
    shared.wake.notify_one();
}

/// A log as a JSON object on one line (`logline` has the rules).
fn json_line(out: &mut String, shard: u32, group: &LogGroupView<'_>, log: &LogView<'_>) {
    out.push('{');
    push_member(out, TIME, &Value::from(log.time()));
    if let Some(ns) = log.time_ns() {
        push_member(out, TIME_NS, &Value::from(ns));
    }
    push_member(
        out,
        TOPIC,
        &group.topic().map_or(Value::Null, |t| value_json(t)),
    );
    push_member(
        out,
        SOURCE,
        &group.source().map_or(Value::Null, |s| value_json(s)),
    );
    push_member(out, SHARD, &Value::from(shard));
    for (key, value) in group.tags() {
        push_member(out, &format!("{TAG}{}", key_name(key)), &value_json(value));
    }
    for (key, value) in log.contents() {
        push_member(out, &key_name(key), &value_json(value));
    }
    out.push('}');
}

/// A log as text: `TIME shard:N`, the topic, source and tags when there
/// are, then `key=value` tokens.
fn text_line(out: &mut String, shard: u32, group: &LogGroupView<'_>, log: &LogView<'_>) {
    out.push_str(&rfc3339(i64::from(log.time())));
    out.push_str(&format!(" shard:{shard}"));
    let mut pair = |key: &[u8], value: &[u8]| {
        out.push(' ');
        out.push_str(&text_token(key));
        out.push('=');
        out.push_str(&text_token(value));
    };
    if let Some(topic) = group.topic() {
        pair(TOPIC.as_bytes(), topic);
    }
    if let Some(source) = group.source() {
        pair(SOURCE.as_bytes(), source);
    }
    for (key, value) in group.tags() {
        pair(&[TAG.as_bytes(), key].concat(), value);
    }
    for (key, value) in log.contents() {
        pair(key, value);
    }
}
