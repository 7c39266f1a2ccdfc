//! Retention: dropped groups, and the two ways a pull from a cursor into
//! them is answered.

use sls_client::{CursorPosition, ErrorCode, PullLogsRequest, PutLogsRequest};
use sls_proto::LogGroup;
use sls_testkit::{ExpiredCursors, FakeLogHub};

#[tokio::test]
async fn a_cursor_into_dropped_data_is_refused_or_read_from_the_oldest() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .start()
        .await
        .unwrap();
    let client = hub.client();
    for i in 0..5 {
        let group = LogGroup::builder()
            .log(1_700_000_000 + i, [("i", i.to_string())])
            .build();
        client
            .put_logs(PutLogsRequest::from_group("demo", "app", &group))
            .await
            .unwrap();
    }
    let first = client
        .get_cursor("demo", "app", 0, CursorPosition::Begin)
        .await
        .unwrap();
    assert_eq!(hub.drop_oldest("demo", "app", 0, 3), Some(3));
    assert_eq!(hub.drop_oldest("demo", "app", 9, 3), None);
    let begin = crate::begin(&client).await;
    assert_eq!(first.distance_to(begin), Some(3));
    assert_eq!(hub.group_count("demo", "app", 0), Some(2));

    let err = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, first))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::InvalidCursor), "{err}");

    hub.set_expired_cursors(ExpiredCursors::ReadFromOldest);
    let pulled = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, first))
        .await
        .unwrap();
    assert_eq!(pulled.count, 2);
    // Only the first group's cursor shows the gap.
    assert_eq!(pulled.group_cursors().unwrap()[0], begin);
    let oldest = pulled.groups.groups().next().unwrap();
    assert_eq!(oldest.logs().next().unwrap().time(), 1_700_000_003);
    // A cursor that never was in the shard is still refused.
    let foreign = begin.checked_add(1_000_000_000_000).unwrap();
    let err = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, foreign))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::InvalidCursor), "{err}");
}
