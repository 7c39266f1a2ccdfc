//! [`LogGroupBytes`]: one encoded `LogGroup`, validated, as PutLogs sends it.

use std::fmt;

use bytes::Bytes;
use prost::Message;

use super::{LogGroupView, validate};
use crate::LogGroup;
use crate::decode_error::DecodeError;

/// One encoded `LogGroup` that has been validated: the body of a PutLogs
/// request before compression, or a group cut out of a pulled list.
///
/// It lets a writer send a group it received without re-encoding it, and a
/// server check a group it was sent without allocating per log.
#[derive(Clone)]
pub struct LogGroupBytes {
    buf: Bytes,
    meta: validate::GroupMeta,
}

impl LogGroupBytes {
    /// Validates `buf` as one `LogGroup`.
    pub fn decode(buf: Bytes) -> Result<Self, DecodeError> {
        let meta = validate::log_group(&buf, 0)?;
        Ok(Self { buf, meta })
    }

    /// Encodes an owned group.
    pub fn encode(group: &LogGroup) -> Self {
        let buf = Bytes::from(group.encode_to_vec());
        // Validation of what prost just wrote cannot fail; it also locates
        // the header strings.
        let meta = validate::log_group(&buf, 0).unwrap_or_default();
        Self { buf, meta }
    }

    pub(crate) fn meta(&self) -> &validate::GroupMeta {
        &self.meta
    }

    /// The number of logs in the group.
    pub fn log_count(&self) -> usize {
        self.meta.logs
    }

    /// The encoded group.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// Consumes the value, returning its buffer.
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    /// A view of the group's contents.
    pub fn view(&self) -> LogGroupView<'_> {
        LogGroupView::new(&self.buf, &self.meta)
    }
}

impl<'a> From<LogGroupView<'a>> for LogGroupBytes {
    /// Shares the group's bytes with the list it came from (no copy).
    fn from(view: LogGroupView<'a>) -> Self {
        Self {
            meta: view.meta().moved_to(0),
            buf: view.encoded(),
        }
    }
}

impl fmt::Debug for LogGroupBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogGroupBytes")
            .field("logs", &self.meta.logs)
            .field("bytes", &self.buf.len())
            .finish()
    }
}
