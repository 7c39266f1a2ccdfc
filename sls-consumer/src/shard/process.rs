//! Stage 3, process: the processor under the error policy. A panic in
//! `process` or in a hook is caught and treated as an error, with the
//! panic's message in the event; a shard task never dies of user code.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use sls_proto::Cursor;
use tokio::sync::watch;

use super::{Leave, ShardExit, ShardTask, Stop};
use crate::checkpoint::Checkpoint;
use crate::error::{ConsumerError, ProcessError, ProcessorPanic};
use crate::processor::{AfterRetries, Batch, CursorReset, Decision, ErrorPolicy, Processor};

/// How processing a batch ended.
pub(super) enum Outcome {
    Done(Decision),
    Leave(Leave),
}

/// Runs a processor's future, turning a panic into an error.
async fn caught<T>(future: impl Future<Output = T>) -> Result<T, ProcessorPanic> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| ProcessorPanic::from_payload(payload.as_ref()))
}

/// Runs a hook (or `seek`) of the processor, caught, unless the shard is
/// lost first: a hook that hangs must not keep a lost shard's task alive.
async fn hook<T>(
    stop: &watch::Receiver<Option<Stop>>,
    future: impl Future<Output = T>,
) -> Result<Result<T, ProcessorPanic>, Leave> {
    let mut lose = stop.clone();
    tokio::select! {
        result = caught(future) => Ok(result),
        () = lost(&mut lose) => Err(Leave::Stop(Stop::Lose)),
    }
}

/// Waits until the shard is lost.
async fn lost(stop: &mut watch::Receiver<Option<Stop>>) {
    if stop.wait_for(|s| *s == Some(Stop::Lose)).await.is_err() {
        // The worker is gone: treat as lost.
    }
}

