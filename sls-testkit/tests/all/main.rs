//! Integration tests of the fake server, through sls-client and through
//! hand-built HTTP (one binary, see CONTRIBUTING.md).

mod binary;
mod bytes;
mod errors;
mod faults;
#[cfg(feature = "fuzzing")]
mod fuzzing;
mod groups;
mod limits;
mod logs;
mod quota;
mod raw;
mod request_log;
mod retention;
mod routes;
mod shards;
mod spl;

/// The begin cursor of shard 0 of `demo`/`app`, the logstore most tests
/// use.
async fn begin(client: &sls_client::Client) -> sls_proto::Cursor {
    client
        .get_cursor("demo", "app", 0, sls_client::CursorPosition::Begin)
        .await
        .expect("the begin cursor")
}
