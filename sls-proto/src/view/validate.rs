//! The single validation pass a view makes before it is handed out.
//!
//! It walks every message of the buffer once, checking the wire structure
//! and the wire type of every known field, and indexes the groups (one
//! allocation per list). The accessors of the views re-walk the same bytes
//! with the same [`Reader`], so they meet nothing this pass refused.
//!
//! The bytes of string fields are not checked: they are handed out as they
//! are (see the `view` module docs for why).

use crate::decode_error::DecodeError;
use crate::view::fields;
use crate::wire::{Reader, WireType};

/// Where a string sits in the decoded buffer: absolute start and length.
pub(crate) type Span = (usize, usize);

/// What the validation pass learns about one `LogGroup`: where it is, where
/// its header strings are (they follow all the logs in prost's field order,
/// so finding them again would mean re-walking the group) and how many logs
/// it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct GroupMeta {
    pub(crate) span: Span,
    pub(crate) logs: usize,
    /// Every log has the canonical layout (see [`Layout`]).
    pub(crate) canonical: bool,
    pub(crate) category: Option<Span>,
    pub(crate) topic: Option<Span>,
    pub(crate) source: Option<Span>,
    pub(crate) machine_uuid: Option<Span>,
}

impl GroupMeta {
    /// The same group copied to start at `start` of another buffer.
    pub(crate) fn moved_to(self, start: usize) -> Self {
        let from = self.span.0;
        let shift = |span: Option<Span>| span.map(|(at, len)| (at - from + start, len));
        Self {
            span: (start, self.span.1),
            category: shift(self.category),
            topic: shift(self.topic),
            source: shift(self.source),
            machine_uuid: shift(self.machine_uuid),
            ..self
        }
    }
}

/// What the validation pass learns about a `LogGroupList`: one entry per
/// group (one allocation per list, however many logs it holds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListIndex {
    pub(crate) groups: Vec<GroupMeta>,
    pub(crate) logs: usize,
}

/// Where a log's fields stand. A log is canonical, as every encoder writes
/// it, when `Time` comes first and once, then only `Contents`, then at most
/// one `Time_ns` as the last field. The views read such logs lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Start,
    Contents,
    AfterTimeNs,
    Other,
}

/// Validates a whole `LogGroupList`.
pub(crate) fn log_group_list(buf: &[u8]) -> Result<ListIndex, DecodeError> {
    let mut index = ListIndex::default();
    let mut reader = Reader::new(buf, 0);
    while !reader.is_empty() {
        let at = reader.offset();
        let (field, wire_type) = reader.key()?;
        if field == fields::LIST_GROUPS {
            reader.expect(
                at,
                "LogGroupList.LogGroups",
                WireType::LengthDelimited,
                wire_type,
            )?;
            let (group, base) = reader.bytes()?;
            let meta = log_group(group, base)?;
            index.logs += meta.logs;
            index.groups.push(meta);
        } else {
            reader.skip(wire_type)?;
        }
    }
    Ok(index)
}

/// Validates one `LogGroup` that starts at `base`.
pub(crate) fn log_group(buf: &[u8], base: usize) -> Result<GroupMeta, DecodeError> {
    let mut meta = GroupMeta {
        span: (base, buf.len()),
        canonical: true,
        ..GroupMeta::default()
    };
    let mut reader = Reader::new(buf, base);
    while !reader.is_empty() {
        let at = reader.offset();
        let (field, wire_type) = reader.key()?;
        match field {
            fields::GROUP_LOGS => {
                reader.expect(at, "LogGroup.Logs", WireType::LengthDelimited, wire_type)?;
                let (bytes, base) = reader.bytes()?;
                meta.canonical &= log(bytes, base)?;
                meta.logs += 1;
            }
            fields::GROUP_TAGS => {
                reader.expect(at, "LogGroup.LogTags", WireType::LengthDelimited, wire_type)?;
                let (bytes, base) = reader.bytes()?;
                pair(bytes, base, "LogTag.Key", "LogTag.Value")?;
            }
            fields::GROUP_CATEGORY
            | fields::GROUP_TOPIC
            | fields::GROUP_SOURCE
            | fields::GROUP_MACHINE_UUID => {
                let name = fields::group_string_name(field);
                reader.expect(at, name, WireType::LengthDelimited, wire_type)?;
                let (bytes, base) = reader.bytes()?;
                let slot = match field {
                    fields::GROUP_CATEGORY => &mut meta.category,
                    fields::GROUP_TOPIC => &mut meta.topic,
                    fields::GROUP_SOURCE => &mut meta.source,
                    _ => &mut meta.machine_uuid,
                };
                // A repeated string field keeps its last value.
                *slot = Some((base, bytes.len()));
            }
            _ => reader.skip(wire_type)?,
        }
    }
    Ok(meta)
}

/// Validates one `Log`; returns whether its layout is canonical.
#[inline]
fn log(buf: &[u8], base: usize) -> Result<bool, DecodeError> {
    let mut reader = Reader::new(buf, base);
    let mut layout = Layout::Start;
    while !reader.is_empty() {
        let at = reader.offset();
        let (field, wire_type) = reader.key()?;
        match field {
            fields::LOG_TIME => {
                reader.expect(at, "Log.Time", WireType::Varint, wire_type)?;
                reader.varint()?;
                layout = match layout {
                    Layout::Start => Layout::Contents,
                    _ => Layout::Other,
                };
            }
            fields::LOG_CONTENTS => {
                reader.expect(at, "Log.Contents", WireType::LengthDelimited, wire_type)?;
                let (bytes, base) = reader.bytes()?;
                pair(bytes, base, "LogContent.Key", "LogContent.Value")?;
                if layout != Layout::Contents {
                    layout = Layout::Other;
                }
            }
            fields::LOG_TIME_NS => {
                reader.expect(at, "Log.Time_ns", WireType::Fixed32, wire_type)?;
                reader.fixed32()?;
                layout = match layout {
                    Layout::Contents => Layout::AfterTimeNs,
                    _ => Layout::Other,
                };
            }
            _ => {
                reader.skip(wire_type)?;
                layout = Layout::Other;
            }
        }
    }
    Ok(matches!(layout, Layout::Contents | Layout::AfterTimeNs))
}

/// Validates a `LogContent` or a `LogTag`: two string fields.
#[inline(always)]
fn pair(
    buf: &[u8],
    base: usize,
    key_name: &'static str,
    value_name: &'static str,
) -> Result<(), DecodeError> {
    // The layout every encoder writes settles in a few byte comparisons.
    if super::canonical_pair(buf).is_some() {
        return Ok(());
    }
    pair_general(buf, base, key_name, value_name)
}

/// [`pair`] for any layout.
#[inline(never)]
fn pair_general(
    buf: &[u8],
    base: usize,
    key_name: &'static str,
    value_name: &'static str,
) -> Result<(), DecodeError> {
    let mut reader = Reader::new(buf, base);
    while !reader.is_empty() {
        let at = reader.offset();
        let (field, wire_type) = reader.key()?;
        let name = match field {
            fields::PAIR_KEY => key_name,
            fields::PAIR_VALUE => value_name,
            _ => {
                reader.skip(wire_type)?;
                continue;
            }
        };
        reader.expect(at, name, WireType::LengthDelimited, wire_type)?;
        reader.bytes()?;
    }
    Ok(())
}
