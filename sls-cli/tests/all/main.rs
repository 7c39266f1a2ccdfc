//! The `sls` binary, run as a user runs it, against an in-process fake
//! LogHub (sls-testkit) on 127.0.0.1 with a manual clock.

mod admin;
mod describe;
mod errors;
mod fake;
mod harness;
mod reset;
mod tail;
mod watch;
