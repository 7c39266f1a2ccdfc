//! Publishing the worker's figures through the `metrics` crate facade
//! (feature `metrics`): whatever recorder the application installed
//! (Prometheus, StatsD, …) receives them once per heartbeat.

use crate::metrics::WorkerMetrics;

/// Sets the gauges for one snapshot. Names are prefixed `sls_consumer_`;
/// every figure carries the consumer's name, shard figures the shard too.
pub(crate) fn publish(consumer: &str, snapshot: &WorkerMetrics) {
    let consumer = consumer.to_owned();
    metrics::gauge!("sls_consumer_buffered_bytes", "consumer" => consumer.clone())
        .set(snapshot.memory.buffered as f64);
    metrics::gauge!("sls_consumer_buffer_budget_bytes", "consumer" => consumer.clone())
        .set(snapshot.memory.budget as f64);
    metrics::gauge!("sls_consumer_held_shards", "consumer" => consumer.clone())
        .set(snapshot.shards.len() as f64);
    for m in &snapshot.shards {
        let labels = [
            ("consumer", consumer.clone()),
            ("shard", m.shard.to_string()),
        ];
        metrics::gauge!("sls_consumer_processed_logs", &labels).set(m.processed_logs as f64);
        metrics::gauge!("sls_consumer_processed_bytes", &labels).set(m.processed_bytes as f64);
        metrics::gauge!("sls_consumer_fetched_logs", &labels).set(m.fetched_logs as f64);
        metrics::gauge!("sls_consumer_fetch_retries", &labels).set(m.fetch_retries as f64);
        metrics::gauge!("sls_consumer_process_failures", &labels).set(m.process_failures as f64);
        metrics::gauge!("sls_consumer_failures_in_a_row", &labels)
            .set(f64::from(m.failures_in_a_row));
        metrics::gauge!("sls_consumer_absorbed_logs", &labels).set(m.absorbed as f64);
        metrics::gauge!("sls_consumer_stalled", &labels).set(if m.stalled { 1.0 } else { 0.0 });
        if let Some(lag) = m.lag_groups {
            metrics::gauge!("sls_consumer_lag_groups", &labels).set(lag as f64);
        }
    }
}
