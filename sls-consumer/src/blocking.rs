//! Synchronous processors: [`BlockingProcessor`], and [`Blocking`], the
//! adapter that runs one on tokio's blocking pool as a [`Processor`].
//!
//! Code ported from the Go or Java consumers usually writes to its sink
//! with blocking calls (a JDBC-style driver, a file, a synchronous HTTP
//! client). Called straight from an async [`Processor`], such a call holds
//! a runtime worker thread for its whole length: on a current-thread
//! runtime every other shard (and the heartbeat) waits for it, and on a
//! multi-thread runtime a few slow shards take every worker. The adapter
//! moves each call to [`tokio::task::spawn_blocking`], so the shard's task
//! only awaits it and the runtime goes on driving the other shards.

use std::sync::{Arc, Mutex, MutexGuard};

use sls_proto::Cursor;

use crate::checkpoint::Checkpoint;
use crate::error::ProcessError;
use crate::processor::{Batch, CursorReset, Decision, Processor};

/// A consumer of one shard written with blocking code; run it with
/// [`Blocking`]. The same contract as [`Processor`] (one per held shard,
/// called from one place at a time), with plain methods: every one runs on
/// tokio's blocking pool, where blocking is allowed. Every hook but
/// [`BlockingProcessor::process`] has a no-op default.
///
/// ```
/// use sls_consumer::{Batch, BlockingCheckpoint, BlockingProcessor, Decision, ProcessError};
///
/// /// Appends every log's `message` to a file, with blocking writes.
/// struct FileSink(std::fs::File);
///
/// impl BlockingProcessor for FileSink {
///     fn process(
///         &mut self,
///         batch: &Batch,
///         _checkpoint: &mut BlockingCheckpoint,
///     ) -> Result<Decision, ProcessError> {
///         use std::io::Write;
///         for group in &batch.groups {
///             for log in group.logs() {
///                 if let Some(message) = log.get("message") {
///                     self.0.write_all(message)?;
///                     self.0.write_all(b"\n")?;
///                 }
///             }
///         }
///         self.0.sync_data()?;
///         Ok(Decision::Continue)
///     }
/// }
/// ```
pub trait BlockingProcessor: Send + 'static {
    /// Handles a batch; see [`Processor::process`]. A panic becomes a
    /// [`ProcessorPanic`](crate::ProcessorPanic) as it does for an async
    /// processor, and the same processor is offered the batch again.
    fn process(
        &mut self,
        batch: &Batch,
        checkpoint: &mut BlockingCheckpoint,
    ) -> Result<Decision, ProcessError>;

    /// See [`Processor::on_assigned`].
    fn on_assigned(&mut self, shard: u32) {
        let _ = shard;
    }

    /// See [`Processor::seek`].
    fn seek(&mut self, shard: u32) -> Result<Option<Cursor>, ProcessError> {
        let _ = shard;
        Ok(None)
    }

    /// See [`Processor::on_revoked`].
    fn on_revoked(&mut self, shard: u32) {
        let _ = shard;
    }

    /// See [`Processor::on_lost`].
    fn on_lost(&mut self, shard: u32) {
        let _ = shard;
    }

    /// See [`Processor::on_shard_end`].
    fn on_shard_end(&mut self, shard: u32) {
        let _ = shard;
    }

    /// See [`Processor::on_cursor_reset`].
    fn on_cursor_reset(&mut self, reset: &CursorReset) {
        let _ = reset;
    }

    /// See [`Processor::shutdown`].
    fn shutdown(&mut self) {}
}

/// The checkpoint handle a [`BlockingProcessor`] gets with each batch: a
/// plain value, since the call runs on another thread than the shard's
/// task. What it records is applied to the shard's [`Checkpoint`] as soon
/// as [`BlockingProcessor::process`] returns (whatever it returns, as with
/// [`Checkpoint::save`]).
///
/// There is no `save_now`: a commit is a call to the service, made by the
/// shard's task. A blocking processor that needs its position durable at
/// once stores it in its own sink ([`BlockingProcessor::seek`] reads it
/// back), or is written as an async [`Processor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingCheckpoint {
    committed: Option<Cursor>,
    saved: bool,
}

