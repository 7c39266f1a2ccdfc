//! TLS: an `https://` endpoint is spoken to over TLS, and a certificate the
//! client cannot verify stops the call before any request is sent.
//!
//! The server is a real TLS server on 127.0.0.1 with a self-signed
//! certificate for `127.0.0.1` (tests/fixtures, valid from 2020 to 2120); a
//! control client that trusts that certificate shows the server works, so
//! the refusal is the trust check and nothing else. Extra roots: a CA made
//! at run time (rcgen) signs the server's certificate; the client refuses
//! it until that CA is added, as PEM or DER, and then also through a
//! CONNECT proxy (as behind a TLS-inspecting proxy).

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

/// A TLS server answering every request with `200 []`, with the
/// self-signed fixture.
async fn tls_server() -> (std::net::SocketAddr, Arc<Seen>) {
    tls_server_with(CERT, KEY).await
}

/// A TLS server answering every request with `200 []`, presenting the
/// PEM certificate `cert` with the PEM key `key`.
async fn tls_server_with(cert: &[u8], key: &[u8]) -> (std::net::SocketAddr, Arc<Seen>) {
    let cert = CertificateDer::from_pem_slice(cert).unwrap();
    let key = PrivateKeyDer::from_pem_slice(key).unwrap();
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

pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A CA made now, and a server certificate it signed for `127.0.0.1` and
/// `*.sls.test`: (CA PEM, CA DER, server certificate PEM, server key PEM).
fn issued_by_a_private_ca() -> (String, Vec<u8>, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "sls-rs test inspection CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "*.sls.test".to_owned()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
    (
        ca_cert.pem(),
        ca_cert.der().to_vec(),
        server.pem(),
        server_key.serialize_pem(),
    )
}

fn https_client(
    endpoint: String,
    builder: impl FnOnce(sls_client::ClientBuilder) -> sls_client::ClientBuilder,
) -> sls_client::Client {
    builder(
        sls_client::Client::builder(endpoint)
            .credentials(harness::credentials())
            .retry_policy(sls_client::retry::RetryPolicy::never())
            .proxy(sls_client::Proxy::none()),
    )
    .build()
    .unwrap()
}

#[tokio::test]
async fn an_extra_root_certificate_is_trusted_beside_the_built_in_ones() {
    let (ca_pem, ca_der, cert, key) = issued_by_a_private_ca();
    let (address, seen) = tls_server_with(cert.as_bytes(), key.as_bytes()).await;
    let endpoint = format!("https://{address}");

    // Without the CA: refused before any request.
    let err = https_client(endpoint.clone(), |b| b)
        .list_shards("proj", "app")
        .await
        .unwrap_err();
    assert!(error_chain(&err).contains("UnknownIssuer"), "{err}");
    assert_eq!(seen.requests.load(Ordering::SeqCst), 0);

    // With it, as PEM (after an unrelated certificate in the same bundle)
    // or as DER: answered.
    let bundle = format!("{}\n{ca_pem}", String::from_utf8_lossy(CERT));
    let shards = https_client(endpoint.clone(), |b| b.add_root_certificates_pem(&bundle))
        .list_shards("proj", "app")
        .await
        .unwrap();
    assert!(shards.is_empty());
    https_client(endpoint.clone(), |b| b.add_root_certificate_der(&ca_der))
        .list_shards("proj", "app")
        .await
        .unwrap();
    // Only the added root: the built-in ones are not needed for it.
    https_client(endpoint, |b| {
        b.tls_built_in_roots(false)
            .add_root_certificate_der(&ca_der)
    })
    .list_shards("proj", "app")
    .await
    .unwrap();
    assert_eq!(seen.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_https_endpoint_through_a_connect_proxy_with_its_ca_added() {
    let (ca_pem, _, cert, key) = issued_by_a_private_ca();
    let (address, seen) = tls_server_with(cert.as_bytes(), key.as_bytes()).await;
    let proxy = crate::connect_proxy::ConnectProxy::start(address, None).await;
    // A name only the proxy resolves; the certificate names `*.sls.test`.
    let endpoint = format!("https://sls.test:{}", address.port());
    let client = https_client(endpoint, |b| {
        b.proxy(sls_client::Proxy::all(proxy.url(None)))
            .add_root_certificates_pem(&ca_pem)
    });
    assert!(client.list_shards("proj", "app").await.unwrap().is_empty());
    assert_eq!(
        proxy.targets(),
        [format!("proj.sls.test:{}", address.port())]
    );
    assert_eq!(seen.handshakes.load(Ordering::SeqCst), 1);
}

#[test]
fn root_certificates_that_do_not_parse_fail_the_build() {
    let build = |builder: sls_client::ClientBuilder| builder.build().unwrap_err().to_string();
    let base = || sls_client::Client::builder("https://cn-hangzhou.log.aliyuncs.com");
    let err = build(base().add_root_certificates_pem("no PEM here"));
    assert!(err.contains("extra root #1: no CERTIFICATE block"), "{err}");
    let err = build(base().add_root_certificate_der([0x30, 0x03, 1, 2, 3]));
    assert!(err.contains("extra root #1: not a usable CA"), "{err}");
    let err = build(base().tls_built_in_roots(false));
    assert!(err.contains("no root certificates"), "{err}");
}
