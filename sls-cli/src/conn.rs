//! The connection: a client of the endpoint, and the project and
//! logstore the commands work on.

use sls_client::signing::SignatureVersion;
use sls_client::{Client, EnvCredentials};

use crate::cli::{Global, SignatureVersionArg};
use crate::error::CliError;

/// Where the commands send their calls.
#[derive(Debug)]
pub(crate) struct Target {
    /// The signed client.
    pub(crate) client: Client,
    /// The project.
    pub(crate) project: String,
    /// The logstore.
    pub(crate) logstore: String,
}

impl Target {
    /// A client from the flags and the environment; a usage error names
    /// what is missing. Credentials are checked here, before any call.
    pub(crate) fn from_flags(global: &Global) -> Result<Self, CliError> {
        let missing = |flag: &str, var: &str| {
            CliError::Usage(format!("no {flag}: pass --{flag} or set {var}"))
        };
        let endpoint = global
            .endpoint
            .clone()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| missing("endpoint", "SLS_ENDPOINT"))?;
        let project = global
            .project
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| missing("project", "SLS_PROJECT"))?;
        let logstore = global
            .logstore
            .clone()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| missing("logstore", "SLS_LOGSTORE"))?;
        let credentials = EnvCredentials::new();
        // Only whether they are there: the values stay in the client.
        credentials
            .load()
            .map_err(|err| CliError::Usage(format!("no credentials: {err}")))?;
        let version = match global.signature_version {
            SignatureVersionArg::V1 => SignatureVersion::V1,
            SignatureVersionArg::V4 => SignatureVersion::V4 {
                region: global
                    .region
                    .clone()
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| {
                        CliError::Usage(
                            "--signature-version v4 needs --region (or SLS_REGION)".into(),
                        )
                    })?,
            },
        };
        let client = Client::builder(endpoint.as_str())
            .credentials(credentials)
            .signature_version(version)
            .user_agent(concat!("sls-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| CliError::Usage(format!("bad --endpoint {endpoint:?}: {err}")))?;
        Ok(Self {
            client,
            project,
            logstore,
        })
    }
}
