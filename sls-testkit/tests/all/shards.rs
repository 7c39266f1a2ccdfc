//! Split and merge: parents become read-only with a fixed end; children
//! cover the parent's range.

use sls_client::{CursorPosition, ErrorCode, PullLogsRequest, PutLogsRequest, ShardStatus};
use sls_proto::LogGroup;
use sls_testkit::FakeLogHub;

#[tokio::test]
async fn split_makes_the_parent_read_only_and_merge_joins_neighbours() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .start()
        .await
        .unwrap();
    let client = hub.client();
    let group = LogGroup::synthetic(2, 2);
    client
        .put_logs(PutLogsRequest::from_group("demo", "app", &group))
        .await
        .unwrap();

    let split = client
        .split_shard("demo", "app", 0, "40000000000000000000000000000000")
        .await
        .unwrap();
    assert_eq!(
        split.iter().map(|s| s.shard_id).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(split[0].status, ShardStatus::Readonly);
    assert_eq!(
        split[1].inclusive_begin_key,
        "00000000000000000000000000000000"
    );
    assert_eq!(
        split[1].exclusive_end_key,
        "40000000000000000000000000000000"
    );
    assert_eq!(
        split[2].inclusive_begin_key,
        "40000000000000000000000000000000"
    );

    // The parent's end is fixed: writes go to the children.
    let end = client
        .get_cursor("demo", "app", 0, CursorPosition::End)
        .await
        .unwrap();
    for _ in 0..4 {
        client
            .put_logs(PutLogsRequest::from_group("demo", "app", &group))
            .await
            .unwrap();
    }
    assert_eq!(
        client
            .get_cursor("demo", "app", 0, CursorPosition::End)
            .await
            .unwrap(),
        end
    );
    assert_eq!(hub.group_count("demo", "app", 1), Some(2));
    assert_eq!(hub.group_count("demo", "app", 2), Some(2));
    // A pull at the end of a read-only shard: no groups, the same cursor.
    let at_end = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, end))
        .await
        .unwrap();
    assert_eq!((at_end.count, at_end.next_cursor), (0, end));

    let merged = client.merge_shard("demo", "app", 1).await.unwrap();
    assert_eq!(merged[0].shard_id, 3);
    assert_eq!(
        merged[0].inclusive_begin_key,
        "00000000000000000000000000000000"
    );
    assert_eq!(
        merged[0].exclusive_end_key,
        "ffffffffffffffffffffffffffffffff"
    );
    let shards = client.list_shards("demo", "app").await.unwrap();
    let writable: Vec<u32> = shards
        .iter()
        .filter(|s| s.status == ShardStatus::Readwrite)
        .map(|s| s.shard_id)
        .collect();
    assert_eq!(writable, [3]);

    // Splitting a read-only shard or outside the range is refused.
    let err = client
        .split_shard("demo", "app", 0, "10000000000000000000000000000000")
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::ParameterInvalid), "{err}");
    let err = client.merge_shard("demo", "app", 3).await.unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::ParameterInvalid), "{err}");
}
