//! Which call a request makes: [`Route`], parsed once from the method, the
//! path and the query parameters that pick a call (`type`, `action`), then
//! matched to its handler: logstores in `logstores`, shards in `shards`,
//! PutLogs in `put`, PullLogs in `pull`, consumer groups in `groups`.
//!
//! Adding a call: a [`CallKind`], a [`Route`] variant, its arm in
//! [`Route::parse`] (or the helper of its path), [`Route::kind`] and
//! [`Route::handle`].

use http::Method;

use super::http::{Incoming, Reply};
use super::{Shared, groups, logstores, pull, put, shards};
use crate::call::{Call, CallKind};
use crate::error::ApiError;

/// A call the service answers, with the pieces of its path parsed: the
/// logstore, the shard id and the consumer group. The handler reads the
/// rest of the request (query and body) itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /logstores`
    ListLogstores,
    /// `POST /logstores`
    CreateLogstore,
    /// `GET /logstores/{logstore}`
    GetLogstore { logstore: String },
    /// `DELETE /logstores/{logstore}`
    DeleteLogstore { logstore: String },
    /// `GET /logstores/{logstore}/shards`
    ListShards { logstore: String },
    /// `POST .../shards/{shard}?action=split`
    SplitShard { logstore: String, shard: u32 },
    /// `POST .../shards/{shard}?action=merge`
    MergeShard { logstore: String, shard: u32 },
    /// `GET .../shards/{shard}?type=cursor`
    GetCursor { logstore: String, shard: u32 },
    /// `GET .../shards/{shard}?type=cursor_time`
    GetCursorTime { logstore: String, shard: u32 },
    /// `GET .../shards/{shard}?type=log` (or `logs`)
    PullLogs { logstore: String, shard: u32 },
    /// `POST /logstores/{logstore}`, `.../shards/lb` or `.../shards/route`
    PutLogs { logstore: String, to: PutTarget },
    /// `GET .../consumergroups`
    ListConsumerGroups { logstore: String },
    /// `POST .../consumergroups`
    CreateConsumerGroup { logstore: String },
    /// `PUT .../consumergroups/{group}`
    UpdateConsumerGroup { logstore: String, group: String },
    /// `DELETE .../consumergroups/{group}`
    DeleteConsumerGroup { logstore: String, group: String },
    /// `POST .../consumergroups/{group}?type=heartbeat`
    Heartbeat { logstore: String, group: String },
    /// `POST .../consumergroups/{group}?type=checkpoint`
    UpdateCheckpoint { logstore: String, group: String },
    /// `GET .../consumergroups/{group}`, for one shard with `?shard={id}`
    GetCheckpoints {
        logstore: String,
        group: String,
        shard: Result<Option<u32>, BadShardId>,
    },
}

/// Which shard PutLogs writes to, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutTarget {
    /// `POST /logstores/{logstore}` or `.../shards/lb`: one the server
    /// picks.
    AnyShard,
    /// `POST .../shards/route?key={hash}`: the one whose key range holds
    /// `key`.
    HashKey,
}

/// A `shard` query parameter that is no shard id: 400 `ParameterInvalid`
/// from the handler, so only once the request is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadShardId(String);

impl From<BadShardId> for ApiError {
    fn from(BadShardId(text): BadShardId) -> Self {
        Self::invalid(format!("shard {text:?} is not a number"))
    }
}

