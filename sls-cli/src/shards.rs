//! `sls shards`.

use serde_json::{Map, Value, json};
use sls_client::{CursorPosition, Shard, ShardStatus};
use sls_proto::Cursor;

use crate::conn::Target;
use crate::error::{CallContext, CliError};
use crate::table::Table;
use crate::timefmt::{put_time, rfc3339};

/// A shard status as printed: `readwrite` or `readonly`.
pub(crate) fn status_name(status: ShardStatus) -> &'static str {
    match status {
        ShardStatus::Readwrite => "readwrite",
        ShardStatus::Readonly => "readonly",
        _ => "unknown",
    }
}

/// The shards of the logstore.
pub(crate) async fn list(target: &Target) -> Result<Vec<Shard>, CliError> {
    target
        .client
        .list_shards(&target.project, &target.logstore)
        .await
        .call("ListShards")
}

/// A cursor of `shard` at `position`.
pub(crate) async fn cursor(
    target: &Target,
    shard: u32,
    position: CursorPosition,
) -> Result<Cursor, CliError> {
    target
        .client
        .get_cursor(&target.project, &target.logstore, shard, position)
        .await
        .call("GetCursor")
}

/// The receive time (Unix seconds) at `cursor`.
pub(crate) async fn cursor_time(
    target: &Target,
    shard: u32,
    cursor: Cursor,
) -> Result<i64, CliError> {
    target
        .client
        .get_cursor_time(&target.project, &target.logstore, shard, cursor)
        .await
        .call("GetCursorTime")
}

/// The receive time at `position` of `shard`.
pub(crate) async fn time_at(
    target: &Target,
    shard: u32,
    position: CursorPosition,
) -> Result<i64, CliError> {
    let at = cursor(target, shard, position).await?;
    cursor_time(target, shard, at).await
}

/// `sls shards`: the text to print.
pub(crate) async fn run(target: &Target, json: bool) -> Result<String, CliError> {
    let mut rows = Vec::new();
    for shard in list(target).await? {
        let begin = time_at(target, shard.shard_id, CursorPosition::Begin).await?;
        let end = time_at(target, shard.shard_id, CursorPosition::End).await?;
        rows.push((shard, begin, end));
    }
    if json {
        let shards: Vec<Value> = rows
            .iter()
            .map(|(shard, begin, end)| {
                let mut row = Map::new();
                row.insert("shard".into(), json!(shard.shard_id));
                row.insert("status".into(), json!(status_name(shard.status)));
                put_time(&mut row, "begin_time", Some(*begin));
                put_time(&mut row, "end_time", Some(*end));
                row.insert("begin_key".into(), json!(shard.inclusive_begin_key));
                row.insert("end_key".into(), json!(shard.exclusive_end_key));
                Value::Object(row)
            })
            .collect();
        let doc = json!({
            "project": target.project,
            "logstore": target.logstore,
            "shards": shards,
        });
        return Ok(format!("{doc:#}\n"));
    }
    let mut table = Table::new(&["SHARD", "STATUS", "BEGIN TIME", "END TIME"]);
    for (shard, begin, end) in &rows {
        table.row(vec![
            shard.shard_id.to_string(),
            status_name(shard.status).to_owned(),
            rfc3339(*begin),
            rfc3339(*end),
        ]);
    }
    Ok(table.render())
}
