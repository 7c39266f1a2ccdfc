//! Which API a request calls: the key of routing, fault plans and the
//! request log.

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

/// What fault plans and the request log know of a request: its API and
/// what it is about. Built by `server::routes::Route::call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) kind: CallKind,
    /// The shard in the path (or in a checkpoint's query or body).
    pub(crate) shard: Option<u32>,
    pub(crate) consumer: Option<String>,
    /// The SPL query of a pull.
    pub(crate) query: Option<String>,
    /// The consume processor a pull names.
    pub(crate) processor: Option<String>,
}
