//! The fake service's data: projects, logstores, shards and their log
//! groups. Every operation is synchronous and runs under the server's one
//! lock; errors are the service's own codes.
//!
//! # Layout
//! - `keys`: MD5 key ranges.
//! - `shard`: one shard's groups, cursors and reads.
//! - `groups`: consumer groups: heartbeats, assignment, checkpoints.

pub(crate) mod groups;
pub(crate) mod keys;
pub(crate) mod shard;

use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::limits;
pub use groups::{ShardAssignment, ShardState};
pub(crate) use shard::Shard;
pub use shard::ShardStatus;

/// A logstore.
#[derive(Debug)]
pub(crate) struct Logstore {
    pub(crate) ttl: u32,
    pub(crate) shards: BTreeMap<u32, Shard>,
    next_shard: u32,
    /// Round robin over read-write shards for load-balanced writes.
    next_write: usize,
    pub(crate) groups: BTreeMap<String, groups::ConsumerGroupState>,
}

impl Logstore {
    pub(crate) fn new(ttl: u32, shard_count: u32, now: i64) -> Self {
        let shards: BTreeMap<u32, Shard> = keys::even_ranges(shard_count)
            .into_iter()
            .enumerate()
            .map(|(i, (begin, end))| (i as u32, Shard::new(i as u32, begin, end, now)))
            .collect();
        Self {
            ttl,
            next_shard: shards.len() as u32,
            shards,
            next_write: 0,
            groups: BTreeMap::new(),
        }
    }

    pub(crate) fn shard(&self, id: u32) -> Result<&Shard, ApiError> {
        self.shards
            .get(&id)
            .ok_or_else(|| ApiError::not_found("ShardNotExist", &format!("shard {id}")))
    }

    pub(crate) fn shard_mut(&mut self, id: u32) -> Result<&mut Shard, ApiError> {
        self.shards
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found("ShardNotExist", &format!("shard {id}")))
    }

    /// Applies retention: drops groups older than the TTL; returns how
    /// many went.
    pub(crate) fn expire(&mut self, now: i64) -> usize {
        let before = now - i64::from(self.ttl) * 86_400;
        self.shards
            .values_mut()
            .map(|shard| shard.expire(before))
            .sum()
    }

    /// Runs `f` on a consumer group with read access to the logstore.
    pub(crate) fn with_group<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut groups::ConsumerGroupState, &Logstore) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut group = self.groups.remove(name).ok_or_else(|| {
            ApiError::not_found("ConsumerGroupNotExist", &format!("consumer group {name}"))
        })?;
        let result = f(&mut group, self);
        self.groups.insert(name.to_owned(), group);
        result
    }

    /// Picks the shard a write goes to: by hash key, or round robin.
    pub(crate) fn route(&mut self, hash_key: Option<&str>) -> Result<u32, ApiError> {
        let writable: Vec<u32> = self
            .shards
            .values()
            .filter(|s| s.status == ShardStatus::ReadWrite)
            .map(|s| s.id)
            .collect();
        match hash_key {
            Some(key) => {
                let key = keys::parse(key).ok_or_else(|| {
                    ApiError::invalid(format!("hash key {key:?} is not 32 hex digits"))
                })?;
                writable
                    .into_iter()
                    .find(|id| self.shards[id].covers(key))
                    .ok_or_else(|| ApiError::invalid("no read-write shard covers the hash key"))
            }
            None => {
                if writable.is_empty() {
                    return Err(ApiError::invalid("the logstore has no read-write shard"));
                }
                let id = writable[self.next_write % writable.len()];
                self.next_write = self.next_write.wrapping_add(1);
                Ok(id)
            }
        }
    }

    /// Splits a read-write shard at `key`; returns the ids of the parent
    /// (now read-only) and the two children.
    pub(crate) fn split(&mut self, id: u32, key: &str, now: i64) -> Result<[u32; 3], ApiError> {
        let key = keys::parse(key)
            .ok_or_else(|| ApiError::invalid(format!("split key {key:?} is not 32 hex digits")))?;
        let parent = self.shard_mut(id)?;
        if parent.status != ShardStatus::ReadWrite {
            return Err(ApiError::invalid(format!("shard {id} is read-only")));
        }
        if key <= parent.begin_key || key >= parent.end_key {
            return Err(ApiError::invalid(
                "split key is not inside the shard's range",
            ));
        }
        parent.status = ShardStatus::ReadOnly;
        let (begin, end) = (parent.begin_key, parent.end_key);
        let (left, right) = (self.next_shard, self.next_shard + 1);
        self.next_shard += 2;
        for (child, b, e) in [(left, begin, key), (right, key, end)] {
            let mut shard = Shard::new(child, b, e, now);
            shard.parents = vec![id];
            self.shards.insert(child, shard);
        }
        Ok([id, left, right])
    }

    /// Merges a read-write shard with its right neighbour; returns the ids
    /// of the new shard and of the two parents.
    pub(crate) fn merge(&mut self, id: u32, now: i64) -> Result<[u32; 3], ApiError> {
        let left = self.shard(id)?;
        if left.status != ShardStatus::ReadWrite {
            return Err(ApiError::invalid(format!("shard {id} is read-only")));
        }
        let (begin, boundary) = (left.begin_key, left.end_key);
        let right = self
            .shards
            .values()
            .find(|s| s.status == ShardStatus::ReadWrite && s.begin_key == boundary && s.id != id)
            .map(|s| (s.id, s.end_key))
            .ok_or_else(|| {
                ApiError::invalid(format!("shard {id} has no read-write right neighbour"))
            })?;
        let merged = self.next_shard;
        self.next_shard += 1;
        for parent in [id, right.0] {
            if let Some(shard) = self.shards.get_mut(&parent) {
                shard.status = ShardStatus::ReadOnly;
            }
        }
        let mut shard = Shard::new(merged, begin, right.1, now);
        shard.parents = vec![id, right.0];
        self.shards.insert(merged, shard);
        Ok([merged, id, right.0])
    }
}

