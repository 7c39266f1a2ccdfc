//! A throwaway PostgreSQL cluster per test: `initdb` into a temporary
//! directory, `pg_ctl start` listening on 127.0.0.1 only (no unix socket)
//! on a free port, and on drop (a panic included) `pg_ctl stop -m
//! immediate` and the directory removed.
//!
//! The binaries are Debian's (`apt-get install postgresql`), found under
//! `/usr/lib/postgresql/<version>/bin` (the newest version there), or in
//! the directory `SLS_TEST_PG_BIN` names. Without them a test is skipped
//! with a message, except under `CI=true`, where it fails: CI installs
//! them (`.ci/run`).
//!
//! PostgreSQL refuses to run as root, and CI runs as root: then the
//! directory is given to the `postgres` user (which the package creates)
//! and `initdb` and `pg_ctl` run as that user through `runuser`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::{Client, NoTls};

/// The superuser every cluster is made with.
const SUPERUSER: &str = "postgres";

/// A temporary directory, removed with everything in it on drop.
#[derive(Debug)]
pub(crate) struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A new empty directory under the system's temporary directory.
    pub(crate) fn new(what: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "sls-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover of an earlier process with the same id.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        Self { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("could not remove {}: {e}", self.path.display());
        }
    }
}

/// How much the cluster cares about surviving a machine crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// `fsync`, `synchronous_commit` and `full_page_writes` off: a
    /// throwaway test database (a crash of the test process, which is all
    /// the tests make, loses nothing that was committed).
    Throwaway,
    /// PostgreSQL's defaults: every commit waits for its WAL flush.
    Durable,
}

/// Who runs PostgreSQL's programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunAs {
    /// This process's user.
    Me,
    /// The `postgres` user, through `runuser` (this process is root).
    Postgres,
}

/// A running PostgreSQL cluster, stopped and deleted on drop.
#[derive(Debug)]
pub(crate) struct PgCluster {
    bin: PathBuf,
    run_as: RunAs,
    port: u16,
    // Dropped after `drop` below has stopped the server.
    scratch: Scratch,
}

impl PgCluster {
    /// Starts a cluster; `None` (after saying why on stderr) when
    /// PostgreSQL is not installed and `CI` is not `true`.
    pub(crate) fn start(durability: Durability) -> Option<Self> {
        let Some(bin) = find_binaries() else {
            let message = "PostgreSQL's initdb and pg_ctl were not found under \
                /usr/lib/postgresql/<version>/bin (nor in $SLS_TEST_PG_BIN); install them \
                with `apt-get install postgresql` (Debian, Ubuntu) to run the PostgreSQL tests";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{message}; CI=true, so the tests must run");
            }
            eprintln!("skipped: {message}");
            return None;
        };
        let scratch = Scratch::new("pg");
        let run_as = if owner(scratch.path()) == 0 {
            give_to_postgres(scratch.path());
            RunAs::Postgres
        } else {
            RunAs::Me
        };
        let data = scratch.path().join("data");
        let mut initdb = command(run_as, &bin, "initdb", scratch.path());
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync");
        succeed(&mut initdb, "initdb");

