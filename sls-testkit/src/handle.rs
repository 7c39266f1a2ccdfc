//! [`FakeLogHub`]: start a fake server, get a client of it, stop it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use sls_client::names::NameKind;
use sls_client::{Client, Credentials};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::call::CallKind;
use crate::clock::Clock;
use crate::faults::FaultPlan;
use crate::quota::Quotas;
use crate::server::RequestRecord;
use crate::server::auth::AuthConfig;
use crate::server::log::{DEFAULT_REQUEST_LOG_CAPACITY, RequestCounts};
use crate::server::{self, Shared};
use crate::spl::{Pipeline, SplError};
use crate::store::groups::ConsumerGroupState;
use crate::store::{Logstore, World};

/// The AccessKey id a fake server accepts unless told otherwise.
pub const DEFAULT_ACCESS_KEY_ID: &str = "fake-access-key-id";
/// The AccessKey secret a fake server accepts unless told otherwise.
pub const DEFAULT_ACCESS_KEY_SECRET: &str = "fake-access-key-secret";
/// The retention, in days, of logstores created by
/// [`FakeLogHubBuilder::logstore`].
pub const DEFAULT_TTL_DAYS: u32 = 30;

/// How the fake answers a PullLogs whose cursor points into data that
/// retention dropped. The service's behaviour is not settled by its
/// documents: the official consumers' code expects 400 `InvalidCursor`
/// (aliyun-log-consumer-java's `LogHubFetchTask` resets on it,
/// aliyun-log-python-sdk's `consumer_fetch_task` jumps to the end), while
/// the PullData API reference says a cursor before the oldest data reads
/// from the oldest data. A consumer must handle both; tests can serve
/// either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExpiredCursors {
    /// 400 `InvalidCursor` (the default).
    #[default]
    Refuse,
    /// Read from the oldest retained data, with nothing in the answer but
    /// the first group's cursor (`x-log-read-last-cursor` minus the count)
    /// to show the gap.
    ReadFromOldest,
}

/// Configures a [`FakeLogHub`].
#[must_use]
pub struct FakeLogHubBuilder {
    credentials: Credentials,
    logstores: Vec<(String, String, u32)>,
    groups: Vec<(String, String, String, u32, bool)>,
    projects: Vec<String>,
    processors: Vec<(String, String, Result<Pipeline, SplError>)>,
    clock: Option<Clock>,
    check_date: bool,
    faults: FaultPlan,
    log_capacity: usize,
    quotas: Quotas,
}

