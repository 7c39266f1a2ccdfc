//! Every codec round-trips, checks sizes exactly, and refuses lies early.

use bytes::Bytes;
use proptest::prelude::*;
use sls_proto::prost::Message;
use sls_proto::sample::AccessLogs;
use sls_proto::{CodecError, CompressType, DEFAULT_MAX_RAW_SIZE, Decompressor};

fn round_trip(codec: CompressType, raw: &[u8]) {
    let body = codec.compress(raw).unwrap();
    let out = Decompressor::default()
        .decompress(codec, Bytes::from(body), raw.len() as u64)
        .unwrap();
    assert_eq!(&out[..], raw, "{codec}");
}

#[test]
fn every_codec_round_trips_realistic_and_edge_data() {
    let realistic = AccessLogs::new(1).list(2, 500).encode_to_vec();
    let mut noise = vec![0u8; 100_000];
    fastrand::Rng::with_seed(9).fill(&mut noise);
    for codec in CompressType::ALL {
        round_trip(codec, &realistic);
        round_trip(codec, &noise);
        round_trip(codec, b"");
        round_trip(codec, b"x");
    }
}

#[test]
fn lz4_handles_incompressible_input_with_small_overhead() {
    let mut noise = vec![0u8; 1 << 20];
    fastrand::Rng::with_seed(5).fill(&mut noise);
    let body = CompressType::Lz4.compress(&noise).unwrap();
    assert!(
        body.len() <= noise.len() + noise.len() / 255 + 16,
        "{}",
        body.len()
    );
}

#[test]
fn realistic_logs_compress_well() {
    let raw = AccessLogs::new(1).list(1, 4096).encode_to_vec();
    for codec in [CompressType::Lz4, CompressType::Zstd, CompressType::Deflate] {
        let body = codec.compress(&raw).unwrap();
        assert!(
            body.len() * 3 < raw.len(),
            "{codec}: {} of {}",
            body.len(),
            raw.len()
        );
    }
}

#[test]
fn size_mismatches_are_typed_errors() {
    let raw = b"abcdefgh".repeat(100);
    for codec in CompressType::ALL {
        let body = Bytes::from(codec.compress(&raw).unwrap());
        let d = Decompressor::default();
        let short = d
            .decompress(codec, body.clone(), raw.len() as u64 - 1)
            .unwrap_err();
        assert!(
            matches!(short, CodecError::LongerThanDeclared { declared, .. } if declared == raw.len() as u64 - 1),
            "{codec}: {short:?}"
        );
        let long = d.decompress(codec, body, raw.len() as u64 + 1).unwrap_err();
        assert!(
            matches!(long, CodecError::ShorterThanDeclared { actual, .. } if actual == raw.len() as u64)
                || matches!(long, CodecError::Corrupt { .. }),
            "{codec}: {long:?}"
        );
    }
}

/// A recycled buffer, larger than needed and full of an older body, gives
/// the same answers as a fresh one: the same bytes, the same errors.
#[test]
fn a_reused_buffer_decodes_and_refuses_as_a_fresh_one() {
    let raw = b"abcdefgh".repeat(100);
    let d = Decompressor::default();
    for codec in CompressType::ALL {
        let body = codec.compress(&raw).unwrap();
        let stale = || vec![0xee_u8; 4 * raw.len()];
        let mut buf = stale();
        d.decompress_into(codec, &body, raw.len() as u64, &mut buf)
            .unwrap();
        assert_eq!(buf, raw, "{codec}");
        // A second, shorter body over the same buffer.
        let short_body = codec.compress(&raw[..10]).unwrap();
        d.decompress_into(codec, &short_body, 10, &mut buf).unwrap();
        assert_eq!(buf, &raw[..10], "{codec}");
        for declared in [raw.len() as u64 - 1, raw.len() as u64 + 1] {
            let fresh = d.decompress(codec, Bytes::from(body.clone()), declared);
            let mut buf = stale();
            let reused = d.decompress_into(codec, &body, declared, &mut buf);
            assert_eq!(
                format!("{:?}", fresh.map(|_| ())),
                format!("{reused:?}"),
                "{codec}, declared {declared}"
            );
        }
    }
}

#[test]
fn declared_sizes_over_the_cap_are_refused_before_decoding() {
    for codec in CompressType::ALL {
        for declared in [4u64 << 30, u64::MAX, DEFAULT_MAX_RAW_SIZE as u64 + 1] {
            let err = Decompressor::default()
                .decompress(codec, Bytes::from_static(&[0; 10]), declared)
                .unwrap_err();
            assert!(
                matches!(err, CodecError::RawSizeOverLimit { .. }),
                "{codec}: {err:?}"
            );
        }
    }
    let small = Decompressor::with_max_raw_size(100);
    assert_eq!(small.max_raw_size(), 100);
    let body = Bytes::from(CompressType::Lz4.compress(&[7; 101]).unwrap());
    assert!(matches!(
        small.decompress(CompressType::Lz4, body, 101),
        Err(CodecError::RawSizeOverLimit {
            declared: 101,
            limit: 100
        })
    ));
}

#[test]
fn lz4_refuses_sizes_no_block_could_reach() {
    let err = Decompressor::default()
        .decompress(CompressType::Lz4, Bytes::from_static(&[0; 10]), 2551)
        .unwrap_err();
    assert!(
        matches!(err, CodecError::RawSizeImpossible { body_len: 10, .. }),
        "{err:?}"
    );
}

#[test]
fn compress_type_header_values() {
    for codec in CompressType::ALL {
        let header = codec.header_value().unwrap_or("");
        assert_eq!(CompressType::from_header(header).unwrap(), codec);
        assert_eq!(codec.to_string().parse::<CompressType>().unwrap(), codec);
    }
    assert_eq!(CompressType::from_header("LZ4").unwrap(), CompressType::Lz4);
    assert_eq!(
        CompressType::from_header(" zstd ").unwrap(),
        CompressType::Zstd
    );
    let err = CompressType::from_header(&"snappy".repeat(20)).unwrap_err();
    assert!(matches!(&err, CodecError::UnknownCompressType(shown) if shown.len() == 32));
    // Found by the `responses` fuzz target: control characters are escaped
    // in the message, which stays bounded.
    let hostile = format!("{}$", "\u{10}".repeat(31));
    let err = CompressType::from_header(&hostile).unwrap_err();
    assert!(err.to_string().len() < 400, "{err}");
}

proptest! {
    #[test]
    fn codecs_round_trip_arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..5000)) {
        for codec in CompressType::ALL {
            let body = codec.compress(&raw).unwrap();
            let out = Decompressor::default().decompress(codec, Bytes::from(body), raw.len() as u64).unwrap();
            prop_assert_eq!(&out[..], &raw[..]);
            let mut reused = vec![7u8; 3000];
            Decompressor::default().decompress_into(codec, &codec.compress(&raw).unwrap(), raw.len() as u64, &mut reused).unwrap();
            prop_assert_eq!(&reused[..], &raw[..]);
        }
    }
}
