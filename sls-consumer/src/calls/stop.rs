//! [`Stop`]: what the coordinator tells a shard task, and [`AbortOn`]:
//! which stops end a call of that task.

/// What the worker tells a shard task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Moving to another consumer: finish the batch, commit, exit.
    Revoke,
    /// Lost: exit at once, commit nothing.
    Lose,
    /// The worker stops: finish the batch, commit, exit.
    Shutdown,
}

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
