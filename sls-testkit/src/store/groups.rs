//! Consumer groups: membership by heartbeat, shard assignment with clean
//! transfers, checkpoints, and ordered consumption across splits and merges
//! (the server's shard states and hand-over, as the aliyun-log-consumer-java
//! README describes them).
//!
//! Each (group, shard) is in one [`ShardState`]. A heartbeat registers or
//! refreshes the consumer, drops consumers silent for longer than the
//! group's timeout, applies what the consumer's list says it released, and
//! rebalances. Rebalancing is deterministic (consumers and shards are taken
//! in name and id order), so the same heartbeats in the same order give the
//! same assignment.
//!
//! Choices where the service's behaviour is not documented:
//! - A shard omitted from its owner's heartbeat is released, unless it was
//!   handed to that owner by the previous response (the consumer may not
//!   have started it yet).
//! - Moving a shard marks it `transfer` to the consumer with the fewest
//!   shards; it is no longer returned to the owner, and goes to the new
//!   consumer once the owner's heartbeat omits it or the owner times out.
//! - A read-only shard whose checkpoint reaches its end is `over` and
//!   released at once.
//! - A heartbeat with an empty list from a consumer that owns shards is a
//!   consumer leaving: everything it owned (even shards handed to it by the
//!   previous response) and everything promised to it is released, and
//!   until its next heartbeat it is given nothing and not counted for
//!   balance, so its shards go to the others at once (a clean shutdown's
//!   last heartbeat) instead of back to it. A consumer that owns nothing
//!   and sends an empty list looks like a newcomer.

use std::collections::{BTreeMap, BTreeSet};

use super::{Logstore, ShardStatus};
use crate::error::ApiError;

/// Where a shard stands in a consumer group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShardState {
    /// No owner.
    NotAlloc,
    /// Owned.
    AlreadyAlloc,
    /// Owned, but promised to another consumer once the owner lets go.
    Transfer,
    /// Ordered group: a parent is not consumed yet.
    Wait,
    /// Read-only and consumed to its end.
    Over,
}

#[derive(Debug, Clone, Default)]
struct Assignment {
    owner: Option<String>,
    /// The consumer it goes to once the owner lets go.
    pending: Option<String>,
    /// Handed to the owner by its latest heartbeat response.
    fresh: bool,
    /// The owner has been told it holds this shard (in some response).
    returned: bool,
    checkpoint: Option<i64>,
    checkpoint_consumer: String,
    update_time_us: i64,
}

/// A consumer group's state.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerGroupState {
    pub(crate) timeout: u32,
    pub(crate) order: bool,
    /// Consumer name → last heartbeat, in ms since the epoch.
    consumers: BTreeMap<String, i64>,
    /// Consumers whose last heartbeat released everything (leaving).
    leaving: BTreeSet<String>,
    shards: BTreeMap<u32, Assignment>,
}

/// A saved checkpoint, as GetCheckPoint lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckpointRow {
    pub(crate) shard: u32,
    pub(crate) checkpoint: Option<i64>,
    pub(crate) update_time_us: i64,
    pub(crate) consumer: String,
}

/// One shard of a group, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardAssignment {
    /// The shard.
    pub shard: u32,
    /// Its state.
    pub state: ShardState,
    /// Its owner, if any.
    pub owner: Option<String>,
    /// The consumer it is being transferred to, if any.
    pub pending: Option<String>,
    /// The saved checkpoint, if any.
    pub checkpoint: Option<sls_proto::Cursor>,
}

impl ConsumerGroupState {
    pub(crate) fn new(timeout: u32, order: bool) -> Self {
        Self {
            timeout,
            order,
            consumers: BTreeMap::new(),
            leaving: BTreeSet::new(),
            shards: BTreeMap::new(),
        }
    }

    /// The live consumers, by name.
    pub(crate) fn consumers(&self) -> impl Iterator<Item = &str> {
        self.consumers.keys().map(String::as_str)
    }

    fn assignment(&mut self, shard: u32) -> &mut Assignment {
        self.shards.entry(shard).or_default()
    }

