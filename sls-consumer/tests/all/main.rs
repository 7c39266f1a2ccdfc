//! The worker against sls-testkit, on tokio's paused clock (one binary,
//! see CONTRIBUTING.md).

mod blocking;
mod chaos;
mod exactly_once;
#[cfg(feature = "metrics")]
mod exported;
mod faults;
mod handoff;
mod harness;
mod lease;
mod memory;
mod ordered;
mod pg;
mod poison;
mod quota;
mod seek;
mod single;
