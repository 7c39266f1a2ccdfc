//! Cursor parsing: never panics; what parses formats back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sls_proto::Cursor;

fuzz_target!(|data: &[u8]| {
    let _ = Cursor::parse_decimal(data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cursor) = Cursor::parse(text)
    {
        assert_eq!(cursor.to_string(), text);
        assert_eq!(Cursor::parse(&cursor.to_string()), Ok(cursor));
    }
});
