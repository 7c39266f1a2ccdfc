//! Untrusted bytes never panic the view decoder or a decompressor; they
//! give typed errors, and whatever is accepted is exactly as declared.

use bytes::Bytes;
use proptest::prelude::*;
use sls_proto::prost::Message;
use sls_proto::sample::AccessLogs;
use sls_proto::{
    ByteSlice, CompressType, DecodeErrorKind, Decompressor, LogGroupBytes, LogGroupListView,
};

/// Reads everything a view offers, so lazy paths run too.
fn exercise(view: &LogGroupListView) -> usize {
    let mut n = 0;
    for group in view {
        n += group.topic().map_or(0, |t| t.len()) + group.tags().count();
        for log in group.logs() {
            n += log.time() as usize % 7 + log.time_ns().is_some() as usize;
            n += log
                .contents()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        }
        let _ = group.to_message();
    }
    n
}

fn valid_body() -> Vec<u8> {
    AccessLogs::new(11).list(2, 20).encode_to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_the_view(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(view) = LogGroupListView::decode(Bytes::from(bytes.clone())) {
            exercise(&view);
        }
        if let Ok(group) = LogGroupBytes::decode(Bytes::from(bytes)) {
            let _ = group.view().to_message();
        }
    }

    #[test]
    fn truncated_valid_bodies_are_errors_or_prefixes(cut in any::<prop::sample::Index>()) {
        let body = valid_body();
        let cut = cut.index(body.len());
        match LogGroupListView::decode(Bytes::copy_from_slice(&body[..cut])) {
            Ok(view) => { exercise(&view); }
            Err(err) => prop_assert!(err.offset() <= cut),
        }
    }

    #[test]
    fn bit_flipped_valid_bodies_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..6)) {
        let mut body = valid_body();
        for (at, bit) in flips {
            let i = at.index(body.len());
            body[i] ^= 1 << bit;
        }
        if let Ok(view) = LogGroupListView::decode(Bytes::from(body)) {
            exercise(&view);
        }
    }

    #[test]
    fn decompressors_survive_arbitrary_bodies(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        declared in prop_oneof![0u64..4096, Just(4u64 << 30), any::<u64>()],
    ) {
        let d = Decompressor::with_max_raw_size(1 << 20);
        for codec in CompressType::ALL {
            if let Ok(out) = d.decompress(codec, Bytes::from(body.clone()), declared) {
                prop_assert_eq!(out.len() as u64, declared);
            }
        }
    }

    #[test]
    fn corrupted_compressed_bodies_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let raw = valid_body();
        for codec in [CompressType::Lz4, CompressType::Zstd, CompressType::Deflate] {
            let mut body = codec.compress(&raw).unwrap();
            for (at, value) in &flips {
                let i = at.index(body.len());
                body[i] = *value;
            }
            if let Ok(out) = Decompressor::default().decompress(codec, Bytes::from(body), raw.len() as u64) {
                prop_assert_eq!(out.len(), raw.len());
                if let Ok(view) = LogGroupListView::decode(out) {
                    exercise(&view);
                }
            }
        }
    }
}

#[test]
fn malformed_bodies_name_what_is_wrong() {
    // A list, a group, a log and a field whose value's length is a two-byte
    // varint (0x85 0x01 = 133) with one byte too few.
    let long_value = [
        &[0x0a, 0x90, 0x01, 0x0a, 0x8d, 0x01, 0x12, 0x8a, 0x01][..],
        &[0x0a, 0x01, b'k', 0x12, 0x85, 0x01],
        &[b'v'; 132],
    ]
    .concat();
    let cases: &[(&[u8], DecodeErrorKind, usize)] = &[
        (&[0x0a], DecodeErrorKind::Truncated, 1),
        (&[0x0a, 0x05, 0x00], DecodeErrorKind::LengthOutOfBounds, 1),
        (&[0x0b], DecodeErrorKind::UnsupportedWireType(3), 0),
        (&[0x00], DecodeErrorKind::InvalidFieldNumber, 0),
        (
            &[0x08, 0x01],
            DecodeErrorKind::WireTypeMismatch {
                field: "LogGroupList.LogGroups",
                expected: "length-delimited",
                found: "varint",
            },
            0,
        ),
        // A group whose only log has a Time sent as a string.
        (
            &[0x0a, 0x04, 0x0a, 0x02, 0x0a, 0x00],
            DecodeErrorKind::WireTypeMismatch {
                field: "Log.Time",
                expected: "varint",
                found: "length-delimited",
            },
            4,
        ),
        // The fast path for one-byte lengths must not read 0x85 as the
        // whole length (133 bytes do follow it).
        (&long_value, DecodeErrorKind::LengthOutOfBounds, 13),
    ];
    for (bytes, kind, offset) in cases {
        let err = LogGroupListView::decode(Bytes::copy_from_slice(bytes)).unwrap_err();
        assert_eq!(err.kind(), kind, "{bytes:?}");
        assert_eq!(err.offset(), *offset, "{bytes:?}");
        assert!(err.to_string().contains(&format!("byte {offset}")));
    }
}

/// One log whose value is not UTF-8 must not make its body undecodable (it
/// used to: a poison pill that stopped the shard for good).
#[test]
fn non_utf8_in_a_log_field_is_read_as_sent() {
    let mut list = sls_proto::LogGroupList {
        log_groups: vec![sls_proto::LogGroup::synthetic(3, 3)],
    }
    .encode_to_vec();
    let at = list.iter().position(|&b| b == b'v').unwrap();
    list[at] = 0xc3; // a lone UTF-8 lead byte
    let view = LogGroupListView::decode(Bytes::from(list.clone())).unwrap();
    let log = view.groups().next().unwrap().logs().next().unwrap();
    let value = log.get("key0").unwrap();
    assert_eq!(value, &b"\xc3alue-0-0"[..]);
    assert!(value.to_str().is_err());
    assert_eq!(value.to_str_lossy(), "\u{fffd}alue-0-0");
    assert_eq!(
        view.to_message(),
        sls_proto::LogGroupList::decode(&list[..]).unwrap()
    );
}
