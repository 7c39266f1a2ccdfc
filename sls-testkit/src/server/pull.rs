//! PullLogs: the stored blocks spliced as they are, or decoded and run
//! through SPL (a `query`, or a named consume processor), in the
//! compression the reader accepts.

use std::sync::Arc;

use bytes::Bytes;
use sls_proto::prost::Message;
use sls_proto::{CompressType, Cursor, Decompressor, LogGroupList, LogGroupListView};

use super::Shared;
use super::cursors::pull_cursor;
use super::http::{Incoming, Reply};
use crate::error::ApiError;
use crate::quota::Direction;
use crate::spl::Pipeline;
use crate::store::Project;
use crate::store::shard::Read;

/// The statement a pull runs, if any: its `query`, or the SPL of the
/// consume processor it names.
fn statement(req: &Incoming, project: &Project) -> Result<Option<Arc<Pipeline>>, ApiError> {
    let query = req.param(&["query"]).filter(|q| !q.trim().is_empty());
    let processor = req.param(&["processor"]).filter(|p| !p.is_empty());
    match (query, processor) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "the fake does not support `query` and `processor` on one pull: how the \
             service combines them is not documented",
        )),
        (Some(query), None) => Pipeline::parse(query)
            .map(|p| Some(Arc::new(p)))
            .map_err(|err| ApiError::invalid(format!("invalid query: {err}"))),
        (None, Some(name)) => project
            .consume_processors
            .get(name)
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                ApiError::not_found(
                    "ConsumeProcessorNotExist",
                    &format!("consume processor {name}"),
                )
            }),
    }
}

/// The body compression the reader accepts: the first of lz4, zstd and
/// deflate that `Accept-Encoding` names, lz4 otherwise (the service's
/// default).
fn accepted(req: &Incoming) -> CompressType {
    req.header("accept-encoding")
        .unwrap_or("")
        .split(',')
        .filter_map(|name| CompressType::from_header(name).ok())
        .find(|codec| *codec != CompressType::None)
        .unwrap_or(CompressType::Lz4)
}

/// The scanned groups, decompressed (the blocks are ours: the raw size is
/// known and true).
fn scanned_raw(read: &Read) -> Result<Bytes, ApiError> {
    Decompressor::with_max_raw_size(read.raw_len)
        .decompress(
            CompressType::Lz4,
            Bytes::copy_from_slice(&read.body),
            read.raw_len as u64,
        )
        .map_err(|err| ApiError::new(500, "InternalServerError", err.to_string()))
}

fn compress(codec: CompressType, raw: &[u8]) -> Result<Vec<u8>, ApiError> {
    codec
        .compress(raw)
        .map_err(|err| ApiError::new(500, "InternalServerError", err.to_string()))
}

/// What goes out: the body as sent, its raw size and group count.
struct Body {
    bytes: Vec<u8>,
    raw_len: usize,
    groups: usize,
}

/// The scanned groups as stored, in `codec`: lz4 is the splice itself.
fn unfiltered(read: Read, codec: CompressType) -> Result<Body, ApiError> {
    let (raw_len, groups) = (read.raw_len, read.count);
    let bytes = if codec == CompressType::Lz4 {
        read.body
    } else {
        compress(codec, &scanned_raw(&read)?)?
    };
    Ok(Body {
        bytes,
        raw_len,
        groups,
    })
}

/// Runs `spl` on the scanned groups; returns the body and the logs
/// scanned and kept. Groups left without logs are omitted.
fn filtered(
    read: &Read,
    spl: &Pipeline,
    codec: CompressType,
) -> Result<(Body, usize, usize), ApiError> {
    let list = LogGroupListView::decode(scanned_raw(read)?)
        .map_err(|err| ApiError::new(500, "InternalServerError", err.to_string()))?;
    let scanned = list.log_count();
    if spl.is_identity() {
        let raw = list.as_bytes();
        let body = Body {
            bytes: compress(codec, raw)?,
            raw_len: raw.len(),
            groups: list.len(),
        };
        return Ok((body, scanned, scanned));
    }
    let kept = LogGroupList {
        log_groups: list
            .groups()
            .filter_map(|group| spl.apply_group(group.to_message()))
            .collect(),
    };
    let result = kept.log_groups.iter().map(|g| g.logs.len()).sum();
    let raw = kept.encode_to_vec();
    let body = Body {
        bytes: compress(codec, &raw)?,
        raw_len: raw.len(),
        groups: kept.log_groups.len(),
    };
    Ok((body, scanned, result))
}