impl Route {
    /// The call of a request; `None` for paths and methods the service
    /// lacks (a shard id in the path that is not a `u32` among them).
    pub(crate) fn parse(req: &Incoming) -> Option<Self> {
        let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let m = &req.method;
        let logstore = |name: &str| name.to_owned();
        Some(match segments.as_slice() {
            ["logstores"] if m == Method::GET => Self::ListLogstores,
            ["logstores"] if m == Method::POST => Self::CreateLogstore,
            ["logstores", ls] if m == Method::GET => Self::GetLogstore {
                logstore: logstore(ls),
            },
            ["logstores", ls] if m == Method::DELETE => Self::DeleteLogstore {
                logstore: logstore(ls),
            },
            ["logstores", ls] if m == Method::POST => Self::PutLogs {
                logstore: logstore(ls),
                to: PutTarget::AnyShard,
            },
            ["logstores", ls, "shards"] if m == Method::GET => Self::ListShards {
                logstore: logstore(ls),
            },
            ["logstores", ls, "shards", "lb"] if m == Method::POST => Self::PutLogs {
                logstore: logstore(ls),
                to: PutTarget::AnyShard,
            },
            ["logstores", ls, "shards", "route"] if m == Method::POST => Self::PutLogs {
                logstore: logstore(ls),
                to: PutTarget::HashKey,
            },
            ["logstores", ls, "shards", id] => Self::on_shard(req, logstore(ls), id.parse().ok()?)?,
            ["logstores", ls, "consumergroups"] if m == Method::GET => Self::ListConsumerGroups {
                logstore: logstore(ls),
            },
            ["logstores", ls, "consumergroups"] if m == Method::POST => Self::CreateConsumerGroup {
                logstore: logstore(ls),
            },
            ["logstores", ls, "consumergroups", group] => {
                Self::on_group(req, logstore(ls), (*group).to_owned())?
            }
            _ => return None,
        })
    }

    /// The calls on `.../shards/{shard}`, told apart by method, `type`
    /// and `action`.
    fn on_shard(req: &Incoming, logstore: String, shard: u32) -> Option<Self> {
        let param = |name: &str| req.param(&[name]);
        Some(match (&req.method, param("type"), param("action")) {
            (&Method::GET, Some("cursor"), _) => Self::GetCursor { logstore, shard },
            (&Method::GET, Some("cursor_time"), _) => Self::GetCursorTime { logstore, shard },
            (&Method::GET, Some("log" | "logs"), _) => Self::PullLogs { logstore, shard },
            (&Method::POST, _, Some("split")) => Self::SplitShard { logstore, shard },
            (&Method::POST, _, Some("merge")) => Self::MergeShard { logstore, shard },
            _ => return None,
        })
    }

    /// The calls on `.../consumergroups/{group}`, told apart by method and
    /// `type`.
    fn on_group(req: &Incoming, logstore: String, group: String) -> Option<Self> {
        Some(match (&req.method, req.param(&["type"])) {
            (&Method::PUT, _) => Self::UpdateConsumerGroup { logstore, group },
            (&Method::DELETE, _) => Self::DeleteConsumerGroup { logstore, group },
            (&Method::GET, _) => Self::GetCheckpoints {
                logstore,
                group,
                shard: shard_param(req),
            },
            (&Method::POST, Some("heartbeat")) => Self::Heartbeat { logstore, group },
            (&Method::POST, Some("checkpoint")) => Self::UpdateCheckpoint { logstore, group },
            _ => return None,
        })
    }

    /// The API the route calls.
    pub(crate) fn kind(&self) -> CallKind {
        match self {
            Self::ListLogstores => CallKind::ListLogstores,
            Self::CreateLogstore => CallKind::CreateLogstore,
            Self::GetLogstore { .. } => CallKind::GetLogstore,
            Self::DeleteLogstore { .. } => CallKind::DeleteLogstore,
            Self::ListShards { .. } => CallKind::ListShards,
            Self::SplitShard { .. } => CallKind::SplitShard,
            Self::MergeShard { .. } => CallKind::MergeShard,
            Self::GetCursor { .. } => CallKind::GetCursor,
            Self::GetCursorTime { .. } => CallKind::GetCursorTime,
            Self::PullLogs { .. } => CallKind::PullLogs,
            Self::PutLogs { .. } => CallKind::PutLogs,
            Self::ListConsumerGroups { .. } => CallKind::ListConsumerGroups,
            Self::CreateConsumerGroup { .. } => CallKind::CreateConsumerGroup,
            Self::UpdateConsumerGroup { .. } => CallKind::UpdateConsumerGroup,
            Self::DeleteConsumerGroup { .. } => CallKind::DeleteConsumerGroup,
            Self::Heartbeat { .. } => CallKind::Heartbeat,
            Self::UpdateCheckpoint { .. } => CallKind::UpdateCheckpoint,
            Self::GetCheckpoints { .. } => CallKind::GetCheckpoints,
        }
    }

