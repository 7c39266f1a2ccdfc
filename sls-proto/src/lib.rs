//! The data model and wire encoding of Alibaba Cloud Log Service (SLS,
//! "LogHub"): the log types of its protobuf API, a zero-copy decoder for
//! pulled bodies, and the body codecs, with text kept as bytes.
//!
//! Part of sls-rs: **sls-proto** (this crate: wire types) ·
//! [sls-client](https://docs.rs/sls-client) (signed HTTP client) ·
//! [sls-consumer](https://docs.rs/sls-consumer) (consumer groups) ·
//! [sls-testkit](https://docs.rs/sls-testkit) (a fake LogHub for tests).
//! Most users need only sls-consumer or sls-client, which re-export what
//! they hand out from here.
//!
//! These docs are the reference (types, methods, errors). Why text is
//! bytes, what the view checks, and the decoding figures with the commands
//! that measure them are in the sls-rs guide, the `docs/` folder of the
//! sls-rs repository (chapters "The client and the wire format" and
//! "Performance").
//!
//! ```
//! use sls_proto::prost::Message;
//! use sls_proto::{CompressType, Decompressor, LogGroup, LogGroupList, LogGroupListView};
//!
//! // Build a group and encode a body as PutLogs sends and PullLogs returns it.
//! let group = LogGroup::builder()
//!     .topic("nginx")
//!     .log(1_700_000_000, [("status", "200"), ("path", "/index.html")])
//!     .build();
//! let body = LogGroupList { log_groups: vec![group] }.encode_to_vec();
//! let sent = CompressType::Lz4.compress(&body)?;
//!
//! // Decompress, checking the size the `x-log-bodyrawsize` header claims,
//! // then read in place: no allocation per log or field.
//! let raw = Decompressor::default().decompress(CompressType::Lz4, sent.into(), body.len() as u64)?;
//! let view = LogGroupListView::decode(raw)?;
//! for group in view.groups() {
//!     assert_eq!(group.topic(), Some("nginx".into()));
//!     for log in group.logs() {
//!         assert_eq!(log.get("status"), Some("200".into()));
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! This crate has no optional features. It needs no `protoc`: the prost
//! code is generated and committed.
//!
//! # What is here
//!
//! - Owned prost types for the messages of `proto/log.proto`: [`Log`],
//!   [`LogContent`], [`LogTag`], [`LogGroup`] and [`LogGroupList`], with
//!   builders ([`LogGroup::builder`], [`Log::new`]).
//! - A zero-copy, validating decoder for the hot path:
//!   [`LogGroupListView`] reads a pulled body in place, handing out text as
//!   [`&BStr`](BStr) borrowed from the buffer, with no allocation per log or
//!   per field.
//! - Body codecs keyed by `x-log-compresstype` ([`CompressType`]), with a
//!   [`Decompressor`] that refuses lying raw sizes before allocating.
//! - [`Cursor`]: shard positions, their wire form, order and arithmetic.
//! - [`sample`]: reproducible, realistic access logs for tests and benches,
//!   and messy ones (GBK, Latin-1, binary) for the paths that must not care.
//!
//! # Text is bytes
//!
//! The service's `.proto` declares keys, values, tags, topic, source,
//! category and machine uuid as `string`, but the service stores what writers
//! send and returns it unchecked: GBK, Latin-1 and binary values are normal
//! in production logs. Decoders that insist on UTF-8 fail on whole bodies
//! because of one such log (libprotobuf's "String field 'Log.Content.Value'
//! contains invalid UTF-8 data when parsing", aliyun-log-python-sdk issue
//! 105; "pull logs will raise encoding error when logs are not real
//! utf8/gbk", aliyun-log-cli issue 27; a charset option for it in
//! aliyun-log-flink-connector PR 39), and a consumer that refuses a body
//! stops its shard there for good. So nothing here checks or changes the
//! encoding of text:
//!
//! - **Views** ([`LogGroupView`], [`LogView`], [`Pairs`]) hand out every
//!   such field as [`&BStr`](BStr): the bytes as sent, which deref to
//!   `[u8]`, compare with `&str` (`log.get("status") == Some("200".into())`),
//!   print lossily with `Display` (invalid sequences as U+FFFD) and escaped
//!   with `Debug`, and convert with `to_str()` (checked: an error for
//!   non-UTF-8) or `to_str_lossy()` (borrowed when valid, replaced
//!   otherwise), from [`ByteSlice`]. Decoding never fails for encoding;
//!   only a malformed structure is a [`DecodeError`].
//! - **Owned types** hold `Vec<u8>` (our `.proto` declares these fields
//!   `bytes`, which has the same wire encoding as `string`): decoding,
//!   encoding and [`LogGroupView::to_message`] copy bytes and never alter
//!   them. Builders take `impl AsRef<[u8]>`, so `&str` and `String` work as
//!   before.
//! - **Forwarding** a group with [`LogGroupView::encoded`] or
//!   [`LogGroupBytes`] sends the received bytes themselves.
//!
//! # Layout
//! - `generated`: prost output of `cargo xtask codegen`, do not edit.
//! - `decode_error`: [`DecodeError`] and its kinds.
//! - `wire`: the protobuf wire primitives the view decoder needs.
//! - `view`: [`LogGroupListView`], [`LogGroupView`], [`LogView`] and
//!   [`LogGroupBytes`].
//! - `codec`: [`CompressType`], [`Decompressor`], [`CodecError`].
//! - `cursor`: [`Cursor`], [`CursorError`].
//! - `builder`: [`LogGroupBuilder`] and constructors on the owned types.
//! - [`sample`]: the [`sample::AccessLogs`] and [`sample::MessyLogs`]
//!   generators.

mod builder;
mod codec;
mod cursor;
mod decode_error;
mod generated;
pub mod sample;
mod view;
mod wire;

pub use builder::LogGroupBuilder;
pub use codec::{CodecError, CompressType, DEFAULT_MAX_RAW_SIZE, Decompressor, Lz4Block};
pub use cursor::{Cursor, CursorError};
pub use decode_error::{DecodeError, DecodeErrorKind};
pub use generated::{Log, LogContent, LogGroup, LogGroupList, LogTag};
pub use view::{LogGroupBytes, LogGroupListView, LogGroupView, LogGroups, LogView, Logs, Pairs};

/// Byte strings, the type of the views' text; re-exported so that users
/// need no matching dependency.
pub use bstr;
pub use bstr::{BStr, ByteSlice};
/// The buffer type the views read from.
pub use bytes;
/// The prost runtime this crate's types implement [`prost::Message`] with,
/// so users encode and decode without adding a matching dependency.
pub use prost;

/// The crate README's code, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
