//! `sls put`: JSON lines from stdin, written with PutLogs.
//!
//! Each line is a flat JSON object: its fields are the log's, except the
//! line's own (`__time__`, `__time_ns__`, `__topic__`, `__source__`,
//! `__tag__:KEY`; `__shard__` is ignored), as `sls tail -o json` prints
//! them (`logline` has the rules). Logs with the same topic, source and
//! tags share a log group; a group is sent once it is full.

use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Value, json};
use sls_client::{MAX_GROUP_BYTES, MAX_LOGS_PER_GROUP, PutLogsRequest};
use sls_proto::prost::Message;
use sls_proto::prost::encoding::encoded_len_varint;
use sls_proto::{Log, LogContent, LogGroup, LogTag};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::cli::PutArgs;
use crate::conn::Target;
use crate::error::{CallContext, CliError};
use crate::logline::{SHARD, SOURCE, TAG, TIME, TIME_NS, TOPIC, json_value, name_key};
use crate::timefmt::now_micros;

/// Room left in a group for what the size estimate does not count.
const GROUP_MARGIN: usize = 64 << 10;

/// The longest input line read: a log as large as a group may be, as
/// base64 in JSON (4/3 of it), with room for names and escapes.
const MAX_LINE: usize = 2 * MAX_GROUP_BYTES;

/// A JSON object's members in order, repeated names kept (a log may
/// hold a key twice).
#[derive(Debug)]
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Ordered)
    }
}

/// What sets a log's group apart: topic, source, tags.
type GroupKey = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<(Vec<u8>, Vec<u8>)>);

/// One input line, read.
#[derive(Debug)]
struct Entry {
    group: GroupKey,
    log: Log,
}

/// Reads one line; the error says why (the caller adds the line number).
fn entry(line: &[u8], now: u32) -> Result<Entry, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8 (JSON is)".to_owned())?;
    let Members(members) =
        serde_json::from_str(text).map_err(|err| format!("not a JSON object: {err}"))?;
    let mut time = None;
    let mut time_ns = None;
    let mut topic = None;
    let mut source = None;
    let mut tags = Vec::new();
    let mut contents = Vec::new();
    let mut seen = Vec::new();
    for (name, value) in members {
        let field = |what: &str| format!("field {name:?}: {what}");
        if [TIME, TIME_NS, TOPIC, SOURCE, SHARD].contains(&name.as_str()) {
            if seen.contains(&name) {
                return Err(field("given twice"));
            }
            seen.push(name.clone());
        }
        match name.as_str() {
            TIME => time = Some(unsigned(&value).ok_or_else(|| field("not Unix seconds"))?),
            TIME_NS => {
                time_ns = Some(
                    unsigned(&value)
                        .filter(|ns| *ns < 1_000_000_000)
                        .ok_or_else(|| field("not nanoseconds (0 to 999999999)"))?,
                );
            }
            TOPIC => topic = optional(&value).map_err(|err| field(&err))?,
            SOURCE => source = optional(&value).map_err(|err| field(&err))?,
            SHARD => {}
            _ => {
                let value = json_value(&value).map_err(|err| field(&err))?;
                match name.strip_prefix(TAG) {
                    Some(tag) => tags.push((name_key(tag)?, value)),
                    None => contents.push(LogContent {
                        key: name_key(&name)?,
                        value,
                    }),
                }
            }
        }
    }
    Ok(Entry {
        group: (topic, source, tags),
        log: Log {
            time: time.unwrap_or(now),
            contents,
            time_ns,
        },
    })
}

/// A `u32` given as a number or a string of digits.
fn unsigned(value: &Value) -> Option<u32> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// A topic or source: `null` for none.
fn optional(value: &Value) -> Result<Option<Vec<u8>>, String> {
    match value {
        Value::Null => Ok(None),
        other => json_value(other).map(Some),
    }
}

/// The encoded size of a log inside a group (a repeated field).
fn log_size(log: &Log) -> usize {
    let len = log.encoded_len();
    1 + encoded_len_varint(len as u64) + len
}

/// Logs waiting to be sent in one group.
#[derive(Debug, Default)]
struct Pending {
    logs: Vec<Log>,
    bytes: usize,
}

/// `1 log`, `2 logs`.
fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// What was written.
#[derive(Debug, Default)]
struct Totals {
    logs: u64,
    requests: u64,
    bytes: u64,
}

/// Sends and counts.
#[derive(Debug)]
struct Sender<'a> {
    target: &'a Target,
    hash_key: Option<&'a str>,
    totals: Totals,
    progress: bool,
}

