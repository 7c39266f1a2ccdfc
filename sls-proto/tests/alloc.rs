//! Allocation counts, measured with a counting global allocator (its own
//! test binary, so nothing else shares the allocator). Counters are per
//! thread, so tests running in parallel do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use sls_proto::prost::Message;
use sls_proto::sample::{AccessLogs, MessyLogs};
use sls_proto::{CompressType, Decompressor, LogGroupList, LogGroupListView};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
}

#[allow(unsafe_code)]
// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread, and the largest one.
fn measure<T>(f: impl FnOnce() -> T) -> (usize, usize, T) {
    ALLOCATIONS.with(|n| n.set(0));
    LARGEST.with(|m| m.set(0));
    let out = f();
    (ALLOCATIONS.with(Cell::get), LARGEST.with(Cell::get), out)
}

/// Decodes and reads every field of every log.
fn decode_and_visit(body: Bytes) -> usize {
    let view = LogGroupListView::decode(body).unwrap();
    let mut total = 0;
    for group in &view {
        total += group.topic().map_or(0, |t| t.len()) + group.tags().count();
        for log in group.logs() {
            total += log.time() as usize + log.time_ns().unwrap_or(0) as usize;
            for (key, value) in log.contents() {
                total += key.len() + value.len();
            }
        }
    }
    total
}

#[test]
fn view_allocations_do_not_grow_with_logs() {
    let mut counts = Vec::new();
    for logs in [1, 10, 100, 1000, 4096] {
        let body = Bytes::from(AccessLogs::new(1).list(4, logs).encode_to_vec());
        let (allocations, _, visited) = measure(|| decode_and_visit(body));
        assert!(visited > 0);
        counts.push((logs, allocations));
    }
    let first = counts[0].1;
    assert!(
        counts.iter().all(|&(_, n)| n == first),
        "allocations per decoded list changed with the log count: {counts:?}"
    );
    // The one allocation is the group index.
    assert!(first <= 1, "{counts:?}");

    // Text in any encoding costs nothing more: no allocation, no refusal.
    for logs in [1, 100, 4096] {
        let body = Bytes::from(MessyLogs::new(1).list(4, logs).encode_to_vec());
        let (allocations, _, visited) = measure(|| decode_and_visit(body));
        assert!(visited > 0);
        assert!(allocations <= 1, "{logs} messy logs: {allocations}");
    }

    // For contrast, and to show the counter counts: prost allocates per field.
    let body = AccessLogs::new(1).list(4, 100).encode_to_vec();
    let (prost, _, _) = measure(|| LogGroupList::decode(&body[..]).unwrap());
    assert!(prost > 4 * 100 * 12, "{prost}");
}

#[test]
fn a_lying_raw_size_allocates_nothing_large() {
    for codec in CompressType::ALL {
        let (_, largest, result) = measure(|| {
            Decompressor::default().decompress(codec, Bytes::from_static(&[0; 10]), 4 << 30)
        });
        assert!(result.is_err());
        assert!(largest < 1024, "{codec}: allocated {largest} bytes");
    }
}

#[test]
fn garbage_under_the_cap_allocates_at_most_the_declared_size() {
    let mut garbage = vec![0u8; 4096];
    fastrand::Rng::with_seed(3).fill(&mut garbage);
    let declared = 32 << 20;
    for codec in [CompressType::Lz4, CompressType::Deflate] {
        let body = Bytes::from(garbage.clone());
        let (_, largest, result) =
            measure(|| Decompressor::default().decompress(codec, body, declared));
        assert!(result.is_err(), "{codec}");
        // lz4 may reserve the declared size only when the body could reach
        // it (at most 255x its length); streams grow with what they decode.
        assert!(largest <= 4096 * 255, "{codec}: allocated {largest} bytes");
    }
}