impl FakeLogHubBuilder {
    /// The only credentials the server accepts (default
    /// [`DEFAULT_ACCESS_KEY_ID`] / [`DEFAULT_ACCESS_KEY_SECRET`]); with an
    /// STS token, requests must carry it.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Creates an empty project.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.projects.push(project.into());
        self
    }

    /// Creates a logstore with `shards` read-write shards (and its project
    /// if needed).
    pub fn logstore(
        mut self,
        project: impl Into<String>,
        logstore: impl Into<String>,
        shards: u32,
    ) -> Self {
        self.logstores
            .push((project.into(), logstore.into(), shards));
        self
    }

    /// Creates a consumer group on a logstore made with
    /// [`FakeLogHubBuilder::logstore`]: heartbeat `timeout` in seconds, and
    /// whether children shards wait for their parents (`order`).
    pub fn consumer_group(
        mut self,
        project: impl Into<String>,
        logstore: impl Into<String>,
        group: impl Into<String>,
        timeout: u32,
        order: bool,
    ) -> Self {
        self.groups.push((
            project.into(),
            logstore.into(),
            group.into(),
            timeout.max(1),
            order,
        ));
        self
    }

    /// Registers a consume processor: pulls naming `name` in `project`
    /// (PullLogs' `processor` parameter) run `spl`, in the subset of SPL
    /// the fake evaluates (see the crate docs). A statement outside it
    /// makes [`start`](Self::start) and [`serve`](Self::serve) fail with
    /// [`std::io::ErrorKind::InvalidInput`], as the service refuses a bad
    /// processor when it is created. Creates the project if needed.
    pub fn consume_processor(
        mut self,
        project: impl Into<String>,
        name: impl Into<String>,
        spl: &str,
    ) -> Self {
        self.processors
            .push((project.into(), name.into(), Pipeline::parse(spl)));
        self
    }

    /// The server's clock (default [`Clock::tokio`], started at `start`).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Whether to refuse requests whose time is more than 15 minutes off
    /// (default on).
    pub fn check_date(mut self, check: bool) -> Self {
        self.check_date = check;
        self
    }

    /// The faults to inject from the start (default none).
    pub fn faults(mut self, plan: FaultPlan) -> Self {
        self.faults = plan;
        self
    }

    /// How many requests [`FakeLogHub::requests`] keeps (default
    /// [`DEFAULT_REQUEST_LOG_CAPACITY`]): the most recent ones, older ones
    /// dropped, so a long-running server stays bounded. The counts of
    /// [`FakeLogHub::request_counts`] stay exact whatever the capacity;
    /// 0 keeps only them.
    pub fn request_log_capacity(mut self, capacity: usize) -> Self {
        self.log_capacity = capacity;
        self
    }

    /// The throughput quotas enforced on PullLogs and PutLogs (default
    /// [`Quotas::documented`], the service's figures; [`Quotas::off`] for
    /// benchmarks). Past one, a call is answered 403 with the service's
    /// code (`ShardReadQuotaExceed`, `ReadQuotaExceed`,
    /// `ShardWriteQuotaExceed`, `WriteQuotaExceed`); the `quota` notes in
    /// the crate docs say what the fake chose where the service's docs are
    /// silent. The buckets follow the server's [`Clock`].
    pub fn quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start(self) -> std::io::Result<FakeLogHub> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        self.serve(listener)
    }

    /// Serves on a listener the caller bound. A project, logstore or
    /// consumer group name the service would refuse
    /// ([`sls_client::names`]) is refused here too, with
    /// [`std::io::ErrorKind::InvalidInput`].
    pub fn serve(self, listener: TcpListener) -> std::io::Result<FakeLogHub> {
        if let Some((_, name, Err(err))) = self.processors.iter().find(|p| p.2.is_err()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("consume processor {name}: {err}"),
            ));
        }
        self.check_names()?;
        let address = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let (shared, credentials, clock) = self.into_shared(stopped.clone());
        let task = tokio::spawn(server::run(listener, shared.clone(), stopped));
        Ok(FakeLogHub {
            address,
            credentials,
            clock,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// Refuses the names the service would refuse.
    fn check_names(&self) -> std::io::Result<()> {
        let projects = self.projects.iter().map(|p| (NameKind::Project, p));
        let logstores = self
            .logstores
            .iter()
            .flat_map(|(p, l, _)| [(NameKind::Project, p), (NameKind::Logstore, l)]);
        let groups = self
            .groups
            .iter()
            .map(|(_, _, g, _, _)| (NameKind::ConsumerGroup, g));
        for (kind, name) in projects.chain(logstores).chain(groups) {
            sls_client::names::check(kind, name)
                .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
        }
        Ok(())
    }

    /// The server's state as configured, before any listener (shared with
    /// the `fuzzing` harness, which serves it without one); also returns
    /// the credentials and the clock.
    pub(crate) fn into_shared(
        self,
        stop: watch::Receiver<bool>,
    ) -> (Arc<Shared>, Credentials, Clock) {
        let clock = self.clock.unwrap_or_else(Clock::tokio);
        let now = clock.unix_seconds();
        let mut world = World::default();
        for project in self.projects {
            world.projects.entry(project).or_default();
        }
        for (project, logstore, shards) in self.logstores {
            world
                .projects
                .entry(project)
                .or_default()
                .logstores
                .insert(logstore, Logstore::new(DEFAULT_TTL_DAYS, shards, now));
        }
        for (project, name, spl) in self.processors {
            if let Ok(spl) = spl {
                world
                    .projects
                    .entry(project)
                    .or_default()
                    .consume_processors
                    .insert(name, Arc::new(spl));
            }
        }
        for (project, logstore, group, timeout, order) in self.groups {
            if let Ok(store) = world.logstore_mut(&project, &logstore) {
                store
                    .groups
                    .insert(group, ConsumerGroupState::new(timeout, order));
            }
        }
        let auth = AuthConfig {
            credentials: self.credentials.clone(),
            check_date: self.check_date,
        };
        let shared = Arc::new(Shared::new(
            world,
            clock.clone(),
            auth,
            self.faults,
            self.log_capacity,
            self.quotas,
            stop,
        ));
        (shared, self.credentials, clock)
    }
}

impl fmt::Debug for FakeLogHubBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeLogHubBuilder")
            .field("credentials", &self.credentials)
            .field("logstores", &self.logstores)
            .field("check_date", &self.check_date)
            .field("quotas", &self.quotas)
            .finish_non_exhaustive()
    }
}

