//! How fast the fake server serves pulls, beside what decoding them costs,
//! so it is clear the server does not limit consumer benchmarks.
//!
//! Data: 16 log groups of 1024 nginx access logs (12 fields) in one shard,
//! about 6 MB raw. Every figure is per pull of all 16 groups, with MB/s of
//! uncompressed bytes.
//! - `server_splice`: what serving a pull costs the server: joining the 16
//!   stored lz4 blocks into one body (`Lz4Block::splice`).
//! - `client_decode`: what the consumer then spends on it: lz4
//!   decompression and the view decoder's validation.
//! - `pull_over_loopback_raw`: a whole signed PullLogs round trip over
//!   127.0.0.1, server included, body not decoded.
//! - `pull_over_loopback_decoded`: the same through `Client::pull_logs`,
//!   which also decompresses and validates.
//!
//! Run with `cargo bench -p sls-testkit --bench serve`.

use std::sync::LazyLock;

use bytes::Bytes;
use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use http::Method;
use sls_client::{Client, CursorPosition, PullLogsRequest, PutLogsRequest, SlsRequest};
use sls_proto::prost::Message;
use sls_proto::sample::AccessLogs;
use sls_proto::{CompressType, Cursor, Decompressor, LogGroup, LogGroupListView, Lz4Block};
use sls_testkit::FakeLogHub;

const GROUPS: usize = 16;
const LOGS: usize = 1024;

struct Setup {
    runtime: tokio::runtime::Runtime,
    _hub: FakeLogHub,
    client: Client,
    begin: Cursor,
    blocks: Vec<Lz4Block>,
    raw_len: usize,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let groups: Vec<LogGroup> = {
        let mut logs = AccessLogs::new(42);
        (0..GROUPS).map(|_| logs.group(LOGS)).collect()
    };
    let (hub, client, begin) = runtime.block_on(async {
        let hub = FakeLogHub::builder()
            .logstore("bench", "app", 1)
            // A benchmark measures us, not the service's quotas.
            .quotas(sls_testkit::Quotas::off())
            .start()
            .await
            .expect("start");
        let client = hub.client();
        for group in &groups {
            client
                .put_logs(PutLogsRequest::from_group("bench", "app", group))
                .await
                .expect("put");
        }
        let begin = client
            .get_cursor("bench", "app", 0, CursorPosition::Begin)
            .await
            .expect("cursor");
        (hub, client, begin)
    });
    // The blocks the server stores: each group framed as a list entry.
    let blocks: Vec<Lz4Block> = groups
        .iter()
        .map(|g| {
            Lz4Block::compress(
                &sls_proto::LogGroupList {
                    log_groups: vec![g.clone()],
                }
                .encode_to_vec(),
            )
        })
        .collect();
    let raw_len = blocks.iter().map(Lz4Block::raw_len).sum();
    Setup {
        runtime,
        _hub: hub,
        client,
        begin,
        blocks,
        raw_len,
    }
});

fn main() {
    let setup = &*SETUP;
    println!(
        "data set: {GROUPS} groups x {LOGS} logs x 12 fields per pull; {} bytes raw",
        setup.raw_len
    );
    divan::main();
}

#[divan::bench]
fn server_splice(bencher: Bencher<'_, '_>) {
    let setup = &*SETUP;
    bencher
        .counter(BytesCount::new(setup.raw_len))
        .bench(|| Lz4Block::splice(&setup.blocks));
}

#[divan::bench]
fn client_decode(bencher: Bencher<'_, '_>) {
    let setup = &*SETUP;
    let (body, raw_len) = Lz4Block::splice(&setup.blocks);
    let body = Bytes::from(body);
    bencher.counter(BytesCount::new(setup.raw_len)).bench(|| {
        let raw = Decompressor::default()
            .decompress(CompressType::Lz4, body.clone(), raw_len as u64)
            .expect("lz4");
        LogGroupListView::decode(raw).expect("view").log_count()
    });
}

#[divan::bench]
fn pull_over_loopback_raw(bencher: Bencher<'_, '_>) {
    let setup = &*SETUP;
    bencher
        .counter(BytesCount::new(setup.raw_len))
        .counter(ItemsCount::new(1usize))
        .bench(|| {
            setup.runtime.block_on(async {
                let request =
                    SlsRequest::new(Method::GET, Some("bench"), "/logstores/app/shards/0")
                        .query("type", "log")
                        .query("cursor", setup.begin.to_string())
                        .query("count", GROUPS.to_string());
                setup.client.send(request).await.expect("pull").body().len()
            })
        });
}

#[divan::bench]
fn pull_over_loopback_decoded(bencher: Bencher<'_, '_>) {
    let setup = &*SETUP;
    bencher
        .counter(BytesCount::new(setup.raw_len))
        .counter(ItemsCount::new(1usize))
        .bench(|| {
            setup.runtime.block_on(async {
                let pull =
                    PullLogsRequest::new("bench", "app", 0, setup.begin).count(GROUPS as u32);
                setup
                    .client
                    .pull_logs(pull)
                    .await
                    .expect("pull")
                    .groups
                    .log_count()
            })
        });
}
