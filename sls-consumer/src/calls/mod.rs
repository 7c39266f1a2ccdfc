//! The consumer's own service stack around the client, for the calls a
//! shard task makes (GetCheckPoint, GetCursor, PullLogs, UpdateCheckPoint,
//! ListShards).
//!
//! Composed in one place ([`Calls::new`]), outermost first:
//! 1. `UntilStopped`: races the whole call, retries and back-off
//!    included, against the shard's stop signal (a revoke, a shutdown, or
//!    a loss, which is how the lease reaches a shard); what stops a call is
//!    said per call ([`AbortOn`]).
//! 2. tower's `Retry` with [`FatePolicy`](policy::FatePolicy): transient
//!    errors are retried with capped back-off for as long as the shard
//!    runs; every other error comes back at once with its
//!    [`Fate`](fate::Fate) for the calling stage to act on.
//! 3. `ClientService`: the [`sls_client::Client`] call itself (which has
//!    its own short retry policy for blips inside one call).
//!
//! # Layout
//! - `fate`: the classification table: each error's fate.
//! - `policy`: the retry policy.

pub(crate) mod fate;
pub(crate) mod policy;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use sls_client::{
    Checkpoint as ServerCheckpoint, CursorPosition, PullLogsRequest, PullLogsResponse, Shard,
};
use sls_proto::Cursor;
use tokio::sync::watch;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

use self::fate::{CallKind, Fate};
use crate::checkpoint::Target;
use crate::metrics::Registry;
use crate::shard::Stop;

/// Which stops end a call (and its retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AbortOn {
    /// Any stop: the shard is leaving, this call is not needed any more.
    AnyStop,
    /// Only a loss: the closing commit of a revoke or shutdown must go on
    /// (bounded by the shutdown timeout), but a shard that is not ours
    /// any more must not commit.
    Loss,
}

impl AbortOn {
    pub(crate) fn aborts(self, stop: Option<Stop>) -> bool {
        match (self, stop) {
            (_, None) => false,
            (Self::AnyStop, Some(_)) => true,
            (Self::Loss, Some(stop)) => stop == Stop::Lose,
        }
    }
}

/// A call that keeps failing, as [`ShardMetrics::retrying`](crate::ShardMetrics::retrying)
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retrying {
    /// The call, as the API reference names it (`PullLogs`, ...).
    pub call: &'static str,
    /// The last error.
    pub error: String,
    /// Retries so far.
    pub attempts: u32,
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
    Commit {
        shard: u32,
        cursor: Cursor,
    },
    ListShards,
}

impl ShardCall {
    fn kind(&self) -> CallKind {
        match self.op {
            Op::Checkpoints { .. } => CallKind::GetCheckpoint,
            Op::Cursor { .. } => CallKind::GetCursor,
            Op::Pull(_) => CallKind::PullLogs,
            Op::Commit { .. } => CallKind::UpdateCheckpoint,
            Op::ListShards => CallKind::ListShards,
        }
    }
}

/// What a call returns.
#[derive(Debug)]
pub(crate) enum Reply {
    Checkpoints(Vec<ServerCheckpoint>),
    Cursor(Cursor),
    Pulled(Box<PullLogsResponse>),
    Committed,
    Shards(Vec<Shard>),
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

/// The innermost service: one client call.
#[derive(Debug, Clone)]
struct ClientService {
    target: Arc<Target>,
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
        Box::pin(async move {
            let (p, l) = (&t.project, &t.logstore);
            Ok(match req.op {
                Op::Checkpoints { shard } => {
                    Reply::Checkpoints(t.client.get_checkpoints(p, l, &t.group, shard).await?)
                }
                Op::Cursor { shard, position } => {
                    Reply::Cursor(t.client.get_cursor(p, l, shard, position).await?)
                }
                Op::Pull(pull) => Reply::Pulled(Box::new(t.client.pull_logs(pull).await?)),
                Op::Commit { shard, cursor } => {
                    let update = sls_client::CheckpointUpdate::new(shard, cursor);
                    t.client
                        .update_checkpoint(p, l, &t.group, &t.consumer, update)
                        .await?;
                    Reply::Committed
                }
                Op::ListShards => Reply::Shards(t.client.list_shards(p, l).await?),
            })
        })
    }
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
        let (call, abort_on) = (req.kind(), req.abort_on);
        let inner = self.inner.call(req);
        Box::pin(async move {
            tokio::select! {
                result = inner => result.map_err(|error| CallError::Failed {
                    call,
                    fate: fate::fate(call, &error),
                    error,
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
        let policy = policy::FatePolicy::new(shard, stop.clone(), metrics);
        let retrying = ServiceBuilder::new()
            .layer(tower::retry::RetryLayer::new(policy))
            .service(ClientService { target });
        let service = UntilStopped {
            inner: retrying,
            stop,
        };
        Self {
            shard,
            service: BoxCloneSyncService::new(service),
        }
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
        match self.send(Op::Commit { shard, cursor }, abort_on).await? {
            Reply::Committed => Ok(()),
            other => Err(unexpected(CallKind::UpdateCheckpoint, other)),
        }
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