/// A project: its logstores and consume processors.
#[derive(Debug, Default)]
pub(crate) struct Project {
    pub(crate) logstores: BTreeMap<String, Logstore>,
    /// Consume processors by name: their SPL, parsed when registered.
    pub(crate) consume_processors: BTreeMap<String, std::sync::Arc<crate::spl::Pipeline>>,
}

impl Project {
    /// Read-write shards across the project's logstores.
    fn writable_shards(&self) -> usize {
        self.logstores
            .values()
            .flat_map(|store| store.shards.values())
            .filter(|shard| shard.status == ShardStatus::ReadWrite)
            .count()
    }

    /// Refuses `more` read-write shards past the project's quota.
    pub(crate) fn check_shard_quota(&self, more: usize) -> Result<(), ApiError> {
        if self.writable_shards() + more > limits::MAX_PROJECT_SHARDS {
            return Err(limits::quota(
                "ProjectQuotaExceed",
                "read-write shards in a project",
                limits::MAX_PROJECT_SHARDS,
            ));
        }
        Ok(())
    }

    /// Creates a logstore, as CreateLogstore does: the name, the TTL and
    /// the project's logstore and shard quotas are checked first.
    pub(crate) fn create_logstore(
        &mut self,
        name: String,
        ttl: u32,
        shards: u32,
        now: i64,
    ) -> Result<(), ApiError> {
        limits::check_name(sls_client::names::NameKind::Logstore, &name)?;
        limits::check_ttl(ttl)?;
        if self.logstores.contains_key(&name) {
            return Err(ApiError::bad_request(
                "LogStoreAlreadyExist",
                format!("logstore {name} already exists"),
            ));
        }
        if self.logstores.len() >= limits::MAX_LOGSTORES {
            return Err(limits::quota(
                "ProjectQuotaExceed",
                "logstores in a project",
                limits::MAX_LOGSTORES,
            ));
        }
        self.check_shard_quota(shards as usize)?;
        self.logstores.insert(name, Logstore::new(ttl, shards, now));
        Ok(())
    }
}

/// Everything the fake service holds.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub(crate) projects: BTreeMap<String, Project>,
    /// The clock second of the last retention sweep.
    swept: Option<i64>,
}

/// What one retention sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sweep {
    /// Shards looked at (each at its front only).
    pub(crate) shards: usize,
    /// Groups dropped.
    pub(crate) dropped: usize,
}

impl World {
    pub(crate) fn project(&self, name: &str) -> Result<&Project, ApiError> {
        self.projects
            .get(name)
            .ok_or_else(|| ApiError::not_found("ProjectNotExist", &format!("project {name}")))
    }

    pub(crate) fn project_mut(&mut self, name: &str) -> Result<&mut Project, ApiError> {
        self.projects
            .get_mut(name)
            .ok_or_else(|| ApiError::not_found("ProjectNotExist", &format!("project {name}")))
    }

