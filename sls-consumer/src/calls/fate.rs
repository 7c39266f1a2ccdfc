//! Every error a consumer's call can meet, and its fate: retried with
//! back-off, recovered by a specific action, or fatal.
//!
//! Classification is kept apart from the mechanics (the retry policy in
//! `policy.rs`, the actions in the shard stages): the code lists below are
//! the single place that decides what happens to each error.
//!
//! | error | calls | fate |
//! |---|---|---|
//! | transport failure, timeout, 5xx, `ServerBusy`, `RequestTimeout`, a body garbled in transit | all | [`Fate::Retry`]: back off (100 ms doubling to 30 s, full jitter) and try again until it works or the shard is stopped |
//! | `ReadQuotaExceed`, `ShardReadQuotaExceed` | PullLogs | [`Fate::Recover`] with [`Recovery::Pace`]: the shard paces its pulls to the quota (`shard/pace.rs`) and tries again, forever; never a failure, never a retry the metrics count as one |
//! | `ReadQuotaExceed`, `ShardReadQuotaExceed`, `WriteQuotaExceed`, `ShardWriteQuotaExceed` | other calls | [`Fate::Retry`], throttled: 1 s doubling to 60 s |
//! | `ConsumerGroupNotExist` | shard calls | [`Fate::Wait`]: the coordinator owns it (recreates the group or stops the worker); the shard backs off meanwhile |
//! | `ConsumerGroupNotExist` | ConsumerGroupHeartBeat | [`Fate::Recover`] with [`Recovery::GroupGone`]: recreate the group or stop, as [`OnGroupDeleted`](crate::OnGroupDeleted) says |
//! | `NotExistConsumerWithBody` | ConsumerGroupHeartBeat | [`Fate::Recover`] with [`Recovery::Forgotten`]: the service dropped this consumer, so every shard it held is lost |
//! | `ConsumerGroupAlreadyExist` | CreateConsumerGroup | [`Fate::Recover`] with [`Recovery::GroupExists`]: update the group instead |
//! | [`Error::TooLarge`](sls_client::Error::TooLarge) | PullLogs | [`Fate::Recover`] with [`Recovery::SmallerPull`] |
//! | `InvalidCursor` | PullLogs, GetCursorTime | [`Fate::Recover`] with [`Recovery::CheckCursor`]: expired → the [`OnExpiredCursor`](crate::OnExpiredCursor) policy, otherwise fatal |
//! | `ConsumerNotMatch`, `ConsumerNotExist` | UpdateCheckpoint | [`Fate::Recover`] with [`Recovery::NotOwner`]: the shard was lost |
//! | `InvalidShardCheckPoint` | UpdateCheckpoint | [`Fate::Recover`] with [`Recovery::CheckCommit`]: a position retention dropped is not committed (the next pull resets it), otherwise fatal |
//! | an error answer without the service's JSON (no code: a proxy's page, a body cut short) | all | [`Fate::Retry`], at most [`UNDECODABLE_ATTEMPTS`](super::policy::UNDECODABLE_ATTEMPTS) times |
//! | bad keys (`SignatureNotMatch`, `InvalidAccessKeyId`, `Unauthorized`, `SecurityTokenExpired`) after the client's one credential refresh, `ProjectNotExist`, `LogStoreNotExist`, `ShardNotExist`, `ParameterInvalid`, any other error no retry fixes | all | [`Fate::Fatal`]: the worker stops with the error ([`Worker::stopped`](crate::Worker::stopped); [`Worker::shutdown`](crate::Worker::shutdown) returns it) |
//!
//! Nothing permanent is retried forever: an error not listed as transient
//! is fatal unless a recovery is named for it.

use sls_client::{Error, ErrorCode, RetryKind};

/// Which call failed: the fate of some codes depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    GetCheckpoint,
    GetCursor,
    PullLogs,
    UpdateCheckpoint,
    ListShards,
    GetCursorTime,
    Heartbeat,
    CreateConsumerGroup,
    UpdateConsumerGroup,
    ListConsumerGroups,
}

impl CallKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::GetCheckpoint => "GetCheckPoint",
            Self::GetCursor => "GetCursor",
            Self::PullLogs => "PullLogs",
            Self::UpdateCheckpoint => "UpdateCheckPoint",
            Self::ListShards => "ListShards",
            Self::GetCursorTime => "GetCursorTime",
            Self::Heartbeat => "ConsumerGroupHeartBeat",
            Self::CreateConsumerGroup => "CreateConsumerGroup",
            Self::UpdateConsumerGroup => "UpdateConsumerGroup",
            Self::ListConsumerGroups => "ListConsumerGroup",
        }
    }
}

