//! Hostile servers on raw TCP: responses that dribble, stop mid-body, or
//! bury the client in headers. Each is a typed error with bounded memory.

use std::time::Duration;

use sls_client::retry::RetryPolicy;
use sls_client::{Client, Error, PullLogsRequest};
use sls_proto::Cursor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves every connection by reading a request head, then writing
/// `response` in `chunk`-byte pieces `pause` apart, then closing.
async fn hostile(response: Vec<u8>, chunk: usize, pause: Duration) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                for piece in response.chunks(chunk.max(1)) {
                    if socket.write_all(piece).await.is_err() {
                        return;
                    }
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
            });
        }
    });
    address
}

fn client(address: std::net::SocketAddr, timeout: Duration) -> Client {
    Client::builder(address.to_string())
        .credentials(crate::harness::credentials())
        .retry_policy(RetryPolicy::never())
        .attempt_timeout(timeout)
        .build()
        .unwrap()
}

fn pull() -> PullLogsRequest {
    PullLogsRequest::new("proj", "app", 0, Cursor::from_sequence(1))
}

#[tokio::test(start_paused = true)]
async fn a_slowloris_response_times_out() {
    let body = "x".repeat(1000);
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    let address = hostile(response, 1, Duration::from_millis(100)).await;
    let err = client(address, Duration::from_secs(2))
        .list_shards("proj", "app")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");
}

#[tokio::test]
async fn a_server_closing_mid_body_is_a_transport_error() {
    let response =
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nx-log-cursor: MQ==\r\n\r\n0123456789".to_vec();
    let address = hostile(response, 1 << 20, Duration::ZERO).await;
    let err = client(address, Duration::from_secs(10))
        .pull_logs(pull())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
}

#[tokio::test]
async fn huge_headers_are_refused_not_buffered_forever() {
    let mut response = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..20_000 {
        response.extend_from_slice(format!("x-junk-{i}: {}\r\n", "y".repeat(100)).as_bytes());
    }
    response.extend_from_slice(b"content-length: 2\r\n\r\n[]");
    let address = hostile(response, 64 << 10, Duration::ZERO).await;
    let err = client(address, Duration::from_secs(10))
        .list_shards("proj", "app")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused() {
    let body = vec![b'a'; 3 << 20];
    let mut response =
        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
    response.extend_from_slice(&body);
    let address = hostile(response, 1 << 20, Duration::ZERO).await;
    let client = Client::builder(address.to_string())
        .credentials(crate::harness::credentials())
        .retry_policy(RetryPolicy::never())
        .max_response_size(1 << 20)
        .build()
        .unwrap();
    let err = client.list_shards("proj", "app").await.unwrap_err();
    assert!(
        matches!(&err, Error::Response(m) if m.contains("exceeds")),
        "{err}"
    );
}

#[tokio::test]
async fn a_lying_smaller_raw_size_is_a_typed_error() {
    let raw = b"this is not what was declared".to_vec();
    let lz4 = sls_proto::CompressType::Lz4.compress(&raw).unwrap();
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-log-cursor: Mg==\r\nx-log-count: 1\r\nx-log-compresstype: lz4\r\nx-log-bodyrawsize: 5\r\n\r\n",
        lz4.len()
    )
    .into_bytes();
    response.extend_from_slice(&lz4);
    let address = hostile(response, 1 << 20, Duration::ZERO).await;
    let err = client(address, Duration::from_secs(10))
        .pull_logs(pull())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Codec(_)), "{err}");
}