impl BlockingCheckpoint {
    /// The last committed cursor of the shard, when the batch was handed
    /// over.
    pub fn committed(&self) -> Option<Cursor> {
        self.committed
    }

    /// Marks this batch as done, to be committed at the next commit point
    /// (see [`Checkpoint::save`]).
    pub fn save(&mut self) {
        self.saved = true;
    }

    /// Whether [`BlockingCheckpoint::save`] was called.
    pub fn is_saved(&self) -> bool {
        self.saved
    }
}

/// Runs a [`BlockingProcessor`] as a [`Processor`]: each call goes to
/// [`tokio::task::spawn_blocking`], so a processor that blocks its thread
/// does not stall the runtime's other shards.
///
/// ```no_run
/// use sls_consumer::{Batch, Blocking, BlockingCheckpoint, BlockingProcessor};
/// use sls_consumer::{ConsumerConfig, Decision, ProcessError, Worker};
///
/// struct Printer;
///
/// impl BlockingProcessor for Printer {
///     fn process(&mut self, batch: &Batch, _: &mut BlockingCheckpoint)
///         -> Result<Decision, ProcessError> {
///         std::thread::sleep(std::time::Duration::from_millis(10)); // a slow sink
///         println!("shard {}: {} logs", batch.shard, batch.log_count());
///         Ok(Decision::Continue)
///     }
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = ConsumerConfig::builder("my-project", "my-logstore", "etl", "worker-1")
///     .endpoint("https://cn-hangzhou.log.aliyuncs.com")
///     .build()?;
/// let worker = Worker::start(config, |_shard| Blocking::new(Printer)).await?;
/// # worker.shutdown().await?;
/// # Ok(()) }
/// ```
///
/// Costs and limits, chosen here:
/// - Each call clones the [`Batch`] to hand it to the other thread. The
///   pulled bytes are shared, not copied (the view holds a reference
///   counted buffer); the clone copies the view's group index and the
///   group cursors, a few words a group.
/// - A blocking call cannot be interrupted. When the worker stops waiting
///   for it (the shard was lost, or a shutdown ran past the lease), the
///   call still runs to its end on its pool thread; the next call of the
///   same processor waits for it, so calls never overlap.
/// - tokio's blocking pool has 512 threads by default: one slow call per
///   shard fits many times over.
#[derive(Debug)]
pub struct Blocking<P> {
    /// Shared with the pool thread running the current call. A panic in a
    /// call poisons the lock; the next call clears it, as the processor
    /// is offered the batch again (the async contract).
    inner: Arc<Mutex<P>>,
}

impl<P: BlockingProcessor> Blocking<P> {
    /// Wraps a blocking processor.
    pub fn new(processor: P) -> Self {
        Self {
            inner: Arc::new(Mutex::new(processor)),
        }
    }

    /// Runs `call` with the processor on the blocking pool. A panic in it
    /// is resumed here, so the worker catches it as it catches an async
    /// processor's.
    async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&mut P) -> T + Send + 'static,
    ) -> Result<T, ProcessError> {
        let inner = self.inner.clone();
        let task = tokio::task::spawn_blocking(move || call(&mut lock(&inner)));
        match task.await {
            Ok(value) => Ok(value),
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            // The runtime is shutting down.
            Err(err) => Err(Box::new(err)),
        }
    }

    /// Runs a hook that returns nothing: only a cancelled call (the
    /// runtime shutting down) can fail it, and a hook has no error to
    /// report, so that is dropped.
    async fn hook(&self, call: impl FnOnce(&mut P) + Send + 'static) {
        let _ = self.run(call).await;
    }
}

