//! Byte strings written by others: the body of version 1 signing vector 2
//! in docs/protocol.md ("Signatures"; a
//! real LogGroupList from the official SDKs' tests), hand-encoded messages,
//! and a schema-driven decoder (prost-reflect over the `.proto` as protox
//! compiles it) that shares no code with the generated types or the view.

use bytes::Bytes;
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use sls_proto::prost::Message;
use sls_proto::sample::AccessLogs;
use sls_proto::{BStr, Log, LogContent, LogGroup, LogGroupList, LogGroupListView, LogTag};

/// docs/protocol.md, version 1 signing vector 2: the signed body.
const VECTOR_2_BODY: [u8; 52] = [
    10, 50, 10, 30, 8, 248, 178, 147, 158, 5, 18, 22, 10, 7, 84, 101, 115, 116, 75, 101, 121, 18,
    11, 84, 101, 115, 116, 67, 111, 110, 116, 101, 110, 116, 26, 0, 34, 14, 49, 48, 46, 50, 51, 48,
    46, 50, 48, 49, 46, 49, 49, 55,
];

fn vector_2_message() -> LogGroupList {
    LogGroupList {
        log_groups: vec![LogGroup {
            logs: vec![Log {
                // The varint 248 178 147 158 5.
                time: 1_405_409_656,
                contents: vec![LogContent {
                    key: "TestKey".into(),
                    value: "TestContent".into(),
                }],
                time_ns: None,
            }],
            topic: Some(Vec::new()),
            source: Some("10.230.201.117".into()),
            ..LogGroup::default()
        }],
    }
}

#[test]
fn vector_2_body_decodes_with_both_decoders() {
    let expected = vector_2_message();
    assert_eq!(LogGroupList::decode(&VECTOR_2_BODY[..]).unwrap(), expected);
    let view = LogGroupListView::decode(Bytes::from_static(&VECTOR_2_BODY)).unwrap();
    assert_eq!(view.to_message(), expected);
    let group = view.groups().next().unwrap();
    assert_eq!(group.topic(), Some("".into()));
    assert_eq!(group.source(), Some("10.230.201.117".into()));
}

#[test]
fn our_encoding_of_vector_2_is_byte_identical() {
    assert_eq!(vector_2_message().encode_to_vec(), VECTOR_2_BODY);
}

/// Every field of the schema, encoded by hand from the protobuf spec.
#[test]
fn hand_encoded_message_with_every_field() {
    #[rustfmt::skip]
    let log: &[u8] = &[
        0x08, 0x01,                                     // Time = 1
        0x12, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b', // Contents {a: b}
        0x25, 0x05, 0x00, 0x00, 0x00,                   // Time_ns = 5
    ];
    #[rustfmt::skip]
    let group_tail: &[u8] = &[
        0x12, 0x01, b'c',                               // Category
        0x1a, 0x01, b't',                               // Topic
        0x22, 0x01, b's',                               // Source
        0x2a, 0x01, b'm',                               // MachineUUID
        0x32, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01, b'v', // LogTags {k: v}
    ];
    let mut group = vec![0x0a, log.len() as u8];
    group.extend_from_slice(log);
    group.extend_from_slice(group_tail);
    let mut list = vec![0x0a, group.len() as u8];
    list.extend_from_slice(&group);

    let expected = LogGroupList {
        log_groups: vec![LogGroup {
            logs: vec![Log::new(1, [("a", "b")]).with_time_ns(5)],
            category: Some("c".into()),
            topic: Some("t".into()),
            source: Some("s".into()),
            machine_uuid: Some("m".into()),
            log_tags: vec![LogTag {
                key: "k".into(),
                value: "v".into(),
            }],
        }],
    };
    assert_eq!(
        expected.encode_to_vec(),
        list,
        "prost writes what the spec says"
    );
    let view = LogGroupListView::decode(Bytes::from(list)).unwrap();
    assert_eq!(view.to_message(), expected);
    let g = view.groups().next().unwrap();
    assert_eq!(
        (g.category(), g.topic(), g.source(), g.machine_uuid()),
        (
            Some("c".into()),
            Some("t".into()),
            Some("s".into()),
            Some("m".into())
        )
    );
    assert_eq!(
        g.tags().collect::<Vec<_>>(),
        [(BStr::new("k"), BStr::new("v"))]
    );
}

fn reflect_pool() -> DescriptorPool {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
    let fds = protox::compile([format!("{dir}/log.proto")], [dir]).unwrap();
    DescriptorPool::from_file_descriptor_set(fds).unwrap()
}

