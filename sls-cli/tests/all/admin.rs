//! `sls groups create`, `update`, `delete`, and `sls completions`.

use std::process::Command;

use crate::harness::{Hub, LOGSTORE, PROJECT, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_delete() {
    let hub = Hub::start(1, 60).await;
    let out = hub
        .ok(&["groups", "create", "audit", "--timeout", "90", "--in-order"])
        .await;
    assert_eq!(
        out,
        "created consumer group audit (timeout 1m30s, in order)\n"
    );
    let again = hub
        .sls(&["groups", "create", "audit", "--timeout", "90"])
        .await;
    assert_eq!(again.code, 1, "{again:?}");
    assert!(
        again
            .stderr
            .starts_with("sls: CreateConsumerGroup failed: ConsumerGroupAlreadyExist"),
        "{again:?}"
    );

    let doc = hub
        .json(&[
            "groups",
            "update",
            "audit",
            "--timeout",
            "30",
            "--in-order",
            "false",
        ])
        .await;
    assert_eq!(doc["action"], "updated");
    let groups = hub
        .client()
        .list_consumer_groups(PROJECT, LOGSTORE)
        .await
        .unwrap();
    let audit = groups.iter().find(|g| g.name == "audit").unwrap();
    assert_eq!((audit.timeout, audit.order), (30, false));
    let nothing = hub.sls(&["groups", "update", "audit"]).await;
    assert_eq!(nothing.code, 2, "{nothing:?}");

    let unconfirmed = hub.sls(&["groups", "delete", "audit"]).await;
    assert_eq!(unconfirmed.code, 2, "{unconfirmed:?}");
    assert!(unconfirmed.stderr.contains("--yes"), "{unconfirmed:?}");
    hub.ok(&["groups", "delete", "audit", "--yes"]).await;
    let groups = hub
        .client()
        .list_consumer_groups(PROJECT, LOGSTORE)
        .await
        .unwrap();
    assert!(groups.iter().all(|g| g.name != "audit"));
    let gone = hub.sls(&["groups", "delete", "audit", "--yes"]).await;
    assert_eq!(gone.code, 1, "{gone:?}");
    assert!(gone.stderr.contains("ConsumerGroupNotExist"), "{gone:?}");
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_need_no_connection() {
    for (shell, marker) in [
        ("bash", "_sls()"),
        ("zsh", "#compdef sls"),
        ("fish", "complete -c sls"),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sls"));
        command
            .args(["completions", shell])
            .env_remove("SLS_ENDPOINT")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID");
        let out = run(command).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            out.stdout.contains(marker),
            "{shell}: {}",
            &out.stdout[..200.min(out.stdout.len())]
        );
        assert!(out.stdout.contains("describe"), "{shell}");
    }
}
