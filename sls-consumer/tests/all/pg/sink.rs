//! A [`TransactionalSink`] into PostgreSQL: each log a row of `logs`,
//! each shard's position a row of `positions`, changed together in one
//! transaction guarded by a compare-and-set on the position.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sls_consumer::exactly_once::{SinkWrite, TransactionalSink};
use sls_consumer::{Batch, ProcessError};
use sls_proto::Cursor;
use tokio_postgres::{Client, Statement};

/// The tables: `logs` has no unique key on purpose, so that a duplicate
/// would show (`count(*) > count(distinct id)`) instead of being refused.
pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS logs (
        shard   bigint NOT NULL,
        cursor  text   NOT NULL,  -- the cursor of the log's group
        id      bigint,           -- the log's `id` field, when it is a number
        payload bytea             -- the log's `payload` field, as received
    );
    CREATE TABLE IF NOT EXISTS positions (
        shard  bigint PRIMARY KEY,
        cursor text   NOT NULL    -- where the shard's next batch starts
    );
";

/// Moves the position on only from where the writer expects it. Under
/// READ COMMITTED a concurrent writer's committed change is re-checked
/// against the condition, and its uncommitted one waited for (row lock).
const ADVANCE: &str = "UPDATE positions SET cursor = $3 WHERE shard = $1 AND cursor = $2";
/// The first position of a shard; a concurrent first writer wins or waits.
const CLAIM: &str = "INSERT INTO positions (shard, cursor) VALUES ($1, $2) \
                     ON CONFLICT (shard) DO NOTHING";
const POSITION: &str = "SELECT cursor FROM positions WHERE shard = $1";
/// A whole batch in one statement (one round trip).
const INSERT: &str = "INSERT INTO logs (shard, cursor, id, payload) \
                      SELECT $1, c, i, p FROM unnest($2::text[], $3::int8[], $4::bytea[]) AS r(c, i, p)";

/// What the sinks of a test did, added up over all of them.
#[derive(Debug, Default)]
pub(crate) struct SinkStats {
    /// Transactions committed with rows.
    pub(crate) batches: AtomicU64,
    /// Rows committed.
    pub(crate) rows: AtomicU64,
    /// Batches refused by the compare-and-set: re-deliveries absorbed.
    pub(crate) stale_batches: AtomicU64,
    /// The logs in them.
    pub(crate) stale_rows: AtomicU64,
    /// Commits whose answer the sink threw away on purpose.
    pub(crate) lost_answers: AtomicU64,
}

impl SinkStats {
    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }
}

/// A connection and its prepared statements.
struct Connection {
    client: Client,
    advance: Statement,
    claim: Statement,
    position: Statement,
    insert: Statement,
}

/// One shard's sink (the worker makes one per assignment); it connects on
/// first use and again after its connection broke.
pub(crate) struct PgSink {
    config: tokio_postgres::Config,
    connection: Option<Connection>,
    stats: Arc<SinkStats>,
    /// Throws away the answer of every n-th commit of all the sinks that
    /// share this counter (the commit stands), as a network would.
    lose_every: Option<(u64, Arc<AtomicU64>)>,
}

impl PgSink {
    pub(crate) fn new(config: tokio_postgres::Config, stats: Arc<SinkStats>) -> Self {
        Self {
            config,
            connection: None,
            stats,
            lose_every: None,
        }
    }

    /// Loses the answer of every `n`-th commit counted on `commits`.
    pub(crate) fn losing_answers(mut self, n: u64, commits: Arc<AtomicU64>) -> Self {
        self.lose_every = Some((n, commits));
        self
    }