    fn is_over(&self, store: &Logstore, shard: u32) -> bool {
        let Ok(s) = store.shard(shard) else {
            return false;
        };
        s.status == ShardStatus::ReadOnly
            && self.shards.get(&shard).and_then(|a| a.checkpoint) == Some(s.end_cursor())
    }

    /// The state of `shard`.
    pub(crate) fn state(&self, store: &Logstore, shard: u32) -> ShardState {
        if self.is_over(store, shard) {
            return ShardState::Over;
        }
        if self.order {
            if let Ok(s) = store.shard(shard) {
                if s.parents.iter().any(|&p| !self.is_over(store, p)) {
                    return ShardState::Wait;
                }
            }
        }
        match self.shards.get(&shard) {
            Some(Assignment {
                owner: Some(_),
                pending: Some(_),
                ..
            }) => ShardState::Transfer,
            Some(Assignment { owner: Some(_), .. }) => ShardState::AlreadyAlloc,
            _ => ShardState::NotAlloc,
        }
    }

    /// Drops consumers silent for longer than the timeout, freeing their
    /// shards.
    pub(crate) fn expire(&mut self, now_ms: i64) {
        let limit = i64::from(self.timeout) * 1000;
        let expired: Vec<String> = self
            .consumers
            .iter()
            .filter(|(_, last)| now_ms - **last > limit)
            .map(|(name, _)| name.clone())
            .collect();
        for name in &expired {
            self.consumers.remove(name);
            self.leaving.remove(name);
        }
        for a in self.shards.values_mut() {
            if a.pending.as_ref().is_some_and(|p| expired.contains(p)) {
                a.pending = None;
            }
            if a.owner.as_ref().is_some_and(|o| expired.contains(o)) {
                // A transfer completes when the owner times out.
                a.owner = a.pending.take();
                a.fresh = a.owner.is_some();
                a.returned = false;
            }
        }
    }

    /// Gives `shard` up: to the pending consumer if any, else to no one.
    fn release(&mut self, shard: u32) {
        let a = self.assignment(shard);
        a.owner = a.pending.take();
        a.fresh = a.owner.is_some();
        a.returned = false;
    }

    /// A heartbeat of `consumer` holding `held`; returns what it should
    /// hold.
    pub(crate) fn heartbeat(
        &mut self,
        store: &Logstore,
        consumer: &str,
        held: &[u32],
        now_ms: i64,
    ) -> Result<Vec<u32>, ApiError> {
        self.expire(now_ms);
        if !self.consumers.contains_key(consumer) && !held.is_empty() {
            return Err(ApiError::bad_request(
                "NotExistConsumerWithBody",
                format!(
                    "consumer {consumer} is not in the group; heartbeat with an empty list first"
                ),
            ));
        }
        self.consumers.insert(consumer.to_owned(), now_ms);
        let held: BTreeSet<u32> = held.iter().copied().collect();

        // What the owner's list says it let go of.
        let owned: Vec<(u32, bool)> = self
            .shards
            .iter()
            .filter(|(_, a)| a.owner.as_deref() == Some(consumer))
            .map(|(&id, a)| (id, a.fresh && a.pending.is_none()))
            .collect();
        // Whether it had been told it holds something (before releasing).
        let told_it_holds = self
            .shards
            .values()
            .any(|a| a.owner.as_deref() == Some(consumer) && a.returned);
        // Whether it let go of a shard nobody asked it to (not a transfer).
        let mut released = false;
        for (shard, fresh) in owned {
            if held.contains(&shard) {
                self.assignment(shard).fresh = false;
            } else if fresh {
                // Handed out by the last response and not promised
                // elsewhere since: give the consumer one heartbeat to start.
                self.assignment(shard).fresh = false;
            } else {
                released |= self.assignment(shard).pending.is_none();
                self.release(shard);
            }
        }
        // An empty list from a consumer that owns shards is a goodbye (a
        // clean shutdown's last heartbeat, or a consumer that lost its
        // lease): what it owned, even what it was only just handed, and what
        // was promised to it, go to the others.
        let leaving = held.is_empty() && (released || told_it_holds);
        if leaving {
            self.leaving.insert(consumer.to_owned());
            for a in self.shards.values_mut() {
                if a.pending.as_deref() == Some(consumer) {
                    a.pending = None;
                }
                if a.owner.as_deref() == Some(consumer) {
                    a.owner = a.pending.take();
                    a.fresh = a.owner.is_some();
                    a.returned = false;
                }
            }
        } else {
            self.leaving.remove(consumer);
        }
        // Consumed read-only shards are over: nobody holds them.
        let over: Vec<u32> = store
            .shards
            .keys()
            .copied()
            .filter(|&id| self.is_over(store, id))
            .collect();
        for shard in over {
            let a = self.assignment(shard);
            a.owner = None;
            a.pending = None;
        }
        self.rebalance(store);
        if leaving {
            return Ok(Vec::new());
        }

        let result: Vec<u32> = self
            .shards
            .iter()
            .filter(|(_, a)| a.owner.as_deref() == Some(consumer) && a.pending.is_none())
            .map(|(&id, _)| id)
            .filter(|&id| !matches!(self.state(store, id), ShardState::Wait | ShardState::Over))
            .collect();
        for &shard in &result {
            let a = self.assignment(shard);
            a.returned = true;
            if !held.contains(&shard) {
                a.fresh = true;
            }
        }
        Ok(result)
    }

