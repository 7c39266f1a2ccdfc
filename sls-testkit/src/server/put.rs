//! PutLogs: one log group, checked against the service's limits and
//! stored as received.

use sls_proto::{CompressType, Decompressor, LogGroupBytes};

use super::Shared;
use super::http::{Incoming, Reply};
use crate::error::ApiError;
use crate::quota::Direction;
use crate::store::Shard;

/// The largest PutLogs body, as sent (compressed), the service takes:
/// 413 `PostBodyTooLarge` beyond it.
const MAX_PUT_BODY: usize = 10 << 20;
/// The largest group, raw, and the most logs in one: the service's
/// limits, as the client knows them. A group beyond either is refused
/// whole with 400 `PostBodyTooLarge`: the PutLogs API reference gives that
/// status and code for "logs must be less than or equal to 3 MB and 4096
/// entries" (AlibabaCloudDocs/sls, the PutLogs page of the API reference;
/// the size limit has since grown to 5 MB, the "Log group" page of the
/// Simple Log Service docs), and the official SDKs refuse more than 4096
/// logs before sending.
use sls_client::{MAX_GROUP_BYTES as MAX_GROUP, MAX_LOGS_PER_GROUP as MAX_LOGS};

pub(crate) fn put_logs(
    shared: &Shared,
    req: &Incoming,
    ls: &str,
    hash_key: Option<&str>,
) -> Result<Reply, ApiError> {
    if req.body.len() > MAX_PUT_BODY {
        return Err(ApiError::new(
            413,
            "PostBodyTooLarge",
            "the body exceeds 10 MB",
        ));
    }
    let raw_size: u64 = req
        .header("x-log-bodyrawsize")
        .ok_or_else(|| {
            ApiError::bad_request("MissingBodyRawSize", "x-log-bodyrawsize is required")
        })?
        .trim()
        .parse()
        .map_err(|_| {
            ApiError::bad_request("InvalidBodyRawSize", "x-log-bodyrawsize is not a number")
        })?;
    let codec = CompressType::from_header(req.header("x-log-compresstype").unwrap_or(""))
        .map_err(|err| ApiError::bad_request("InvalidCompressType", err.to_string()))?;
    if raw_size > MAX_GROUP as u64 {
        return Err(ApiError::bad_request(
            "PostBodyTooLarge",
            format!("a log group holds at most {MAX_GROUP} bytes; this one has {raw_size}"),
        ));
    }
    let raw = Decompressor::with_max_raw_size(MAX_GROUP)
        .decompress(codec, req.body.clone(), raw_size)
        .map_err(|err| ApiError::bad_request("PostBodyUncompressError", err.to_string()))?;
    // Structure only: text is stored and served as sent, whatever its
    // encoding, as the service does (aliyun-log-python-sdk issue 105 and
    // aliyun-log-cli issue 27: consumers pull GBK and other non-UTF-8
    // text the service took). The old PutLogs
    // reference lists 400 `InvalidEncoding` for "non-UTF8 characters", but
    // consumers do receive GBK, Latin-1 and binary text from the service.
    let group = LogGroupBytes::decode(raw)
        .map_err(|err| ApiError::invalid(format!("the body is not a LogGroup: {err}")))?;
    if group.log_count() > MAX_LOGS {
        return Err(ApiError::bad_request(
            "PostBodyTooLarge",
            format!(
                "a log group holds at most {MAX_LOGS} logs; this one has {}",
                group.log_count()
            ),
        ));
    }
    // The group's bytes as received: a pull returns them unchanged.
    let block = Shard::store_form(group.as_bytes());
    let now = shared.clock.unix_seconds();
    let mut world = shared.world();
    let store = world.logstore_mut(req.project()?, ls)?;
    let id = store.route(hash_key)?;
    let shard = store.shard_mut(id)?;
    // The write quotas count raw bytes (the `quota` notes).
    let mut quota = crate::server::lock(&shared.quota);
    let at = shared.clock.now();
    quota.admit(Direction::Write, req.project()?, ls, id, at)?;
    quota.charge(
        Direction::Write,
        req.project()?,
        ls,
        id,
        raw_size as usize,
        at,
    );
    drop(quota);
    shard.append(block, now);
    Ok(Reply::empty())
}
