//! Exactly once into PostgreSQL, against a real server that each test
//! starts for itself ([`harness::PgCluster`]; skipped with a message where
//! PostgreSQL is not installed, failing instead under `CI=true`).

mod harness;
