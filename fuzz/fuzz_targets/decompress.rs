//! Every decompressor on arbitrary bodies and declared sizes: never
//! panics, never allocates past the cap, and what it returns is exactly the
//! declared size.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sls_proto::{CompressType, Decompressor};

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let declared = u64::from_le_bytes(data[..8].try_into().unwrap()) % (2 << 20);
    let codec = CompressType::ALL[usize::from(data[8]) % CompressType::ALL.len()];
    let body = Bytes::copy_from_slice(&data[9..]);
    let decompressor = Decompressor::with_max_raw_size(1 << 20);
    if let Ok(out) = decompressor.decompress(codec, body, declared) {
        assert_eq!(out.len() as u64, declared);
    }
});
