//! Owned encode → view decode → owned gives back the input; the view agrees
//! with prost on every byte string both accept.

use bytes::Bytes;
use proptest::prelude::*;
use sls_proto::prost::Message;
use sls_proto::{BStr, LogGroup, LogGroupBytes, LogGroupList, LogGroupListView, Pairs};

use crate::strategies;

/// Pairs as owned bytes, to compare with the owned types.
fn owned_pairs(pairs: Pairs<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs.map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

proptest! {
    /// Arbitrary bytes in every string position (keys, values, tag keys and
    /// values, topic, source, category, machine uuid) come back byte for
    /// byte: from every accessor of the view, through `to_message()`, and
    /// through `encoded()` (which is what a copy forwards).
    #[test]
    fn every_string_position_is_byte_exact(list in strategies::list()) {
        let body = list.encode_to_vec();
        let view = LogGroupListView::decode(Bytes::from(body.clone())).unwrap();
        for (group, owned) in view.groups().zip(&list.log_groups) {
            let bytes = |s: Option<&BStr>| s.map(|s| s.to_vec());
            prop_assert_eq!(bytes(group.topic()), owned.topic.clone());
            prop_assert_eq!(bytes(group.source()), owned.source.clone());
            prop_assert_eq!(bytes(group.category()), owned.category.clone());
            prop_assert_eq!(bytes(group.machine_uuid()), owned.machine_uuid.clone());
            let tags: Vec<_> = owned.log_tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect();
            prop_assert_eq!(owned_pairs(group.tags()), tags);
            for (log, owned) in group.logs().zip(&owned.logs) {
                let contents: Vec<_> = owned.contents.iter().map(|c| (c.key.clone(), c.value.clone())).collect();
                prop_assert_eq!(owned_pairs(log.contents()), contents);
                if let Some(first) = owned.contents.first() {
                    let found = owned.contents.iter().find(|c| c.key == first.key).map(|c| &c.value[..]);
                    prop_assert_eq!(log.get(&first.key).map(|v| v.to_vec()), found.map(<[u8]>::to_vec));
                }
            }
            // Forwarding: the group's bytes are exactly its encoding.
            prop_assert_eq!(&group.encoded()[..], &owned.encode_to_vec()[..]);
            prop_assert_eq!(&LogGroup::decode(group.encoded()).unwrap(), owned);
            prop_assert_eq!(&group.to_message(), owned);
        }
        prop_assert_eq!(view.to_message().encode_to_vec(), body);
    }

    #[test]
    fn view_round_trips_arbitrary_lists(list in strategies::list()) {
        let view = LogGroupListView::decode(Bytes::from(list.encode_to_vec())).unwrap();
        prop_assert_eq!(view.len(), list.log_groups.len());
        prop_assert_eq!(view.log_count(), list.log_groups.iter().map(|g| g.logs.len()).sum::<usize>());
        prop_assert_eq!(view.to_message(), list.clone());
        // The accessors agree with the owned form field by field.
        for (group, owned) in view.groups().zip(&list.log_groups) {
            prop_assert_eq!(group.topic(), owned.topic.as_deref().map(BStr::new));
            prop_assert_eq!(group.log_count(), owned.logs.len());
            for (log, owned) in group.logs().zip(&owned.logs) {
                prop_assert_eq!(log.time(), owned.time);
                prop_assert_eq!(log.time_ns(), owned.time_ns);
                prop_assert_eq!(log.content_count(), owned.contents.len());
            }
        }
    }

    #[test]
    fn group_bytes_round_trip(group in strategies::group()) {
        let encoded = LogGroupBytes::encode(&group);
        prop_assert_eq!(encoded.view().to_message(), group.clone());
        let decoded = LogGroupBytes::decode(encoded.as_bytes().clone()).unwrap();
        prop_assert_eq!(decoded.log_count(), group.logs.len());
        prop_assert_eq!(decoded.view().to_message(), group);
    }

    #[test]
    fn groups_cut_from_a_list_reassemble(list in strategies::list()) {
        let view = LogGroupListView::decode(Bytes::from(list.encode_to_vec())).unwrap();
        let groups: Vec<LogGroupBytes> = view.groups().map(LogGroupBytes::from).collect();
        for (bytes, owned) in groups.iter().zip(&list.log_groups) {
            prop_assert_eq!(&LogGroup::decode(&bytes.as_bytes()[..]).unwrap(), owned);
            prop_assert_eq!(&bytes.view().to_message(), owned);
        }
        let rebuilt = LogGroupListView::from_groups(&groups);
        prop_assert_eq!(rebuilt.as_bytes(), view.as_bytes());
        prop_assert_eq!(rebuilt.to_message(), list);
    }

    /// Differential: mutate valid encodings; whenever the view accepts the
    /// bytes, prost must accept them too and read the same message.
    #[test]
    fn view_agrees_with_prost_on_mutated_bytes(
        list in strategies::list(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = list.encode_to_vec();
        prop_assume!(!bytes.is_empty());
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Ok(view) = LogGroupListView::decode(Bytes::from(bytes.clone())) {
            let owned = LogGroupList::decode(&bytes[..]);
            prop_assert!(owned.is_ok(), "view accepted what prost refused: {:?}", owned);
            prop_assert_eq!(view.to_message(), owned.unwrap());
        }
    }
}

/// Logs that no encoder writes but protobuf allows: repeated scalars (the
/// last wins), fields out of order, unknown fields of every wire type.
#[test]
fn non_canonical_layouts_decode_like_prost() {
    // Log: Contents, Time=1, unknown varint field 9, Time=7 (wins),
    // Time_ns=3, Contents, unknown fixed64 field 10, Time_ns=4 (wins).
    let log: Vec<u8> = [
        &[0x12, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b'][..],
        &[0x08, 0x01],
        &[0x48, 0x96, 0x01],
        &[0x08, 0x07],
        &[0x25, 3, 0, 0, 0],
        &[0x12, 0x06, 0x12, 0x01, b'd', 0x0a, 0x01, b'c'],
        &[0x51, 1, 2, 3, 4, 5, 6, 7, 8],
        &[0x25, 4, 0, 0, 0],
    ]
    .concat();
    // Group: topic "x", the log, topic "y" (wins), unknown length-delimited 12.
    let mut group = vec![0x1a, 0x01, b'x', 0x0a, log.len() as u8];
    group.extend_from_slice(&log);
    group.extend_from_slice(&[0x1a, 0x01, b'y', 0x62, 0x02, 0xff, 0xfe]);
    let mut list = vec![0x0a, group.len() as u8];
    list.extend_from_slice(&group);
    // A canonical list after it, in the same buffer, keeps its fast path
    // correct too.
    let tail = LogGroupList {
        log_groups: vec![LogGroup::synthetic(2, 2)],
    }
    .encode_to_vec();
    list.extend_from_slice(&tail);

    let owned = LogGroupList::decode(&list[..]).unwrap();
    let view = LogGroupListView::decode(Bytes::from(list)).unwrap();
    assert_eq!(view.to_message(), owned);
    let first = view.groups().next().unwrap();
    assert_eq!(first.topic(), Some("y".into()));
    let log = first.logs().next().unwrap();
    assert_eq!(log.time(), 7);
    assert_eq!(log.time_ns(), Some(4));
    assert_eq!(
        log.contents().collect::<Vec<_>>(),
        [
            (BStr::new("a"), BStr::new("b")),
            (BStr::new("c"), BStr::new("d"))
        ]
    );
    assert_eq!(log.get("c"), Some("d".into()));
}

#[test]
fn empty_inputs_are_empty_lists() {
    let view = LogGroupListView::decode(Bytes::new()).unwrap();
    assert!(view.is_empty());
    assert_eq!(view.log_count(), 0);
    assert_eq!(view.groups().count(), 0);
    assert!(LogGroupListView::empty().is_empty());
    // An empty group is a group with no logs and no header.
    let view = LogGroupListView::decode(Bytes::from_static(&[0x0a, 0x00])).unwrap();
    assert_eq!(view.len(), 1);
    let group = view.groups().next().unwrap();
    assert_eq!(group.topic(), None);
    assert_eq!(group.logs().count(), 0);
}
