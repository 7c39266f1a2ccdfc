//! [`PullSizer`]: how many groups a shard asks for, and the most raw bytes
//! it accepts for them.
//!
//! Groups vary from a few hundred bytes to the service's 5 MB limit (the
//! official Go producer batches up to 512 KB and 4096 logs a group), so a
//! fixed group count cannot be both efficient and safe: 1000 groups of
//! 390 KB is 390 MB. The sizer aims every pull at a byte target
//! ([`max_pull_bytes`](crate::ConsumerConfigBuilder::max_pull_bytes)),
//! from the group sizes it has seen, capped by `max_fetch_groups`.
//!
//! A shard's first pull asks for as many groups as the byte target holds
//! of groups as large as producers commonly make them (512 KB, the
//! official Go producer's batch; 16 at the default 8 MiB): the sizer knows
//! nothing of the sizes yet, and an answer refused for size is not free
//! (the service built and sent it, and charges its whole body to the
//! shard's read quota; at the default 1000 groups of 390 KB that is
//! 390 MB, twenty seconds of a shard's quota). From there the count at
//! most doubles from one pull to the next, up to what the byte target
//! allows.
//!
//! Sizes are uneven: a logstore fed by several producers mixes groups of
//! a few hundred bytes with groups of a megabyte. A count aimed at the
//! average alone is refused whenever a pull holds one of the large ones,
//! and a refused answer is not free: the service sent it, and charges its
//! whole body to the shard's read quota. So the sizer also keeps the
//! largest group seen lately, and leaves room for one such group in each
//! pull.
//!
//! The memory budget stays a hard bound: every pull carries a raw-size
//! limit that its reservation covers, and the client refuses a larger
//! answer from its headers, before reading or decompressing the body.
//! A refused pull is asked again with fewer groups (from the declared
//! size and count), down to one group; one group is accepted up to the
//! whole budget, which the configuration keeps above the service's group
//! limit. Only a single group larger than the whole budget cannot be
//! read: that is a clear, fatal error, never a silent loop.

/// The service's largest group (5 MB) in a pull's list, with the list's
/// framing: what one group may need.
pub(crate) const ONE_GROUP_BYTES: u64 = (5 << 20) + 16;

/// Groups as large as producers commonly make them (the official Go
/// producer batches up to 512 KB): the first pull asks for as many as the
/// byte target holds.
const TYPICAL_LARGE_GROUP: u64 = 512 << 10;

/// The groups over which the largest group seen fades away.
const LARGEST_FADES_OVER: u64 = 256;

/// A single group larger than the memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupOverBudget {
    /// The raw size the service declared for one group.
    pub(crate) declared: u64,
    /// The budget.
    pub(crate) budget: u64,
}

/// One shard's pull sizing.
#[derive(Debug, Clone)]
pub(crate) struct PullSizer {
    target: u64,
    max_groups: u32,
    budget: u64,
    /// Raw bytes per group, smoothed over the pulls seen.
    per_group: Option<u64>,
    /// The largest group seen lately (it fades as groups are read).
    largest: u64,
    count: u32,
    /// A one-group pull refused at [`ONE_GROUP_BYTES`] declared this.
    one_group: Option<u64>,
}

impl PullSizer {
    /// A sizer aiming at `target` bytes a pull, at most `max_groups`
    /// groups, within `budget` bytes.
    pub(crate) fn new(target: u64, max_groups: u32, budget: u64) -> Self {
        let max_groups = max_groups.clamp(1, sls_client::MAX_PULL_COUNT);
        Self {
            target: target.clamp(1, budget.max(1)),
            max_groups,
            budget: budget.max(1),
            per_group: None,
            largest: 0,
            count: u32::try_from(target / TYPICAL_LARGE_GROUP)
                .unwrap_or(u32::MAX)
                .clamp(1, max_groups),
            one_group: None,
        }
    }

    /// Groups to ask for next.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// The most raw bytes the next pull may return: what to reserve and
    /// send as its limit. Never more than the budget.
    pub(crate) fn limit(&self) -> u64 {
        if self.count > 1 {
            self.target
        } else {
            let one = self.one_group.unwrap_or(ONE_GROUP_BYTES);
            one.max(self.target).min(self.budget)
        }
    }