pub(crate) fn pull_logs(
    shared: &Shared,
    req: &Incoming,
    ls: &str,
    id: u32,
) -> Result<Reply, ApiError> {
    let count: usize = req
        .required("count")?
        .parse()
        .ok()
        .filter(|c| (1..=sls_client::MAX_PULL_COUNT as usize).contains(c))
        .ok_or_else(|| ApiError::invalid("count must be 1..=1000"))?;
    let codec = accepted(req);
    // Read under the lock; decode, filter and compress after it.
    let (read, at_end, spl) = {
        let world = shared.world();
        let project = world.project(req.project()?)?;
        let spl = statement(req, project)?;
        let shard = world.logstore(req.project()?, ls)?.shard(id)?;
        let cursor = pull_cursor(shared, shard, req.required("cursor")?)?;
        let end = match req.param(&["end_cursor", "endCursor"]) {
            Some(text) if !text.is_empty() => Some(
                Cursor::parse(text)
                    .map_err(|err| {
                        ApiError::bad_request("InvalidCursor", format!("end cursor: {err}"))
                    })?
                    .sequence(),
            ),
            _ => None,
        };
        // Counted once the request is known to be well-formed and its
        // shard to exist; the bytes are charged once the body is made.
        crate::server::lock(&shared.quota).admit(
            Direction::Read,
            req.project()?,
            ls,
            id,
            shared.clock.now(),
        )?;
        let read = shard.read(cursor, count, end);
        let at_end = read.next == shard.end_cursor();
        (read, at_end, spl)
    };
    let (next, scanned_count, scanned_raw_len, cursor_time) =
        (read.next, read.count, read.raw_len, read.cursor_time);
    let (body, lines) = match &spl {
        None => (unfiltered(read, codec)?, None),
        Some(spl) => {
            let (body, scanned, result) = filtered(&read, spl, codec)?;
            (body, Some((scanned, result)))
        }
    };
    // What the service sends is what its read quota counts (the `quota`
    // notes): the body as compressed.
    crate::server::lock(&shared.quota).charge(
        Direction::Read,
        req.project()?,
        ls,
        id,
        body.bytes.len(),
        shared.clock.now(),
    );
    let mut reply = Reply {
        status: 200,
        headers: Vec::new(),
        body: body.bytes.into(),
    }
    .header("content-type", "application/x-protobuf")
    .header("x-log-cursor", Cursor::from_sequence(next))
    .header("x-log-count", body.groups)
    .header("x-log-bodyrawsize", body.raw_len)
    .header("x-log-cursor-time", cursor_time);
    if let Some(name) = codec.header_value() {
        reply = reply.header("x-log-compresstype", name);
    }
    if scanned_count > 0 {
        reply = reply.header("x-log-read-last-cursor", next - 1);
    }
    if at_end {
        reply = reply.header("x-log-end-of-cursor", "1");
    }
    if let Some((scanned, result)) = lines {
        // What was scanned before SPL, and the logs before and after it:
        // the headers the Go SDK (log_store.go, `PullLogMeta`) and the Rust
        // SDK (client/src/client/pull_logs.rs) read under a query.
        reply = reply
            .header("x-log-rawdatasize", scanned_raw_len)
            .header("x-log-rawdatacount", scanned_count)
            .header("x-log-rawdatalines", scanned)
            .header("x-log-resultlines", result);
    }
    Ok(reply)
}
