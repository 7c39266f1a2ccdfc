//! Every call the consumer makes to the service goes through here: the
//! shard tasks' calls ([`Calls`]: GetCheckPoint, GetCursor, PullLogs,
//! UpdateCheckPoint, ListShards, a processor's `save_now` included) and the
//! coordinator's ([`GroupCalls`]: ConsumerGroupHeartBeat, Create/Update/
//! ListConsumerGroup, ListShards, GetCursor, GetCursorTime, GetCheckPoint).
//!
//! This is the consumer's one retry layer. The client it wraps is a copy
//! of the user's with its own retries turned off ([`Target::new`]), so no
//! stop, lease expiry or deadline waits behind retries it cannot see.
//!
//! Composed in one place, outermost first:
//! 1. `UntilStopped` (shard calls): races the whole call, retries and
//!    back-off included, against the shard's stop signal (a revoke, a
//!    shutdown, or a loss, which is how the lease reaches a shard); what
//!    stops a call is said per call ([`AbortOn`]). Group calls are bounded
//!    by a deadline or a number of tries instead ([`policy::Bound`]).
//! 2. tower's `Retry` with [`FatePolicy`](policy::FatePolicy): transient
//!    errors are retried with capped back-off within the call's bound;
//!    every other error comes back at once with its [`Fate`](fate::Fate)
//!    for the caller to act on.
//! 3. `ClientService`: one attempt of the [`sls_client::Client`] call.
//!
//! # Layout
//! - `fate`: the classification table: each error's fate.
//! - `policy`: the retry policy.
//! - `stop`: [`Stop`] and [`AbortOn`].
//! - `group`: [`GroupCalls`], the coordinator's calls.

pub(crate) mod fate;
mod group;
pub(crate) mod policy;
mod stop;

pub(crate) use self::group::GroupCalls;
pub(crate) use self::stop::{AbortOn, Stop};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use std::time::Duration;

use sls_client::retry::RetryPolicy;
use sls_client::{
    Checkpoint as ServerCheckpoint, Client, ConsumerGroup, CursorPosition, PullLogsRequest,
    PullLogsResponse, Shard,
};
use sls_proto::Cursor;
use tokio::sync::watch;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

use self::fate::{CallKind, Fate};
use crate::metrics::Registry;

/// Where a group's checkpoints live, who this consumer is, and the client
/// that reaches them.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) client: Client,
    pub(crate) project: String,
    pub(crate) logstore: String,
    pub(crate) group: String,
    pub(crate) consumer: String,
    /// The worker's figures: every attempt is counted there.
    pub(crate) metrics: Arc<Registry>,
}

impl Target {
    /// A target reached through `client`, whose own retries are turned
    /// off: this module's policy is the consumer's only retry layer.
    pub(crate) fn new(
        client: &Client,
        project: &str,
        logstore: &str,
        group: &str,
        consumer: &str,
    ) -> Self {
        Self {
            client: client.with_retry_policy(RetryPolicy::never()),
            project: project.to_owned(),
            logstore: logstore.to_owned(),
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            metrics: Arc::new(Registry::new(crate::export::Series::new(
                project, logstore, group, consumer,
            ))),
        }
    }

    /// A target whose calls go nowhere (port 9): for processors tested
    /// without a worker.
    #[cfg(test)]
    pub(crate) fn unreachable() -> Self {
        let client = Client::builder("http://127.0.0.1:9")
            .build()
            .expect("a valid endpoint");
        Self::new(&client, "p", "l", "g", "c")
    }
}

/// One call of a shard task.
#[derive(Debug, Clone)]
pub(crate) struct ShardCall {
    op: Op,
    abort_on: AbortOn,
}

#[derive(Debug, Clone)]
enum Op {
    Checkpoints {
        shard: Option<u32>,
    },
    Cursor {
        shard: u32,
        position: CursorPosition,
    },
    Pull(PullLogsRequest),
    CursorTime {
        shard: u32,
        cursor: Cursor,
    },
    Commit {
        shard: u32,
        cursor: Cursor,
    },
    ListShards,
    Heartbeat {
        held: Vec<u32>,
    },
    CreateGroup(ConsumerGroup),
    UpdateGroup {
        timeout_s: u32,
        ordered: bool,
    },
    ListGroups,
}

impl ShardCall {
    fn kind(&self) -> CallKind {
        match self.op {
            Op::Checkpoints { .. } => CallKind::GetCheckpoint,
            Op::Cursor { .. } => CallKind::GetCursor,
            Op::Pull(_) => CallKind::PullLogs,
            Op::CursorTime { .. } => CallKind::GetCursorTime,
            Op::Commit { .. } => CallKind::UpdateCheckpoint,
            Op::ListShards => CallKind::ListShards,
            Op::Heartbeat { .. } => CallKind::Heartbeat,
            Op::CreateGroup(_) => CallKind::CreateConsumerGroup,
            Op::UpdateGroup { .. } => CallKind::UpdateConsumerGroup,
            Op::ListGroups => CallKind::ListConsumerGroups,
        }
    }
}