    async fn connection(&mut self) -> Result<&mut Connection, ProcessError> {
        if self
            .connection
            .as_ref()
            .is_some_and(|c| c.client.is_closed())
        {
            self.connection = None;
        }
        if self.connection.is_none() {
            let client = super::harness::connect(&self.config).await?;
            let (advance, claim, position, insert) = tokio::try_join!(
                client.prepare(ADVANCE),
                client.prepare(CLAIM),
                client.prepare(POSITION),
                client.prepare(INSERT),
            )?;
            self.connection = Some(Connection {
                client,
                advance,
                claim,
                position,
                insert,
            });
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }
}

/// A batch as the columns of its rows.
struct Rows<'a> {
    cursors: Vec<String>,
    ids: Vec<Option<i64>>,
    payloads: Vec<Option<&'a [u8]>>,
}

impl<'a> Rows<'a> {
    fn of(batch: &'a Batch) -> Self {
        let count = batch.log_count();
        let mut rows = Rows {
            cursors: Vec::with_capacity(count),
            ids: Vec::with_capacity(count),
            payloads: Vec::with_capacity(count),
        };
        for (index, group) in batch.groups.groups().enumerate() {
            let cursor = batch
                .group_cursors
                .as_ref()
                .and_then(|cursors| cursors.get(index))
                .unwrap_or(&batch.cursor)
                .to_string();
            for log in group.logs() {
                rows.cursors.push(cursor.clone());
                rows.ids.push(
                    log.get("id")
                        .and_then(|id| std::str::from_utf8(id).ok()?.parse().ok()),
                );
                // Text is bytes: stored as received, whatever its encoding.
                rows.payloads.push(log.get("payload").map(|p| &**p));
            }
        }
        rows
    }
}

fn parse(cursor: &str) -> Result<Cursor, ProcessError> {
    cursor
        .parse()
        .map_err(|e| format!("a stored position is not a cursor ({cursor:?}): {e}").into())
}

impl TransactionalSink for PgSink {
    async fn position(&mut self, shard: u32) -> Result<Option<Cursor>, ProcessError> {
        let connection = self.connection().await?;
        let row = connection
            .client
            .query_opt(&connection.position, &[&i64::from(shard)])
            .await?;
        row.map(|row| parse(row.get(0))).transpose()
    }

    async fn write(
        &mut self,
        batch: &Batch,
        expected: Option<Cursor>,
    ) -> Result<SinkWrite, ProcessError> {
        let rows = Rows::of(batch);
        let shard = i64::from(batch.shard);
        let next = batch.next_cursor.to_string();
        let stats = Arc::clone(&self.stats);
        let lose_every = self.lose_every.clone();
        let Connection {
            client,
            advance,
            claim,
            position,
            insert,
        } = self.connection().await?;
        // Dropped without commit (an error, or the worker giving the
        // shard up mid-write), the transaction rolls back.
        let transaction = client.transaction().await?;
        let moved = match expected {
            Some(expected) => {
                transaction
                    .execute(&*advance, &[&shard, &expected.to_string(), &next])
                    .await?
            }
            None => transaction.execute(&*claim, &[&shard, &next]).await?,
        };
        if moved == 0 {
            let stored = transaction.query_opt(&*position, &[&shard]).await?;
            let stored = stored.map(|row| parse(row.get(0))).transpose()?;
            transaction.rollback().await?;
            stats.stale_batches.fetch_add(1, Ordering::SeqCst);
            stats
                .stale_rows
                .fetch_add(rows.ids.len() as u64, Ordering::SeqCst);
            return Ok(SinkWrite::Stale { stored });
        }
        transaction
            .execute(
                &*insert,
                &[&shard, &rows.cursors, &rows.ids, &rows.payloads],
            )
            .await?;
        transaction.commit().await?;
        stats.batches.fetch_add(1, Ordering::SeqCst);
        stats
            .rows
            .fetch_add(rows.ids.len() as u64, Ordering::SeqCst);
        if let Some((n, commits)) = lose_every {
            if (commits.fetch_add(1, Ordering::SeqCst) + 1) % n == 0 {
                stats.lost_answers.fetch_add(1, Ordering::SeqCst);
                return Err("the commit's answer was lost (on purpose)".into());
            }
        }
        Ok(SinkWrite::Written)
    }
}