    fn aim(&mut self, per_group: u64) {
        // Room for one group of the largest size instead of an average
        // one: `count` groups of `per_group` plus that difference fit.
        let room = self
            .target
            .saturating_sub(self.largest.saturating_sub(per_group));
        let fits = room / per_group.max(1);
        self.count = u32::try_from(fits)
            .unwrap_or(u32::MAX)
            .clamp(1, self.max_groups);
    }

    /// A pull that read `scanned` groups returned `groups` of them (fewer
    /// when a query filtered them), `raw` bytes in all, the largest of
    /// `largest` bytes.
    pub(crate) fn observed(&mut self, scanned: u64, groups: usize, raw: u64, largest: u64) {
        let Ok(groups) = u64::try_from(groups) else {
            return;
        };
        if groups == 0 {
            return;
        }
        // The largest lately: it fades over a few hundred groups read.
        let fade = self.largest.saturating_mul(groups) / LARGEST_FADES_OVER;
        self.largest = largest.max(self.largest.saturating_sub(fade));
        let seen = raw.div_ceil(groups);
        let per_group = match self.per_group {
            Some(before) => (before + seen).div_ceil(2),
            None => seen,
        };
        self.per_group = Some(per_group);
        self.one_group = None;
        self.aim(per_group);
        // At most twice what this pull read: a pull refused for size costs
        // the service's work and its whole body against the read quota, so
        // the count grows as TCP's window does at its start.
        let doubled = u32::try_from(scanned.max(groups).saturating_mul(2)).unwrap_or(u32::MAX);
        self.count = self.count.min(doubled);
    }