/// Our bytes read by a schema-driven decoder, and its bytes read by ours.
#[test]
fn schema_driven_decoder_agrees_both_ways() {
    let pool = reflect_pool();
    let list_desc = pool.get_message_by_name("sls.LogGroupList").unwrap();
    let ours = AccessLogs::new(3).list(3, 50);
    let bytes = ours.encode_to_vec();

    let dynamic = DynamicMessage::decode(list_desc.clone(), &bytes[..]).unwrap();
    let groups = dynamic.get_field_by_name("LogGroups").unwrap();
    let Value::List(groups) = groups.as_ref() else {
        panic!("LogGroups is a list")
    };
    assert_eq!(groups.len(), 3);
    let first = groups[0].as_message().unwrap();
    assert_eq!(
        first
            .get_field_by_name("Topic")
            .unwrap()
            .as_bytes()
            .map(|b| &b[..]),
        Some(&b"nginx-access"[..])
    );
    let logs = first.get_field_by_name("Logs").unwrap();
    let first_log = logs.as_list().unwrap()[0].as_message().unwrap().clone();
    assert_eq!(
        first_log.get_field_by_name("Time").unwrap().as_u32(),
        Some(ours.log_groups[0].logs[0].time)
    );
    assert_eq!(
        first_log.get_field_by_name("Time_ns").unwrap().as_u32(),
        ours.log_groups[0].logs[0].time_ns
    );

    // Its encoding, read by the view, is what we started from.
    let theirs = dynamic.encode_to_vec();
    let view = LogGroupListView::decode(Bytes::from(theirs)).unwrap();
    assert_eq!(view.to_message(), ours);
}

/// Text in the encodings production logs hold, in every string position,
/// encoded by hand: GBK "中文" (D6 D0 CE C4), Latin-1 "café", binary with
/// 0x00 and 0xFF. The view, prost and the schema-driven decoder all read the
/// same bytes back; none refuses the body.
#[test]
fn hand_encoded_non_utf8_text_in_every_position() {
    let gbk: &[u8] = b"\xd6\xd0\xce\xc4";
    let latin1: &[u8] = b"caf\xe9";
    let binary: &[u8] = b"\x00\xff\x80";
    let field = |tag: u8, bytes: &[u8]| [&[tag, bytes.len() as u8][..], bytes].concat();
    let pair = |key: &[u8], value: &[u8]| [field(0x0a, key), field(0x12, value)].concat();
    let log = [
        vec![0x08, 0x01],
        field(0x12, &pair(latin1, gbk)),
        field(0x12, &pair(gbk, binary)),
    ]
    .concat();
    let group = [
        field(0x0a, &log),
        field(0x12, binary),                // Category
        field(0x1a, gbk),                   // Topic
        field(0x22, latin1),                // Source
        field(0x2a, binary),                // MachineUUID
        field(0x32, &pair(binary, latin1)), // LogTags
    ]
    .concat();
    let list = field(0x0a, &group);

    let expected = LogGroupList {
        log_groups: vec![LogGroup {
            logs: vec![Log::new(1, [(latin1, gbk), (gbk, binary)])],
            category: Some(binary.to_vec()),
            topic: Some(gbk.to_vec()),
            source: Some(latin1.to_vec()),
            machine_uuid: Some(binary.to_vec()),
            log_tags: vec![LogTag {
                key: binary.to_vec(),
                value: latin1.to_vec(),
            }],
        }],
    };
    assert_eq!(
        expected.encode_to_vec(),
        list,
        "prost writes what the spec says"
    );
    assert_eq!(LogGroupList::decode(&list[..]).unwrap(), expected);

    let view = LogGroupListView::decode(Bytes::from(list.clone())).unwrap();
    assert_eq!(view.to_message(), expected);
    let g = view.groups().next().unwrap();
    assert_eq!(g.encoded(), group, "forwarded byte for byte");
    assert_eq!(g.topic().unwrap(), gbk);
    assert_eq!(g.source().unwrap(), latin1);
    assert_eq!(g.category().unwrap(), binary);
    assert_eq!(g.machine_uuid().unwrap(), binary);
    assert_eq!(
        g.tags().collect::<Vec<_>>(),
        [(BStr::new(binary), BStr::new(latin1))]
    );
    let l = g.logs().next().unwrap();
    assert_eq!(l.get(latin1).unwrap(), gbk);
    assert_eq!(l.get(gbk).unwrap(), binary);
    assert_eq!(l.get("caf\u{e9}"), None, "keys match as bytes, not as text");

    // Text access: checked, lossy, escaped.
    use sls_proto::ByteSlice;
    let topic = g.topic().unwrap();
    assert!(topic.to_str().is_err());
    assert_eq!(topic.to_str_lossy(), "\u{fffd}\u{fffd}\u{fffd}\u{fffd}");
    assert_eq!(format!("{}", g.source().unwrap()), "caf\u{fffd}");
    assert_eq!(format!("{:?}", g.category().unwrap()), r#""\0\xff\x80""#);

    // The schema-driven decoder (our .proto: these fields are bytes) agrees.
    let pool = reflect_pool();
    let desc = pool.get_message_by_name("sls.LogGroupList").unwrap();
    let dynamic = DynamicMessage::decode(desc, &list[..]).unwrap();
    assert_eq!(dynamic.encode_to_vec(), list);
}
