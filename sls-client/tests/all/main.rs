//! Integration tests of sls-client against wiremock, raw TCP and TLS servers,
//! a CONNECT proxy and the fake LogHub on 127.0.0.1 (one binary, see CONTRIBUTING.md).

mod calls;
mod connect_proxy;
mod errors;
mod harness;
mod hostile;
mod pool;
mod proxy;
mod retries;
mod sizes;
mod tls;
