//! Retries as a `tower::retry::Policy`: which failures to retry comes from
//! [`Error::retry_kind`](crate::Error::retry_kind) and
//! [`Error::request_sent`](crate::Error::request_sent); how (attempt limit,
//! back-off, budget) lives here. The consumer reuses this policy.
//!
//! # Layout
//! - `backoff`: [`Backoff`], exponential with full jitter.
//! - `policy`: [`RetryPolicy`] and [`Idempotent`].

mod backoff;
mod policy;

pub use self::backoff::Backoff;
pub use self::policy::{Classify, Idempotent, RetryPolicy};
