//! [`EnvCredentials`]: the standard `ALIBABA_CLOUD_*` variables.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::{Credentials, CredentialsError, ProvideCredentials, ProvideFuture};

/// The AccessKey id variable.
const ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// The AccessKey secret variable.
const ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// The STS token variable (optional).
const SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// Where environment variables are read from: the process, or a map in
/// tests.
pub trait Environment: Send + Sync + 'static {
    /// The value of `key`, if set.
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Environment for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

/// Credentials from `ALIBABA_CLOUD_ACCESS_KEY_ID`,
/// `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and, for STS keys,
/// `ALIBABA_CLOUD_SECURITY_TOKEN`, read on every call so that rotated
/// values are picked up.
#[derive(Clone)]
pub struct EnvCredentials {
    env: Arc<dyn Environment>,
}

impl EnvCredentials {
    /// Reads the process environment.
    pub fn new() -> Self {
        Self::with_environment(ProcessEnvironment)
    }

    /// Reads `env` instead of the process environment.
    pub fn with_environment(env: impl Environment) -> Self {
        Self { env: Arc::new(env) }
    }

    /// Reads the variables now.
    pub fn load(&self) -> Result<Credentials, CredentialsError> {
        let get = |key: &'static str| {
            self.env
                .get(key)
                .filter(|value| !value.is_empty())
                .ok_or(CredentialsError::MissingVariable(key))
        };
        let credentials = Credentials::new(get(ACCESS_KEY_ID)?, get(ACCESS_KEY_SECRET)?);
        Ok(match get(SECURITY_TOKEN) {
            Ok(token) => credentials.with_security_token(token),
            Err(_) => credentials,
        })
    }
}

impl Default for EnvCredentials {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for EnvCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvCredentials").finish_non_exhaustive()
    }
}

impl ProvideCredentials for EnvCredentials {
    fn provide(&self) -> ProvideFuture<'_> {
        ProvideFuture::ready(self.load())
    }

    /// The variables are read on every call, so they may have changed.
    fn invalidate(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn reads_the_standard_variables() {
        let provider = EnvCredentials::with_environment(env(&[
            (ACCESS_KEY_ID, "id"),
            (ACCESS_KEY_SECRET, "secret"),
        ]));
        let c = provider.provide().await.unwrap();
        assert_eq!((c.access_key_id(), c.access_key_secret()), ("id", "secret"));
        assert_eq!(c.security_token(), None);

        let provider = EnvCredentials::with_environment(env(&[
            (ACCESS_KEY_ID, "id"),
            (ACCESS_KEY_SECRET, "secret"),
            (SECURITY_TOKEN, "token"),
        ]));
        assert_eq!(provider.load().unwrap().security_token(), Some("token"));
    }

    #[test]
    fn missing_or_empty_variables_are_named() {
        let provider = EnvCredentials::with_environment(env(&[(ACCESS_KEY_ID, "id")]));
        assert_eq!(
            provider.load().unwrap_err(),
            CredentialsError::MissingVariable(ACCESS_KEY_SECRET)
        );
        let provider = EnvCredentials::with_environment(env(&[
            (ACCESS_KEY_ID, ""),
            (ACCESS_KEY_SECRET, "secret"),
        ]));
        assert_eq!(
            provider.load().unwrap_err(),
            CredentialsError::MissingVariable(ACCESS_KEY_ID)
        );
        assert!(!format!("{provider:?}").contains("secret"));
    }
}
