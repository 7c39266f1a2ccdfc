//! `sls fake`: sls-testkit's fake LogHub on loopback, as `sls-fake` runs
//! it, for a local demo (`sls fake &`, then `sls put`, `sls tail`, `sls
//! groups ...` against it).

use std::process::ExitCode;

use sls_testkit::FakeLogHub;
use sls_testkit::standalone::serve;

use crate::cli::{FakeArgs, Global};

/// The project and logstore when neither --project nor --logstore (nor
/// their variables) name them, as `sls-fake`'s defaults.
const PROJECT: &str = "demo";
/// See [`PROJECT`].
const LOGSTORE: &str = "app";

/// Runs until SIGINT or SIGTERM.
pub(crate) fn run(global: &Global, args: &FakeArgs) -> ExitCode {
    let project = global
        .project
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| PROJECT.to_owned());
    let logstore = global
        .logstore
        .clone()
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| LOGSTORE.to_owned());
    let runtime = match crate::runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let serve_args = &args.serve;
    runtime.block_on(serve(
        "sls",
        &project,
        std::slice::from_ref(&logstore),
        serve_args,
        |hub: &FakeLogHub| {
            // The demo's settings, on stderr: stdout stays the one line
            // scripts read. The built-in keys are public test values; other
            // keys are not printed.
            let secret = if serve_args.default_keys() {
                serve_args.access_key_secret.as_str()
            } else {
                "<the --access-key-secret given>"
            };
            eprintln!(
                "sls fake: project {project}, logstore {logstore} ({} shards); to use it:\n  \
                 export SLS_ENDPOINT=http://{} SLS_PROJECT={project} SLS_LOGSTORE={logstore}\n  \
                 export ALIBABA_CLOUD_ACCESS_KEY_ID={} ALIBABA_CLOUD_ACCESS_KEY_SECRET={secret}\n\
                 Ctrl-C stops it (the data is in memory only).",
                serve_args.shards,
                hub.address(),
                serve_args.access_key_id,
            );
        },
    ))
}