    /// A pull was refused for declaring `declared` raw bytes (for `groups`
    /// groups, when the answer said). The next one asks for fewer groups,
    /// or, at one group, for a limit that fits it.
    pub(crate) fn refused(
        &mut self,
        declared: u64,
        groups: Option<u32>,
    ) -> Result<(), GroupOverBudget> {
        let asked = self.count;
        let groups = groups.filter(|g| *g > 0).unwrap_or(asked).min(asked);
        if asked <= 1 || groups <= 1 {
            if declared > self.budget {
                return Err(GroupOverBudget {
                    declared,
                    budget: self.budget,
                });
            }
            self.count = 1;
            self.one_group = Some(declared.max(self.limit()));
            return Ok(());
        }
        let per_group = declared.div_ceil(u64::from(groups));
        self.per_group = Some(per_group);
        self.largest = self.largest.max(per_group);
        self.aim(per_group);
        // At most half of what the refused answer held: refusals end, and
        // within about log2(groups) in a row even when the first groups
        // are far larger than the average the estimate used.
        self.count = self.count.min(groups / 2).max(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MIB: u64 = 1 << 20;

    /// A shard of `sizes` groups read through the sizer against a server
    /// that answers `min(count, left)` groups, declaring their sum, and
    /// refuses nothing itself; the client refuses over the limit. Returns
    /// (groups read, pulls, refusals in a row at most, refusals in all), or
    /// the error.
    fn drain(
        sizes: &[u64],
        target: u64,
        max_groups: u32,
        budget: u64,
    ) -> Result<(usize, usize, usize, usize), GroupOverBudget> {
        let mut sizer = PullSizer::new(target, max_groups, budget);
        let (mut at, mut pulls, mut refusals, mut worst, mut all) = (0, 0, 0, 0, 0);
        while at < sizes.len() {
            pulls += 1;
            assert!(pulls < 100_000, "no progress");
            let limit = sizer.limit();
            assert!(limit <= budget, "a pull may hold more than the budget");
            let n = (sizer.count() as usize).min(sizes.len() - at);
            let declared: u64 = sizes[at..at + n].iter().map(|s| s + 8).sum();
            if declared > limit {
                refusals += 1;
                all += 1;
                worst = worst.max(refusals);
                sizer.refused(declared, Some(n as u32))?;
            } else {
                refusals = 0;
                let largest = sizes[at..at + n].iter().max().map_or(0, |s| s + 8);
                sizer.observed(n as u64, n, declared, largest);
                at += n;
            }
        }
        Ok((at, pulls, worst, all))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// No budget, target, group cap or mix of group sizes the service
        /// allows (up to 5 MB a group) stops a shard: every group is read,
        /// no pull holds more than the budget, and refusals in a row are
        /// few (each asks for strictly fewer groups).
        #[test]
        fn every_setting_reads_every_group_within_the_budget(
            budget in (8 * MIB)..(1024 * MIB),
            target in 1u64..(2048 * MIB),
            max_groups in 1u32..=1000,
            sizes in prop::collection::vec(
                prop_oneof![1u64..2048, 2048u64..(512 << 10), (512u64 << 10)..(5 * MIB)],
                1..400,
            ),
        ) {
            let (read, _, worst, _) = drain(&sizes, target, max_groups, budget).unwrap();
            prop_assert_eq!(read, sizes.len());
            prop_assert!(worst <= 12, "{} refusals in a row", worst);
        }
    }

    #[test]
    fn large_groups_with_the_default_settings_fit_from_the_first_pull() {
        // 400 groups of ~390 KB: 1000 at once would be ~155 MB. The first
        // pull of 16 fits and teaches the size: no refusal.
        let sizes = vec![390_000; 400];
        let (read, pulls, _, refused) = drain(&sizes, 8 * MIB, 1000, 256 * MIB).unwrap();
        assert_eq!(read, 400);
        assert_eq!(refused, 0);
        assert!(pulls <= 25, "{pulls} pulls");
    }

    #[test]
    fn uneven_groups_are_seldom_refused() {
        // Four producers in turn: groups of 348 B, 64 KB, just over 1 MiB
        // and 2 KB, read in pulls aimed at 2 MiB.
        let sizes: Vec<u64> = [348, 64_000, 1_050_000, 2_000]
            .into_iter()
            .cycle()
            .take(400)
            .collect();
        let (read, pulls, _, refused) = drain(&sizes, 2 * MIB, 1000, 256 * MIB).unwrap();
        assert_eq!(read, 400);
        // At most the first (4 groups asked, one of them 1 MiB): after it
        // each pull leaves room for the largest seen.
        assert!(refused <= 1, "{refused} refused in {pulls} pulls");
    }

    #[test]
    fn a_query_that_filters_most_groups_out_still_grows_the_count() {
        // 16 groups read, one survived the query: the count grows from what
        // was read.
        let mut sizer = PullSizer::new(8 * MIB, 1000, 256 * MIB);
        assert_eq!(sizer.count(), 16);
        sizer.observed(16, 1, 1024, 1024);
        assert_eq!(sizer.count(), 32);
    }

    #[test]
    fn a_group_over_the_whole_budget_is_a_clear_error() {
        let mut sizer = PullSizer::new(MIB, 1, 8 * MIB);
        assert_eq!(sizer.limit(), ONE_GROUP_BYTES);
        assert_eq!(
            sizer.refused(9 * MIB, Some(1)),
            Err(GroupOverBudget {
                declared: 9 * MIB,
                budget: 8 * MIB
            })
        );
        // Over the expected 5 MB but within the budget: read it.
        let mut sizer = PullSizer::new(MIB, 1, 8 * MIB);
        sizer.refused(7 * MIB, Some(1)).unwrap();
        assert_eq!(sizer.limit(), 7 * MIB);
    }

    #[test]
    fn small_groups_fill_the_group_cap_doubling_from_one() {
        let mut sizer = PullSizer::new(8 * MIB, 1000, 256 * MIB);
        assert_eq!(sizer.count(), 16);
        let mut counts = Vec::new();
        while sizer.count() < 1000 {
            let n = sizer.count();
            sizer.observed(u64::from(n), n as usize, u64::from(n) * 1024, 1024);
            counts.push(sizer.count());
        }
        assert_eq!(counts, [32, 64, 128, 256, 512, 1000]);
        assert_eq!(sizer.limit(), 8 * MIB);
    }
}