    /// Hands free shards out and moves shards until every consumer's count
    /// (counting shards on their way to it, not those leaving it) is within
    /// one of every other's.
    fn rebalance(&mut self, store: &Logstore) {
        if self.consumers.is_empty() {
            return;
        }
        let candidates: Vec<u32> = store
            .shards
            .keys()
            .copied()
            .filter(|&id| {
                matches!(
                    self.state(store, id),
                    ShardState::NotAlloc | ShardState::AlreadyAlloc | ShardState::Transfer
                )
            })
            .collect();
        let mut load: BTreeMap<String, usize> = self
            .consumers
            .keys()
            .filter(|c| !self.leaving.contains(*c))
            .map(|c| (c.clone(), 0))
            .collect();
        if load.is_empty() {
            return;
        }
        for &id in &candidates {
            if let Some(a) = self.shards.get(&id) {
                if let Some(to) = a.pending.as_ref().or(a.owner.as_ref()) {
                    if let Some(n) = load.get_mut(to) {
                        *n += 1;
                    }
                }
            }
        }
        let least = |load: &BTreeMap<String, usize>| {
            load.iter()
                .min_by_key(|(name, n)| (**n, (*name).clone()))
                .map(|(name, _)| name.clone())
        };
        for &id in &candidates {
            let a = self.shards.get(&id).cloned().unwrap_or_default();
            if a.owner.is_none() {
                if let Some(to) = least(&load) {
                    *load.entry(to.clone()).or_default() += 1;
                    let a = self.assignment(id);
                    a.owner = Some(to);
                    a.fresh = true;
                    a.returned = false;
                }
            }
        }
        loop {
            let Some((most, most_n)) = load
                .iter()
                .max_by_key(|(name, n)| (**n, std::cmp::Reverse((*name).clone())))
                .map(|(name, n)| (name.clone(), *n))
            else {
                return;
            };
            let Some(to) = least(&load) else { return };
            if most_n <= load[&to] + 1 {
                return;
            }
            // The highest-numbered shard settled on `most` moves.
            let Some(&shard) = candidates.iter().rev().find(|id| {
                self.shards
                    .get(id)
                    .is_some_and(|a| a.owner.as_deref() == Some(&most) && a.pending.is_none())
            }) else {
                return;
            };
            self.assignment(shard).pending = Some(to.clone());
            *load.entry(most).or_default() -= 1;
            *load.entry(to).or_default() += 1;
        }
    }

