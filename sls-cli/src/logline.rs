//! A log as one line of text, byte for byte: the JSON lines `sls tail`
//! prints and `sls put` reads, and `sls tail`'s text lines.
//!
//! Log text is bytes (GBK, Latin-1 and binary reach the service as
//! written, and it returns them so), while JSON strings are Unicode. The
//! rules, also in `docs/cli.md` and `sls tail --help`:
//!
//! - A value (of a field, a tag, the topic or the source) that is valid
//!   UTF-8 is a JSON string; one that is not is the object
//!   `{"base64": "..."}` of its bytes (standard alphabet, padded).
//! - A key that is not valid UTF-8 is named `__base64__:` and the base64
//!   of its bytes. A field whose key is a name of the line itself
//!   (`__time__`, `__time_ns__`, `__topic__`, `__source__`, `__shard__`),
//!   or starts with `__tag__:`, `__base64__:` or `__field__:`, is named
//!   `__field__:` and its key.
//! - Tags are fields named `__tag__:` and the (so escaped) tag key.
//!
//! So every name maps back to one key, and `sls tail -o json | sls put`
//! writes the same bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// The time field: Unix seconds.
pub(crate) const TIME: &str = "__time__";
/// The sub-second part of the time, in nanoseconds, when the log has one.
pub(crate) const TIME_NS: &str = "__time_ns__";
/// The log group's topic.
pub(crate) const TOPIC: &str = "__topic__";
/// The log group's source.
pub(crate) const SOURCE: &str = "__source__";
/// The shard a log was read from (`sls put` ignores it).
pub(crate) const SHARD: &str = "__shard__";
/// The prefix of a tag's name.
pub(crate) const TAG: &str = "__tag__:";
/// The prefix of a key given as base64.
const BASE64_KEY: &str = "__base64__:";
/// The prefix of a field whose key would read as something else.
const FIELD: &str = "__field__:";
/// The names of the line's own fields.
pub(crate) const META: [&str; 5] = [TIME, TIME_NS, TOPIC, SOURCE, SHARD];

/// The JSON name of a field or tag key.
pub(crate) fn key_name(key: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(key) else {
        return format!("{BASE64_KEY}{}", STANDARD.encode(key));
    };
    let taken = META.contains(&text)
        || [TAG, BASE64_KEY, FIELD]
            .iter()
            .any(|prefix| text.starts_with(prefix));
    if taken {
        format!("{FIELD}{text}")
    } else {
        text.to_owned()
    }
}

/// The key a JSON name stands for (the inverse of [`key_name`]).
pub(crate) fn name_key(name: &str) -> Result<Vec<u8>, String> {
    if let Some(encoded) = name.strip_prefix(BASE64_KEY) {
        return STANDARD
            .decode(encoded)
            .map_err(|err| format!("name {name:?}: bad base64: {err}"));
    }
    Ok(name.strip_prefix(FIELD).unwrap_or(name).as_bytes().to_vec())
}

/// A value as JSON: a string, or `{"base64": ...}` when not UTF-8.
pub(crate) fn value_json(value: &[u8]) -> Value {
    match std::str::from_utf8(value) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => {
            let mut object = Map::new();
            object.insert("base64".into(), Value::String(STANDARD.encode(value)));
            Value::Object(object)
        }
    }
}

/// The bytes of a value read from JSON: a string as its UTF-8, a number
/// or a boolean as its JSON text, `{"base64": ...}` as the bytes it
/// encodes. `null`, arrays and other objects are refused.
pub(crate) fn json_value(value: &Value) -> Result<Vec<u8>, String> {
    match value {
        Value::String(text) => Ok(text.as_bytes().to_vec()),
        Value::Number(number) => Ok(number.to_string().into_bytes()),
        Value::Bool(flag) => Ok(flag.to_string().into_bytes()),
        Value::Object(object) => match (object.len(), object.get("base64")) {
            (1, Some(Value::String(encoded))) => STANDARD
                .decode(encoded)
                .map_err(|err| format!("bad base64: {err}")),
            _ => Err(
                "an object other than {\"base64\": \"...\"}; values are strings, numbers or booleans"
                    .into(),
            ),
        },
        Value::Array(_) => {
            Err("an array; values are strings, numbers or booleans (nested values are refused)".into())
        }
        Value::Null => Err("null; values are strings, numbers or booleans".into()),
    }
}