    /// What fault plans and the request log know of the request.
    pub(crate) fn call(&self, req: &Incoming) -> Call {
        let text = |name: &str| req.param(&[name]).map(str::to_owned);
        Call {
            kind: self.kind(),
            shard: self.shard(req),
            consumer: text("consumer"),
            query: text("query"),
            processor: text("processor"),
        }
    }

    /// The shard the request is about: the one in the path; for a call on
    /// a consumer group, the one its query names (GetCheckPoint) or else
    /// its JSON body (UpdateCheckpoint).
    fn shard(&self, req: &Incoming) -> Option<u32> {
        match self {
            Self::SplitShard { shard, .. }
            | Self::MergeShard { shard, .. }
            | Self::GetCursor { shard, .. }
            | Self::GetCursorTime { shard, .. }
            | Self::PullLogs { shard, .. } => Some(*shard),
            Self::GetCheckpoints { shard, .. } => {
                shard.clone().ok().flatten().or_else(|| body_shard(req))
            }
            Self::UpdateConsumerGroup { .. }
            | Self::DeleteConsumerGroup { .. }
            | Self::Heartbeat { .. }
            | Self::UpdateCheckpoint { .. } => {
                shard_param(req).ok().flatten().or_else(|| body_shard(req))
            }
            Self::ListLogstores
            | Self::CreateLogstore
            | Self::GetLogstore { .. }
            | Self::DeleteLogstore { .. }
            | Self::ListShards { .. }
            | Self::PutLogs { .. }
            | Self::ListConsumerGroups { .. }
            | Self::CreateConsumerGroup { .. } => None,
        }
    }

    /// Runs the route's handler on the (authenticated) request.
    pub(crate) fn handle(&self, shared: &Shared, req: &Incoming) -> Result<Reply, ApiError> {
        match self {
            Self::ListLogstores => logstores::list(shared, req),
            Self::CreateLogstore => logstores::create(shared, req),
            Self::GetLogstore { logstore } => logstores::get(shared, req, logstore),
            Self::DeleteLogstore { logstore } => logstores::delete(shared, req, logstore),
            Self::ListShards { logstore } => shards::list(shared, req, logstore),
            Self::SplitShard { logstore, shard } => shards::split(shared, req, logstore, *shard),
            Self::MergeShard { logstore, shard } => shards::merge(shared, req, logstore, *shard),
            Self::GetCursor { logstore, shard } => shards::cursor(shared, req, logstore, *shard),
            Self::GetCursorTime { logstore, shard } => {
                shards::cursor_time(shared, req, logstore, *shard)
            }
            Self::PullLogs { logstore, shard } => pull::pull_logs(shared, req, logstore, *shard),
            Self::PutLogs { logstore, to } => {
                let hash_key = match to {
                    PutTarget::AnyShard => None,
                    PutTarget::HashKey => Some(req.required("key")?),
                };
                put::put_logs(shared, req, logstore, hash_key)
            }
            Self::ListConsumerGroups { logstore } => groups::list(shared, req, logstore),
            Self::CreateConsumerGroup { logstore } => groups::create(shared, req, logstore),
            Self::UpdateConsumerGroup { logstore, group } => {
                groups::update(shared, req, logstore, group)
            }
            Self::DeleteConsumerGroup { logstore, group } => {
                groups::delete(shared, req, logstore, group)
            }
            Self::Heartbeat { logstore, group } => groups::heartbeat(shared, req, logstore, group),
            Self::UpdateCheckpoint { logstore, group } => {
                groups::update_checkpoint(shared, req, logstore, group)
            }
            Self::GetCheckpoints {
                logstore,
                group,
                shard,
            } => groups::checkpoints(shared, req, logstore, group, shard.clone()?),
        }
    }
}