/// Locks the processor, clearing the poison of an earlier call's panic.
fn lock<P>(inner: &Mutex<P>) -> MutexGuard<'_, P> {
    inner.lock().unwrap_or_else(|poisoned| {
        inner.clear_poison();
        poisoned.into_inner()
    })
}

impl<P: BlockingProcessor> Processor for Blocking<P> {
    async fn process(
        &mut self,
        batch: &Batch,
        checkpoint: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        let batch = batch.clone();
        let mut handle = BlockingCheckpoint {
            committed: checkpoint.committed(),
            saved: false,
        };
        let (result, handle) = self
            .run(move |processor| {
                let result = processor.process(&batch, &mut handle);
                (result, handle)
            })
            .await?;
        if handle.saved {
            checkpoint.save();
        }
        result
    }

    async fn on_assigned(&mut self, shard: u32) {
        self.hook(move |p| p.on_assigned(shard)).await;
    }

    async fn seek(&mut self, shard: u32) -> Result<Option<Cursor>, ProcessError> {
        self.run(move |p| p.seek(shard)).await?
    }

    async fn on_revoked(&mut self, shard: u32) {
        self.hook(move |p| p.on_revoked(shard)).await;
    }

    async fn on_lost(&mut self, shard: u32) {
        self.hook(move |p| p.on_lost(shard)).await;
    }

    async fn on_shard_end(&mut self, shard: u32) {
        self.hook(move |p| p.on_shard_end(shard)).await;
    }

    async fn on_cursor_reset(&mut self, reset: &CursorReset) {
        let reset = reset.clone();
        self.hook(move |p| p.on_cursor_reset(&reset)).await;
    }

