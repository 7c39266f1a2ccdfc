//! Requests signed by hand from docs/protocol.md ("Signatures"), with no
//! sls-client code:
//! accepted as built, refused with one byte changed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sls_proto::{CompressType, LogGroup, LogGroupBytes};
use sls_testkit::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, FakeLogHub};
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Raw<'a> {
    method: &'a str,
    path: &'a str,
    /// Extra `x-log-*` headers, besides apiversion and signaturemethod.
    log_headers: Vec<(&'a str, String)>,
    content_type: &'a str,
    body: Vec<u8>,
}

fn http_date(hub: &FakeLogHub) -> String {
    let now = OffsetDateTime::from(hub.clock().now());
    now.format(format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap()
}

/// Builds the request text, signature and all, per docs/protocol.md
/// ("Version 1 (HMAC-SHA1)").
fn build(hub: &FakeLogHub, raw: &Raw<'_>) -> Vec<u8> {
    let date = http_date(hub);
    let md5 = if raw.body.is_empty() {
        String::new()
    } else {
        hex::encode_upper(Md5::digest(&raw.body))
    };
    let mut log_headers = raw.log_headers.clone();
    log_headers.push(("x-log-apiversion", "0.6.0".into()));
    log_headers.push(("x-log-signaturemethod", "hmac-sha1".into()));
    log_headers.sort();
    let mut to_sign = format!("{}\n{md5}\n{}\n{date}\n", raw.method, raw.content_type);
    for (name, value) in &log_headers {
        to_sign.push_str(&format!("{name}:{value}\n"));
    }
    to_sign.push_str(raw.path);
    let mut mac = Hmac::<Sha1>::new_from_slice(DEFAULT_ACCESS_KEY_SECRET.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());

    let mut text = format!(
        "{} {} HTTP/1.1\r\nHost: demo.{}\r\nDate: {date}\r\nAuthorization: LOG {DEFAULT_ACCESS_KEY_ID}:{signature}\r\nContent-Length: {}\r\nConnection: close\r\n",
        raw.method,
        raw.path,
        hub.endpoint(),
        raw.body.len()
    );
    if !md5.is_empty() {
        text.push_str(&format!(
            "Content-MD5: {md5}\r\nContent-Type: {}\r\n",
            raw.content_type
        ));
    }
    for (name, value) in &log_headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(&raw.body);
    bytes
}

async fn send(hub: &FakeLogHub, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(hub.address()).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

fn status(response: &str) -> &str {
    response.split(' ').nth(1).unwrap_or("")
}

#[tokio::test]
async fn a_hand_signed_get_is_accepted_and_a_changed_byte_refused() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 2)
        .start()
        .await
        .unwrap();
    let request = build(
        &hub,
        &Raw {
            method: "GET",
            path: "/logstores/app/shards",
            log_headers: vec![("x-log-bodyrawsize", "0".into())],
            content_type: "",
            body: Vec::new(),
        },
    );
    let ok = send(&hub, &request).await;
    assert_eq!(status(&ok), "200", "{ok}");
    assert!(ok.contains("\"shardID\":1"), "{ok}");
    assert!(ok.to_ascii_lowercase().contains("x-log-requestid: fake"));

    // One byte of the signature changed.
    let text = String::from_utf8(request.clone()).unwrap();
    let at = text.find("Authorization: LOG ").unwrap()
        + "Authorization: LOG ".len()
        + DEFAULT_ACCESS_KEY_ID.len()
        + 3;
    let mut tampered = request.clone();
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let refused = send(&hub, &tampered).await;
    assert_eq!(status(&refused), "401", "{refused}");
    assert!(refused.contains("SignatureNotMatch"));
}

#[tokio::test]
async fn a_hand_signed_put_is_accepted_and_a_changed_body_refused() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .start()
        .await
        .unwrap();
    let group = LogGroupBytes::encode(&LogGroup::synthetic(2, 2));
    let body = CompressType::Lz4.compress(group.as_bytes()).unwrap();
    let raw = Raw {
        method: "POST",
        path: "/logstores/app/shards/lb",
        log_headers: vec![
            ("x-log-bodyrawsize", group.as_bytes().len().to_string()),
            ("x-log-compresstype", "lz4".into()),
        ],
        content_type: "application/x-protobuf",
        body,
    };
    let request = build(&hub, &raw);
    let ok = send(&hub, &request).await;
    assert_eq!(status(&ok), "200", "{ok}");
    assert_eq!(hub.group_count("demo", "app", 0), Some(1));

    let mut tampered = request.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let refused = send(&hub, &tampered).await;
    assert_eq!(status(&refused), "401", "{refused}");
    assert_eq!(hub.group_count("demo", "app", 0), Some(1));

    // Signed correctly but without x-log-bodyrawsize.
    let missing = build(
        &hub,
        &Raw {
            log_headers: vec![("x-log-compresstype", "lz4".into())],
            ..raw
        },
    );
    let refused = send(&hub, &missing).await;
    assert_eq!(status(&refused), "400", "{refused}");
    assert!(refused.contains("MissingBodyRawSize"), "{refused}");
}

#[tokio::test]
async fn unsigned_requests_are_refused() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .start()
        .await
        .unwrap();
    let request = format!(
        "GET /logstores/app/shards HTTP/1.1\r\nHost: demo.{}\r\nConnection: close\r\n\r\n",
        hub.endpoint()
    );
    let refused = send(&hub, request.as_bytes()).await;
    assert_eq!(status(&refused), "401", "{refused}");
}
