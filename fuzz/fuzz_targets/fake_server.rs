//! The fake server on untrusted requests, through
//! `sls_testkit::fuzzing::Harness`: the same code as a request hyper parsed
//! from a socket (parsing, classification, signature and date checks,
//! routing, handlers, reply), without the socket.
//!
//! An input is up to 8 requests against a fresh world (project `demo`,
//! logstore `app` with 2 shards of stored logs, consumer group `cg`), so
//! later requests see what earlier ones did. Each request is built from
//! the bytes: a method and path mostly of an API call (with the query it
//! needs) or arbitrary, more query parameters, headers, a body (a log
//! group compressed with any codec, the JSON of a call, or raw bytes), and
//! how to authenticate it: signed v1 or v4 by the harness (sls-client's
//! signer), signed and then changed (signature, date, token or body), or
//! not at all.
//!
//! Never panics; every answer has a status and a request id; an error has
//! a JSON body with a non-empty string `errorCode` and a string
//! `errorMessage`; a JSON success has a JSON body; a pull has a body that
//! decompresses to `x-log-bodyrawsize` bytes of `x-log-count` groups; a
//! request the harness signed is never refused for its signature or date,
//! and one changed after signing always is.
#![no_main]

use std::sync::{LazyLock, Mutex};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request};
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use sls_client::signing::SignatureVersion;
use sls_proto::{CompressType, Cursor, Decompressor, LogGroup, LogGroupBytes, LogGroupListView};
use sls_testkit::fuzzing::{Harness, Response};

/// Requests per input.
const MAX_REQUESTS: usize = 8;

/// Built once: a tokio runtime per input would dominate the run time.
static HARNESS: LazyLock<Mutex<Harness>> = LazyLock::new(|| Mutex::new(Harness::new()));

fuzz_target!(|data: &[u8]| {
    let mut harness = HARNESS.lock().unwrap_or_else(|e| e.into_inner());
    harness.reset();
    let mut u = Unstructured::new(data);
    for _ in 0..MAX_REQUESTS {
        if u.is_empty() {
            break;
        }
        let Ok((built, auth)) = request(&mut u) else {
            break;
        };
        // Not something hyper would hand over (a bad URI, say): skip it.
        let Some(mut request) = built else {
            continue;
        };
        let mut tampered = false;
        match &auth {
            Auth::None => {}
            Auth::Sign(version) => harness.sign(&mut request, version),
            Auth::Tamper(version, tamper) => {
                harness.sign(&mut request, version);
                tampered = tamper.apply(&mut request, version);
            }
        }
        let response = harness
            .call(request)
            .expect("no fault plan, so every request is answered");
        check(&response, matches!(auth, Auth::Sign(_)));
        if tampered {
            refused(&response);
        }
    }
});

/// How a request is authenticated.
enum Auth {
    /// Sent as built.
    None,
    /// Signed by the harness.
    Sign(SignatureVersion),
    /// Signed, then a signed part changed.
    Tamper(SignatureVersion, Tamper),
}

/// What is changed after signing.
enum Tamper {
    Authorization(Edit),
    /// `Date` (v1) or `x-log-date` (v4).
    Date(Edit),
    Token(Edit),
    Body(Edit),
}

/// How it is changed.
enum Edit {
    Remove,
    /// XORs the byte at an index (modulo the length) with a non-zero byte.
    Flip(usize, u8),
    Replace(Vec<u8>),
    /// Replaces all but a prefix of the scheme.
    Prefix(&'static str, Vec<u8>),
}

impl Edit {
    fn arbitrary(u: &mut Unstructured<'_>) -> Result<Self> {
        Ok(match u.int_in_range(0..=7)? {
            0 => Self::Remove,
            1..=3 => Self::Flip(usize::arbitrary(u)?, u8::arbitrary(u)?.max(1)),
            4 | 5 => Self::Prefix(
                u.choose(&[
                    "LOG ",
                    "LOG fake-access-key-id:",
                    "SLS4-HMAC-SHA256 ",
                    "SLS4-HMAC-SHA256 Credential=fake-access-key-id/",
                    "Tue, 14 Nov 2023 ",
                    "20231114T",
                ])?,
                <&[u8]>::arbitrary(u)?.to_vec(),
            ),
            _ => Self::Replace(<&[u8]>::arbitrary(u)?.to_vec()),
        })
    }