/// What happens to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Transient: the same request is sent again after a back-off.
    Retry(RetryKind),
    /// Another part of the worker owns the fix (the heartbeat loop
    /// recreates a deleted group, or stops the worker): back off and retry.
    Wait,
    /// A specific action of the calling stage fixes it.
    Recover(Recovery),
    /// Nothing the consumer can do: the worker stops with the error.
    Fatal,
}

/// The actions that recover from a permanent error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// The pull's answer was too large: ask for fewer groups.
    SmallerPull,
    /// The pull met the service's read quota: pace the shard's pulls to
    /// it and pull again.
    Pace,
    /// The service refuses the cursor: find out whether it points into
    /// data dropped by retention.
    CheckCursor,
    /// The commit was refused because another consumer owns the shard.
    NotOwner,
    /// The commit was refused for its cursor: find out whether retention
    /// dropped the data under it.
    CheckCommit,
    /// The heartbeat found the group deleted: recreate it or stop.
    GroupGone,
    /// The service no longer knows this consumer: what it held is lost.
    Forgotten,
    /// The group to create exists: update it instead.
    GroupExists,
}

/// Whether `err` is an answer that could not be read: a body garbled in
/// transit, or an error answer without the service's JSON (a proxy's
/// page, a cut-off body). Retried, but not forever
/// ([`UNDECODABLE_ATTEMPTS`](super::policy::UNDECODABLE_ATTEMPTS)).
pub(crate) fn is_garbled(err: &Error) -> bool {
    match err {
        Error::Codec(_) | Error::Decode(_) => true,
        Error::Server(server) => server.code().is_empty(),
        _ => false,
    }
}

