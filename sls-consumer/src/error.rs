//! The consumer's error type.

/// An error from a [`Processor`](crate::Processor).
pub type ProcessError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the worker could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// A call to the service failed in a way retries do not fix (auth, a
    /// missing project or logstore, a deleted group).
    #[error("service: {0}")]
    Service(#[from] sls_client::Error),
    /// The processor failed and the policy says stop.
    #[error("processor failed on shard {shard}: {source}")]
    Processor {
        /// The shard.
        shard: u32,
        /// What the processor returned.
        #[source]
        source: ProcessError,
    },
    /// A shard's call failed in a way no retry fixes (see the fate table
    /// in the crate docs): the worker stops rather than spin.
    #[error("shard {shard}: {call} failed: {source}")]
    ShardCall {
        /// The shard.
        shard: u32,
        /// The call, as the API reference names it.
        call: &'static str,
        /// The service's or the network's error.
        #[source]
        source: sls_client::Error,
    },
    /// The shard's position points into data dropped by retention and the
    /// policy is [`OnExpiredCursor::Stop`](crate::OnExpiredCursor::Stop).
    #[error(
        "shard {shard}: cursor {cursor} points into data dropped by retention (the oldest retained is {oldest})"
    )]
    CursorExpired {
        /// The shard.
        shard: u32,
        /// The dead cursor.
        cursor: sls_proto::Cursor,
        /// The oldest retained data.
        oldest: sls_proto::Cursor,
    },
    /// The service refuses a cursor that is within the retained data (a
    /// checkpoint written by another tool for another shard, say).
    #[error(
        "shard {shard}: the service refuses cursor {cursor}, which lies within the retained data ({oldest} to {newest})"
    )]
    CursorRefused {
        /// The shard.
        shard: u32,
        /// The refused cursor.
        cursor: sls_proto::Cursor,
        /// The oldest retained data.
        oldest: sls_proto::Cursor,
        /// The end of the shard.
        newest: sls_proto::Cursor,
    },
    /// One log group is larger than the whole memory budget, so it cannot
    /// be read; raise `max_buffered_bytes` above its size.
    #[error(
        "shard {shard}: the log group at {cursor} is {declared} bytes, over the whole memory budget of {budget} bytes; raise max_buffered_bytes"
    )]
    GroupOverBudget {
        /// The shard.
        shard: u32,
        /// Where the group is.
        cursor: sls_proto::Cursor,
        /// Its declared raw size.
        declared: u64,
        /// The budget.
        budget: u64,
    },
    /// The worker was already stopped.
    #[error("the worker is stopped")]
    Stopped,
}

/// The error a panic in a [`Processor`](crate::Processor) becomes: it goes
/// through the [`ErrorPolicy`](crate::ErrorPolicy) like a returned error.
/// Downcast a [`ProcessError`] to it to tell the two apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("processor panicked: {message}")]
pub struct ProcessorPanic {
    message: String,
}

impl ProcessorPanic {
    /// From a caught panic's payload (a `&str` or `String` message, as
    /// `panic!` makes; anything else reads as "unknown payload").
    pub(crate) fn from_payload(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown payload".to_owned());
        Self { message }
    }

    /// The panic's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}
