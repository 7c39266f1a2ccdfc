//! `sls groups reset`: a plan, printed; written only with `--execute`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};
use sls_client::{Checkpoint, CheckpointUpdate, CursorPosition};
use sls_proto::Cursor;

use crate::cli::ResetArgs;
use crate::conn::Target;
use crate::error::{CallContext, CliError};
use crate::groups::{self, Owner, RESET_CONSUMER};
use crate::shards;
use crate::table::Table;
use crate::timefmt::{human, now_micros, parse_duration, parse_time, put_time, rfc3339};

/// Where the shards go.
#[derive(Debug)]
enum Goal {
    /// A position every shard resolves (begin, end, a time).
    Position(CursorPosition),
    /// A cursor per shard, from a file.
    Cursors(BTreeMap<u32, Cursor>),
}

/// One shard's move.
#[derive(Debug)]
struct Step {
    shard: u32,
    current: Option<Cursor>,
    current_time: Option<i64>,
    new: Cursor,
    new_time: i64,
}

/// A checkpoint read back after a reset: shard, cursor, its time.
type ReadBack = (u32, Option<Cursor>, Option<i64>);

/// The goal the flags name (exactly one, as clap checks).
fn goal(args: &ResetArgs, now_seconds: i64) -> Result<Goal, CliError> {
    if args.to_earliest {
        return Ok(Goal::Position(CursorPosition::Begin));
    }
    if args.to_latest {
        return Ok(Goal::Position(CursorPosition::End));
    }
    if let Some(time) = &args.to_datetime {
        return Ok(Goal::Position(CursorPosition::At(parse_time(time)?)));
    }
    if let Some(duration) = &args.by_duration {
        return Ok(Goal::Position(CursorPosition::At(
            now_seconds - parse_duration(duration)?,
        )));
    }
    if let Some(path) = &args.from_file {
        return Ok(Goal::Cursors(read_csv(path)?));
    }
    Err(CliError::Usage(
        "give one of --to-earliest, --to-latest, --to-datetime, --by-duration, --from-file".into(),
    ))
}

/// A CSV file of `shard,cursor[,time]` rows: a `shard,cursor,time` header,
/// blank lines and `#` comments are skipped, and so are rows with an
/// empty cursor (a shard that had no checkpoint when exported).
fn read_csv(path: &Path) -> Result<BTreeMap<u32, Cursor>, CliError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|err| CliError::Usage(format!("cannot read {shown}: {err}")))?;
    let mut cursors = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let bad =
            |why: String| CliError::Usage(format!("bad CSV {shown} line {}: {why}", index + 1));
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if index == 0 && fields.first() == Some(&"shard") {
            continue;
        }
        if !(2..=3).contains(&fields.len()) {
            return Err(bad(format!(
                "expected shard,cursor[,time], got {} fields",
                fields.len()
            )));
        }
        let shard: u32 = fields[0]
            .parse()
            .map_err(|_| bad(format!("shard {:?} is not a shard id", fields[0])))?;
        if fields[1].is_empty() {
            continue;
        }
        let cursor = Cursor::parse(fields[1])
            .map_err(|err| bad(format!("cursor {:?}: {err}", fields[1])))?;
        if cursors.insert(shard, cursor).is_some() {
            return Err(bad(format!("shard {shard} appears twice")));
        }
    }
    if cursors.is_empty() {
        return Err(CliError::Usage(format!(
            "bad CSV {shown}: no shard,cursor rows"
        )));
    }
    Ok(cursors)
}

/// The CSV `--export` writes.
fn export(path: &Path, steps: &[Step]) -> Result<(), CliError> {
    let mut text = String::from("shard,cursor,time\n");
    for step in steps {
        text.push_str(&format!(
            "{},{},{}\n",
            step.shard,
            step.current.map(|c| c.to_string()).unwrap_or_default(),
            step.current_time.map(rfc3339).unwrap_or_default()
        ));
    }
    std::fs::write(path, text)
        .map_err(|err| CliError::Refused(format!("cannot write {}: {err}", path.display())))
}

