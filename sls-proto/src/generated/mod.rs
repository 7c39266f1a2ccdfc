//! The prost types generated from `proto/log.proto` by `cargo xtask codegen`.

#[rustfmt::skip]
mod sls;

pub use self::sls::{Log, LogContent, LogGroup, LogGroupList, LogTag};