        let mut settings = String::from(
            "\n# sls-consumer tests\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\n",
        );
        if durability == Durability::Throwaway {
            settings.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("initdb wrote postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("postgresql.conf is writable");

        // A free port can be taken between the probe and the bind: try
        // again with another.
        let log = scratch.path().join("server.log");
        for attempt in 1..=5 {
            let port = free_port();
            let mut start = command(run_as, &bin, "pg_ctl", scratch.path());
            start
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o"])
                .arg(format!("-p {port}"))
                .arg("start");
            let output = run(&mut start, "pg_ctl start");
            if output.status.success() {
                return Some(Self {
                    bin,
                    run_as,
                    port,
                    scratch,
                });
            }
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            if attempt == 5 || !server_log.contains("could not bind") {
                failed("pg_ctl start", &output, Some(&server_log));
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The port the server listens on, on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// A libpq-style connection string for the `postgres` database.
    pub(crate) fn connection_string(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={SUPERUSER} dbname=postgres connect_timeout=10",
            self.port
        )
    }

    /// The connection settings for the `postgres` database.
    pub(crate) fn config(&self) -> tokio_postgres::Config {
        self.connection_string()
            .parse()
            .expect("a valid connection string")
    }

    /// A connection (its I/O driven by a spawned task).
    pub(crate) async fn connect(&self) -> Client {
        connect(&self.config())
            .await
            .unwrap_or_else(|e| panic!("connecting to the test cluster on port {}: {e}", self.port))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut stop = command(self.run_as, &self.bin, "pg_ctl", self.scratch.path());
        stop.arg("-D").arg(self.scratch.path().join("data")).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]);
        match stop.output() {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!(
                "pg_ctl stop: {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(e) => eprintln!("pg_ctl stop: {e}"),
        }
        // `scratch` then removes the directory.
    }
}

/// Opens a connection and spawns the task that drives it.
pub(crate) async fn connect(
    config: &tokio_postgres::Config,
) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// `initdb` and `pg_ctl` of the newest version installed.
fn find_binaries() -> Option<PathBuf> {
    let complete = |bin: &Path| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file();
    if let Some(bin) = std::env::var_os("SLS_TEST_PG_BIN") {
        return Some(PathBuf::from(bin)).filter(|bin| complete(bin));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The user id owning `path`.
fn owner(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .uid()
}

/// Hands `dir` to the `postgres` user (which Debian's package creates).
fn give_to_postgres(dir: &Path) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("running id");
        assert!(
            output.status.success(),
            "running as root, PostgreSQL must run as the `postgres` user, which does not exist: \
             `apt-get install postgresql` creates it ({})",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("id prints a number")
    };
    std::os::unix::fs::chown(dir, Some(id("-u")), Some(id("-g")))
        .unwrap_or_else(|e| panic!("giving {} to postgres: {e}", dir.display()));
}

/// One of PostgreSQL's programs, run as `run_as`, from `dir` (the
/// `postgres` user may not enter the current directory).
fn command(run_as: RunAs, bin: &Path, program: &str, dir: &Path) -> Command {
    let mut command = match run_as {
        RunAs::Me => Command::new(bin.join(program)),
        RunAs::Postgres => {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(bin.join(program));
            command
        }
    };
    command.current_dir(dir).env_remove("PGDATA");
    command
}

fn run(command: &mut Command, what: &str) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("running {what} ({command:?}): {e}"))
}

fn succeed(command: &mut Command, what: &str) {
    let output = run(command, what);
    if !output.status.success() {
        failed(what, &output, None);
    }
}

fn failed(what: &str, output: &Output, log: Option<&str>) -> ! {
    panic!(
        "{what} failed ({}):\n{}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        log.unwrap_or_default()
    )
}

/// A port nobody listens on now, on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("binding 127.0.0.1:0")
}

#[test]
fn a_panicking_test_leaves_no_server_and_no_files() {
    let (tx, rx) = std::sync::mpsc::channel();
    let test = std::thread::spawn(move || {
        let cluster = PgCluster::start(Durability::Durable);
        let left = cluster
            .as_ref()
            .map(|c| (c.scratch.path().to_owned(), c.port()));
        tx.send(left).unwrap();
        if let Some(cluster) = cluster {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let answer: i32 = runtime.block_on(async {
                let db = cluster.connect().await;
                db.query_one("SELECT 1", &[]).await.unwrap().get(0)
            });
            assert_eq!(answer, 1);
            panic!("a failing test (on purpose)");
        }
    });
    let outcome = test.join();
    let Some((dir, port)) = rx.recv().unwrap() else {
        return;
    };
    let panic = outcome.expect_err("the test panicked");
    assert_eq!(
        panic.downcast_ref::<&str>(),
        Some(&"a failing test (on purpose)"),
        "it got as far as the panic"
    );
    assert!(!dir.exists(), "{} is removed", dir.display());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server is stopped"
    );
}
