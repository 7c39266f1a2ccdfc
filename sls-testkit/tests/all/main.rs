//! Integration tests of the fake server, through sls-client and through
//! hand-built HTTP (one binary, see STYLE.md).

mod binary;
mod bytes;
mod errors;
mod faults;
#[cfg(feature = "fuzzing")]
mod fuzzing;
mod groups;
mod limits;
mod logs;
mod raw;
mod request_log;
mod retention;
mod shards;
mod spl;
