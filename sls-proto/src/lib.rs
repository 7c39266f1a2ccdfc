//! The LogHub (Alibaba Cloud Log Service) data model and wire encoding.
//!
//! - Owned prost types for the messages of `proto/log.proto`: [`Log`],
//!   [`LogContent`], [`LogTag`], [`LogGroup`] and [`LogGroupList`], with
//!   builders ([`LogGroup::builder`], [`Log::new`]).
//! - A zero-copy, validating decoder for the hot path:
//!   [`LogGroupListView`] reads a pulled body in place, handing out `&str`
//!   borrowed from the buffer, with no allocation per log or per field.
//! - Body codecs keyed by `x-log-compresstype` ([`CompressType`]), with a
//!   [`Decompressor`] that refuses lying raw sizes before allocating.
//! - [`Cursor`]: shard positions, their wire form, order and arithmetic.
//! - [`sample`]: reproducible, realistic access logs for tests and benches.
//!
//! # Layout
//! - `generated`: prost output of `cargo xtask codegen`, do not edit.
//! - `wire`: the protobuf wire primitives the view decoder needs.
//! - `view`: [`LogGroupListView`], [`LogGroupView`], [`LogView`],
//!   [`LogGroupBytes`] and [`DecodeError`].
//! - `codec`: [`CompressType`], [`Decompressor`], [`CodecError`].
//! - `cursor`: [`Cursor`], [`CursorError`].
//! - `builder`: [`LogGroupBuilder`] and constructors on the owned types.
//! - [`sample`]: the [`sample::AccessLogs`] generator.

mod builder;
mod codec;
mod cursor;
mod generated;
pub mod sample;
mod view;
mod wire;

pub use builder::LogGroupBuilder;
pub use codec::{CodecError, CompressType, DEFAULT_MAX_RAW_SIZE, Decompressor, Lz4Block};
pub use cursor::{Cursor, CursorError};
pub use generated::{Log, LogContent, LogGroup, LogGroupList, LogTag};
pub use view::{
    DecodeError, DecodeErrorKind, LogGroupBytes, LogGroupListView, LogGroupView, LogGroups,
    LogView, Logs, Pairs,
};

/// The buffer type the views read from.
pub use bytes;
/// The prost runtime this crate's types implement [`prost::Message`] with,
/// so users encode and decode without adding a matching dependency.
pub use prost;