/// A running fake LogHub on 127.0.0.1. Stops on [`FakeLogHub::shutdown`]
/// or when dropped.
///
/// ```
/// use sls_proto::LogGroup;
/// use sls_client::{CursorPosition, PullLogsRequest, PutLogsRequest};
/// use sls_testkit::FakeLogHub;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hub = FakeLogHub::builder().logstore("demo", "app", 2).start().await?;
/// let client = hub.client();
/// let group = LogGroup::builder().log(1_700_000_000, [("msg", "hi")]).build();
/// client.put_logs(PutLogsRequest::from_group("demo", "app", &group).hash_key("00000000000000000000000000000000")).await?;
///
/// let cursor = client.get_cursor("demo", "app", 0, CursorPosition::Begin).await?;
/// let pulled = client.pull_logs(PullLogsRequest::new("demo", "app", 0, cursor)).await?;
/// assert_eq!(pulled.groups.log_count(), 1);
/// hub.shutdown().await;
/// # Ok(()) }
/// ```
pub struct FakeLogHub {
    address: SocketAddr,
    credentials: Credentials,
    clock: Clock,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakeLogHub {
    /// Starts configuring a server.
    pub fn builder() -> FakeLogHubBuilder {
        FakeLogHubBuilder {
            credentials: Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET),
            logstores: Vec::new(),
            groups: Vec::new(),
            projects: Vec::new(),
            processors: Vec::new(),
            clock: None,
            check_date: true,
            faults: FaultPlan::new(),
            log_capacity: DEFAULT_REQUEST_LOG_CAPACITY,
            quotas: Quotas::documented(),
        }
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The endpoint to give a client: `127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.address.to_string()
    }

    /// The credentials the server accepts.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The server's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// A client of this server, signing with its credentials and its clock
    /// (so paused or manual time never makes requests look expired).
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .expect("a loopback endpoint is always valid")
    }

    /// A client builder preset for this server, to adjust before building.
    pub fn client_builder(&self) -> sls_client::ClientBuilder {
        let clock = self.clock.clone();
        Client::builder(self.endpoint())
            .credentials(self.credentials.clone())
            .clock(move || clock.now())
    }

    /// The end cursor of a shard (for tests).
    pub fn end_cursor(
        &self,
        project: &str,
        logstore: &str,
        shard: u32,
    ) -> Option<sls_proto::Cursor> {
        let world = self.shared.world();
        let shard = world.logstore(project, logstore).ok()?.shard(shard).ok()?;
        Some(sls_proto::Cursor::from_sequence(shard.end_cursor()))
    }

    /// Drops the oldest `groups` log groups of a shard, as retention does
    /// once they pass the logstore's TTL (for tests that need an outage
    /// longer than retention without waiting days); returns how many went,
    /// `None` when there is no such shard. Cursors into them are then
    /// answered as [`ExpiredCursors`] says.
    pub fn drop_oldest(
        &self,
        project: &str,
        logstore: &str,
        shard: u32,
        groups: usize,
    ) -> Option<usize> {
        let mut world = self.shared.world();
        let shard = world
            .logstore_mut(project, logstore)
            .ok()?
            .shard_mut(shard)
            .ok()?;
        Some(shard.drop_oldest(groups))
    }

    /// How a pull from a cursor into dropped data is answered from now on.
    pub fn set_expired_cursors(&self, mode: ExpiredCursors) {
        *crate::server::lock(&self.shared.expired_cursors) = mode;
    }

    /// How many log groups a shard holds (for tests).
    pub fn group_count(&self, project: &str, logstore: &str, shard: u32) -> Option<usize> {
        let world = self.shared.world();
        Some(
            world
                .logstore(project, logstore)
                .ok()?
                .shard(shard)
                .ok()?
                .group_count(),
        )
    }

    /// Every shard's state, owner and checkpoint in a consumer group (for
    /// tests); `None` when the group does not exist.
    pub fn group_assignments(
        &self,
        project: &str,
        logstore: &str,
        group: &str,
    ) -> Option<Vec<crate::ShardAssignment>> {
        let world = self.shared.world();
        let store = world.logstore(project, logstore).ok()?;
        Some(store.groups.get(group)?.snapshot(store))
    }

    /// The live consumers of a group, by name (for tests).
    pub fn group_consumers(
        &self,
        project: &str,
        logstore: &str,
        group: &str,
    ) -> Option<Vec<String>> {
        let world = self.shared.world();
        let store = world.logstore(project, logstore).ok()?;
        Some(
            store
                .groups
                .get(group)?
                .consumers()
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Replaces the throughput quotas, for the requests from now on (every
    /// bucket starts full): a test can fill a backlog fast, then read it
    /// under quota.
    pub fn set_quotas(&self, quotas: Quotas) {
        crate::server::lock(&self.shared.quota).set(quotas);
    }

    /// Replaces the fault plan, for the requests from now on.
    pub fn set_faults(&self, plan: FaultPlan) {
        *crate::server::lock(&self.shared.faults) = plan;
    }

    /// The most recent requests, oldest first: all of them until the log
    /// holds [`FakeLogHubBuilder::request_log_capacity`] records (default
    /// [`DEFAULT_REQUEST_LOG_CAPACITY`]), then the last that many. Count
    /// with [`FakeLogHub::request_counts`], which stays exact.
    pub fn requests(&self) -> Vec<RequestRecord> {
        crate::server::lock(&self.shared.log).records()
    }

    /// Exact counts of every request since the start: in total, by call,
    /// by status, faults injected, records evicted from the log.
    pub fn request_counts(&self) -> RequestCounts {
        crate::server::lock(&self.shared.log).counts()
    }

    /// How many requests of `call` were served so far (exact, however many
    /// the log evicted).
    pub fn count(&self, call: CallKind) -> usize {
        let count = crate::server::lock(&self.shared.log).count(call);
        usize::try_from(count).unwrap_or(usize::MAX)
    }

    /// Stops accepting, lets open requests finish, and waits.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeLogHub {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl fmt::Debug for FakeLogHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeLogHub")
            .field("address", &self.address)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}
