//! What the client reads from a server or a user: error bodies, endpoints,
//! compress-type headers. Never panics; error messages stay bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sls_client::{Endpoint, ServerError};
use sls_proto::CompressType;

fuzz_target!(|data: &[u8]| {
    let status = data.first().map_or(500, |b| 400 + u16::from(*b));
    let error = ServerError::from_response(status, None, data);
    let shown = error.to_string();
    // At most 256 bytes of the body are echoed, each escaped to at most 10.
    assert!(shown.len() < 3000, "error text grows with the body");
    let _ = error.retry_kind();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Endpoint::parse(text);
        if let Err(err) = CompressType::from_header(text) {
            // At most 32 characters echoed, each escaped to at most 10 bytes.
            assert!(err.to_string().len() < 400);
        }
    }
});
