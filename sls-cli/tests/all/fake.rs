//! `sls fake`: the whole local demo, each step a separate `sls` process.

use std::process::Command;

use serde_json::Value;
use sls_testkit::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET};

use crate::harness::{Live, run, run_with_input};

/// `sls args...` against `endpoint`, project demo, logstore app.
fn sls(endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sls"));
    command
        .args(args)
        .env("SLS_ENDPOINT", endpoint)
        .env("SLS_PROJECT", "demo")
        .env("SLS_LOGSTORE", "app")
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
        .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
        .env_remove("SLS_SIGNATURE_VERSION")
        .env_remove("SLS_REGION");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_put_tail_describe() {
    // A free port: the fake binds port 0 and says which it got.
    let stderr_path = std::env::temp_dir().join(format!("sls-cli-fake-{}.err", std::process::id()));
    let mut fake = Command::new(env!("CARGO_BIN_EXE_sls"));
    fake.args(["fake", "--listen", "127.0.0.1:0", "--shards", "2"])
        .env_remove("SLS_PROJECT")
        .env_remove("SLS_LOGSTORE")
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    let mut fake = Live::spawn(fake);
    let line = fake.line().await.unwrap();
    let endpoint = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let input: String = (0..20)
        .map(|i| format!("{{\"n\": \"{i}\", \"level\": \"info\"}}\n"))
        .collect();
    let put = run_with_input(sls(&endpoint, &["put"]), input.into_bytes()).await;
    assert_eq!(put.code, 0, "{put:?}");
    assert!(
        put.stdout.starts_with("put 20 logs in 1 request ("),
        "{put:?}"
    );

    let create = run(sls(
        &endpoint,
        &["groups", "create", "etl", "--timeout", "60"],
    ))
    .await;
    assert_eq!(create.code, 0, "{create:?}");
    let tail = run(sls(
        &endpoint,
        &[
            "tail", "--group", "etl", "--from", "begin", "--to", "now", "-o", "json",
        ],
    ))
    .await;
    assert_eq!(tail.code, 0, "{tail:?}");
    let mut seen: Vec<u32> = tail
        .stdout
        .lines()
        .map(|line| {
            let log: Value = serde_json::from_str(line).unwrap();
            log["n"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..20).collect::<Vec<u32>>());

    let describe = run(sls(&endpoint, &["groups", "describe", "etl", "-o", "json"])).await;
    assert_eq!(describe.code, 0, "{describe:?}");
    let doc: Value = serde_json::from_str(&describe.stdout).unwrap();
    let shards = doc["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2);
    for shard in shards {
        assert_ne!(shard["checkpoint"], Value::Null, "{doc}");
        assert_eq!(shard["lag_seconds"], 0, "{doc}");
    }
    assert_eq!(fake.interrupt().await, 0);
    // How to use it, on stderr: the built-in test keys are public.
    let hint = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        hint.contains(&format!(
            "export SLS_ENDPOINT={endpoint} SLS_PROJECT=demo SLS_LOGSTORE=app"
        )),
        "{hint}"
    );
    assert!(
        hint.contains(&format!(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET={DEFAULT_ACCESS_KEY_SECRET}"
        )),
        "{hint}"
    );
    std::fs::remove_file(&stderr_path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_never_prints_a_secret_it_was_given() {
    let stderr_path =
        std::env::temp_dir().join(format!("sls-cli-fake-secret-{}.err", std::process::id()));
    let mut fake = Command::new(env!("CARGO_BIN_EXE_sls"));
    fake.args([
        "fake",
        "--access-key-id",
        "AK",
        "--access-key-secret",
        "s3cret-value",
        "--project",
        "proj1",
        "--logstore",
        "logs1",
    ])
    .stderr(std::fs::File::create(&stderr_path).unwrap());
    let mut fake = Live::spawn(fake);
    let endpoint = fake.line().await.unwrap().replace("listening on ", "");
    let mut command = sls(&endpoint, &["shards", "-o", "json"]);
    command
        .env("SLS_PROJECT", "proj1")
        .env("SLS_LOGSTORE", "logs1")
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "AK")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s3cret-value");
    let shards = run(command).await;
    assert_eq!(shards.code, 0, "{shards:?}");
    assert_eq!(fake.interrupt().await, 0);
    let hint = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        hint.contains("SLS_PROJECT=proj1 SLS_LOGSTORE=logs1"),
        "{hint}"
    );
    assert!(hint.contains("ALIBABA_CLOUD_ACCESS_KEY_ID=AK"), "{hint}");
    assert!(!hint.contains("s3cret-value"), "{hint}");
    std::fs::remove_file(&stderr_path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_refuses_a_bad_address() {
    let mut fake = Command::new(env!("CARGO_BIN_EXE_sls"));
    fake.args(["fake", "--listen", "not an address"]);
    let failed = run(fake).await;
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(
        failed
            .stderr
            .starts_with("sls: cannot listen on not an address"),
        "{failed:?}"
    );
}
