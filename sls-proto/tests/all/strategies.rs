//! proptest strategies for arbitrary LogHub messages.

use proptest::collection::vec;
use proptest::prelude::*;
use sls_proto::{Log, LogContent, LogGroup, LogGroupList, LogTag};

fn content() -> impl Strategy<Value = LogContent> {
    (any::<String>(), any::<String>()).prop_map(|(key, value)| LogContent { key, value })
}

fn tag() -> impl Strategy<Value = LogTag> {
    (any::<String>(), any::<String>()).prop_map(|(key, value)| LogTag { key, value })
}

/// Strings that are sometimes long enough to need two-byte lengths.
fn long_or_short() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z ]{100,300}", "\\PC{40,200}"]
}

pub(crate) fn log() -> impl Strategy<Value = Log> {
    (
        any::<u32>(),
        vec(
            prop_oneof![
                3 => content(),
                1 => (long_or_short(), long_or_short()).prop_map(|(key, value)| LogContent { key, value }),
            ],
            0..8,
        ),
        any::<Option<u32>>(),
    )
        .prop_map(|(time, contents, time_ns)| Log {
            time,
            contents,
            time_ns,
        })
}

pub(crate) fn group() -> impl Strategy<Value = LogGroup> {
    (
        vec(log(), 0..6),
        any::<Option<String>>(),
        any::<Option<String>>(),
        any::<Option<String>>(),
        any::<Option<String>>(),
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