/// Appends `name` and `value` as a JSON object member, after a comma
/// unless it is the first.
pub(crate) fn push_member(line: &mut String, name: &str, value: &Value) {
    if !line.ends_with('{') {
        line.push(',');
    }
    line.push_str(&Value::String(name.to_owned()).to_string());
    line.push(':');
    line.push_str(&value.to_string());
}

/// Bytes as one token of a text line: each byte that is not part of
/// valid UTF-8, and each control character, as `\xNN` (`\n`, `\r`, `\t`
/// for those three); `\` as `\\` and `"` as `\"`. A token that is empty
/// or holds a space or `=` is put in double quotes. Reversible: every
/// token reads back as exactly its bytes.
pub(crate) fn text_token(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{byte:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    if out.is_empty() || out.contains([' ', '=']) {
        format!("\"{out}\"")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes a token stands for (the inverse of [`text_token`]).
    fn token_bytes(token: &str) -> Vec<u8> {
        let inner = match token.strip_prefix('"') {
            Some(rest) => rest.strip_suffix('"').expect("a closing quote"),
            None => {
                assert!(!token.contains([' ', '=']), "{token}");
                token
            }
        };
        let mut out = Vec::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            match chars.next().expect("an escape") {
                '\\' => out.push(b'\\'),
                '"' => out.push(b'"'),
                'n' => out.push(b'\n'),
                'r' => out.push(b'\r'),
                't' => out.push(b'\t'),
                'x' => {
                    let hex: String = chars.by_ref().take(2).collect();
                    out.push(u8::from_str_radix(&hex, 16).unwrap());
                }
                other => panic!("unknown escape {other:?}"),
            }
        }
        out
    }

    fn samples() -> Vec<Vec<u8>> {
        let mut samples: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for text in [
            &b""[..],
            b"\xc4\xe3\xba\xc3",
            b"a b=c",
            b"\\x41",
            b"\"quoted\"",
            b"line\nbreak\ttab",
            b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
            b"\xe2\x82",
            b"\xed\xa0\x80",
            b"__time__",
            b"__tag__:x",
            b"__field__:y",
            b"__base64__:zz",
            b"\x85\xc2\x85",
        ] {
            samples.push(text.to_vec());
        }
        samples
    }

    #[test]
    fn text_tokens_read_back_exactly() {
        for bytes in samples() {
            let token = text_token(&bytes);
            assert_eq!(token_bytes(&token), bytes, "{token}");
            assert!(!token.contains(['\n', '\r']), "{token}");
        }
        assert_eq!(text_token(b"\xc4\xe3"), "\\xc4\\xe3");
        assert_eq!(text_token(b"\\xc4"), "\\\\xc4");
        assert_eq!(text_token(b"a b"), "\"a b\"");
    }

    #[test]
    fn names_and_values_read_back_exactly() {
        for bytes in samples() {
            let name = key_name(&bytes);
            assert_eq!(name_key(&name).unwrap(), bytes, "{name}");
            assert!(!META.contains(&name.as_str()), "{name}");
            assert!(!name.starts_with(TAG), "{name}");
            assert_eq!(json_value(&value_json(&bytes)).unwrap(), bytes);
        }
        assert_eq!(key_name(b"__time__"), "__field__:__time__");
        assert_eq!(key_name(b"\xc4\xe3"), "__base64__:xOM=");
        assert_eq!(
            value_json(b"\xc4\xe3"),
            serde_json::json!({"base64": "xOM="})
        );
        assert_eq!(json_value(&serde_json::json!(12.5)).unwrap(), b"12.5");
        assert_eq!(json_value(&serde_json::json!(true)).unwrap(), b"true");
        assert!(json_value(&serde_json::json!([1])).is_err());
        assert!(json_value(&serde_json::json!({"a": 1})).is_err());
        assert!(json_value(&serde_json::json!(null)).is_err());
        assert!(json_value(&serde_json::json!({"base64": "!"})).is_err());
    }
}