    /// The edited bytes (`None`: removed).
    fn apply(&self, old: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::Remove => None,
            Self::Flip(at, with) => {
                let mut new = old.to_vec();
                if !new.is_empty() {
                    let at = at % new.len();
                    new[at] ^= with;
                }
                Some(new)
            }
            Self::Replace(bytes) => Some(bytes.clone()),
            Self::Prefix(prefix, rest) => Some([prefix.as_bytes(), rest].concat()),
        }
    }
}

impl Tamper {
    /// Changes the signed request; returns whether it changed (hyper would
    /// never hand over some values, and an edit may change nothing).
    fn apply(&self, request: &mut Request<Bytes>, version: &SignatureVersion) -> bool {
        let (name, edit) = match self {
            Self::Authorization(edit) => ("authorization", edit),
            Self::Date(edit) => match version {
                SignatureVersion::V1 => ("date", edit),
                _ => ("x-log-date", edit),
            },
            Self::Token(edit) => ("x-acs-security-token", edit),
            Self::Body(edit) => {
                let new = edit.apply(request.body()).unwrap_or_default();
                let changed = new != request.body().as_ref();
                *request.body_mut() = Bytes::from(new);
                return changed;
            }
        };
        let old = request
            .headers()
            .get(name)
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        match edit.apply(&old) {
            None => request.headers_mut().remove(name).is_some(),
            Some(new) => {
                let new = trim(&new);
                match HeaderValue::from_bytes(new) {
                    Ok(value) if new != old.as_slice() => {
                        request.headers_mut().insert(name, value);
                        true
                    }
                    _ => false,
                }
            }
        }
    }
}

/// A header value as hyper hands it over: without surrounding spaces and
/// tabs.
fn trim(value: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// A signed request changed afterwards is refused: 401, or 400 for a
/// missing or bad date.
fn refused(response: &Response) {
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let code = body["errorCode"].as_str().unwrap_or("");
    assert!(
        response.status == 401
            || (response.status == 400
                && matches!(code, "InvalidDateFormat" | "RequestTimeExpired")),
        "a tampered request was not refused: {} {body}",
        response.status
    );
}

/// The invariants of one answer.
fn check(response: &Response, signed: bool) {
    assert!((100..600).contains(&response.status));
    assert!(response.headers.contains_key("x-log-requestid"));
    let json = response
        .headers
        .get("content-type")
        .is_some_and(|v| v == "application/json");
    if response.status >= 400 {
        assert!(json, "an error without a JSON content type");
        let body: serde_json::Value = serde_json::from_slice(&response.body)
            .unwrap_or_else(|err| panic!("error body is not JSON ({err}): {:?}", response.body));
        let code = body["errorCode"].as_str().expect("a string errorCode");
        assert!(!code.is_empty(), "an empty errorCode");
        assert!(body["errorMessage"].is_string(), "no errorMessage: {body}");
        if signed {
            assert!(
                response.status != 401
                    && !matches!(code, "InvalidDateFormat" | "RequestTimeExpired"),
                "a request the harness signed was refused: {} {body}",
                response.status
            );
        }
        return;
    }
    if json {
        serde_json::from_slice::<serde_json::Value>(&response.body)
            .unwrap_or_else(|err| panic!("a JSON reply is not JSON ({err}): {:?}", response.body));
    }
    let header = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(count) = header("x-log-count") {
        let count: usize = count.parse().expect("x-log-count is a number");
        let raw_size: u64 = header("x-log-bodyrawsize")
            .and_then(|s| s.parse().ok())
            .expect("a pull has x-log-bodyrawsize");
        let raw = Decompressor::with_max_raw_size(64 << 20)
            .decompress(CompressType::Lz4, response.body.clone(), raw_size)
            .expect("a pull's body decompresses to x-log-bodyrawsize bytes");
        let groups = LogGroupListView::decode(raw).expect("a pull's body is a LogGroupList");
        assert_eq!(groups.len(), count, "x-log-count disagrees with the body");
        let next = header("x-log-cursor").expect("a pull has x-log-cursor");
        Cursor::parse(next).expect("x-log-cursor is a cursor");
    }
}

/// One request and how to authenticate it. The request is `None` when the
/// bytes make one hyper would never produce.
fn request(u: &mut Unstructured<'_>) -> Result<(Option<Request<Bytes>>, Auth)> {
    let (method, target, body_kind) = if u.ratio(1, 32)? {
        (method(u)?, String::arbitrary(u)?, Body::Any)
    } else {
        api(u)?
    };
    let mut builder = Request::builder().method(method);
    let Ok(uri) = target.parse::<http::Uri>() else {
        return Ok((None, auth(u)?));
    };
    builder = builder.uri(uri);
    let host = match u.int_in_range(0..=15)? {
        0..=12 => Some(Harness::HOST.to_owned()),
        13 => Some(
            (*u.choose(&[
                "demo.localhost",
                "DEMO.example.com:80",
                "other.127.0.0.1:7878",
                "127.0.0.1:7878",
                "[::1]:80",
                "localhost",
                ".x",
            ])?)
            .to_owned(),
        ),
        14 => Some(String::arbitrary(u)?),
        _ => None,
    };
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    if let Some(host) = host {
        headers.push((b"host".to_vec(), host.into_bytes()));
    }
    if u.ratio(4, 5)? {
        headers.push((b"x-log-apiversion".to_vec(), b"0.6.0".to_vec()));
    }
    let body_kind = if u.ratio(3, 4)? { body_kind } else { Body::Any };
    let body = body(u, body_kind, &mut headers)?;
    for _ in 0..u.int_in_range(0..=3)? {
        headers.push(header(u)?);
    }
    for (name, value) in headers {
        // hyper hands over valid names and values only, values trimmed.
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&name),
            HeaderValue::from_bytes(trim(&value)),
        ) else {
            continue;
        };
        builder = builder.header(name, value);
    }
    let auth = auth(u)?;
    Ok((builder.body(Bytes::from(body)).ok(), auth))
}