impl Sender<'_> {
    /// Sends one group.
    async fn send(&mut self, key: &GroupKey, logs: Vec<Log>) -> Result<(), CliError> {
        if logs.is_empty() {
            return Ok(());
        }
        let (topic, source, tags) = key;
        let group = LogGroup {
            logs,
            topic: topic.clone(),
            source: source.clone(),
            log_tags: tags
                .iter()
                .map(|(key, value)| LogTag {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            ..LogGroup::default()
        };
        let mut request =
            PutLogsRequest::from_group(&self.target.project, &self.target.logstore, &group);
        if let Some(hash_key) = self.hash_key {
            request = request.hash_key(hash_key);
        }
        let sent = self.target.client.put_logs(request).await.call("PutLogs");
        if let Err(err) = sent {
            if self.progress {
                eprintln!();
            }
            return Err(match err {
                CliError::Call { .. } if self.totals.logs > 0 => CliError::Refused(format!(
                    "{err} (after {} logs in {} requests were written)",
                    self.totals.logs, self.totals.requests
                )),
                err => err,
            });
        }
        self.totals.logs += group.logs.len() as u64;
        self.totals.requests += 1;
        self.totals.bytes += group.encoded_len() as u64;
        if self.progress {
            eprint!(
                "\rsls put: {}, {}",
                plural(self.totals.logs, "log"),
                plural(self.totals.requests, "request")
            );
        }
        Ok(())
    }
}

/// `sls put`: reads stdin to its end.
pub(crate) async fn run(target: &Target, args: &PutArgs, json: bool) -> Result<String, CliError> {
    if let Some(key) = &args.hash_key {
        if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CliError::Usage(format!(
                "bad --hash-key {key:?}: give 32 hex digits"
            )));
        }
    }
    let now = u32::try_from(now_micros().div_euclid(1_000_000)).unwrap_or(u32::MAX);
    let mut sender = Sender {
        target,
        hash_key: args.hash_key.as_deref(),
        totals: Totals::default(),
        progress: std::io::stderr().is_terminal(),
    };
    let mut pending: BTreeMap<GroupKey, Pending> = BTreeMap::new();
    // Read without blocking the runtime, whose connection tasks go on
    // between sends (a slow pipe or a person typing must not stall them).
    let mut input = tokio::io::BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|err| CliError::Usage(format!("cannot read stdin: {err}")))?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.len() > MAX_LINE {
            return Err(CliError::Usage(format!(
                "bad input line {number}: longer than {MAX_LINE} bytes"
            )));
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let bad = |why: String| CliError::Usage(format!("bad input line {number}: {why}"));
        let Entry { group, log } = entry(text, now).map_err(bad)?;
        let size = log_size(&log);
        if size + GROUP_MARGIN > MAX_GROUP_BYTES {
            return Err(bad(format!(
                "the log is {size} bytes encoded; a log group holds at most {MAX_GROUP_BYTES}"
            )));
        }
        let waiting = pending.entry(group.clone()).or_default();
        if waiting.logs.len() == MAX_LOGS_PER_GROUP
            || waiting.bytes + size + GROUP_MARGIN > MAX_GROUP_BYTES
        {
            let full = std::mem::take(waiting);
            sender.send(&group, full.logs).await?;
        }
        let waiting = pending.entry(group).or_default();
        waiting.bytes += size;
        waiting.logs.push(log);
    }
    for (key, waiting) in pending {
        sender.send(&key, waiting.logs).await?;
    }
    if sender.progress && sender.totals.requests > 0 {
        eprintln!();
    }
    let Totals {
        logs,
        requests,
        bytes,
    } = sender.totals;
    Ok(if json {
        format!(
            "{:#}\n",
            json!({"logs": logs, "requests": requests, "bytes": bytes})
        )
    } else {
        format!(
            "put {} in {} ({})\n",
            plural(logs, "log"),
            plural(requests, "request"),
            plural(bytes, "byte")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_logs() {
        let line = br#"{"__time__": "1700000000", "__topic__": "web", "__shard__": 3, "__tag__:env": "prod", "a": 1, "a": true, "g": {"base64": "xOM="}, "__field__:__time__": "x"}"#;
        let Entry { group, log } = entry(line, 5).unwrap();
        assert_eq!(group.0.as_deref(), Some(&b"web"[..]));
        assert_eq!(group.1, None);
        assert_eq!(group.2, vec![(b"env".to_vec(), b"prod".to_vec())]);
        assert_eq!(log.time, 1_700_000_000);
        let contents: Vec<(&[u8], &[u8])> = log
            .contents
            .iter()
            .map(|c| (&c.key[..], &c.value[..]))
            .collect();
        assert_eq!(
            contents,
            vec![
                (&b"a"[..], &b"1"[..]),
                (b"a", b"true"),
                (b"g", b"\xc4\xe3"),
                (b"__time__", b"x"),
            ]
        );
        assert_eq!(entry(b"{}", 5).unwrap().log.time, 5);
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, why) in [
            (&br#"[1]"#[..], "not a JSON object"),
            (br#"{"a": {"b": 1}}"#, "field \"a\": an object"),
            (br#"{"a": [1]}"#, "field \"a\": an array"),
            (br#"{"a": null}"#, "field \"a\": null"),
            (br#"{"__time__": -1}"#, "not Unix seconds"),
            (br#"{"__time__": 1, "__time__": 2}"#, "given twice"),
            (br#"{"__base64__:!": "x"}"#, "bad base64"),
            (b"{\"a\": \"\xc4\"}", "not UTF-8"),
            (br#"{"a": "b""#, "not a JSON object"),
        ] {
            let err = entry(line, 0).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }
}
