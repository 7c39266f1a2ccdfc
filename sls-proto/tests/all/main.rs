//! Integration tests of sls-proto, one binary (see CONTRIBUTING.md).

mod codec;
mod golden;
mod hostile;
mod roundtrip;
mod strategies;