fn method(u: &mut Unstructured<'_>) -> Result<Method> {
    Ok(match u.int_in_range(0..=11)? {
        0..=3 => Method::GET,
        4..=6 => Method::POST,
        7 => Method::PUT,
        8 => Method::DELETE,
        9 => Method::HEAD,
        10 => Method::PATCH,
        _ => Method::from_bytes(<&[u8]>::arbitrary(u)?).unwrap_or(Method::OPTIONS),
    })
}

fn auth(u: &mut Unstructured<'_>) -> Result<Auth> {
    let version = if u.ratio(1, 2)? {
        SignatureVersion::V1
    } else {
        // The region is the client's own, not untrusted input; keep it to
        // what a scope can carry.
        let region: String = String::arbitrary(u)?
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let region = if region.is_empty() {
            "cn-hangzhou".to_owned()
        } else {
            region
        };
        SignatureVersion::V4 { region }
    };
    Ok(match u.int_in_range(0..=11)? {
        0..=8 => Auth::Sign(version),
        9 => Auth::None,
        _ => {
            let edit = Edit::arbitrary(u)?;
            let tamper = match u.int_in_range(0..=3)? {
                0 => Tamper::Authorization(edit),
                1 => Tamper::Date(edit),
                2 => Tamper::Token(edit),
                _ => Tamper::Body(edit),
            };
            Auth::Tamper(version, tamper)
        }
    })
}

/// Form-encodes a path segment or query component (`%XX` for every byte
/// but RFC 3986's unreserved ones); sometimes leaves it raw.
fn encode(u: &mut Unstructured<'_>, text: &str) -> Result<String> {
    if u.ratio(1, 8)? {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else if byte == b' ' && u.ratio(1, 2)? {
            out.push('+');
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(out)
}

/// A word from `words`, or arbitrary text one time in `1 + words.len()`.
fn word(u: &mut Unstructured<'_>, words: &[&str]) -> Result<String> {
    let i = u.choose_index(words.len() + 1)?;
    match words.get(i) {
        Some(w) => Ok((*w).to_owned()),
        None => String::arbitrary(u),
    }
}

/// A shard id: mostly one that exists or may after a split.
fn shard_id(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=7)? {
        0..=5 => u.int_in_range(0..=5u32)?.to_string(),
        6 => u32::arbitrary(u)?.to_string(),
        _ => String::arbitrary(u)?,
    })
}

/// A cursor: mostly near a shard's, whose start at `(id + 1) * 10^12`.
fn cursor(u: &mut Unstructured<'_>) -> Result<String> {
    let sequence = match u.int_in_range(0..=5)? {
        0..=3 => {
            let shard = i64::from(u.int_in_range(0..=5u8)?);
            (shard + 1) * 1_000_000_000_000 + i64::from(u.int_in_range(-2..=6i8)?)
        }
        4 => i64::arbitrary(u)?,
        _ => return String::arbitrary(u),
    };
    Ok(Cursor::from_sequence(sequence).to_string())
}