/// What a call returns.
#[derive(Debug)]
pub(crate) enum Reply {
    Checkpoints(Vec<ServerCheckpoint>),
    Cursor(Cursor),
    CursorTime(i64),
    Pulled(Box<PullLogsResponse>),
    Committed,
    Shards(Vec<Shard>),
    Assigned(Vec<u32>),
    Groups(Vec<ConsumerGroup>),
    Done,
}

/// Why a call did not return.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The shard was stopped first.
    Stopped(Stop),
    /// The service or the network said no, in a way retries do not fix.
    Failed {
        call: CallKind,
        fate: Fate,
        error: sls_client::Error,
    },
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The innermost service: one attempt of a client call, bounded by
/// `attempt_timeout` when set (the client's own attempt timeout bounds it
/// otherwise).
#[derive(Debug, Clone)]
struct ClientService {
    target: Arc<Target>,
    attempt_timeout: Option<Duration>,
}

impl Service<ShardCall> for ClientService {
    type Response = Reply;
    type Error = sls_client::Error;
    type Future = BoxFuture<Result<Reply, sls_client::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: ShardCall) -> Self::Future {
        let t = self.target.clone();
        let attempt_timeout = self.attempt_timeout;
        let kind = req.kind();
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            let call = attempt(&t, req.op);
            let result = match attempt_timeout {
                Some(limit) => tokio::time::timeout(limit, call)
                    .await
                    .unwrap_or(Err(sls_client::Error::Timeout(limit))),
                None => call.await,
            };
            t.metrics
                .series
                .call(kind, result.as_ref().err(), started.elapsed());
            result
        })
    }
}

/// One attempt of `op`.
async fn attempt(t: &Target, op: Op) -> Result<Reply, sls_client::Error> {
    let (c, p, l, g) = (&t.client, &t.project, &t.logstore, &t.group);
    Ok(match op {
        Op::Checkpoints { shard } => Reply::Checkpoints(c.get_checkpoints(p, l, g, shard).await?),
        Op::Cursor { shard, position } => Reply::Cursor(c.get_cursor(p, l, shard, position).await?),
        Op::CursorTime { shard, cursor } => {
            Reply::CursorTime(c.get_cursor_time(p, l, shard, cursor).await?)
        }
        Op::Pull(pull) => Reply::Pulled(Box::new(c.pull_logs(pull).await?)),
        Op::Commit { shard, cursor } => {
            let update = sls_client::CheckpointUpdate::new(shard, cursor);
            c.update_checkpoint(p, l, g, &t.consumer, update).await?;
            Reply::Committed
        }
        Op::ListShards => Reply::Shards(c.list_shards(p, l).await?),
        Op::Heartbeat { held } => Reply::Assigned(c.heartbeat(p, l, g, &t.consumer, &held).await?),
        Op::CreateGroup(group) => {
            c.create_consumer_group(p, l, &group).await?;
            Reply::Done
        }
        Op::UpdateGroup { timeout_s, ordered } => {
            c.update_consumer_group(p, l, g, Some(timeout_s), Some(ordered))
                .await?;
            Reply::Done
        }
        Op::ListGroups => Reply::Groups(c.list_consumer_groups(p, l).await?),
    })
}

/// The outermost service: the call, raced against the stop signal.
#[derive(Clone)]
struct UntilStopped<S> {
    inner: S,
    stop: watch::Receiver<Option<Stop>>,
}

impl<S> Service<ShardCall> for UntilStopped<S>
where
    S: Service<ShardCall, Response = Reply, Error = sls_client::Error> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Reply;
    type Error = CallError;
    type Future = BoxFuture<Result<Reply, CallError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|error| CallError::Failed {
                call: CallKind::ListShards,
                fate: Fate::Fatal,
                error,
            })
    }

    fn call(&mut self, req: ShardCall) -> Self::Future {
        let mut stop = self.stop.clone();
        let pending = self.stop.clone();
        let (call, abort_on) = (req.kind(), req.abort_on);
        let inner = self.inner.call(req);
        Box::pin(async move {
            tokio::select! {
                result = inner => result.map_err(|error| {
                    let fate = fate::fate(call, &error);
                    // The retry policy gives a transient error back once a
                    // stop that ends this call is pending: that is the
                    // stop, not a failure (found by the chaos run: a 503
                    // met during a shutdown stopped the worker).
                    let pending = *pending.borrow();
                    match (fate, pending) {
                        (Fate::Retry(_) | Fate::Wait, Some(s)) if abort_on.aborts(Some(s)) => {
                            CallError::Stopped(s)
                        }
                        _ => CallError::Failed { call, fate, error },
                    }
                }),
                stop = stop.wait_for(|s| abort_on.aborts(*s)) => {
                    // A closed channel means the worker is gone: a loss.
                    Err(CallError::Stopped(stop.ok().and_then(|s| *s).unwrap_or(Stop::Lose)))
                }
            }
        })
    }
}

