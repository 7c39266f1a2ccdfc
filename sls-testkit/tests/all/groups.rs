//! Consumer groups through sls-client: membership, transfers, timeouts by
//! the server's (paused tokio) clock, checkpoints, and ordered shards.

use std::time::Duration;

use sls_client::{CheckpointUpdate, ConsumerGroup, CursorPosition, ErrorCode, PutLogsRequest};
use sls_proto::LogGroup;
use sls_testkit::{FakeLogHub, ShardState};

async fn hub(shards: u32) -> (FakeLogHub, sls_client::Client) {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", shards)
        .start()
        .await
        .unwrap();
    let client = hub.client();
    let group = ConsumerGroup::new("etl", 30, false);
    client
        .create_consumer_group("demo", "app", &group)
        .await
        .unwrap();
    (hub, client)
}

#[tokio::test]
async fn group_calls_and_their_errors() {
    let (_hub, client) = hub(2).await;
    let group = ConsumerGroup::new("etl", 30, false);
    let err = client
        .create_consumer_group("demo", "app", &group)
        .await
        .unwrap_err();
    assert_eq!(
        err.error_code(),
        Some(ErrorCode::ConsumerGroupAlreadyExist),
        "{err}"
    );
    client
        .update_consumer_group("demo", "app", "etl", Some(45), Some(true))
        .await
        .unwrap();
    let groups = client.list_consumer_groups("demo", "app").await.unwrap();
    assert_eq!(groups, [ConsumerGroup::new("etl", 45, true)]);
    let err = client
        .heartbeat("demo", "app", "nope", "c", &[])
        .await
        .unwrap_err();
    assert_eq!(
        err.error_code(),
        Some(ErrorCode::ConsumerGroupNotExist),
        "{err}"
    );
    let err = client
        .heartbeat("demo", "app", "etl", "c", &[0])
        .await
        .unwrap_err();
    assert_eq!(
        err.error_code(),
        Some(ErrorCode::NotExistConsumerWithBody),
        "{err}"
    );
    client
        .delete_consumer_group("demo", "app", "etl")
        .await
        .unwrap();
    assert!(
        client
            .list_consumer_groups("demo", "app")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn shards_move_cleanly_and_on_timeout() {
    let (hub, client) = hub(4).await;
    let hb = |consumer: &'static str, held: Vec<u32>| {
        let client = client.clone();
        async move {
            client
                .heartbeat("demo", "app", "etl", consumer, &held)
                .await
                .unwrap()
        }
    };
    assert_eq!(hb("a", vec![]).await, [0, 1, 2, 3]);
    // b joins: two of a's shards are promised to b, not yet given.
    assert_eq!(hb("b", vec![]).await, Vec::<u32>::new());
    let a_now = hb("a", vec![0, 1, 2, 3]).await;
    assert_eq!(a_now.len(), 2);
    let states = hub.group_assignments("demo", "app", "etl").unwrap();
    assert_eq!(
        states
            .iter()
            .filter(|s| s.state == ShardState::Transfer)
            .count(),
        2
    );
    // a lets them go; b gets them.
    hb("a", a_now.clone()).await;
    let b_now = hb("b", vec![]).await;
    assert_eq!(b_now.len(), 2);
    assert!(a_now.iter().all(|s| !b_now.contains(s)));

    // a goes silent; after the group timeout (server clock) b takes all.
    for _ in 0..4 {
        tokio::time::advance(Duration::from_secs(10)).await;
        hb("b", b_now.clone()).await;
    }
    assert_eq!(hub.group_consumers("demo", "app", "etl").unwrap(), ["b"]);
    let b_all = hb("b", b_now.clone()).await;
    assert_eq!(b_all, [0, 1, 2, 3]);
}

#[tokio::test]
async fn checkpoints_belong_to_the_owner_unless_forced() {
    let (hub, client) = hub(2).await;
    let held = client
        .heartbeat("demo", "app", "etl", "a", &[])
        .await
        .unwrap();
    assert_eq!(held, [0, 1]);
    client
        .heartbeat("demo", "app", "etl", "b", &[])
        .await
        .unwrap();
    let begin = crate::begin(&client).await;
    client
        .update_checkpoint("demo", "app", "etl", "a", CheckpointUpdate::new(0, begin))
        .await
        .unwrap();
    let err = client
        .update_checkpoint("demo", "app", "etl", "b", CheckpointUpdate::new(0, begin))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::ConsumerNotMatch), "{err}");
    client
        .update_checkpoint(
            "demo",
            "app",
            "etl",
            "b",
            CheckpointUpdate::new(0, begin).force(true),
        )
        .await
        .unwrap();
    let checkpoints = client
        .get_checkpoints("demo", "app", "etl", None)
        .await
        .unwrap();
    assert_eq!(checkpoints.len(), 2);
    assert_eq!(checkpoints[0].cursor, Some(begin));
    assert_eq!(checkpoints[0].consumer, "b");
    assert_eq!(checkpoints[1].cursor, None, "never committed");
    let other = client
        .get_cursor("demo", "app", 1, CursorPosition::Begin)
        .await
        .unwrap();
    let err = client
        .update_checkpoint("demo", "app", "etl", "a", CheckpointUpdate::new(0, other))
        .await
        .unwrap_err();
    assert_eq!(
        err.error_code(),
        Some(ErrorCode::InvalidShardCheckPoint),
        "{err}"
    );
    assert_eq!(
        hub.group_assignments("demo", "app", "etl").unwrap()[0].checkpoint,
        Some(begin)
    );
}