/// A logstore name: mostly the one that exists.
fn logstore(u: &mut Unstructured<'_>) -> Result<String> {
    word(u, &["app", "app", "app", "app", "other", "new"])
}

/// A consumer group name: mostly the one that exists.
fn group(u: &mut Unstructured<'_>) -> Result<String> {
    word(u, &["cg", "cg", "cg", "new"])
}

/// A consumer name.
fn consumer(u: &mut Unstructured<'_>) -> Result<String> {
    word(u, &["c1", "c1", "c2"])
}

/// A hash key: 32 hex digits, mostly.
fn hash_key(u: &mut Unstructured<'_>) -> Result<String> {
    let key = u128::arbitrary(u)?;
    Ok(match u.int_in_range(0..=4)? {
        0 => format!("{key:032X}"),
        1 => String::arbitrary(u)?,
        _ => format!("{key:032x}"),
    })
}

/// The body a call expects.
#[derive(Clone, Copy)]
enum Body {
    Empty,
    LogGroup,
    CreateLogstore,
    CreateGroup,
    UpdateGroup,
    Heartbeat,
    Checkpoint,
    Any,
}

/// A call of the API (mostly with its method and the query it needs), or
/// arbitrary segments; then a few more query parameters.
fn api(u: &mut Unstructured<'_>) -> Result<(Method, String, Body)> {
    let ls = logstore(u)?;
    let logstores = String::from("logstores");
    let shards = || vec![logstores.clone(), ls.clone(), "shards".into()];
    let groups = || vec![logstores.clone(), ls.clone(), "consumergroups".into()];
    let with = |mut segments: Vec<String>, last: String| {
        segments.push(last);
        segments
    };
    let mut params: Vec<(String, String)> = Vec::new();
    let (method, segments, body) = match u.int_in_range(0..=21)? {
        0 => (Method::GET, vec![logstores.clone()], Body::Empty),
        1 => (Method::POST, vec![logstores.clone()], Body::CreateLogstore),
        2 => (
            Method::GET,
            vec![logstores.clone(), ls.clone()],
            Body::Empty,
        ),
        3 => (
            Method::DELETE,
            vec![logstores.clone(), ls.clone()],
            Body::Empty,
        ),
        4 => (
            Method::POST,
            vec![logstores.clone(), ls.clone()],
            Body::LogGroup,
        ),
        5 => (Method::GET, shards(), Body::Empty),
        6 => {
            params.push(("action".into(), "split".into()));
            params.push(("key".into(), hash_key(u)?));
            (Method::POST, with(shards(), shard_id(u)?), Body::Empty)
        }
        7 => {
            params.push(("action".into(), "merge".into()));
            (Method::POST, with(shards(), shard_id(u)?), Body::Empty)
        }
        8 => {
            params.push(("type".into(), "cursor".into()));
            let from = match u.int_in_range(0..=3)? {
                0 => "begin".into(),
                1 => "end".into(),
                2 => (Harness::NOW as i64 + i64::from(u.int_in_range(-200..=100i16)?)).to_string(),
                _ => query_value(u)?,
            };
            params.push(("from".into(), from));
            (Method::GET, with(shards(), shard_id(u)?), Body::Empty)
        }
        9 => {
            params.push(("type".into(), "cursor_time".into()));
            params.push(("cursor".into(), cursor(u)?));
            (Method::GET, with(shards(), shard_id(u)?), Body::Empty)
        }
        10 | 11 => {
            params.push(("type".into(), word(u, &["log", "log", "logs"])?));
            params.push(("count".into(), u.int_in_range(-1..=1001i16)?.to_string()));
            params.push(("cursor".into(), cursor(u)?));
            if u.ratio(1, 3)? {
                let name = word(u, &["end_cursor", "endCursor"])?;
                params.push((name, cursor(u)?));
            }
            if u.ratio(1, 4)? {
                params.push(("query".into(), word(u, &["* | where a = '1'", ""])?));
            }
            (Method::GET, with(shards(), shard_id(u)?), Body::Empty)
        }
        12 => (Method::POST, with(shards(), "lb".into()), Body::LogGroup),
        13 => {
            params.push(("key".into(), hash_key(u)?));
            (Method::POST, with(shards(), "route".into()), Body::LogGroup)
        }
        14 => (Method::GET, groups(), Body::Empty),
        15 => (Method::POST, groups(), Body::CreateGroup),
        16 => (Method::PUT, with(groups(), group(u)?), Body::UpdateGroup),
        17 => (Method::DELETE, with(groups(), group(u)?), Body::Empty),
        18 => {
            params.push(("type".into(), "heartbeat".into()));
            params.push(("consumer".into(), consumer(u)?));
            (Method::POST, with(groups(), group(u)?), Body::Heartbeat)
        }
        19 => {
            params.push(("type".into(), "checkpoint".into()));
            params.push(("consumer".into(), consumer(u)?));
            if u.ratio(1, 3)? {
                params.push(("forceSuccess".into(), word(u, &["true", "false"])?));
            }
            (Method::POST, with(groups(), group(u)?), Body::Checkpoint)
        }
        20 => {
            if u.ratio(1, 2)? {
                params.push(("shard".into(), shard_id(u)?));
            }
            (Method::GET, with(groups(), group(u)?), Body::Empty)
        }
        _ => {
            let mut segments = Vec::new();
            for _ in 0..u.int_in_range(0..=6)? {
                segments.push(word(
                    u,
                    &[
                        "logstores",
                        "app",
                        "shards",
                        "consumergroups",
                        "cg",
                        "lb",
                        "route",
                        "0",
                        "",
                    ],
                )?);
            }
            (method(u)?, segments, Body::Any)
        }
    };
    let method = if u.ratio(15, 16)? {
        method
    } else {
        self::method(u)?
    };
    // Some parameters left out, some more added.
    params.retain(|_| !u.ratio(1, 16).unwrap_or(false));
    for _ in 0..u.int_in_range(0..=2)? {
        let key = word(
            u,
            &[
                "type",
                "action",
                "from",
                "cursor",
                "count",
                "key",
                "consumer",
                "shard",
                "query",
                "end_cursor",
                "offset",
                "size",
            ],
        )?;
        params.push((key, query_value(u)?));
    }
    let mut target = String::new();
    for segment in &segments {
        target.push('/');
        target.push_str(&encode(u, segment)?);
    }
    if target.is_empty() || u.ratio(1, 32)? {
        target.push('/');
    }
    for (i, (key, value)) in params.iter().enumerate() {
        target.push(if i == 0 { '?' } else { '&' });
        target.push_str(&encode(u, key)?);
        if !u.ratio(1, 32)? {
            target.push('=');
            target.push_str(&encode(u, value)?);
        }
    }
    Ok((method, target, body))
}