    /// Saves a checkpoint. Without `force`, only the owner may.
    pub(crate) fn update_checkpoint(
        &mut self,
        store: &Logstore,
        consumer: &str,
        shard: u32,
        cursor: i64,
        force: bool,
        now_us: i64,
    ) -> Result<(), ApiError> {
        self.expire(now_us / 1000);
        let s = store.shard(shard)?;
        if !s.contains_cursor(cursor) {
            return Err(ApiError::bad_request(
                "InvalidShardCheckPoint",
                format!("checkpoint is not a cursor of shard {shard}"),
            ));
        }
        let end = s.end_cursor();
        let readonly = s.status == ShardStatus::ReadOnly;
        if !force {
            if !self.consumers.contains_key(consumer) {
                return Err(ApiError::not_found(
                    "ConsumerNotExist",
                    &format!("consumer {consumer}"),
                ));
            }
            if self.shards.get(&shard).and_then(|a| a.owner.as_deref()) != Some(consumer) {
                return Err(ApiError::bad_request(
                    "ConsumerNotMatch",
                    format!("shard {shard} is not held by {consumer}"),
                ));
            }
        }
        let a = self.assignment(shard);
        a.checkpoint = Some(cursor);
        a.checkpoint_consumer = consumer.to_owned();
        a.update_time_us = now_us;
        if readonly && cursor == end {
            a.owner = None;
            a.pending = None;
        }
        Ok(())
    }

    /// The checkpoints of every shard (or one), never-committed ones
    /// included.
    pub(crate) fn checkpoints(&self, store: &Logstore, shard: Option<u32>) -> Vec<CheckpointRow> {
        store
            .shards
            .keys()
            .copied()
            .filter(|id| shard.is_none_or(|s| s == *id))
            .map(|id| {
                let a = self.shards.get(&id).cloned().unwrap_or_default();
                CheckpointRow {
                    shard: id,
                    checkpoint: a.checkpoint,
                    update_time_us: a.update_time_us,
                    consumer: a.checkpoint_consumer,
                }
            })
            .collect()
    }