    /// Applies every logstore's retention at `now`, at most once per clock
    /// second (TTLs are whole days: nothing more can expire within the
    /// second); `None` when this second was already swept. A sweep looks at
    /// each shard's front only, so its cost is the shard count plus the
    /// groups dropped: it does not grow with uptime or with the data held.
    pub(crate) fn expire(&mut self, now: i64) -> Option<Sweep> {
        if self.swept.is_some_and(|swept| now <= swept) {
            return None;
        }
        self.swept = Some(now);
        let mut sweep = Sweep {
            shards: 0,
            dropped: 0,
        };
        for project in self.projects.values_mut() {
            for store in project.logstores.values_mut() {
                sweep.shards += store.shards.len();
                sweep.dropped += store.expire(now);
            }
        }
        Some(sweep)
    }

    pub(crate) fn logstore(&self, project: &str, name: &str) -> Result<&Logstore, ApiError> {
        self.project(project)?
            .logstores
            .get(name)
            .ok_or_else(|| ApiError::not_found("LogStoreNotExist", &format!("logstore {name}")))
    }

    pub(crate) fn logstore_mut(
        &mut self,
        project: &str,
        name: &str,
    ) -> Result<&mut Logstore, ApiError> {
        self.project_mut(project)?
            .logstores
            .get_mut(name)
            .ok_or_else(|| ApiError::not_found("LogStoreNotExist", &format!("logstore {name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_sweeps_once_a_second_and_only_the_fronts() {
        const DAY: i64 = 86_400;
        let block = || Shard::store_form(b"");
        let mut world = World::default();
        let store = Logstore::new(1, 64, 0);
        world
            .projects
            .entry("demo".into())
            .or_default()
            .logstores
            .insert("app".into(), store);
        let store = world.logstore_mut("demo", "app").unwrap();
        // 64 shards of 2,000 groups, one received per second each.
        for t in 0..2_000 {
            for shard in store.shards.values_mut() {
                shard.append(block(), t);
            }
        }
        // Nothing is a day old yet.
        let sweep = world.expire(DAY - 1).unwrap();
        assert_eq!(
            sweep,
            Sweep {
                shards: 64,
                dropped: 0
            }
        );
        // A second sweep in the same second does no work at all.
        assert_eq!(world.expire(DAY - 1), None);
        // One second on: each shard drops its one group past the TTL.
        let sweep = world.expire(DAY + 1).unwrap();
        assert_eq!(
            sweep,
            Sweep {
                shards: 64,
                dropped: 64
            }
        );
        let store = world.logstore("demo", "app").unwrap();
        let shard = store.shard(5).unwrap();
        assert_eq!(shard.group_count(), 1_999);
        assert_eq!(shard.cursor_time(shard.begin_cursor()), 1);
        // Many requests in one second: one sweep (dropping t = 1).
        let sweeps = (0..10_000).filter_map(|_| world.expire(DAY + 2)).count();
        assert_eq!(sweeps, 1);
        // Time never runs back, but a sweep at an earlier second is a no-op.
        assert_eq!(world.expire(DAY), None);
        let sweep = world.expire(DAY + 1_999).unwrap();
        assert_eq!(sweep.dropped, 64 * 1_997, "t = 2..1998");
        assert_eq!(
            world
                .logstore("demo", "app")
                .unwrap()
                .shard(0)
                .unwrap()
                .group_count(),
            1
        );
    }

    #[test]
    fn receive_times_never_go_back() {
        let mut shard = Shard::new(0, 0, u128::MAX, 0);
        shard.append(Shard::store_form(b""), 10);
        shard.append(Shard::store_form(b""), 5);
        assert_eq!(shard.cursor_time(shard.begin_cursor() + 1), 10);
        assert_eq!(shard.expire(10), 0);
        assert_eq!(shard.expire(11), 2);
    }

    #[test]
    fn split_and_merge_keep_the_key_space_tiled() {
        let mut store = Logstore::new(1, 2, 0);
        let [parent, a, b] = store.split(0, &keys::format(u128::MAX / 4), 1).unwrap();
        assert_eq!(store.shard(parent).unwrap().status, ShardStatus::ReadOnly);
        assert_eq!(store.shard(a).unwrap().parents, [0]);
        assert!(store.split(0, &keys::format(1), 1).is_err(), "read-only");
        assert!(
            store.split(a, &keys::format(0), 1).is_err(),
            "key at the edge"
        );
        let [merged, l, r] = store.merge(a, 2).unwrap();
        assert_eq!((l, r), (a, b));
        assert_eq!(store.shard(merged).unwrap().parents, [a, b]);
        let mut writable: Vec<(u128, u128)> = store
            .shards
            .values()
            .filter(|s| s.status == ShardStatus::ReadWrite)
            .map(|s| (s.begin_key, s.end_key))
            .collect();
        writable.sort();
        assert_eq!(writable.len(), 2);
        assert_eq!(writable[0].0, 0);
        assert_eq!(writable[1].1, u128::MAX);
    }
}
