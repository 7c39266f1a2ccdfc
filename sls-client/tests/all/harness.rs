//! Shared set-up: a client of a local server, with fixed time, fixed
//! credentials and fast deterministic retries.

use std::time::{Duration, SystemTime};

use sls_client::retry::{Backoff, RetryPolicy};
use sls_client::{Client, Credentials};

pub(crate) const ACCESS_KEY_ID: &str = "test-key-id";
pub(crate) const ACCESS_KEY_SECRET: &str = "TOP-SECRET-never-logged";

/// 2024-01-02T03:04:05Z
pub(crate) const NOW: u64 = 1_704_164_645;
pub(crate) const NOW_HTTP_DATE: &str = "Tue, 02 Jan 2024 03:04:05 GMT";

pub(crate) fn fast_retries() -> RetryPolicy {
    RetryPolicy::new()
        .max_attempts(4)
        .backoff(Backoff::new(Duration::from_millis(1), Duration::from_millis(4)).without_jitter())
        .throttling_backoff(
            Backoff::new(Duration::from_millis(20), Duration::from_millis(40)).without_jitter(),
        )
        .budget(None)
}

pub(crate) fn credentials() -> Credentials {
    Credentials::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
}

/// A client of `address` (`127.0.0.1:port`).
pub(crate) fn client(address: &std::net::SocketAddr) -> Client {
    client_with(address, credentials(), fast_retries())
}

pub(crate) fn client_with(
    address: &std::net::SocketAddr,
    credentials: Credentials,
    retry: RetryPolicy,
) -> Client {
    Client::builder(address.to_string())
        .credentials(credentials)
        .retry_policy(retry)
        .attempt_timeout(Duration::from_secs(10))
        .clock(|| SystemTime::UNIX_EPOCH + Duration::from_secs(NOW))
        .build()
        .unwrap()
}

/// What a [`RawServer`] does with the n-th request it reads (0-based).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    /// Answer 200 with this JSON body, keeping the connection open.
    Json(&'static str),
    /// Read the request, then close the connection without answering.
    Close,
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that counts connections and
/// requests, for what wiremock does not show.
pub(crate) struct RawServer {
    pub(crate) address: std::net::SocketAddr,
    pub(crate) connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl RawServer {
    pub(crate) async fn start(action: fn(usize) -> Action) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (c, r) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let r = r.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // Read one request: headers, then Content-Length bytes.
                        let head_end = loop {
                            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break at + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        while buf.len() < head_end + length {
                            let mut chunk = [0u8; 4096];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buf.drain(..head_end + length);
                        let n = r.fetch_add(1, Ordering::SeqCst);
                        match action(n) {
                            Action::Close => return,
                            Action::Json(body) => {
                                let response = format!(
                                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-log-requestid: raw-{n}\r\ncontent-length: {}\r\n\r\n{body}",
                                    body.len()
                                );
                                if socket.write_all(response.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        Self {
            address,
            connections,
            requests,
        }
    }

    pub(crate) fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}
