//! A signed client for Alibaba Cloud Log Service (SLS, "LogHub").
//!
//! **Work in progress** (issue "sls-client"): credentials and request
//! signing are here; the transport, the typed calls and the retry layer are
//! not yet.
//!
//! # Layout
//! - `credentials`: [`Credentials`], the [`ProvideCredentials`] trait,
//!   [`StaticCredentials`], [`EnvCredentials`] and [`RefreshingCredentials`].
//! - `error`: [`Error`], [`ServerError`], [`RetryKind`] and the code lists
//!   that classify errors.
//! - [`retry`]: [`retry::RetryPolicy`] (a `tower::retry::Policy`) and
//!   [`retry::Backoff`].
//! - [`signing`]: v1 (HMAC-SHA1) and v4 (SLS4-HMAC-SHA256) request
//!   signatures as pure functions.

mod credentials;
mod error;
pub mod retry;
pub mod signing;

pub use credentials::{
    Credentials, CredentialsError, EnvCredentials, Environment, ProvideCredentials, ProvideFuture,
    RefreshingCredentials, StaticCredentials,
};
pub use error::{
    BoxError, Error, RetryKind, Sent, ServerError, THROTTLING_CODES, TRANSIENT_CODES, code_matches,
};
