//! Which API a request calls: the key of routing, fault plans and the
//! request log.

use http::Method;

use crate::server::http::Incoming;

/// An API of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CallKind {
    /// `GET /logstores`
    ListLogstores,
    /// `POST /logstores`
    CreateLogstore,
    /// `GET /logstores/{ls}`
    GetLogstore,
    /// `DELETE /logstores/{ls}`
    DeleteLogstore,
    /// `GET /logstores/{ls}/shards`
    ListShards,
    /// `POST .../shards/{id}?action=split`
    SplitShard,
    /// `POST .../shards/{id}?action=merge`
    MergeShard,
    /// `GET .../shards/{id}?type=cursor`
    GetCursor,
    /// `GET .../shards/{id}?type=cursor_time`
    GetCursorTime,
    /// `GET .../shards/{id}?type=log`
    PullLogs,
    /// `POST .../shards/lb`, `.../shards/route` or `/logstores/{ls}`
    PutLogs,
    /// `GET .../consumergroups`
    ListConsumerGroups,
    /// `POST .../consumergroups`
    CreateConsumerGroup,
    /// `PUT .../consumergroups/{cg}`
    UpdateConsumerGroup,
    /// `DELETE .../consumergroups/{cg}`
    DeleteConsumerGroup,
    /// `POST .../consumergroups/{cg}?type=heartbeat`
    Heartbeat,
    /// `POST .../consumergroups/{cg}?type=checkpoint`
    UpdateCheckpoint,
    /// `GET .../consumergroups/{cg}`
    GetCheckpoints,
}

/// A request's API and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) kind: CallKind,
    pub(crate) logstore: Option<String>,
    /// The shard in the path (or in a checkpoint's query).
    pub(crate) shard: Option<u32>,
    pub(crate) group: Option<String>,
    pub(crate) consumer: Option<String>,
    /// The SPL query of a pull.
    pub(crate) query: Option<String>,
    /// The consume processor a pull names.
    pub(crate) processor: Option<String>,
}

/// Classifies a request; `None` for paths and methods the service lacks.
pub(crate) fn classify(req: &Incoming) -> Option<Call> {
    let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let m = &req.method;
    let param = |name: &str| req.param(&[name]);
    let mut call = Call {
        kind: CallKind::ListLogstores,
        logstore: segments.get(1).map(|s| (*s).to_owned()),
        shard: None,
        group: None,
        consumer: param("consumer").map(str::to_owned),
        query: param("query").map(str::to_owned),
        processor: param("processor").map(str::to_owned),
    };
    call.kind = match segments.as_slice() {
        ["logstores"] if m == Method::GET => CallKind::ListLogstores,
        ["logstores"] if m == Method::POST => CallKind::CreateLogstore,
        ["logstores", _] if m == Method::GET => CallKind::GetLogstore,
        ["logstores", _] if m == Method::DELETE => CallKind::DeleteLogstore,
        ["logstores", _] if m == Method::POST => CallKind::PutLogs,
        ["logstores", _, "shards"] if m == Method::GET => CallKind::ListShards,
        ["logstores", _, "shards", "lb" | "route"] if m == Method::POST => CallKind::PutLogs,
        ["logstores", _, "shards", id] => {
            call.shard = Some(id.parse().ok()?);
            match (m, param("type"), param("action")) {
                (&Method::GET, Some("cursor"), _) => CallKind::GetCursor,
                (&Method::GET, Some("cursor_time"), _) => CallKind::GetCursorTime,
                (&Method::GET, Some("log" | "logs"), _) => CallKind::PullLogs,
                (&Method::POST, _, Some("split")) => CallKind::SplitShard,
                (&Method::POST, _, Some("merge")) => CallKind::MergeShard,
                _ => return None,
            }
        }
        ["logstores", _, "consumergroups"] if m == Method::GET => CallKind::ListConsumerGroups,
        ["logstores", _, "consumergroups"] if m == Method::POST => CallKind::CreateConsumerGroup,
        ["logstores", _, "consumergroups", group] => {
            call.group = Some((*group).to_owned());
            // GetCheckPoint names the shard in the query; UpdateCheckpoint
            // in its JSON body.
            call.shard = param("shard").and_then(|s| s.parse().ok()).or_else(|| {
                serde_json::from_slice::<serde_json::Value>(&req.body)
                    .ok()?
                    .get("shard")?
                    .as_u64()
                    .and_then(|s| u32::try_from(s).ok())
            });
            match (m, param("type")) {
                (&Method::PUT, _) => CallKind::UpdateConsumerGroup,
                (&Method::DELETE, _) => CallKind::DeleteConsumerGroup,
                (&Method::GET, _) => CallKind::GetCheckpoints,
                (&Method::POST, Some("heartbeat")) => CallKind::Heartbeat,
                (&Method::POST, Some("checkpoint")) => CallKind::UpdateCheckpoint,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(call)
}
