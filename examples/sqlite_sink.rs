//! A SQLite sink with exactly-once effects: each batch's rows and its
//! shard's new position are committed in one SQLite transaction, guarded
//! by a compare-and-set on the stored position
//! ([`TransactionalSink`]). Wrapped in [`ExactlyOnce`], it makes every
//! log land in the `logs` table once, however often the consumer group
//! delivers it (crashes, takeovers, retried writes).
//!
//! ```no_run
//! use sls_consumer::exactly_once::ExactlyOnce;
//! use sls_consumer::{ConsumerConfig, Worker};
//! use sls_examples::sqlite_sink::SqliteSink;
//!
//! # async fn run(config: ConsumerConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let sink = SqliteSink::open("logs.sqlite")?;
//! // Each shard starts at the sink's position and writes with a
//! // compare-and-set on it.
//! let worker = Worker::start(config, move |_shard| ExactlyOnce::new(sink.clone())).await?;
//! # Ok(()) }
//! ```
//!
//! Schema:
//!
//! ```sql
//! CREATE TABLE logs (
//!     shard  INTEGER NOT NULL,
//!     cursor TEXT    NOT NULL, -- the log group's cursor (the batch's when unknown)
//!     time   INTEGER NOT NULL, -- the log's time, Unix seconds
//!     id     BLOB,             -- the log's `id` field as sent; deliberately NOT unique
//!     fields BLOB    NOT NULL  -- the log as the `Log` message of log.proto, text byte for byte
//! );
//! CREATE TABLE positions (
//!     shard  INTEGER PRIMARY KEY,
//!     cursor TEXT NOT NULL     -- where the shard's next batch starts
//! );
//! ```
//!
//! Log text is bytes (GBK, Latin-1, binary reach consumers), so keys and
//! values are stored as BLOBs, never checked or converted. `logs.id` has
//! no unique constraint on purpose: a log written twice would show as a
//! duplicate instead of being hidden by the database
//! (`SELECT COUNT(*) - COUNT(DISTINCT id) FROM logs`). Positions are
//! kept by shard number alone: one database per logstore.
//!
//! rusqlite is blocking: every call runs on tokio's blocking pool
//! ([`tokio::task::spawn_blocking`]) on one connection behind a
//! [`std::sync::Mutex`], so no async worker thread ever waits on SQLite,
//! and the shards' transactions are serialized (SQLite has one writer at
//! a time anyway). Each shard's processor holds a clone of the sink.
//! Transactions start `IMMEDIATE` (the write lock first, then the
//! position is read), so the compare-and-set also holds against other
//! processes writing the same file.
//!
//! Durability: WAL with `synchronous = FULL`, so a committed batch
//! survives a power loss. With `NORMAL` the last commits may roll back
//! after one, but rows and position roll back together: the consumer then
//! reads those logs again and writes them once.
//!
//! [`ExactlyOnce`]: sls_consumer::exactly_once::ExactlyOnce

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sls_consumer::exactly_once::{SinkWrite, TransactionalSink};
use sls_consumer::{Batch, ProcessError};
use sls_proto::Cursor;

/// The field whose value goes to `logs.id`.
pub const ID_KEY: &str = "id";

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS logs (
        shard  INTEGER NOT NULL,
        cursor TEXT    NOT NULL,
        time   INTEGER NOT NULL,
        id     BLOB,
        fields BLOB    NOT NULL
    );
    CREATE TABLE IF NOT EXISTS positions (
        shard  INTEGER PRIMARY KEY,
        cursor TEXT NOT NULL
    );
";

/// A [`TransactionalSink`] into a SQLite database; clone it for each
/// shard's processor (clones share the connection and the counters).
#[derive(Clone)]
pub struct SqliteSink {
    db: Arc<Mutex<Connection>>,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    logs: AtomicU64,
    stale: AtomicU64,
}

/// What a sink wrote and refused, counted since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkCounts {
    /// Batches committed.
    pub batches: u64,
    /// Logs committed (rows added to `logs`).
    pub logs: u64,
    /// Writes refused by the compare-and-set: re-deliveries (or a lost
    /// shard's late writes) that the sink absorbed, writing nothing.
    pub stale: u64,
}

/// The `logs` table's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableCounts {
    /// Rows.
    pub rows: u64,
    /// Distinct `id` values.
    pub distinct_ids: u64,
}

impl TableCounts {
    /// Rows whose `id` another row already has (or that have none): 0
    /// when every log is in the table once.
    pub fn duplicates(&self) -> u64 {
        self.rows - self.distinct_ids
    }
}