/// `sls groups reset GROUP ...`.
pub(crate) async fn run(target: &Target, args: &ResetArgs, json: bool) -> Result<String, CliError> {
    let now_us = now_micros();
    let goal = goal(args, now_us.div_euclid(1_000_000))?;
    let group = args.group.as_str();
    let saved = groups::checkpoints(target, group).await?;
    let settings = groups::settings(target, group).await?;
    let all: Vec<u32> = shards::list(target)
        .await?
        .iter()
        .map(|s| s.shard_id)
        .collect();
    let mut chosen: Vec<u32> = if args.shards.is_empty() {
        all.clone()
    } else {
        args.shards.clone()
    };
    chosen.sort_unstable();
    chosen.dedup();
    if let Some(unknown) = chosen.iter().find(|s| !all.contains(s)) {
        return Err(CliError::Usage(format!(
            "no shard {unknown} in logstore {}",
            target.logstore
        )));
    }
    if let Goal::Cursors(cursors) = &goal {
        if let Some(unknown) = cursors.keys().find(|s| !all.contains(s)) {
            return Err(CliError::Usage(format!(
                "the file names shard {unknown}, not in logstore {}",
                target.logstore
            )));
        }
        if !args.shards.is_empty() {
            if let Some(missing) = chosen.iter().find(|s| !cursors.contains_key(s)) {
                return Err(CliError::Usage(format!(
                    "the file has no cursor for shard {missing}"
                )));
            }
        }
        chosen.retain(|s| cursors.contains_key(s));
    }
    let by_shard: BTreeMap<u32, &Checkpoint> = saved.iter().map(|c| (c.shard, c)).collect();
    let mut steps = Vec::new();
    for &shard in &chosen {
        let current = by_shard.get(&shard).and_then(|c| c.cursor);
        let current_time = match current {
            Some(cursor) => Some(shards::cursor_time(target, shard, cursor).await?),
            None => None,
        };
        let new = match &goal {
            Goal::Position(position) => shards::cursor(target, shard, *position).await?,
            Goal::Cursors(cursors) => cursors[&shard],
        };
        let new_time = shards::cursor_time(target, shard, new).await?;
        steps.push(Step {
            shard,
            current,
            current_time,
            new,
            new_time,
        });
    }
    if let Some(path) = &args.export {
        export(path, &steps)?;
    }
    let live: Vec<(u32, String, i64)> = steps
        .iter()
        .filter_map(|step| {
            let owner = Owner::of(by_shard.get(&step.shard).copied(), settings.timeout, now_us);
            let ago = owner.ago(now_us)?;
            let consumer = owner.consumer.filter(|_| owner.live)?;
            Some((step.shard, consumer, ago))
        })
        .collect();
    if args.execute && !args.force {
        if let Some((shard, consumer, ago)) = live.first() {
            return Err(CliError::Refused(format!(
                "refusing to reset group {group}: consumer {consumer} is live on shard {shard} \
                 (checkpoint updated {} ago, within the group's {} timeout){}; stop the \
                 consumers, wait out the timeout, or pass --force",
                human(*ago),
                human(i64::from(settings.timeout)),
                if live.len() > 1 {
                    format!(" and {} more shard(s) are held", live.len() - 1)
                } else {
                    String::new()
                }
            )));
        }
    }
    let after = if args.execute {
        for step in &steps {
            target
                .client
                .update_checkpoint(
                    &target.project,
                    &target.logstore,
                    group,
                    RESET_CONSUMER,
                    CheckpointUpdate::new(step.shard, step.new).force(true),
                )
                .await
                .call("UpdateCheckPoint")?;
        }
        let mut after = Vec::new();
        for checkpoint in groups::checkpoints(target, group).await? {
            if !chosen.contains(&checkpoint.shard) {
                continue;
            }
            let time = match checkpoint.cursor {
                Some(cursor) => Some(shards::cursor_time(target, checkpoint.shard, cursor).await?),
                None => None,
            };
            after.push((checkpoint.shard, checkpoint.cursor, time));
        }
        Some(after)
    } else {
        None
    };
    Ok(render(group, &steps, after.as_deref(), &live, args, json))
}

/// The plan, and the checkpoints read back after executing it.
fn render(
    group: &str,
    steps: &[Step],
    after: Option<&[ReadBack]>,
    live: &[(u32, String, i64)],
    args: &ResetArgs,
    json: bool,
) -> String {
    let cursor_text = |c: Option<Cursor>| c.map_or_else(|| "-".into(), |c| c.to_string());
    if json {
        let plan: Vec<Value> = steps
            .iter()
            .map(|s| {
                let mut m = Map::new();
                m.insert("shard".into(), json!(s.shard));
                m.insert(
                    "current_checkpoint".into(),
                    json!(s.current.map(|c| c.to_string())),
                );
                put_time(&mut m, "current_time", s.current_time);
                m.insert("new_checkpoint".into(), json!(s.new.to_string()));
                put_time(&mut m, "new_time", Some(s.new_time));
                Value::Object(m)
            })
            .collect();
        let after: Option<Vec<Value>> = after.map(|rows| {
            rows.iter()
                .map(|(shard, cursor, time)| {
                    let mut m = Map::new();
                    m.insert("shard".into(), json!(shard));
                    m.insert("checkpoint".into(), json!(cursor.map(|c| c.to_string())));
                    put_time(&mut m, "checkpoint_time", *time);
                    Value::Object(m)
                })
                .collect()
        });
        let live: Vec<Value> = live
            .iter()
            .map(|(shard, consumer, ago)| {
                json!({"shard": shard, "consumer": consumer, "updated_ago_seconds": ago})
            })
            .collect();
        let doc = json!({
            "group": group,
            "executed": args.execute,
            "plan": plan,
            "live_consumers": live,
            "after": after,
        });
        return format!("{doc:#}\n");
    }
    let mut table = Table::new(&["SHARD", "CURRENT", "CURRENT TIME", "NEW", "NEW TIME"]);
    for s in steps {
        table.row(vec![
            s.shard.to_string(),
            cursor_text(s.current),
            s.current_time.map_or_else(|| "-".into(), rfc3339),
            s.new.to_string(),
            rfc3339(s.new_time),
        ]);
    }
    let mut out = table.render();
    match after {
        None => {
            for (shard, consumer, ago) in live {
                out.push_str(&format!(
                    "\nnote: consumer {consumer} is live on shard {shard} (updated {} ago); \
                     --execute will refuse without --force",
                    human(*ago)
                ));
            }
            out.push_str("\ndry run: nothing changed; add --execute to write these checkpoints\n");
        }
        Some(rows) => {
            out.push_str("\ncheckpoints now (read back):\n");
            let mut table = Table::new(&["SHARD", "CHECKPOINT", "TIME"]);
            for (shard, cursor, time) in rows {
                table.row(vec![
                    shard.to_string(),
                    cursor_text(*cursor),
                    time.map_or_else(|| "-".into(), rfc3339),
                ]);
            }
            out.push_str(&table.render());
        }
    }
    out
}
