//! Testing against sls-testkit's fake LogHub: start it in-process, write,
//! read back, join a consumer group, checkpoint, and inject a fault.
//!
//! Run: `cargo run -p sls-testkit --example fake_hub`.

use sls_client::retry::RetryPolicy;
use sls_client::{
    CheckpointUpdate, ConsumerGroup, CursorPosition, PullLogsRequest, PutLogsRequest,
};
use sls_proto::sample::AccessLogs;
use sls_testkit::{CallKind, FakeLogHub, Fault, FaultPlan, FaultRule};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A server on 127.0.0.1 with one project and a 2-shard logstore, and a
    // client already pointed at it with the right keys.
    let hub = FakeLogHub::builder()
        .logstore("demo", "access", 2)
        .start()
        .await?;
    let client = hub.client();
    println!("fake LogHub at {}", hub.endpoint());

    let mut logs = AccessLogs::new(1);
    for _ in 0..10 {
        client
            .put_logs(PutLogsRequest::from_group(
                "demo",
                "access",
                &logs.group(100),
            ))
            .await?;
    }

    // A consumer: join the group, read its shards, save checkpoints.
    let group = ConsumerGroup::new("etl", 60, false);
    client
        .create_consumer_group("demo", "access", &group)
        .await?;
    let shards = client
        .heartbeat("demo", "access", "etl", "worker-1", &[])
        .await?;
    let mut total = 0;
    for &shard in &shards {
        let cursor = client
            .get_cursor("demo", "access", shard, CursorPosition::Begin)
            .await?;
        let pulled = client
            .pull_logs(PullLogsRequest::new("demo", "access", shard, cursor))
            .await?;
        total += pulled.groups.log_count();
        client
            .update_checkpoint(
                "demo",
                "access",
                "etl",
                "worker-1",
                CheckpointUpdate::new(shard, pulled.next_cursor),
            )
            .await?;
    }
    println!("worker-1 held shards {shards:?} and read {total} logs");
    for assignment in hub
        .group_assignments("demo", "access", "etl")
        .unwrap_or_default()
    {
        println!(
            "  shard {} {:?} owner {:?}",
            assignment.shard, assignment.state, assignment.owner
        );
    }

    // Faults: the next two pulls of shard 0 fail with 503; the client's
    // retry layer rides them out.
    hub.set_faults(
        FaultPlan::new().rule(
            FaultRule::new(Fault::error(503, "ServerBusy"))
                .call(CallKind::PullLogs)
                .shard(0)
                .next(2),
        ),
    );
    let cursor = client
        .get_cursor("demo", "access", 0, CursorPosition::Begin)
        .await?;
    client
        .pull_logs(PullLogsRequest::new("demo", "access", 0, cursor))
        .await?;
    println!(
        "pull of shard 0 succeeded after {} attempts",
        hub.count(CallKind::PullLogs) - shards.len()
    );

    // Without retries, the same fault is an error with the service's code.
    hub.set_faults(FaultPlan::new().rule(FaultRule::new(Fault::error(503, "ServerBusy")).next(1)));
    let strict = hub
        .client_builder()
        .retry_policy(RetryPolicy::never())
        .build()?;
    let err = strict.list_shards("demo", "access").await.unwrap_err();
    println!("without retries: {err}");

    hub.shutdown().await;
    Ok(())
}
