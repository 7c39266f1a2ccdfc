//! A zero-copy decoder for the hot path of consumption.
//!
//! [`LogGroupListView::decode`] takes the decompressed body of a PullLogs
//! response as [`Bytes`], validates it in one pass (wire structure, the wire
//! type of every known field, the UTF-8 of every string) without allocating,
//! and then hands out groups, logs, fields and tags as `&str` borrowed from
//! the buffer. Iteration cannot fail: anything malformed was refused up front
//! with a [`DecodeError`], so a consumer never processes half a batch of a
//! corrupt body.
//!
//! Decoding follows protobuf's rules as prost does: unknown fields are
//! skipped, a repeated scalar keeps its last value, a missing `Time` or
//! string reads as zero or empty, and a `Time` varint wider than 32 bits is
//! truncated. [`LogGroupListView::to_message`] and friends convert to the
//! owned prost types.
//!
//! # Layout
//! - `error`: [`DecodeError`] and its kinds.
//! - `validate`: the validation pass.
//! - `group`: [`LogGroupView`], its tags and the group iterator.
//! - `log`: [`LogView`] and the iterators over logs and key/value pairs.
//! - `standalone`: [`LogGroupBytes`], one validated encoded `LogGroup`.

mod error;
mod group;
mod log;
mod standalone;
mod validate;

use std::fmt;

use bytes::Bytes;

pub use self::error::{DecodeError, DecodeErrorKind};
pub use self::group::{LogGroupView, LogGroups};
pub use self::log::{LogView, Logs, Pairs};
pub use self::standalone::LogGroupBytes;
use crate::LogGroupList;

/// Field numbers of `log.proto`.
pub(crate) mod fields {
    pub(crate) const LIST_GROUPS: u32 = 1;

    pub(crate) const GROUP_LOGS: u32 = 1;
    pub(crate) const GROUP_CATEGORY: u32 = 2;
    pub(crate) const GROUP_TOPIC: u32 = 3;
    pub(crate) const GROUP_SOURCE: u32 = 4;
    pub(crate) const GROUP_MACHINE_UUID: u32 = 5;
    pub(crate) const GROUP_TAGS: u32 = 6;

    pub(crate) const LOG_TIME: u32 = 1;
    pub(crate) const LOG_CONTENTS: u32 = 2;
    pub(crate) const LOG_TIME_NS: u32 = 4;

    /// `Key` of `LogContent` and of `LogTag`.
    pub(crate) const PAIR_KEY: u32 = 1;
    /// `Value` of `LogContent` and of `LogTag`.
    pub(crate) const PAIR_VALUE: u32 = 2;

    pub(crate) fn group_string_name(field: u32) -> &'static str {
        match field {
            GROUP_CATEGORY => "LogGroup.Category",
            GROUP_TOPIC => "LogGroup.Topic",
            GROUP_SOURCE => "LogGroup.Source",
            _ => "LogGroup.MachineUUID",
        }
    }
}

/// A string field of a buffer that the validation pass has accepted.
///
/// The validation pass and the accessors walk the same immutable bytes with
/// the same reader, so every slice handed here was checked to be UTF-8; the
/// check is repeated anyway (it is cheap next to the allocations it saves)
/// so that no `unsafe` is needed, and an impossible failure reads as empty.
#[inline]
fn text(bytes: &[u8]) -> &str {
    debug_assert!(simdutf8::basic::from_utf8(bytes).is_ok());
    simdutf8::basic::from_utf8(bytes).unwrap_or_default()
}

/// A validated `LogGroupList` (the body of a PullLogs response), read in
/// place.
///
/// Cloning is cheap: the buffer is reference-counted.
///
/// ```
/// use bytes::Bytes;
/// use prost::Message;
/// use sls_proto::{LogGroup, LogGroupList, LogGroupListView};
///
/// let group = LogGroup::builder()
///     .topic("nginx")
///     .log(1_700_000_000, [("status", "200"), ("path", "/")])
///     .build();
/// let body = LogGroupList { log_groups: vec![group] }.encode_to_vec();
///
/// let view = LogGroupListView::decode(Bytes::from(body))?;
/// for group in &view {
///     assert_eq!(group.topic(), Some("nginx"));
///     for log in group.logs() {
///         let fields: Vec<(&str, &str)> = log.contents().collect();
///         assert_eq!(fields, [("status", "200"), ("path", "/")]);
///     }
/// }
/// # Ok::<(), sls_proto::DecodeError>(())
/// ```
#[derive(Clone)]
pub struct LogGroupListView {
    buf: Bytes,
    counts: validate::Counts,
}

impl LogGroupListView {
    /// Validates `buf` as a `LogGroupList` and returns a view of it.
    pub fn decode(buf: Bytes) -> Result<Self, DecodeError> {
        let counts = validate::log_group_list(&buf)?;
        Ok(Self { buf, counts })
    }

    /// Builds a list from validated groups, copying each group's bytes once
    /// and nothing else: how a server assembles a pull from stored groups.
    pub fn from_groups<'a>(groups: impl IntoIterator<Item = &'a LogGroupBytes>) -> Self {
        let mut buf = Vec::new();
        let mut counts = validate::Counts::default();
        for group in groups {
            let bytes = group.as_bytes();
            buf.push(((fields::LIST_GROUPS << 3) | 2) as u8);
            crate::wire::put_varint(&mut buf, bytes.len() as u64);
            buf.extend_from_slice(bytes);
            counts.groups += 1;
            counts.logs += group.log_count();
        }
        Self {
            buf: Bytes::from(buf),
            counts,
        }
    }

    /// A list with no groups, as an empty pull returns.
    pub fn empty() -> Self {
        Self {
            buf: Bytes::new(),
            counts: validate::Counts::default(),
        }
    }

    /// The number of log groups.
    pub fn len(&self) -> usize {
        self.counts.groups
    }

    /// Whether the list holds no log group.
    pub fn is_empty(&self) -> bool {
        self.counts.groups == 0
    }

    /// The number of logs in all groups.
    pub fn log_count(&self) -> usize {
        self.counts.logs
    }

    /// The encoded list this view reads.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// Consumes the view, returning its buffer.
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    /// The log groups, in order.
    pub fn groups(&self) -> LogGroups<'_> {
        LogGroups::new(&self.buf, self.counts.groups)
    }

    /// Converts to the owned prost type (allocates every string).
    pub fn to_message(&self) -> LogGroupList {
        LogGroupList {
            log_groups: self.groups().map(|g| g.to_message()).collect(),
        }
    }
}

impl<'a> IntoIterator for &'a LogGroupListView {
    type Item = LogGroupView<'a>;
    type IntoIter = LogGroups<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.groups()
    }
}

impl fmt::Debug for LogGroupListView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogGroupListView")
            .field("groups", &self.counts.groups)
            .field("logs", &self.counts.logs)
            .field("bytes", &self.buf.len())
            .finish()
    }
}

impl Default for LogGroupListView {
    fn default() -> Self {
        Self::empty()
    }
}
