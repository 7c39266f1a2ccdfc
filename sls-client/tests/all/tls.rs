//! TLS: an `https://` endpoint is spoken to over TLS, and a certificate the
//! client cannot verify stops the call before any request is sent.
//!
//! The server is a real TLS server on 127.0.0.1 with a self-signed
//! certificate for `127.0.0.1` (tests/fixtures, valid from 2020 to 2120); a
//! control client that trusts that certificate shows the server works, so
//! the refusal is the trust check and nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sls_client::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::harness;

const CERT: &[u8] = include_bytes!("../fixtures/self-signed.crt");
const KEY: &[u8] = include_bytes!("../fixtures/self-signed.key");

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What the server saw: finished handshakes and requests answered.
#[derive(Default)]
struct Seen {
    handshakes: AtomicUsize,
    requests: AtomicUsize,
}

/// A TLS server answering every request with `200 []`.
async fn tls_server() -> (std::net::SocketAddr, Arc<Seen>) {
    let cert = CertificateDer::from_pem_slice(CERT).unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counts = counts.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                counts.handshakes.fetch_add(1, Ordering::SeqCst);
                let mut buf = vec![0; 16 * 1024];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                counts.requests.fetch_add(1, Ordering::SeqCst);
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                          content-length: 2\r\nconnection: close\r\n\r\n[]",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (address, seen)
}

#[tokio::test]
async fn a_client_trusting_the_certificate_gets_an_answer() {
    let (address, seen) = tls_server().await;
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(CERT).unwrap())
        .unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = ServerName::IpAddress(address.ip().into());
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, socket)
        .await
        .unwrap();
    tls.write_all(b"GET /logstores/app/shards HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    assert!(answer.starts_with(b"HTTP/1.1 200 OK"), "{answer:?}");
    assert_eq!(seen.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_untrusted_certificate_fails_the_call_before_any_request() {
    let (address, seen) = tls_server().await;
    let client = sls_client::Client::builder(format!("https://{address}"))
        .credentials(harness::credentials())
        .retry_policy(sls_client::retry::RetryPolicy::never())
        .build()
        .unwrap();
    let err = client.list_shards("proj", "app").await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    // The cause is named, for whoever reads the error.
    let chain = error_chain(&err);
    assert!(chain.contains("UnknownIssuer"), "{chain}");
    assert_eq!(seen.handshakes.load(Ordering::SeqCst), 0);
    assert_eq!(seen.requests.load(Ordering::SeqCst), 0);
    // Nor is it retried into success by the default policy.
    let client = sls_client::Client::builder(format!("https://{address}"))
        .credentials(harness::credentials())
        .build()
        .unwrap();
    assert!(client.list_shards("proj", "app").await.is_err());
    assert_eq!(seen.requests.load(Ordering::SeqCst), 0);
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