#[tokio::test]
async fn ordered_groups_hold_children_until_parents_are_over() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .start()
        .await
        .unwrap();
    let client = hub.client();
    let group = ConsumerGroup::new("ordered", 30, true);
    client
        .create_consumer_group("demo", "app", &group)
        .await
        .unwrap();
    client
        .put_logs(PutLogsRequest::from_group(
            "demo",
            "app",
            &LogGroup::synthetic(1, 1),
        ))
        .await
        .unwrap();
    assert_eq!(
        client
            .heartbeat("demo", "app", "ordered", "a", &[])
            .await
            .unwrap(),
        [0]
    );
    client
        .split_shard("demo", "app", 0, "80000000000000000000000000000000")
        .await
        .unwrap();
    // Children wait while the parent has data left.
    assert_eq!(
        client
            .heartbeat("demo", "app", "ordered", "a", &[0])
            .await
            .unwrap(),
        [0]
    );
    let states = hub.group_assignments("demo", "app", "ordered").unwrap();
    assert_eq!(
        states.iter().map(|s| s.state).collect::<Vec<_>>(),
        [ShardState::AlreadyAlloc, ShardState::Wait, ShardState::Wait]
    );
    // Checkpointing the parent's end makes it over; the children follow.
    let end = client
        .get_cursor("demo", "app", 0, CursorPosition::End)
        .await
        .unwrap();
    client
        .update_checkpoint("demo", "app", "ordered", "a", CheckpointUpdate::new(0, end))
        .await
        .unwrap();
    assert_eq!(
        client
            .heartbeat("demo", "app", "ordered", "a", &[0])
            .await
            .unwrap(),
        [1, 2]
    );
    let states = hub.group_assignments("demo", "app", "ordered").unwrap();
    assert_eq!(states[0].state, ShardState::Over);
}

#[tokio::test]
async fn groups_can_exist_from_the_start() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 3)
        .consumer_group("demo", "app", "pre", 20, true)
        .start()
        .await
        .unwrap();
    let groups = hub
        .client()
        .list_consumer_groups("demo", "app")
        .await
        .unwrap();
    assert_eq!(groups, [ConsumerGroup::new("pre", 20, true)]);
}
