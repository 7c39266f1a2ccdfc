//! The single validation pass a view makes before it is handed out.
//!
//! It walks every message of the buffer once, checking the wire structure,
//! the wire type of every known field and the UTF-8 of every string, and
//! counts groups and logs. It allocates nothing. The accessors of the views
//! re-walk the same bytes with the same [`Reader`] and rely on this pass for
//! their strings being UTF-8 (see [`super::text`]).

use crate::view::{DecodeError, DecodeErrorKind, fields};
use crate::wire::{Reader, WireType};

/// What the validation pass learns about a `LogGroupList`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) groups: usize,
    pub(crate) logs: usize,
}

/// Validates a whole `LogGroupList`.
pub(crate) fn log_group_list(buf: &[u8]) -> Result<Counts, DecodeError> {
    let mut counts = Counts::default();
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
            counts.logs += log_group(group, base)?;
            counts.groups += 1;
        } else {
            reader.skip(wire_type)?;
        }
    }
    Ok(counts)
}

/// Validates one `LogGroup` that starts at `base`; returns its log count.
pub(crate) fn log_group(buf: &[u8], base: usize) -> Result<usize, DecodeError> {
    let mut logs = 0;
    let mut reader = Reader::new(buf, base);
    while !reader.is_empty() {
        let at = reader.offset();
        let (field, wire_type) = reader.key()?;
        match field {
            fields::GROUP_LOGS => {
                reader.expect(at, "LogGroup.Logs", WireType::LengthDelimited, wire_type)?;
                let (bytes, base) = reader.bytes()?;
                log(bytes, base)?;
                logs += 1;
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
                utf8(bytes, base, name)?;
            }
            _ => reader.skip(wire_type)?,
        }
    }
    Ok(logs)
}

/// Validates one `Log`.
fn log(buf: &[u8], base: usize) -> Result<(), DecodeError> {
    let mut reader = Reader::new(buf, base);
    while !reader.is_empty() {
        let at = reader.offset();
        let (field, wire_type) = reader.key()?;
        match field {
            fields::LOG_TIME => {
                reader.expect(at, "Log.Time", WireType::Varint, wire_type)?;
                reader.varint()?;
            }
            fields::LOG_CONTENTS => {
                reader.expect(at, "Log.Contents", WireType::LengthDelimited, wire_type)?;
                let (bytes, base) = reader.bytes()?;
                pair(bytes, base, "LogContent.Key", "LogContent.Value")?;
            }
            fields::LOG_TIME_NS => {
                reader.expect(at, "Log.Time_ns", WireType::Fixed32, wire_type)?;
                reader.fixed32()?;
            }
            _ => reader.skip(wire_type)?,
        }
    }
    Ok(())
}

/// Validates a `LogContent` or a `LogTag`: two string fields.
fn pair(
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
        let (bytes, base) = reader.bytes()?;
        utf8(bytes, base, name)?;
    }
    Ok(())
}

#[inline]
fn utf8(bytes: &[u8], base: usize, field: &'static str) -> Result<(), DecodeError> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(_) => Ok(()),
        Err(_) => Err(DecodeError::new(
            DecodeErrorKind::InvalidUtf8 { field },
            base,
        )),
    }
}