    /// Every shard's assignment, for inspection.
    pub(crate) fn snapshot(&self, store: &Logstore) -> Vec<ShardAssignment> {
        store
            .shards
            .keys()
            .map(|&id| {
                let a = self.shards.get(&id).cloned().unwrap_or_default();
                ShardAssignment {
                    shard: id,
                    state: self.state(store, id),
                    owner: a.owner,
                    pending: a.pending,
                    checkpoint: a.checkpoint.map(sls_proto::Cursor::from_sequence),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;
    use crate::store::keys;

    const TIMEOUT_S: u32 = 30;
    const CONSUMERS: usize = 4;

    #[derive(Debug, Clone)]
    enum Op {
        Heartbeat(usize),
        Join(usize),
        Leave(usize),
        Crash(usize),
        Advance(u32),
        Split(usize),
        Merge(usize),
        Drain(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let c = 0..CONSUMERS;
        prop_oneof![
            6 => c.clone().prop_map(Op::Heartbeat),
            2 => c.clone().prop_map(Op::Join),
            1 => c.clone().prop_map(Op::Leave),
            1 => c.clone().prop_map(Op::Crash),
            2 => (1u32..40).prop_map(Op::Advance),
            1 => (0usize..8).prop_map(Op::Split),
            1 => (0usize..8).prop_map(Op::Merge),
            2 => c.prop_map(Op::Drain),
        ]
    }

    /// A consumer following the client protocol: it holds what the last
    /// response returned, and drops everything when its lease runs out.
    #[derive(Debug, Clone, Default)]
    struct Model {
        alive: bool,
        /// Died without a goodbye (its shards wait for the timeout).
        crashed: bool,
        held: BTreeSet<u32>,
        last_ok_ms: i64,
    }

    struct Sim {
        store: Logstore,
        group: ConsumerGroupState,
        consumers: Vec<Model>,
        now_ms: i64,
    }

    fn name(i: usize) -> String {
        format!("consumer-{i}")
    }

    impl Sim {
        fn new(order: bool) -> Self {
            Self {
                store: Logstore::new(1, 4, 0),
                group: ConsumerGroupState::new(TIMEOUT_S, order),
                consumers: vec![Model::default(); CONSUMERS],
                now_ms: 0,
            }
        }

        fn lease_check(&mut self) {
            for c in &mut self.consumers {
                if c.alive && self.now_ms - c.last_ok_ms > i64::from(TIMEOUT_S) * 1000 {
                    c.held.clear();
                }
            }
        }

        fn heartbeat(&mut self, i: usize) -> Result<(), TestCaseError> {
            self.lease_check();
            if !self.consumers[i].alive {
                return Ok(());
            }
            let held: Vec<u32> = self.consumers[i].held.iter().copied().collect();
            let result = self
                .group
                .heartbeat(&self.store, &name(i), &held, self.now_ms);
            let returned = match result {
                Ok(r) => r,
                Err(e) => {
                    // The server forgot us though our lease says we hold
                    // shards: that must not happen.
                    return Err(TestCaseError::fail(format!(
                        "heartbeat of {i} refused: {e:?}"
                    )));
                }
            };
            for &shard in &returned {
                let s = self.store.shard(shard).unwrap();
                for &p in &s.parents {
                    if self.group.order {
                        prop_assert_eq!(
                            self.group.state(&self.store, p),
                            ShardState::Over,
                            "child {} before parent {}",
                            shard,
                            p
                        );
                    }
                }
            }
            let c = &mut self.consumers[i];
            c.held = returned.into_iter().collect();
            c.last_ok_ms = self.now_ms;
            Ok(())
        }

        fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
            match *op {
                Op::Heartbeat(i) => self.heartbeat(i)?,
                Op::Join(i) => {
                    if !self.consumers[i].alive {
                        self.consumers[i] = Model {
                            alive: true,
                            crashed: false,
                            held: BTreeSet::new(),
                            last_ok_ms: self.now_ms,
                        };
                        self.heartbeat(i)?;
                    }
                }
                Op::Leave(i) => {
                    if self.consumers[i].alive {
                        // A goodbye the service can recognise needs shards
                        // to let go of; one that held nothing looks like a
                        // newcomer and times out like a crash.
                        self.consumers[i].crashed = self.consumers[i].held.is_empty();
                        self.consumers[i].held.clear();
                        self.heartbeat(i)?;
                        self.consumers[i].alive = false;
                        self.consumers[i].held.clear();
                    }
                }
                Op::Crash(i) => {
                    self.consumers[i].crashed |= self.consumers[i].alive;
                    self.consumers[i].alive = false;
                    self.consumers[i].held.clear();
                }
                Op::Advance(s) => {
                    self.now_ms += i64::from(s) * 1000;
                    self.lease_check();
                }
                Op::Split(k) => {
                    let writable: Vec<(u32, u128, u128)> = self
                        .store
                        .shards
                        .values()
                        .filter(|s| {
                            s.status == ShardStatus::ReadWrite && s.end_key - s.begin_key > 4
                        })
                        .map(|s| (s.id, s.begin_key, s.end_key))
                        .collect();
                    if let Some(&(id, b, e)) = writable.get(k % writable.len().max(1)) {
                        let mid = b + (e - b) / 2;
                        self.store
                            .split(id, &keys::format(mid), self.now_ms / 1000)
                            .unwrap();
                    }
                }
                Op::Merge(k) => {
                    let writable: Vec<u32> = self
                        .store
                        .shards
                        .values()
                        .filter(|s| s.status == ShardStatus::ReadWrite)
                        .map(|s| s.id)
                        .collect();
                    if let Some(&id) = writable.get(k % writable.len().max(1)) {
                        // Fails harmlessly when it has no right neighbour.
                        let _ = self.store.merge(id, self.now_ms / 1000);
                    }
                }
                Op::Drain(i) => {
                    self.lease_check();
                    if !self.consumers[i].alive {
                        return Ok(());
                    }
                    let readonly: Vec<u32> = self.consumers[i]
                        .held
                        .iter()
                        .copied()
                        .filter(|id| self.store.shard(*id).unwrap().status == ShardStatus::ReadOnly)
                        .collect();
                    for shard in readonly {
                        let end = self.store.shard(shard).unwrap().end_cursor();
                        let r = self.group.update_checkpoint(
                            &self.store,
                            &name(i),
                            shard,
                            end,
                            false,
                            0,
                        );
                        prop_assert!(
                            r.is_ok(),
                            "the holder of {} could not commit: {:?}",
                            shard,
                            r
                        );
                        self.consumers[i].held.remove(&shard);
                    }
                }
            }
            self.check_exclusive()
        }

        /// No shard is held by two live consumers, and every held shard is
        /// owned by its holder on the server.
        fn check_exclusive(&self) -> Result<(), TestCaseError> {
            let mut holders: BTreeMap<u32, usize> = BTreeMap::new();
            for (i, c) in self.consumers.iter().enumerate() {
                if !c.alive {
                    continue;
                }
                for &shard in &c.held {
                    if let Some(other) = holders.insert(shard, i) {
                        return Err(TestCaseError::fail(format!(
                            "shard {shard} held by {other} and {i}"
                        )));
                    }
                    let owner = self.group.shards.get(&shard).and_then(|a| a.owner.clone());
                    prop_assert_eq!(
                        owner,
                        Some(name(i)),
                        "shard {} held by {} but owned otherwise",
                        shard,
                        i
                    );
                }
            }
            Ok(())
        }

        /// With no more changes, every live consumer heartbeats in rounds
        /// until the assignment settles; it must be complete and balanced.
        fn settle_and_check_balance(&mut self) -> Result<(), TestCaseError> {
            // Before anyone times out: every open shard is held, except
            // those tied to a crashed consumer (owned by it or promised to
            // it), which wait for its timeout. Clean leavers block nothing.
            for _round in 0..4 {
                self.now_ms += 1000;
                for i in 0..CONSUMERS {
                    self.heartbeat(i)?;
                    self.check_exclusive()?;
                }
            }
            if self.consumers.iter().any(|c| c.alive) {
                let crashed: BTreeSet<String> = (0..CONSUMERS)
                    .filter(|&i| self.consumers[i].crashed)
                    .map(name)
                    .collect();
                let alive: BTreeSet<String> = (0..CONSUMERS)
                    .filter(|&i| self.consumers[i].alive)
                    .map(name)
                    .collect();
                for id in self.store.shards.keys().copied() {
                    let open = !matches!(
                        self.group.state(&self.store, id),
                        ShardState::Over | ShardState::Wait
                    );
                    let a = self.group.shards.get(&id).cloned().unwrap_or_default();
                    let tied_to_crash = a.owner.as_ref().is_some_and(|o| crashed.contains(o))
                        || a.pending.as_ref().is_some_and(|p| crashed.contains(p));
                    if open && !tied_to_crash {
                        // Owned (or on its way) to a live consumer, never
                        // parked on one that left cleanly.
                        let to = a.pending.as_ref().or(a.owner.as_ref());
                        prop_assert!(
                            to.is_some_and(|o| alive.contains(o)),
                            "shard {} stuck: {:?}",
                            id,
                            a
                        );
                    }
                }
            }
            // Let the departed time out.
            self.now_ms += i64::from(TIMEOUT_S + 1) * 1000;
            self.lease_check();
            for _round in 0..8 {
                for i in 0..CONSUMERS {
                    self.heartbeat(i)?;
                    self.check_exclusive()?;
                }
                self.now_ms += 1000;
            }
            let alive: Vec<&Model> = self.consumers.iter().filter(|c| c.alive).collect();
            if alive.is_empty() {
                return Ok(());
            }
            let counts: Vec<usize> = alive.iter().map(|c| c.held.len()).collect();
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            prop_assert!(max - min <= 1, "unbalanced: {:?}", counts);
            let held: BTreeSet<u32> = alive.iter().flat_map(|c| c.held.iter().copied()).collect();
            let open: BTreeSet<u32> = self
                .store
                .shards
                .keys()
                .copied()
                .filter(|&id| {
                    !matches!(
                        self.group.state(&self.store, id),
                        ShardState::Over | ShardState::Wait
                    )
                })
                .collect();
            prop_assert_eq!(held, open, "every open shard is held once settled");
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn assignment_is_exclusive_balanced_and_ordered(
            order in any::<bool>(),
            ops in proptest::collection::vec(op(), 1..80),
        ) {
            let mut sim = Sim::new(order);
            for op in &ops {
                sim.apply(op)?;
            }
            sim.settle_and_check_balance()?;
        }
    }

    /// A case the proptest found: a consumer whose last shard was being
    /// transferred away leaves while another shard is promised to it; the
    /// promise must not park that shard on it until the timeout.
    #[test]
    fn a_leaver_with_a_promised_shard_does_not_park_it() {
        use Op::*;
        let mut sim = Sim::new(false);
        let ops = [
            Join(3),
            Join(0),
            Advance(31),
            Heartbeat(0),
            Merge(0),
            Join(2),
            Heartbeat(3),
            Merge(2),
            Leave(0),
            Heartbeat(2),
            Drain(2),
            Heartbeat(2),
            Join(0),
            Leave(2),
        ];
        for op in ops {
            sim.apply(&op).unwrap();
        }
        sim.settle_and_check_balance().unwrap();
    }

    #[test]
    fn same_heartbeats_give_the_same_assignment() {
        let run = || {
            let mut sim = Sim::new(false);
            for op in [
                Op::Join(0),
                Op::Join(1),
                Op::Join(2),
                Op::Heartbeat(0),
                Op::Heartbeat(1),
                Op::Heartbeat(0),
                Op::Heartbeat(2),
            ] {
                sim.apply(&op).unwrap();
            }
            sim.group.snapshot(&sim.store)
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn transfer_waits_for_the_owner_to_let_go() {
        let mut sim = Sim::new(false);
        sim.apply(&Op::Join(0)).unwrap();
        assert_eq!(sim.consumers[0].held.len(), 4);
        sim.apply(&Op::Join(1)).unwrap();
        // Two shards are promised to consumer-1 but still consumer-0's.
        assert!(sim.consumers[1].held.is_empty());
        let transfers = sim
            .group
            .snapshot(&sim.store)
            .iter()
            .filter(|a| a.state == ShardState::Transfer)
            .count();
        assert_eq!(transfers, 2);
        sim.apply(&Op::Heartbeat(0)).unwrap(); // consumer-0 learns, drops two
        assert_eq!(sim.consumers[0].held.len(), 2);
        sim.apply(&Op::Heartbeat(0)).unwrap(); // and omits them: released
        sim.apply(&Op::Heartbeat(1)).unwrap();
        assert_eq!(sim.consumers[1].held.len(), 2);
    }

    #[test]
    fn an_unknown_consumer_with_shards_is_refused() {
        let mut sim = Sim::new(false);
        let err = sim
            .group
            .heartbeat(&sim.store, "ghost", &[0], 0)
            .unwrap_err();
        assert_eq!(err.code, "NotExistConsumerWithBody");
        sim.apply(&Op::Join(0)).unwrap();
        let err = sim
            .group
            .update_checkpoint(&sim.store, "consumer-9", 0, 1_000_000_000_000, false, 0)
            .unwrap_err();
        assert_eq!(err.code, "ConsumerNotExist");
        sim.apply(&Op::Join(1)).unwrap();
        let owned_by_0 = *sim.consumers[0].held.iter().next().unwrap();
        let begin = sim.store.shard(owned_by_0).unwrap().begin_cursor();
        let err = sim
            .group
            .update_checkpoint(&sim.store, &name(1), owned_by_0, begin, false, 0)
            .unwrap_err();
        assert_eq!(err.code, "ConsumerNotMatch");
        sim.group
            .update_checkpoint(&sim.store, &name(1), owned_by_0, begin, true, 0)
            .unwrap();
        let err = sim
            .group
            .update_checkpoint(&sim.store, &name(0), owned_by_0, 5, false, 0)
            .unwrap_err();
        assert_eq!(err.code, "InvalidShardCheckPoint");
    }
}
