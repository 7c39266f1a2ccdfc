//! Decoding throughput of a pulled body, in MB/s of uncompressed bytes.
//!
//! One realistic data set: 4 log groups of 4096 nginx access logs with 12
//! fields each (from `sls_proto::sample`), about 6 MB raw. Each decoder
//! visits every key and value, so the lazy view does all the work the owned
//! decoder does up front.
//!
//! Run with `cargo bench -p sls-proto --bench decode`.

use std::hint::black_box;
use std::sync::LazyLock;

use divan::Bencher;
use divan::counter::BytesCount;
use sls_proto::prost::Message;
use sls_proto::sample::AccessLogs;
use sls_proto::{CompressType, Decompressor, LogGroupList, LogGroupListView};

fn main() {
    let data = &*DATA;
    println!(
        "data set: {} groups x {} logs x 12 fields; {} bytes raw, {} bytes lz4",
        GROUPS,
        LOGS_PER_GROUP,
        data.raw.len(),
        data.lz4.len()
    );
    divan::main();
}

const GROUPS: usize = 4;
const LOGS_PER_GROUP: usize = 4096;

struct Data {
    raw: bytes::Bytes,
    lz4: bytes::Bytes,
}

static DATA: LazyLock<Data> = LazyLock::new(|| {
    let raw = AccessLogs::new(42)
        .list(GROUPS, LOGS_PER_GROUP)
        .encode_to_vec();
    let lz4 = CompressType::Lz4.compress(&raw).expect("lz4 never fails");
    Data {
        raw: raw.into(),
        lz4: lz4.into(),
    }
});

fn raw_bytes() -> BytesCount {
    BytesCount::new(DATA.raw.len())
}

fn lz4(data: &Data) -> bytes::Bytes {
    Decompressor::default()
        .decompress(CompressType::Lz4, data.lz4.clone(), data.raw.len() as u64)
        .expect("valid lz4")
}

/// Sums the lengths of every string of an owned list.
fn visit_owned(list: &LogGroupList) -> usize {
    let mut total = 0;
    for group in &list.log_groups {
        total += group.topic.as_deref().map_or(0, <[u8]>::len);
        for log in &group.logs {
            total += log.time as usize;
            for content in &log.contents {
                total += content.key.len() + content.value.len();
            }
        }
    }
    total
}

/// Sums the lengths of every string of a view.
fn visit_view(view: &LogGroupListView) -> usize {
    let mut total = 0;
    for group in view {
        total += group.topic().map_or(0, |t| t.len());
        for log in group.logs() {
            total += log.time() as usize;
            for (key, value) in log.contents() {
                total += key.len() + value.len();
            }
        }
    }
    total
}

#[divan::bench]
fn lz4_decompress(bencher: Bencher<'_, '_>) {
    let data = &*DATA;
    bencher
        .counter(raw_bytes())
        .bench(|| black_box(lz4(black_box(data))));
}

#[divan::bench]
fn prost_owned_decode(bencher: Bencher<'_, '_>) {
    let data = &*DATA;
    bencher.counter(raw_bytes()).bench(|| {
        let list = LogGroupList::decode(black_box(&data.raw[..])).expect("valid");
        black_box(visit_owned(&list))
    });
}

#[divan::bench]
fn view_decode(bencher: Bencher<'_, '_>) {
    let data = &*DATA;
    bencher.counter(raw_bytes()).bench(|| {
        let view = LogGroupListView::decode(black_box(data.raw.clone())).expect("valid");
        black_box(visit_view(&view))
    });
}

#[divan::bench]
fn lz4_then_prost_owned_decode(bencher: Bencher<'_, '_>) {
    let data = &*DATA;
    bencher.counter(raw_bytes()).bench(|| {
        let raw = lz4(black_box(data));
        let list = LogGroupList::decode(&raw[..]).expect("valid");
        black_box(visit_owned(&list))
    });
}

#[divan::bench]
fn lz4_then_view_decode(bencher: Bencher<'_, '_>) {
    let data = &*DATA;
    bencher.counter(raw_bytes()).bench(|| {
        let view = LogGroupListView::decode(lz4(black_box(data))).expect("valid");
        black_box(visit_view(&view))
    });
}