/// The `shard` query parameter, if there is one.
fn shard_param(req: &Incoming) -> Result<Option<u32>, BadShardId> {
    req.param(&["shard"])
        .map(|text| text.parse().map_err(|_| BadShardId(text.to_owned())))
        .transpose()
}

/// The `shard` of a JSON body, read leniently (only to record it: the
/// handler parses the body itself).
fn body_shard(req: &Incoming) -> Option<u32> {
    serde_json::from_slice::<serde_json::Value>(&req.body)
        .ok()?
        .get("shard")?
        .as_u64()
        .and_then(|s| u32::try_from(s).ok())
}

/// The error of a path or method the service lacks.
pub(crate) fn no_such_api(req: &Incoming) -> ApiError {
    ApiError::new(
        404,
        "InvalidRequestURI",
        format!("no such API: {} {}", req.method, req.raw_path),
    )
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn request(method: &str, target: &str, body: &str) -> Incoming {
        let (parts, ()) = http::Request::builder()
            .method(method)
            .uri(target)
            .body(())
            .unwrap()
            .into_parts();
        Incoming::new(parts, Bytes::copy_from_slice(body.as_bytes()))
    }

    fn parse(method: &str, target: &str) -> Option<Route> {
        Route::parse(&request(method, target, ""))
    }

    fn app() -> String {
        "app".to_owned()
    }

    fn cg() -> String {
        "cg".to_owned()
    }

    fn assert_parses(cases: Vec<(&str, &str, Route)>) {
        for (method, target, route) in cases {
            assert_eq!(parse(method, target), Some(route), "{method} {target}");
        }
    }

    #[test]
    fn logstore_and_shard_calls_parse_with_their_path_pieces() {
        let shard = 3;
        assert_parses(vec![
            ("GET", "/logstores", Route::ListLogstores),
            ("POST", "/logstores", Route::CreateLogstore),
            (
                "GET",
                "/logstores/app",
                Route::GetLogstore { logstore: app() },
            ),
            (
                "DELETE",
                "/logstores/app",
                Route::DeleteLogstore { logstore: app() },
            ),
            (
                "GET",
                "/logstores/a%20b/shards",
                Route::ListShards {
                    logstore: "a b".into(),
                },
            ),
            (
                "POST",
                "/logstores/app/shards/3?action=split",
                Route::SplitShard {
                    logstore: app(),
                    shard,
                },
            ),
            (
                "POST",
                "/logstores/app/shards/3?action=merge",
                Route::MergeShard {
                    logstore: app(),
                    shard,
                },
            ),
            (
                "GET",
                "/logstores/app/shards/3?type=cursor",
                Route::GetCursor {
                    logstore: app(),
                    shard,
                },
            ),
            (
                "GET",
                "/logstores/app/shards/3?type=cursor_time",
                Route::GetCursorTime {
                    logstore: app(),
                    shard,
                },
            ),
            (
                "GET",
                "/logstores/app/shards/3?type=log",
                Route::PullLogs {
                    logstore: app(),
                    shard,
                },
            ),
            (
                "GET",
                "/logstores/app/shards/3?type=logs",
                Route::PullLogs {
                    logstore: app(),
                    shard,
                },
            ),
        ]);
    }

    #[test]
    fn put_logs_parses_on_its_three_paths() {
        let put = |logstore: &str, to| Route::PutLogs {
            logstore: logstore.to_owned(),
            to,
        };
        assert_parses(vec![
            ("POST", "/logstores/app", put("app", PutTarget::AnyShard)),
            (
                "POST",
                "/logstores/app/shards/lb",
                put("app", PutTarget::AnyShard),
            ),
            (
                "POST",
                "/logstores/app/shards/route?key=00",
                put("app", PutTarget::HashKey),
            ),
            (
                "POST",
                "/logstores/route",
                put("route", PutTarget::AnyShard),
            ),
            (
                "POST",
                "/logstores/route/shards/lb",
                put("route", PutTarget::AnyShard),
            ),
        ]);
    }

    #[test]
    fn consumer_group_calls_parse_with_their_path_pieces() {
        let checkpoints = |shard| Route::GetCheckpoints {
            logstore: app(),
            group: cg(),
            shard,
        };
        let bad = Err(BadShardId("two".into()));
        assert_parses(vec![
            (
                "GET",
                "/logstores/app/consumergroups",
                Route::ListConsumerGroups { logstore: app() },
            ),
            (
                "POST",
                "/logstores/app/consumergroups",
                Route::CreateConsumerGroup { logstore: app() },
            ),
            (
                "PUT",
                "/logstores/app/consumergroups/cg",
                Route::UpdateConsumerGroup {
                    logstore: app(),
                    group: cg(),
                },
            ),
            (
                "DELETE",
                "/logstores/app/consumergroups/cg",
                Route::DeleteConsumerGroup {
                    logstore: app(),
                    group: cg(),
                },
            ),
            (
                "POST",
                "/logstores/app/consumergroups/cg?type=heartbeat",
                Route::Heartbeat {
                    logstore: app(),
                    group: cg(),
                },
            ),
            (
                "POST",
                "/logstores/app/consumergroups/cg?type=checkpoint",
                Route::UpdateCheckpoint {
                    logstore: app(),
                    group: cg(),
                },
            ),
            (
                "GET",
                "/logstores/app/consumergroups/cg",
                checkpoints(Ok(None)),
            ),
            (
                "GET",
                "/logstores/app/consumergroups/cg?shard=2",
                checkpoints(Ok(Some(2))),
            ),
            (
                "GET",
                "/logstores/app/consumergroups/cg?shard=two",
                checkpoints(bad),
            ),
        ]);
    }

    #[test]
    fn paths_and_methods_the_service_lacks_do_not_parse() {
        for (method, target) in [
            ("GET", "/"),
            ("PUT", "/logstores"),
            ("PUT", "/logstores/app"),
            ("GET", "/logstores/app/shards/lb"),
            ("GET", "/logstores/app/shards/x?type=cursor"),
            ("GET", "/logstores/app/shards/-1?type=cursor"),
            ("GET", "/logstores/app/shards/4294967296?type=cursor"),
            ("GET", "/logstores/app/shards/0"),
            ("GET", "/logstores/app/shards/0?action=split"),
            ("POST", "/logstores/app/shards/0?type=log"),
            ("POST", "/logstores/app/consumergroups/cg"),
            ("GET", "/logstores/app/shards/0/more?type=log"),
            ("GET", "/projects"),
        ] {
            assert_eq!(parse(method, target), None, "{method} {target}");
        }
    }

    #[test]
    fn calls_record_their_shard_consumer_query_and_processor() {
        let call = |method: &str, target: &str, body: &str| {
            let req = request(method, target, body);
            Route::parse(&req).map(|route| route.call(&req))
        };
        let pull = call(
            "GET",
            "/logstores/app/shards/1?type=log&query=*%7Cwhere+a%3D1&processor=p",
            "",
        )
        .unwrap();
        assert_eq!(
            (
                pull.kind,
                pull.shard,
                pull.query.as_deref(),
                pull.processor.as_deref()
            ),
            (CallKind::PullLogs, Some(1), Some("*|where a=1"), Some("p"))
        );
        let checkpoint = call(
            "POST",
            "/logstores/app/consumergroups/cg?type=checkpoint&consumer=c1",
            r#"{"shard": 4, "checkpoint": "x"}"#,
        )
        .unwrap();
        assert_eq!(
            (
                checkpoint.kind,
                checkpoint.shard,
                checkpoint.consumer.as_deref()
            ),
            (CallKind::UpdateCheckpoint, Some(4), Some("c1"))
        );
        // A bad query shard is not recorded; the body's is.
        let get = call(
            "GET",
            "/logstores/app/consumergroups/cg?shard=x",
            r#"{"shard": 5}"#,
        );
        assert_eq!(get.unwrap().shard, Some(5));
        let put = call("POST", "/logstores/app/shards/lb?shard=1", "").unwrap();
        assert_eq!((put.kind, put.shard), (CallKind::PutLogs, None));
    }
}
