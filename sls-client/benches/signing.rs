//! Cost of signing one request, v1 and v4, beside a bare HMAC-SHA1 and
//! HMAC-SHA256 over a string of the same size as the string to sign, so the
//! canonicalisation overhead is visible; and the body digests alone
//! (MD5 for v1, SHA-256 for v4) over the same 1 KiB body.
//!
//! Run with `cargo bench -p sls-client --bench signing`.

use std::time::SystemTime;

use divan::{Bencher, black_box};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;
use sls_client::Credentials;
use sls_client::signing::{SignableRequest, SignatureVersion, sign};

fn main() {
    divan::main();
}

/// A typical PutLogs-like request: a few `x-log-*` headers, two query
/// parameters and a 1 KiB body.
const HEADERS: &[(&str, &str)] = &[
    ("Host", "my-project.cn-hangzhou.log.aliyuncs.com"),
    ("Content-Type", "application/x-protobuf"),
    ("x-log-apiversion", "0.6.0"),
    ("x-log-bodyrawsize", "1024"),
    ("x-log-compresstype", "lz4"),
    ("User-Agent", "sls-rs/0.1"),
];
const QUERY: &[(&str, &str)] = &[("offset", "0"), ("line", "100")];
static BODY: [u8; 1024] = [7; 1024];

fn request() -> SignableRequest<'static> {
    SignableRequest {
        method: "POST",
        path: "/logstores/app_log/shards/lb",
        query: QUERY,
        headers: HEADERS,
        body: &BODY,
    }
}

fn credentials() -> Credentials {
    Credentials::new("LTAI5tExampleKeyId", "ExampleSecretExampleSecret1234")
        .with_security_token("CAIS-example-sts-token")
}

fn v4() -> SignatureVersion {
    SignatureVersion::V4 {
        region: "cn-hangzhou".to_owned(),
    }
}

#[divan::bench]
fn sign_v1(bencher: Bencher<'_, '_>) {
    let (request, credentials) = (request(), credentials());
    bencher.bench_local(|| {
        sign(
            black_box(&request),
            &credentials,
            &SignatureVersion::V1,
            SystemTime::UNIX_EPOCH,
        )
    });
}

#[divan::bench]
fn sign_v4(bencher: Bencher<'_, '_>) {
    let (request, credentials, version) = (request(), credentials(), v4());
    bencher.bench_local(|| {
        sign(
            black_box(&request),
            &credentials,
            &version,
            SystemTime::UNIX_EPOCH,
        )
    });
}

/// HMAC-SHA1 over a message as long as the v1 string to sign.
#[divan::bench]
fn bare_hmac_sha1(bencher: Bencher<'_, '_>) {
    let out = sign(
        &request(),
        &credentials(),
        &SignatureVersion::V1,
        SystemTime::UNIX_EPOCH,
    );
    let message = vec![b'a'; out.string_to_sign().len()];
    bencher.bench_local(|| {
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(b"ExampleSecretExampleSecret1234")
            .unwrap_or_else(|_| unreachable!());
        mac.update(black_box(&message));
        mac.finalize().into_bytes()
    });
}

/// HMAC-SHA256 over a message as long as the v4 canonical request.
#[divan::bench]
fn bare_hmac_sha256(bencher: Bencher<'_, '_>) {
    let out = sign(&request(), &credentials(), &v4(), SystemTime::UNIX_EPOCH);
    let message = vec![b'a'; out.canonical_request().map_or(0, str::len)];
    bencher.bench_local(|| {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"ExampleSecretExampleSecret1234")
            .unwrap_or_else(|_| unreachable!());
        mac.update(black_box(&message));
        mac.finalize().into_bytes()
    });
}

/// The body digest v1 computes (`Content-MD5`), for reference.
#[divan::bench]
fn body_md5() -> impl Sized {
    use md5::Digest as _;
    md5::Md5::digest(black_box(&BODY))
}

/// The body digest v4 computes (`x-log-content-sha256`), for reference.
#[divan::bench]
fn body_sha256() -> impl Sized {
    use sha2::Digest as _;
    Sha256::digest(black_box(&BODY))
}