fn query_value(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=7)? {
        0 | 1 => word(
            u,
            &[
                "cursor",
                "cursor_time",
                "log",
                "logs",
                "split",
                "merge",
                "heartbeat",
                "checkpoint",
                "begin",
                "end",
                "c1",
                "",
                "* | where a = 1",
            ],
        )?,
        2 | 3 => cursor(u)?,
        4 => u.int_in_range(-2..=1002i64)?.to_string(),
        5 => i64::arbitrary(u)?.to_string(),
        6 => {
            let key = u128::arbitrary(u)?;
            if u.ratio(1, 2)? {
                format!("{key:032x}")
            } else {
                format!("{key:032X}")
            }
        }
        _ => String::arbitrary(u)?,
    })
}

/// One more header: one the server or the signer reads, or arbitrary.
fn header(u: &mut Unstructured<'_>) -> Result<(Vec<u8>, Vec<u8>)> {
    let name = word(
        u,
        &[
            "x-log-bodyrawsize",
            "x-log-compresstype",
            "content-type",
            "content-md5",
            "date",
            "x-log-date",
            "authorization",
            "x-acs-security-token",
            "x-log-signaturemethod",
            "x-log-content-sha256",
            "x-log-meta-a",
            "x-acs-b",
            "x-log-c",
        ],
    )?;
    let value = match u.int_in_range(0..=3)? {
        0 => u64::arbitrary(u)?.to_string(),
        1 => word(
            u,
            &[
                "lz4",
                "zstd",
                "deflate",
                "LZ4",
                "",
                " lz4 ",
                "0",
                "hmac-sha1",
            ],
        )?,
        _ => return Ok((name.into_bytes(), <&[u8]>::arbitrary(u)?.to_vec())),
    };
    Ok((name.into_bytes(), value.into_bytes()))
}

/// A JSON number, or something that is not one.
fn json_number(u: &mut Unstructured<'_>) -> Result<serde_json::Value> {
    Ok(match u.int_in_range(0..=7)? {
        0..=2 => u.int_in_range(0..=8u32)?.into(),
        3 => u.int_in_range(0..=300u32)?.into(),
        4 => u32::arbitrary(u)?.into(),
        5 => i64::arbitrary(u)?.into(),
        6 => serde_json::Value::from(f64::arbitrary(u)?),
        _ => serde_json::Value::Null,
    })
}