/// A shard task's calls, through the stack described in the module docs.
#[derive(Clone)]
pub(crate) struct Calls {
    shard: u32,
    service: BoxCloneSyncService<ShardCall, Reply, CallError>,
    metrics: Arc<Registry>,
}

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calls").field("shard", &self.shard).finish()
    }
}

impl Calls {
    pub(crate) fn new(
        target: Arc<Target>,
        shard: u32,
        stop: watch::Receiver<Option<Stop>>,
        metrics: Arc<Registry>,
    ) -> Self {
        let policy = policy::FatePolicy::for_shard(shard, stop.clone(), metrics.clone());
        let retrying = ServiceBuilder::new()
            .layer(tower::retry::RetryLayer::new(policy))
            .service(ClientService {
                target,
                attempt_timeout: None,
            });
        let service = UntilStopped {
            inner: retrying,
            stop,
        };
        Self {
            shard,
            service: BoxCloneSyncService::new(service),
            metrics,
        }
    }

    /// Calls that go nowhere and are never stopped: for processors tested
    /// without a worker.
    #[cfg(test)]
    pub(crate) fn unreachable() -> Self {
        let (stop, stopped) = watch::channel(None);
        std::mem::forget(stop);
        Self::new(
            Arc::new(Target::unreachable()),
            0,
            stopped,
            Arc::new(Registry::default()),
        )
    }

    async fn send(&self, op: Op, abort_on: AbortOn) -> Result<Reply, CallError> {
        self.service
            .clone()
            .oneshot(ShardCall { op, abort_on })
            .await
    }

    /// This shard's checkpoint on the service, if one was ever committed.
    pub(crate) async fn checkpoint(&self) -> Result<Option<Cursor>, CallError> {
        let shard = self.shard;
        match self
            .send(Op::Checkpoints { shard: Some(shard) }, AbortOn::AnyStop)
            .await?
        {
            Reply::Checkpoints(all) => {
                Ok(all.iter().find(|c| c.shard == shard).and_then(|c| c.cursor))
            }
            other => Err(unexpected(CallKind::GetCheckpoint, other)),
        }
    }

    /// Every shard's checkpoint.
    pub(crate) async fn checkpoints(&self) -> Result<Vec<ServerCheckpoint>, CallError> {
        match self
            .send(Op::Checkpoints { shard: None }, AbortOn::AnyStop)
            .await?
        {
            Reply::Checkpoints(all) => Ok(all),
            other => Err(unexpected(CallKind::GetCheckpoint, other)),
        }
    }

    /// A cursor of `shard` (this one, or a parent).
    pub(crate) async fn cursor(
        &self,
        shard: u32,
        position: CursorPosition,
    ) -> Result<Cursor, CallError> {
        match self
            .send(Op::Cursor { shard, position }, AbortOn::AnyStop)
            .await?
        {
            Reply::Cursor(cursor) => Ok(cursor),
            other => Err(unexpected(CallKind::GetCursor, other)),
        }
    }

    /// A pull.
    pub(crate) async fn pull(&self, pull: PullLogsRequest) -> Result<PullLogsResponse, CallError> {
        match self.send(Op::Pull(pull), AbortOn::AnyStop).await? {
            Reply::Pulled(pulled) => Ok(*pulled),
            other => Err(unexpected(CallKind::PullLogs, other)),
        }
    }

    /// Commits `cursor` for this shard, checked against ownership.
    pub(crate) async fn commit(&self, cursor: Cursor, abort_on: AbortOn) -> Result<(), CallError> {
        let shard = self.shard;
        let result = match self.send(Op::Commit { shard, cursor }, abort_on).await {
            Ok(Reply::Committed) => Ok(()),
            Ok(other) => Err(unexpected(CallKind::UpdateCheckpoint, other)),
            Err(err) => Err(err),
        };
        self.metrics.series.commit(match &result {
            Ok(()) => "ok",
            Err(CallError::Failed {
                fate: Fate::Recover(fate::Recovery::NotOwner),
                ..
            }) => "not_owner",
            Err(CallError::Stopped(_)) => "stopped",
            Err(CallError::Failed { .. }) => "error",
        });
        result
    }

    /// The logstore's shards.
    pub(crate) async fn list_shards(&self) -> Result<Vec<Shard>, CallError> {
        match self.send(Op::ListShards, AbortOn::AnyStop).await? {
            Reply::Shards(shards) => Ok(shards),
            other => Err(unexpected(CallKind::ListShards, other)),
        }
    }
}

/// A reply of the wrong kind: impossible by construction, reported as a
/// fatal error rather than a panic.
fn unexpected(call: CallKind, reply: Reply) -> CallError {
    CallError::Failed {
        call,
        fate: Fate::Fatal,
        error: sls_client::Error::Response(format!("internal: {} got {reply:?}", call.name())),
    }
}
