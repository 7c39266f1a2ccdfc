//! Requests as the handlers see them, and replies.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;
use serde::Serialize;

use crate::error::ApiError;

/// A request, parsed: project from `Host`, decoded path segments and query.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) project: Option<String>,
    /// The path as sent (what was signed).
    pub(crate) raw_path: String,
    pub(crate) segments: Vec<String>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Form-decodes a query component: `+` is a space, then percent-decoding.
fn decode(component: &str) -> String {
    percent_decode_str(&component.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The project in a `Host` header: the first label, unless the host is
/// itself an IP address or `localhost` (a request without a project).
pub(crate) fn project_from_host(host: &str) -> Option<String> {
    let host = if host.starts_with('[') {
        return None;
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    if host.parse::<std::net::IpAddr>().is_ok() || host.eq_ignore_ascii_case("localhost") {
        return None;
    }
    let (label, _) = host.split_once('.')?;
    (!label.is_empty()).then(|| label.to_ascii_lowercase())
}

impl Incoming {
    pub(crate) fn new(parts: http::request::Parts, body: Bytes) -> Self {
        let project = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(project_from_host);
        let raw_path = parts.uri.path().to_owned();
        let segments = raw_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect();
        let query = parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (decode(k), decode(v)),
                None => (decode(pair), String::new()),
            })
            .collect();
        Self {
            method: parts.method,
            project,
            raw_path,
            segments,
            query,
            headers: parts.headers,
            body,
        }
    }

    /// The first value of a query parameter, under any of `names`.
    pub(crate) fn param(&self, names: &[&str]) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.as_str())
    }

    /// A required query parameter.
    pub(crate) fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.param(&[name])
            .ok_or_else(|| ApiError::invalid(format!("missing query parameter {name}")))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn project(&self) -> Result<&str, ApiError> {
        self.project
            .as_deref()
            .ok_or_else(|| ApiError::not_found("ProjectNotExist", "the project named in Host"))
    }

    /// Parses the JSON body.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body)
            .map_err(|err| ApiError::invalid(format!("body is not the expected JSON: {err}")))
    }
}

/// A reply before the request id is added.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn empty() -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub(crate) fn json(value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        Self {
            status: 200,
            headers: vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body: Bytes::from(body),
        }
    }

    pub(crate) fn error(error: &ApiError) -> Self {
        let mut reply = Self::json(&serde_json::json!({
            "errorCode": error.code,
            "errorMessage": error.message,
        }));
        reply.status = error.status;
        reply
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl ToString) -> Self {
        if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
            self.headers.push((HeaderName::from_static(name), value));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_comes_from_the_first_label() {
        assert_eq!(
            project_from_host("demo.127.0.0.1:7878").as_deref(),
            Some("demo")
        );
        assert_eq!(
            project_from_host("demo.localhost:80").as_deref(),
            Some("demo")
        );
        assert_eq!(
            project_from_host("demo.cn-hangzhou.log.aliyuncs.com").as_deref(),
            Some("demo")
        );
        assert_eq!(project_from_host("127.0.0.1:7878"), None);
        assert_eq!(project_from_host("localhost"), None);
        assert_eq!(project_from_host("[::1]:80"), None);
    }
}
