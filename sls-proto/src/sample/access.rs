//! [`AccessLogs`]: web access logs with twelve fields each, as an nginx
//! fleet writes them.

use crate::{Log, LogGroup, LogGroupList};

const METHODS: &[&str] = &["GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"];
const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/api/v1/orders",
    "/api/v1/orders/{id}",
    "/api/v1/users/{id}/profile",
    "/api/v1/cart",
    "/static/js/app.3f9a1c.js",
    "/static/css/site.css",
    "/healthz",
    "/search?q=running+shoes&page={id}",
];
const STATUSES: &[&str] = &[
    "200", "200", "200", "200", "200", "200", "304", "301", "404", "500",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "Go-http-client/2.0",
];
const REFERERS: &[&str] = &[
    "-",
    "https://www.example.com/",
    "https://www.example.com/search",
];
const HOSTS: &[&str] = &["www.example.com", "api.example.com", "static.example.com"];

/// A seeded generator of access logs: the same seed gives the same logs.
///
/// ```
/// use sls_proto::sample::AccessLogs;
///
/// let group = AccessLogs::new(7).group(100);
/// assert_eq!(group.logs.len(), 100);
/// assert_eq!(group.logs[0].contents.len(), 12);
/// assert_eq!(AccessLogs::new(7).group(100), group);
/// ```
#[derive(Debug, Clone)]
pub struct AccessLogs {
    rng: fastrand::Rng,
    time: u32,
    serial: u64,
}

impl AccessLogs {
    /// A generator whose logs start at 2023-11-14T22:13:20Z.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            time: 1_700_000_000,
            serial: 0,
        }
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.rng.usize(..options.len())]
    }

    /// The next log; time advances by a second every 64 logs.
    pub fn next_log(&mut self) -> Log {
        self.serial += 1;
        if self.serial % 64 == 0 {
            self.time = self.time.wrapping_add(1);
        }
        let id = self.rng.u32(1..100_000).to_string();
        let path = self.pick(PATHS).replace("{id}", &id);
        let remote = format!(
            "{}.{}.{}.{}",
            self.rng.u8(1..224),
            self.rng.u8(..),
            self.rng.u8(..),
            self.rng.u8(1..255)
        );
        let method = self.pick(METHODS);
        let status = self.pick(STATUSES);
        let bytes = self.rng.u32(0..250_000).to_string();
        let latency = format!("{:.3}", f64::from(self.rng.u32(1..3_000)) / 1000.0);
        let request_id = format!("{:016x}{:016x}", self.rng.u64(..), self.serial);
        let time_local = format!("{}", self.time);
        Log::new(
            self.time,
            [
                ("remote_addr", remote),
                ("time_local", time_local),
                ("method", method.to_owned()),
                ("uri", path),
                ("protocol", "HTTP/1.1".to_owned()),
                ("status", status.to_owned()),
                ("body_bytes_sent", bytes),
                ("request_time", latency),
                ("http_referer", self.pick(REFERERS).to_owned()),
                ("http_user_agent", self.pick(AGENTS).to_owned()),
                ("host", self.pick(HOSTS).to_owned()),
                ("request_id", request_id),
            ],
        )
        .with_time_ns(self.rng.u32(..1_000_000_000))
    }

    /// A group of `logs` access logs, with the topic, source and tags an
    /// agent would add.
    pub fn group(&mut self, logs: usize) -> LogGroup {
        let host = self.rng.u8(1..50);
        LogGroup::builder()
            .topic("nginx-access")
            .source(format!("192.168.1.{host}"))
            .tag("__hostname__", format!("web-{host:02}"))
            .tag("__path__", "/var/log/nginx/access.log")
            .extend((0..logs).map(|_| self.next_log()))
            .build()
    }

    /// A list of `groups` groups of `logs_per_group` logs each, as a pull
    /// returns.
    pub fn list(&mut self, groups: usize, logs_per_group: usize) -> LogGroupList {
        LogGroupList {
            log_groups: (0..groups).map(|_| self.group(logs_per_group)).collect(),
        }
    }
}
