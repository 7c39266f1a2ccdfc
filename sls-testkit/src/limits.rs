//! The service's documented limits on names and counts, as the fake
//! enforces them. The naming rules themselves live in
//! [`sls_client::names`], shared with the consumer's configuration.
//!
//! Sources (see also the crate docs):
//! - 30 consumer groups a logstore: the CreateConsumerGroup API reference
//!   ("You can create up to 30 consumer groups for a Logstore"; older
//!   pages said 10). The code, `ConsumerGroupQuotaExceed`, is the one the
//!   service's own docs and aliyun-log-python-sdk's consumer
//!   (`aliyun/log/consumer/consumer_client.py`, `conf_error`) name.
//! - 200 logstores and 400 shards a project (default quotas): the "Basic
//!   resource limits" page, which says a hard limit is answered with 403;
//!   the code, `ProjectQuotaExceed`, is the one the "Handle resource
//!   throttling errors" page gives for resource counts.
//! - A logstore's TTL is at least 1 day (the Logstore resource reference)
//!   and at most 3650 (the CreateLogstore API reference).
//!
//! Where the status is not documented we chose: 400 `ParameterInvalid` for
//! a refused name or value, 403 for a quota (the page above), including
//! `ConsumerGroupQuotaExceed`.

use sls_client::names::{self, NameKind};

use crate::error::ApiError;

/// Consumer groups a logstore holds at most.
pub(crate) const MAX_CONSUMER_GROUPS: usize = 30;
/// Logstores a project holds at most (the default quota).
pub(crate) const MAX_LOGSTORES: usize = 200;
/// Read-write shards a project holds at most (the default quota).
pub(crate) const MAX_PROJECT_SHARDS: usize = 400;
/// The longest retention, in days.
pub(crate) const MAX_TTL_DAYS: u32 = 3650;

/// Refuses a name the service would refuse, with 400 `ParameterInvalid`.
pub(crate) fn check_name(kind: NameKind, name: &str) -> Result<(), ApiError> {
    names::check(kind, name).map_err(|err| ApiError::invalid(err.to_string()))
}

/// Refuses a TTL outside 1..=3650 days.
pub(crate) fn check_ttl(ttl: u32) -> Result<(), ApiError> {
    if (1..=MAX_TTL_DAYS).contains(&ttl) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "ttl is 1 to {MAX_TTL_DAYS} days; got {ttl}"
        )))
    }
}

/// The error of a count past its quota.
pub(crate) fn quota(code: &'static str, what: &str, max: usize) -> ApiError {
    ApiError::new(403, code, format!("{what}: at most {max}"))
}
