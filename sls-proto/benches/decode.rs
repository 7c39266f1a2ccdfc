//! Decoding throughput of a pulled body, in MB/s of uncompressed bytes.
//!
//! Two data sets of 4 log groups of 4096 logs each, about 6 MB raw:
//! - access logs (the unprefixed benchmarks): nginx access logs with 12
//!   ASCII fields, from `sls_proto::sample::AccessLogs`;
//! - Chinese text (`zh_`): application logs with 6 fields whose values are
//!   mostly Chinese UTF-8 messages, generated below.
//!
//! Each decoder visits every key and value, so the lazy view does all the
//! work the owned decoder does up front.
//!
//! Run with `cargo bench -p sls-proto --bench decode`.

use std::hint::black_box;
use std::sync::LazyLock;

use divan::Bencher;
use divan::counter::BytesCount;
use sls_proto::prost::Message;
use sls_proto::sample::AccessLogs;
use sls_proto::{CompressType, Decompressor, Log, LogGroup, LogGroupList, LogGroupListView};

fn main() {
    for (name, data) in [("access logs", &*ACCESS), ("Chinese text", &*CHINESE)] {
        println!(
            "data set {name}: {GROUPS} groups x {LOGS_PER_GROUP} logs; {} bytes raw, {} bytes lz4",
            data.raw.len(),
            data.lz4.len()
        );
    }
    divan::main();
}

const GROUPS: usize = 4;
const LOGS_PER_GROUP: usize = 4096;

struct Data {
    raw: bytes::Bytes,
    lz4: bytes::Bytes,
}

impl Data {
    fn new(list: &LogGroupList) -> Self {
        let raw = list.encode_to_vec();
        let lz4 = CompressType::Lz4.compress(&raw).expect("lz4 never fails");
        Data {
            raw: raw.into(),
            lz4: lz4.into(),
        }
    }
}

static ACCESS: LazyLock<Data> =
    LazyLock::new(|| Data::new(&AccessLogs::new(42).list(GROUPS, LOGS_PER_GROUP)));

static CHINESE: LazyLock<Data> = LazyLock::new(|| Data::new(&chinese_list(42)));

const SUBJECTS: &[&str] = &[
    "用户张伟",
    "商户杭州西湖店",
    "管理员李娜",
    "系统调度任务",
    "客户端",
];
const EVENTS: &[&str] = &[
    "提交了订单，支付方式为支付宝，金额已冻结",
    "登录失败：密码错误次数过多，账户已被临时锁定",
    "上传文件成功，等待内容安全审核",
    "请求库存服务超时，已自动重试三次",
    "修改了收货地址为浙江省杭州市余杭区文一西路",
    "触发风控规则：同一设备短时间内多次下单",
];
const MODULES: &[&str] = &["订单服务", "支付网关", "用户中心", "库存管理", "消息推送"];
const LEVELS: &[&str] = &["信息", "警告", "错误"];

/// Application logs whose values are mostly Chinese UTF-8 text.
fn chinese_list(seed: u64) -> LogGroupList {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut pick = |options: &[&'static str]| options[rng.usize(..options.len())];
    let log_groups = (0..GROUPS)
        .map(|g| {
            let logs = (0..LOGS_PER_GROUP).map(|i| {
                let message = format!("{}{}（第{}次）", pick(SUBJECTS), pick(EVENTS), i % 97);
                Log::new(
                    1_700_000_000 + (i / 64) as u32,
                    [
                        ("级别", pick(LEVELS).to_owned()),
                        ("模块", pick(MODULES).to_owned()),
                        ("消息", message),
                        ("操作人", pick(SUBJECTS).to_owned()),
                        ("trace_id", format!("{g:02x}{i:06x}")),
                        ("城市", "杭州".to_owned()),
                    ],
                )
            });
            LogGroup::builder()
                .topic("应用日志")
                .source(format!("10.0.0.{g}"))
                .tag("__hostname__", format!("app-{g:02}"))
                .extend(logs)
                .build()
        })
        .collect();
    LogGroupList { log_groups }
}

fn raw_bytes(data: &Data) -> BytesCount {
    BytesCount::new(data.raw.len())
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

fn bench_lz4(bencher: Bencher<'_, '_>, data: &'static Data) {
    bencher
        .counter(raw_bytes(data))
        .bench(|| black_box(lz4(black_box(data))));
}

fn bench_prost(bencher: Bencher<'_, '_>, data: &'static Data) {
    bencher.counter(raw_bytes(data)).bench(|| {
        let list = LogGroupList::decode(black_box(&data.raw[..])).expect("valid");
        black_box(visit_owned(&list))
    });
}

fn bench_view(bencher: Bencher<'_, '_>, data: &'static Data) {
    bencher.counter(raw_bytes(data)).bench(|| {
        let view = LogGroupListView::decode(black_box(data.raw.clone())).expect("valid");
        black_box(visit_view(&view))
    });
}

fn bench_lz4_prost(bencher: Bencher<'_, '_>, data: &'static Data) {
    bencher.counter(raw_bytes(data)).bench(|| {
        let raw = lz4(black_box(data));
        let list = LogGroupList::decode(&raw[..]).expect("valid");
        black_box(visit_owned(&list))
    });
}

fn bench_lz4_view(bencher: Bencher<'_, '_>, data: &'static Data) {
    bencher.counter(raw_bytes(data)).bench(|| {
        let view = LogGroupListView::decode(lz4(black_box(data))).expect("valid");
        black_box(visit_view(&view))
    });
}

#[divan::bench]
fn lz4_decompress(bencher: Bencher<'_, '_>) {
    bench_lz4(bencher, &ACCESS);
}

#[divan::bench]
fn prost_owned_decode(bencher: Bencher<'_, '_>) {
    bench_prost(bencher, &ACCESS);
}

#[divan::bench]
fn view_decode(bencher: Bencher<'_, '_>) {
    bench_view(bencher, &ACCESS);
}

#[divan::bench]
fn lz4_then_prost_owned_decode(bencher: Bencher<'_, '_>) {
    bench_lz4_prost(bencher, &ACCESS);
}

#[divan::bench]
fn lz4_then_view_decode(bencher: Bencher<'_, '_>) {
    bench_lz4_view(bencher, &ACCESS);
}

#[divan::bench]
fn zh_lz4_decompress(bencher: Bencher<'_, '_>) {
    bench_lz4(bencher, &CHINESE);
}

#[divan::bench]
fn zh_prost_owned_decode(bencher: Bencher<'_, '_>) {
    bench_prost(bencher, &CHINESE);
}

#[divan::bench]
fn zh_view_decode(bencher: Bencher<'_, '_>) {
    bench_view(bencher, &CHINESE);
}

#[divan::bench]
fn zh_lz4_then_prost_owned_decode(bencher: Bencher<'_, '_>) {
    bench_lz4_prost(bencher, &CHINESE);
}

#[divan::bench]
fn zh_lz4_then_view_decode(bencher: Bencher<'_, '_>) {
    bench_lz4_view(bencher, &CHINESE);
}