/// The fate of `err` met by `call`: the table in the module docs, as one
/// match on the typed error code.
pub(crate) fn fate(call: CallKind, err: &Error) -> Fate {
    use CallKind as C;
    use ErrorCode as E;
    let read_quota = matches!(
        err.error_code(),
        Some(E::ReadQuotaExceed | E::ShardReadQuotaExceed)
    );
    if call == C::PullLogs && read_quota {
        return Fate::Recover(Recovery::Pace);
    }
    if let Some(kind) = err.retry_kind() {
        return Fate::Retry(kind);
    }
    if is_garbled(err) {
        return Fate::Retry(RetryKind::Transient);
    }
    if matches!(err, Error::TooLarge { .. }) && call == C::PullLogs {
        return Fate::Recover(Recovery::SmallerPull);
    }
    let Some(code) = err.error_code() else {
        return Fate::Fatal;
    };
    match (call, code) {
        (C::Heartbeat, E::ConsumerGroupNotExist) => Fate::Recover(Recovery::GroupGone),
        (C::Heartbeat, E::NotExistConsumerWithBody) => Fate::Recover(Recovery::Forgotten),
        // Anything else no retry fixes would let the lease run out every
        // round while the worker looks alive.
        (C::Heartbeat, _) => Fate::Fatal,
        (C::CreateConsumerGroup, E::ConsumerGroupAlreadyExist) => {
            Fate::Recover(Recovery::GroupExists)
        }
        (_, E::ConsumerGroupNotExist) => Fate::Wait,
        (C::PullLogs, E::InvalidCursor) => Fate::Recover(Recovery::CheckCursor),
        (C::UpdateCheckpoint, E::ConsumerNotMatch | E::ConsumerNotExist) => {
            Fate::Recover(Recovery::NotOwner)
        }
        (C::UpdateCheckpoint, E::InvalidShardCheckPoint) => Fate::Recover(Recovery::CheckCommit),
        _ => Fate::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use sls_client::ServerError;

    use super::*;

    fn server(status: u16, code: &str) -> Error {
        Error::from(ServerError::new(status, code, "", None))
    }

    #[test]
    fn every_documented_pull_error_has_a_fate() {
        use CallKind::PullLogs as P;
        let cases: &[(u16, &str, Fate)] = &[
            (500, "InternalServerError", Fate::Retry(RetryKind::Server)),
            (500, "RequestTimeout", Fate::Retry(RetryKind::Server)),
            (503, "ServerBusy", Fate::Retry(RetryKind::Server)),
            (403, "ReadQuotaExceed", Fate::Recover(Recovery::Pace)),
            (403, "ShardReadQuotaExceed", Fate::Recover(Recovery::Pace)),
            (400, "InvalidCursor", Fate::Recover(Recovery::CheckCursor)),
            (404, "ConsumerGroupNotExist", Fate::Wait),
            (400, "ParameterInvalid", Fate::Fatal),
            (401, "SignatureNotMatch", Fate::Fatal),
            (401, "Unauthorized", Fate::Fatal),
            (401, "InvalidAccessKeyId", Fate::Fatal),
            (401, "SecurityTokenExpired", Fate::Fatal),
            (404, "ProjectNotExist", Fate::Fatal),
            (404, "LogStoreNotExist", Fate::Fatal),
            (404, "ShardNotExist", Fate::Fatal),
            (404, "ShardNotExsit", Fate::Fatal),
            (400, "SomethingNew", Fate::Fatal),
            (400, "", Fate::Retry(RetryKind::Transient)),
        ];
        for (status, code, expected) in cases {
            assert_eq!(fate(P, &server(*status, code)), *expected, "{code}");
        }
        let too_large = Error::TooLarge {
            declared: 2,
            limit: 1,
            groups: Some(2),
        };
        assert_eq!(fate(P, &too_large), Fate::Recover(Recovery::SmallerPull));
        assert_eq!(fate(CallKind::GetCursor, &too_large), Fate::Fatal);
    }

    #[test]
    fn every_quota_code_has_its_fate_on_every_call() {
        let calls = [
            CallKind::GetCheckpoint,
            CallKind::GetCursor,
            CallKind::PullLogs,
            CallKind::UpdateCheckpoint,
            CallKind::ListShards,
            CallKind::GetCursorTime,
            CallKind::Heartbeat,
            CallKind::CreateConsumerGroup,
            CallKind::UpdateConsumerGroup,
            CallKind::ListConsumerGroups,
        ];
        let throttled = Fate::Retry(RetryKind::Throttling);
        for code in [
            "ReadQuotaExceed",
            "ShardReadQuotaExceed",
            "WriteQuotaExceed",
            "ShardWriteQuotaExceed",
        ] {
            for call in calls {
                let read = code.contains("Read");
                let expected = match call {
                    CallKind::PullLogs if read => Fate::Recover(Recovery::Pace),
                    _ => throttled,
                };
                assert_eq!(
                    fate(call, &server(403, code)),
                    expected,
                    "{code} on {call:?}"
                );
                // Codes are matched whatever their case.
                let shouted = server(403, &code.to_ascii_uppercase());
                assert_eq!(fate(call, &shouted), expected, "{code} on {call:?}");
            }
        }
    }

    #[test]
    fn ownership_refusals_recover_only_on_commits() {
        for code in ["ConsumerNotMatch", "ConsumerNotExist", "ConsumerNotExsit"] {
            assert_eq!(fate(CallKind::Heartbeat, &server(400, code)), Fate::Fatal);
            assert_eq!(
                fate(CallKind::UpdateCheckpoint, &server(400, code)),
                Fate::Recover(Recovery::NotOwner)
            );
            assert_eq!(fate(CallKind::PullLogs, &server(400, code)), Fate::Fatal);
        }
    }

    #[test]
    fn a_refused_checkpoint_is_checked_on_commits_only() {
        let refused = server(400, "InvalidShardCheckPoint");
        assert_eq!(
            fate(CallKind::UpdateCheckpoint, &refused),
            Fate::Recover(Recovery::CheckCommit)
        );
        assert_eq!(fate(CallKind::PullLogs, &refused), Fate::Fatal);
    }

    #[test]
    fn heartbeats_retry_only_what_is_transient() {
        use CallKind::Heartbeat as H;
        assert_eq!(
            fate(H, &server(503, "ServerBusy")),
            Fate::Retry(RetryKind::Server)
        );
        assert_eq!(fate(H, &server(401, "Unauthorized")), Fate::Fatal);
        assert_eq!(fate(H, &server(400, "ParameterInvalid")), Fate::Fatal);
        assert_eq!(
            fate(H, &server(404, "ConsumerGroupNotExist")),
            Fate::Recover(Recovery::GroupGone)
        );
        assert_eq!(
            fate(H, &server(400, "NotExistConsumerWithBody")),
            Fate::Recover(Recovery::Forgotten)
        );
        // A group that exists is only a recovery when creating one.
        let exists = server(400, "ConsumerGroupAlreadyExist");
        assert_eq!(
            fate(CallKind::CreateConsumerGroup, &exists),
            Fate::Recover(Recovery::GroupExists)
        );
        assert_eq!(fate(CallKind::UpdateConsumerGroup, &exists), Fate::Fatal);
    }

    #[test]
    fn transport_failures_and_garbled_bodies_are_transient() {
        let reset = Error::Transport {
            sent: sls_client::Sent::Maybe,
            source: "reset".into(),
        };
        assert_eq!(
            fate(CallKind::PullLogs, &reset),
            Fate::Retry(RetryKind::Transient)
        );
        let garbled = Error::Response("truncated".into());
        assert_eq!(
            fate(CallKind::GetCheckpoint, &garbled),
            Fate::Retry(RetryKind::Transient)
        );
    }
}
