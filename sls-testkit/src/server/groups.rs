//! Consumer groups (not yet served).

use super::Shared;
use super::http::{Incoming, Reply};
use crate::error::ApiError;

pub(crate) fn route(
    _shared: &Shared,
    _req: &Incoming,
    _logstore: &str,
    _rest: &[&str],
) -> Result<Reply, ApiError> {
    Err(ApiError::new(
        501,
        "NotImplemented",
        "consumer groups are not served yet by sls-testkit",
    ))
}
