//! Integration tests of sls-proto, one binary (see STYLE.md).

mod codec;
mod golden;
mod hostile;
mod roundtrip;
mod strategies;
