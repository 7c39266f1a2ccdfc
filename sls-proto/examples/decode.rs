//! Decodes a realistic pulled body both ways and prints what it found and
//! how fast, the zero-copy view beside prost's owned decoding.
//!
//! It builds 4 lz4-compressed log groups of 4096 nginx access logs (what one
//! PullLogs call returns), then decompresses and decodes them repeatedly with
//! each decoder, reading every field, and prints MB/s of raw bytes.
//!
//! Run: `cargo run --release --example decode`. For careful figures use the
//! benchmark: `cargo bench -p sls-proto --bench decode`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sls_proto::prost::Message;
use sls_proto::sample::AccessLogs;
use sls_proto::{BStr, CompressType, Decompressor, LogGroupList, LogGroupListView};

const ROUNDS: u32 = 30;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let raw = AccessLogs::new(42).list(4, 4096).encode_to_vec();
    let body = Bytes::from(CompressType::Lz4.compress(&raw)?);
    let declared = raw.len() as u64;
    println!(
        "body: {} bytes lz4, {} bytes raw ({:.1}x)",
        body.len(),
        raw.len(),
        raw.len() as f64 / body.len() as f64
    );

    let decompressor = Decompressor::default();
    let view = LogGroupListView::decode(decompressor.decompress(
        CompressType::Lz4,
        body.clone(),
        declared,
    )?)?;
    // Keys and values are bytes (`&BStr`); its `Debug` shows them as text.
    let mut statuses = std::collections::BTreeMap::<&BStr, usize>::new();
    for group in &view {
        for log in group.logs() {
            *statuses
                .entry(log.get("status").unwrap_or("-".into()))
                .or_default() += 1;
        }
    }
    println!(
        "{} groups, {} logs; by status: {statuses:?}",
        view.len(),
        view.log_count()
    );

    let view_time = time(|| {
        let raw = decompressor.decompress(CompressType::Lz4, body.clone(), declared)?;
        let view = LogGroupListView::decode(raw)?;
        let mut n = 0;
        for group in &view {
            for log in group.logs() {
                n += log
                    .contents()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>();
            }
        }
        Ok(n)
    })?;
    let prost_time = time(|| {
        let raw = decompressor.decompress(CompressType::Lz4, body.clone(), declared)?;
        let list = LogGroupList::decode(&raw[..])?;
        let mut n = 0;
        for group in &list.log_groups {
            for log in &group.logs {
                n += log
                    .contents
                    .iter()
                    .map(|c| c.key.len() + c.value.len())
                    .sum::<usize>();
            }
        }
        Ok(n)
    })?;
    let rate = |t: Duration| raw.len() as f64 * f64::from(ROUNDS) / t.as_secs_f64() / 1e6;
    println!("lz4 + view decode : {:7.0} MB/s", rate(view_time));
    println!("lz4 + prost decode: {:7.0} MB/s", rate(prost_time));
    println!(
        "view is {:.1}x faster",
        prost_time.as_secs_f64() / view_time.as_secs_f64()
    );
    Ok(())
}

/// One timed round: the number of bytes of text it read.
type Round = Result<usize, Box<dyn std::error::Error>>;

fn time(mut f: impl FnMut() -> Round) -> Result<Duration, Box<dyn std::error::Error>> {
    f()?; // warm up
    let start = Instant::now();
    for _ in 0..ROUNDS {
        std::hint::black_box(f()?);
    }
    Ok(start.elapsed())
}