impl SqliteSink {
    /// Opens (or creates) the database at `path`, in WAL mode with
    /// `synchronous = FULL`: a committed batch survives a power loss.
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        // Another process in a transaction: wait for it, not fail at once.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Self::with_connection(conn)
    }

    /// A database in memory, for tests.
    pub fn in_memory() -> rusqlite::Result<Self> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(conn: Connection) -> rusqlite::Result<Self> {
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            db: Arc::new(Mutex::new(conn)),
            counters: Arc::default(),
        })
    }

    /// Runs `f` on the connection, on the blocking pool: for queries of
    /// your own (`f` must not keep a transaction open).
    pub async fn with_db<T, F>(&self, f: F) -> Result<T, ProcessError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().map_err(|_| "the SQLite connection is poisoned")?;
            f(&mut conn).map_err(ProcessError::from)
        })
        .await?
    }

    /// What this sink (and its clones) wrote and refused.
    pub fn counts(&self) -> SinkCounts {
        SinkCounts {
            batches: self.counters.batches.load(Ordering::Relaxed),
            logs: self.counters.logs.load(Ordering::Relaxed),
            stale: self.counters.stale.load(Ordering::Relaxed),
        }
    }

    /// Counts the `logs` table's rows and distinct ids.
    pub async fn table_counts(&self) -> Result<TableCounts, ProcessError> {
        self.with_db(|conn| {
            conn.query_row("SELECT COUNT(*), COUNT(DISTINCT id) FROM logs", [], |row| {
                // SQLite integers are signed; counts are never negative.
                let count = |i| row.get::<_, i64>(i).map(|n| n.unsigned_abs());
                Ok(TableCounts {
                    rows: count(0)?,
                    distinct_ids: count(1)?,
                })
            })
        })
        .await
    }

    /// Every shard's stored position.
    pub async fn positions(&self) -> Result<Vec<(u32, Cursor)>, ProcessError> {
        let rows: Vec<(u32, String)> = self
            .with_db(|conn| {
                let mut query =
                    conn.prepare("SELECT shard, cursor FROM positions ORDER BY shard")?;
                let rows = query.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
                rows.collect()
            })
            .await?;
        rows.into_iter()
            .map(|(shard, cursor)| Ok((shard, Cursor::parse(&cursor)?)))
            .collect()
    }
}

impl fmt::Debug for SqliteSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteSink")
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

/// The stored position of `shard`, inside the caller's transaction.
fn stored_position(conn: &Connection, shard: u32) -> Result<Option<Cursor>, ProcessError> {
    let cursor: Option<String> = conn
        .prepare_cached("SELECT cursor FROM positions WHERE shard = ?1")?
        .query_row([shard], |row| row.get(0))
        .optional()?;
    Ok(cursor.map(|c| Cursor::parse(&c)).transpose()?)
}

/// The transaction: compare the stored position with `expected`; if they
/// agree, insert the batch's logs and store its end, all or nothing.
fn write_batch(
    conn: &mut Connection,
    batch: &Batch,
    expected: Option<Cursor>,
) -> Result<SinkWrite, ProcessError> {
    // IMMEDIATE takes the write lock at once, so the position read below
    // cannot change before the commit, whoever else writes the database.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let stored = stored_position(&tx, batch.shard)?;
    if stored != expected {
        // Dropping `tx` rolls back: nothing written.
        return Ok(SinkWrite::Stale { stored });
    }
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO logs (shard, cursor, time, id, fields) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let batch_cursor = batch.cursor.to_string();
        for (i, group) in batch.groups.groups().enumerate() {
            let cursor = match &batch.group_cursors {
                Some(cursors) => cursors.get(i).map(ToString::to_string),
                None => None,
            };
            let cursor = cursor.as_deref().unwrap_or(&batch_cursor);
            for log in group.logs() {
                let id: Option<&[u8]> = log.get(ID_KEY).map(|v| &**v);
                // The log's bytes as pulled: no re-encoding.
                insert.execute(params![batch.shard, cursor, log.time(), id, log.encoded()])?;
            }
        }
    }
    tx.execute(
        "INSERT INTO positions (shard, cursor) VALUES (?1, ?2)
         ON CONFLICT (shard) DO UPDATE SET cursor = excluded.cursor",
        params![batch.shard, batch.next_cursor.to_string()],
    )?;
    tx.commit()?;
    Ok(SinkWrite::Written)
}

impl TransactionalSink for SqliteSink {
    async fn position(&mut self, shard: u32) -> Result<Option<Cursor>, ProcessError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let conn = db.lock().map_err(|_| "the SQLite connection is poisoned")?;
            stored_position(&conn, shard)
        })
        .await?
    }

    async fn write(
        &mut self,
        batch: &Batch,
        expected: Option<Cursor>,
    ) -> Result<SinkWrite, ProcessError> {
        // A clone shares the pulled bytes (reference-counted), so the
        // blocking task can own the batch without copying its logs.
        let batch = batch.clone();
        let db = self.db.clone();
        let counters = self.counters.clone();
        // Counted in the blocking task: a transaction that commits after
        // its worker was dropped (a crash) is counted too.
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().map_err(|_| "the SQLite connection is poisoned")?;
            let written = write_batch(&mut conn, &batch, expected)?;
            match written {
                SinkWrite::Written => {
                    counters.batches.fetch_add(1, Ordering::Relaxed);
                    let logs = batch.log_count() as u64;
                    counters.logs.fetch_add(logs, Ordering::Relaxed);
                }
                _ => {
                    counters.stale.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(written)
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use sls_proto::prost::Message;
    use sls_proto::sample::MessyLogs;
    use sls_proto::{Log, LogGroupBytes};

    #[test]
    fn the_stored_bytes_decode_to_the_log() {
        let mut group = MessyLogs::new(3).group(40);
        group
            .logs
            .push(Log::new(0, [("", "")]).with_time_ns(999_999_999));
        group
            .logs
            .push(Log::new(u32::MAX, Vec::<(&str, &str)>::new()));
        let big = vec![0xff; 300];
        group
            .logs
            .push(Log::new(1, [(big.as_slice(), big.as_slice())]));
        let bytes = LogGroupBytes::encode(&group);
        for (log, written) in bytes.view().logs().zip(&group.logs) {
            assert_eq!(&Log::decode(log.encoded()).unwrap(), written);
        }
    }
}
