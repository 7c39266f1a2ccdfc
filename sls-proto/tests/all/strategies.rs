//! proptest strategies for arbitrary LogHub messages. Text is arbitrary
//! bytes as often as UTF-8: the service stores and returns it unchecked.

use proptest::collection::vec;
use proptest::prelude::*;
use sls_proto::{Log, LogContent, LogGroup, LogGroupList, LogTag};

/// Any bytes, or UTF-8 text, short (one-byte lengths) or long enough to
/// need two-byte lengths; GBK- and Latin-1-like bytes (high bytes among
/// ASCII) and bytes that look like protobuf keys are arbitrary bytes too.
pub(crate) fn text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..24),
        2 => any::<String>().prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 100..300),
        1 => "\\PC{40,200}".prop_map(String::into_bytes),
        1 => vec(prop_oneof![Just(0x0a_u8), Just(0x12), Just(0x80), Just(0xff), Just(0x00)], 0..140),
    ]
}

fn content() -> impl Strategy<Value = LogContent> {
    (text(), text()).prop_map(|(key, value)| LogContent { key, value })
}

fn tag() -> impl Strategy<Value = LogTag> {
    (text(), text()).prop_map(|(key, value)| LogTag { key, value })
}

pub(crate) fn log() -> impl Strategy<Value = Log> {
    (any::<u32>(), vec(content(), 0..8), any::<Option<u32>>()).prop_map(
        |(time, contents, time_ns)| Log {
            time,
            contents,
            time_ns,
        },
    )
}

pub(crate) fn group() -> impl Strategy<Value = LogGroup> {
    (
        vec(log(), 0..6),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        vec(tag(), 0..3),
    )
        .prop_map(
            |(logs, category, topic, source, machine_uuid, log_tags)| LogGroup {
                logs,
                category,
                topic,
                source,
                machine_uuid,
                log_tags,
            },
        )
}

pub(crate) fn list() -> impl Strategy<Value = LogGroupList> {
    vec(group(), 0..4).prop_map(|log_groups| LogGroupList { log_groups })
}