/// A body of `kind` (any kind for [`Body::Any`]), with the headers that
/// go with it.
fn body(
    u: &mut Unstructured<'_>,
    kind: Body,
    headers: &mut Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<Vec<u8>> {
    use serde_json::json;
    let kind = match kind {
        Body::Any => *u.choose(&[
            Body::Empty,
            Body::LogGroup,
            Body::CreateLogstore,
            Body::CreateGroup,
            Body::UpdateGroup,
            Body::Heartbeat,
            Body::Checkpoint,
            Body::Any,
        ])?,
        kind => kind,
    };
    let value = match kind {
        Body::Empty => return Ok(Vec::new()),
        Body::LogGroup => return log_group(u, headers),
        Body::CreateLogstore => json!({
            "logstoreName": word(u, &["new", "app"])?,
            "ttl": json_number(u)?,
            "shardCount": json_number(u)?,
        }),
        Body::CreateGroup => {
            let mut value = json!({
                "consumerGroup": word(u, &["new", "cg"])?,
                "timeout": json_number(u)?,
            });
            if u.ratio(1, 2)? {
                value["order"] = bool::arbitrary(u)?.into();
            }
            value
        }
        Body::UpdateGroup => {
            let mut value = json!({});
            if u.ratio(1, 2)? {
                value["timeout"] = json_number(u)?;
            }
            if u.ratio(1, 2)? {
                value["order"] = bool::arbitrary(u)?.into();
            }
            value
        }
        Body::Heartbeat => {
            let mut shards = Vec::new();
            for _ in 0..u.int_in_range(0..=4)? {
                shards.push(json_number(u)?);
            }
            serde_json::Value::Array(shards)
        }
        Body::Checkpoint => json!({
            "shard": json_number(u)?,
            "checkpoint": cursor(u)?,
        }),
        // Arbitrary bytes, said to be JSON or not.
        Body::Any => {
            if u.ratio(1, 2)? {
                headers.push((b"content-type".to_vec(), b"application/json".to_vec()));
            }
            return Ok(<&[u8]>::arbitrary(u)?.to_vec());
        }
    };
    headers.push((b"content-type".to_vec(), b"application/json".to_vec()));
    Ok(serde_json::to_vec(&value).unwrap_or_default())
}

/// A log group, encoded and compressed, with `x-log-bodyrawsize` and
/// `x-log-compresstype` (mostly true).
fn log_group(u: &mut Unstructured<'_>, headers: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<u8>> {
    // Text is arbitrary bytes, UTF-8 or not, as the service takes it.
    let mut builder = LogGroup::builder();
    if u.ratio(1, 4)? {
        builder = builder.topic(<&[u8]>::arbitrary(u)?);
    }
    if u.ratio(1, 4)? {
        builder = builder.tag(<&[u8]>::arbitrary(u)?, <&[u8]>::arbitrary(u)?);
    }
    for _ in 0..u.int_in_range(0..=4)? {
        let time = u32::arbitrary(u)?;
        let mut fields = Vec::new();
        for _ in 0..u.int_in_range(0..=3)? {
            fields.push((<&[u8]>::arbitrary(u)?, <&[u8]>::arbitrary(u)?));
        }
        builder = builder.log(time, fields);
    }
    let raw = LogGroupBytes::encode(&builder.build());
    let raw = raw.as_bytes();
    let codec = *u.choose(&CompressType::ALL)?;
    let mut body = codec.compress(raw).unwrap_or_else(|_| raw.to_vec());
    if !body.is_empty() && u.ratio(1, 8)? {
        let at = u.choose_index(body.len())?;
        body[at] ^= u8::arbitrary(u)?.max(1);
    }
    let raw_size = if u.ratio(7, 8)? {
        raw.len() as u64
    } else {
        u64::arbitrary(u)?
    };
    headers.push((b"content-type".to_vec(), b"application/x-protobuf".to_vec()));
    headers.push((
        b"x-log-bodyrawsize".to_vec(),
        raw_size.to_string().into_bytes(),
    ));
    if let Some(value) = codec.header_value() {
        headers.push((b"x-log-compresstype".to_vec(), value.as_bytes().to_vec()));
    }
    Ok(body)
}
