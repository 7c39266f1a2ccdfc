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
    /// The worker was already stopped.
    #[error("the worker is stopped")]
    Stopped,
}
