//! Integration tests of sls-client against wiremock and raw TCP and TLS servers on
//! 127.0.0.1 (one binary, see STYLE.md).

mod calls;
mod errors;
mod harness;
mod hostile;
mod pool;
mod retries;
mod sizes;
mod tls;