impl<P: Processor> ShardTask<P> {
    /// Processes a batch under the error policy: retries wait with
    /// back-off; only a loss interrupts (a revoke or shutdown lets the
    /// batch finish).
    pub(super) async fn process(&mut self, batch: &Batch) -> Outcome {
        let mut policy: ErrorPolicy = self.settings.config.error_policy.clone();
        let mut failures = 0u32;
        loop {
            let settings = self.settings.clone();
            let mut checkpoint = Checkpoint {
                shard: self.shard,
                batch_next: batch.next_cursor,
                tracker: &mut self.tracker,
                calls: &self.calls,
                absorbed: 0,
            };
            let mut lose = self.stop.clone();
            let shard = self.shard;
            settings.metrics.processing(shard, true);
            let result = tokio::select! {
                result = caught(self.processor.process(batch, &mut checkpoint)) => result,
                () = lost(&mut lose) => {
                    settings.metrics.processing(shard, false);
                    return Outcome::Leave(Leave::Stop(Stop::Lose));
                }
            };
            settings.metrics.processing(shard, false);
            let absorbed = checkpoint.absorbed;
            let err: ProcessError = match result {
                Ok(Ok(decision)) => {
                    settings.metrics.update(shard, |m| {
                        m.failures_in_a_row = 0;
                        m.absorbed += absorbed;
                    });
                    return Outcome::Done(decision);
                }
                Ok(Err(err)) => err,
                Err(panic) => {
                    settings.metrics.update(shard, |m| m.panics += 1);
                    tracing::error!(shard, cursor = %batch.cursor, panic = %panic.message(), "processor panicked");
                    Box::new(panic)
                }
            };
            failures += 1;
            settings.metrics.update(shard, |m| {
                m.process_failures += 1;
                m.failures_in_a_row = m.failures_in_a_row.saturating_add(1);
            });
            tracing::warn!(shard, cursor = %batch.cursor, error = %err, failures, "processor failed");
            if failures > policy.retries {
                match policy.then {
                    AfterRetries::Skip => {
                        tracing::warn!(shard, cursor = %batch.cursor, next = %batch.next_cursor, logs = batch.log_count(), "skipping the batch after {failures} failures");
                        settings.metrics.update(shard, |m| {
                            m.batches_skipped += 1;
                        });
                        return Outcome::Done(Decision::Continue);
                    }
                    AfterRetries::Stop => {
                        return Outcome::Leave(Leave::Exit(ShardExit::Failed(
                            ConsumerError::Processor { shard, source: err },
                        )));
                    }
                    AfterRetries::KeepRetrying => {}
                }
            }
            let delay = policy.backoff.delay(failures);
            let mut lose = self.stop.clone();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = lost(&mut lose) => return Outcome::Leave(Leave::Stop(Stop::Lose)),
            }
        }
    }

    /// A hook's panic: logged and counted; under
    /// [`AfterRetries::Stop`] it stops the worker, otherwise the shard goes
    /// on (a hook has no batch to offer again).
    fn hook_panicked(&self, hook: &'static str, panic: ProcessorPanic) -> Result<(), Leave> {
        self.settings.metrics.update(self.shard, |m| m.panics += 1);
        tracing::error!(shard = self.shard, hook, panic = %panic.message(), "processor hook panicked");
        if self.settings.config.error_policy.then == AfterRetries::Stop {
            return Err(Leave::Exit(ShardExit::Failed(ConsumerError::Processor {
                shard: self.shard,
                source: Box::new(panic),
            })));
        }
        Ok(())
    }

    pub(super) async fn hook_assigned(&mut self) -> Result<(), Leave> {
        match hook(&self.stop, self.processor.on_assigned(self.shard)).await? {
            Ok(()) => Ok(()),
            Err(panic) => self.hook_panicked("on_assigned", panic),
        }
    }

    /// The processor's own start position ([`Processor::seek`]): its
    /// errors and panics are retried with the error policy's back-off
    /// (never falling back to another position), until it answers, the
    /// policy says stop, or the shard is lost.
    pub(super) async fn hook_seek(&mut self) -> Result<Option<Cursor>, Leave> {
        let mut policy: ErrorPolicy = self.settings.config.error_policy.clone();
        let mut failures = 0u32;
        loop {
            let err: ProcessError = match hook(&self.stop, self.processor.seek(self.shard)).await? {
                Ok(Ok(sought)) => {
                    self.settings
                        .metrics
                        .update(self.shard, |m| m.failures_in_a_row = 0);
                    return Ok(sought);
                }
                Ok(Err(err)) => err,
                Err(panic) => {
                    self.settings.metrics.update(self.shard, |m| m.panics += 1);
                    Box::new(panic)
                }
            };
            failures += 1;
            self.settings.metrics.update(self.shard, |m| {
                m.process_failures += 1;
                m.failures_in_a_row = m.failures_in_a_row.saturating_add(1);
            });
            tracing::warn!(shard = self.shard, error = %err, failures, "the processor could not say where to start");
            if failures > policy.retries && policy.then == AfterRetries::Stop {
                return Err(Leave::Exit(ShardExit::Failed(ConsumerError::Processor {
                    shard: self.shard,
                    source: err,
                })));
            }
            let delay = policy.backoff.delay(failures);
            let mut lose = self.stop.clone();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = lost(&mut lose) => return Err(Leave::Stop(Stop::Lose)),
            }
        }
    }

    pub(super) async fn hook_shard_end(&mut self) -> Result<(), Leave> {
        match hook(&self.stop, self.processor.on_shard_end(self.shard)).await? {
            Ok(()) => Ok(()),
            Err(panic) => self.hook_panicked("on_shard_end", panic),
        }
    }

    pub(super) async fn hook_cursor_reset(&mut self, reset: &CursorReset) -> Result<(), Leave> {
        match hook(&self.stop, self.processor.on_cursor_reset(reset)).await? {
            Ok(()) => Ok(()),
            Err(panic) => self.hook_panicked("on_cursor_reset", panic),
        }
    }

    /// Hooks on the way out: a panic is logged and counted, and the exit
    /// goes on as it was.
    pub(super) async fn hook_lost(&mut self) {
        if let Err(panic) = caught(self.processor.on_lost(self.shard)).await {
            let _ = self.hook_panicked("on_lost", panic);
        }
    }

    pub(super) async fn hook_revoked(&mut self) {
        if let Err(panic) = caught(self.processor.on_revoked(self.shard)).await {
            let _ = self.hook_panicked("on_revoked", panic);
        }
    }

    pub(super) async fn hook_shutdown(&mut self) {
        if let Err(panic) = caught(self.processor.shutdown()).await {
            let _ = self.hook_panicked("shutdown", panic);
        }
    }
}