    async fn shutdown(&mut self) {
        self.hook(BlockingProcessor::shutdown).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::thread::ThreadId;

    use bytes::Bytes;
    use sls_proto::LogGroupListView;

    use super::*;
    use crate::OnExpiredCursor;
    use crate::calls::Calls;
    use crate::checkpoint::Tracker;

    /// Records each call (name, argument) and the thread it ran on.
    #[derive(Default)]
    struct Recorder {
        calls: Arc<Mutex<Vec<(String, ThreadId)>>>,
        save: bool,
        seek_to: Option<Cursor>,
    }

    impl Recorder {
        fn record(&self, call: String) {
            let thread = std::thread::current().id();
            self.calls.lock().unwrap().push((call, thread));
        }
    }

    impl BlockingProcessor for Recorder {
        fn process(
            &mut self,
            batch: &Batch,
            checkpoint: &mut BlockingCheckpoint,
        ) -> Result<Decision, ProcessError> {
            self.record(format!(
                "process {} {:?}",
                batch.next_cursor.sequence(),
                checkpoint.committed().map(Cursor::sequence)
            ));
            if self.save {
                checkpoint.save();
            }
            if batch.shard == 9 {
                panic!("shard nine");
            }
            Ok(Decision::RollBack(batch.cursor))
        }

        fn on_assigned(&mut self, shard: u32) {
            self.record(format!("on_assigned {shard}"));
        }

        fn seek(&mut self, shard: u32) -> Result<Option<Cursor>, ProcessError> {
            self.record(format!("seek {shard}"));
            if shard == 7 {
                return Err("no position".into());
            }
            Ok(self.seek_to)
        }

        fn on_revoked(&mut self, shard: u32) {
            self.record(format!("on_revoked {shard}"));
        }

        fn on_lost(&mut self, shard: u32) {
            self.record(format!("on_lost {shard}"));
        }

        fn on_shard_end(&mut self, shard: u32) {
            self.record(format!("on_shard_end {shard}"));
        }

        fn on_cursor_reset(&mut self, reset: &CursorReset) {
            self.record(format!(
                "on_cursor_reset {} {}",
                reset.shard,
                reset.resumed.sequence()
            ));
        }

        fn shutdown(&mut self) {
            self.record("shutdown".to_owned());
        }
    }

    fn batch(shard: u32) -> Batch {
        Batch {
            shard,
            cursor: Cursor::from_sequence(10),
            next_cursor: Cursor::from_sequence(20),
            groups: LogGroupListView::decode(Bytes::new()).unwrap(),
            group_cursors: None,
            raw_size: 0,
        }
    }

    /// Calls `process` of `processor` with a fresh checkpoint whose
    /// committed cursor is 5; returns the outcome and what was saved.
    async fn process(
        processor: &mut Blocking<Recorder>,
        batch: &Batch,
    ) -> (Result<Decision, ProcessError>, Option<Cursor>) {
        let calls = Calls::unreachable();
        let mut tracker = Tracker {
            committed: Some(Cursor::from_sequence(5)),
            ..Tracker::default()
        };
        let mut checkpoint = Checkpoint::new(batch.shard, batch.next_cursor, &mut tracker, &calls);
        let result = processor.process(batch, &mut checkpoint).await;
        (result, tracker.saved)
    }

    #[tokio::test]
    async fn every_hook_maps_to_its_blocking_twin_off_the_runtime_thread() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut blocking = Blocking::new(Recorder {
            calls: calls.clone(),
            save: true,
            seek_to: Some(Cursor::from_sequence(3)),
        });
        blocking.on_assigned(1).await;
        assert_eq!(
            Processor::seek(&mut blocking, 1).await.unwrap(),
            Some(Cursor::from_sequence(3))
        );
        let err = Processor::seek(&mut blocking, 7).await.unwrap_err();
        assert_eq!(err.to_string(), "no position");
        let (result, saved) = process(&mut blocking, &batch(1)).await;
        assert_eq!(
            result.unwrap(),
            Decision::RollBack(Cursor::from_sequence(10)),
            "the decision comes back as returned"
        );
        assert_eq!(saved, Some(Cursor::from_sequence(20)), "save() is applied");
        blocking.on_revoked(1).await;
        blocking.on_lost(1).await;
        blocking.on_shard_end(1).await;
        let reset = CursorReset {
            shard: 1,
            dead: Cursor::from_sequence(1),
            resumed: Cursor::from_sequence(4),
            oldest: Cursor::from_sequence(4),
            policy: OnExpiredCursor::Oldest,
        };
        blocking.on_cursor_reset(&reset).await;
        Processor::shutdown(&mut blocking).await;

        let calls = calls.lock().unwrap().clone();
        let names: Vec<&str> = calls.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "on_assigned 1",
                "seek 1",
                "seek 7",
                "process 20 Some(5)",
                "on_revoked 1",
                "on_lost 1",
                "on_shard_end 1",
                "on_cursor_reset 1 4",
                "shutdown",
            ]
        );
        let runtime_thread = std::thread::current().id();
        assert!(
            calls.iter().all(|(_, thread)| *thread != runtime_thread),
            "every call ran on the blocking pool"
        );
    }

    #[tokio::test]
    async fn without_save_nothing_is_saved() {
        let mut blocking = Blocking::new(Recorder::default());
        let (result, saved) = process(&mut blocking, &batch(1)).await;
        assert!(result.is_ok());
        assert_eq!(saved, None);
    }

    #[tokio::test]
    async fn a_panic_is_resumed_on_the_shard_task_and_the_processor_survives_it() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut blocking = Blocking::new(Recorder {
            calls: calls.clone(),
            ..Recorder::default()
        });
        let panicked = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
            process(&mut blocking, &batch(9)),
        ))
        .await
        .unwrap_err();
        let panic = crate::ProcessorPanic::from_payload(panicked.as_ref());
        assert_eq!(panic.message(), "shard nine");
        // The lock the panic poisoned is cleared: the same processor
        // takes the next call.
        let (result, _) = process(&mut blocking, &batch(1)).await;
        assert!(result.is_ok());
        assert_eq!(calls.lock().unwrap().len(), 2);
    }
}
