//! [`plan_chain`]: the plan within a budget, by the planner asked for.

use autograd_core::{Error, Result};

use super::cost::{Costs, SegmentCost};
use super::{Budget, ChainProfile, Plan, Planner, Segment};

/// The planner's name in errors.
const NAME: &str = "plan_chain";

/// Chooses how to run the profiled chain so that its step's peak stays
/// within `budget`, as `planner` says; the plan carries its predicted
/// peak ([`Plan::peak`]).
///
/// [`Planner::Exact`] runs the fewest blocks again, and among the plans
/// that do, has the lowest peak: for budgets `b₁ ≤ b₂` its peak under
/// `b₁` is at most its peak under `b₂`, and it recomputes at least as
/// many blocks. It costs O(n²·r) time for n blocks and r blocks
/// recomputed, times the ~log₂(budget) steps of a bisection for the
/// lowest peak.
///
/// # Errors
/// [`Error::BudgetTooSmall`] naming `plan_chain` when no plan the planner
/// can make fits, with the smallest budget that does.
pub fn plan_chain(profile: &ChainProfile, budget: Budget, planner: Planner) -> Result<Plan> {
    let n = profile.blocks().len();
    Plan::keep_all(n).check(n)?;
    // The plans whose last segment is kept, then those whose last is
    // recomputed.
    let variants = [Costs::new(profile, false), Costs::new(profile, true)];
    let budget = budget.get();
    match planner {
        Planner::Sqrt => {
            let len = (1..=n).find(|l| l * l >= n).unwrap_or(1);
            let plan = Plan::segments_of(n, len, true);
            let peak = variants[1].peak(plan.segments());
            if peak > budget {
                return Err(too_small(budget, peak));
            }
            Ok(plan.with_peak(peak))
        }
        Planner::Exact => {
            let minimum = smallest_budget(&variants);
            if budget < minimum {
                return Err(too_small(budget, minimum));
            }
            let fewest = |budget: usize, limit: usize| {
                variants
                    .iter()
                    .filter_map(|costs| fewest_recomputed(costs, budget, limit))
                    .min_by_key(Plan::recomputed)
            };
            let fewest_count = fewest(budget, n)
                .expect("the smallest budget fits")
                .recomputed();
            // The lowest budget at which as few blocks are recomputed: the
            // lowest peak among the plans that recompute that few.
            let (mut lo, mut hi) = (minimum, budget);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if fewest(mid, fewest_count).is_some() {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            let plan = fewest(lo, fewest_count).expect("fits at the bisection's end");
            let peak = profile.predict(&plan)?;
            Ok(plan.with_peak(peak))
        }
    }
}

fn too_small(budget: usize, minimum: usize) -> Error {
    Error::BudgetTooSmall {
        op: NAME,
        budget,
        minimum,
    }
}

/// Whether a segment of this kind may end at `end` under `costs`: the last
/// one is of the kind its variant says.
fn ends_right(costs: &Costs<'_>, end: usize, recomputed: bool) -> bool {
    end < costs.blocks() || recomputed == costs.last_recomputed()
}

/// Whether a segment whose forward starts with `held` bytes kept before it
/// stays within `budget`.
fn fits(costs: &Costs<'_>, held: i64, cost: SegmentCost, budget: usize) -> bool {
    costs.engine_peak(held + cost.forward, held + cost.backward, held) <= budget
}

/// The lowest peak of any plan: a bisection over budgets, each asking
/// whether some plan fits (keeping the fewest bytes at each block,
/// whatever it recomputes).
fn smallest_budget(variants: &[Costs<'_>; 2]) -> usize {
    let n = variants[0].blocks();
    let fits_within = |budget: usize| {
        variants.iter().any(|costs| {
            // least[b]: the fewest bytes kept after block b - 1 by a plan of
            // the blocks before b that fits.
            let mut least = vec![i64::MAX; n + 1];
            least[0] = 0;
            for a in 0..n {
                let held = least[a];
                if held == i64::MAX {
                    continue;
                }
                let kept = costs.kept(a);
                if ends_right(costs, a + 1, false) && fits(costs, held, kept, budget) {
                    least[a + 1] = least[a + 1].min(held + kept.held);
                }
                for (end, cost) in (a + 1..=n).zip(costs.recomputed_from(a)) {
                    if ends_right(costs, end, true) && fits(costs, held, cost, budget) {
                        least[end] = least[end].min(held + cost.held);
                    }
                }
            }
            least[n] != i64::MAX && costs.engine_peak(i64::MIN, i64::MIN, least[n]) <= budget
        })
    };
    let mut hi = variants[1].peak(Plan::segments_of(n, 1, true).segments());
    while !fits_within(hi) {
        hi = hi.saturating_mul(2);
    }
    let mut lo = variants[0].floor();
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits_within(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// The plan within `budget` that recomputes the fewest blocks, at most
/// `limit`, keeping the fewest bytes among those; `None` if none fits.
fn fewest_recomputed(costs: &Costs<'_>, budget: usize, limit: usize) -> Option<Plan> {
    let n = costs.blocks();
    let width = limit + 1;
    // least[b * width + r]: the fewest bytes kept after the blocks before
    // b by a plan of them that fits and recomputes r; `from` its last
    // segment's start and whether it is recomputed.
    let mut least = vec![i64::MAX; (n + 1) * width];
    let mut from = vec![(0u32, false); (n + 1) * width];
    least[0] = 0;
    for a in 0..n {
        let row: Vec<(usize, i64)> = (0..width)
            .map(|r| (r, least[a * width + r]))
            .filter(|&(_, held)| held != i64::MAX)
            .collect();
        if row.is_empty() {
            continue;
        }
        let kept = costs.kept(a);
        for &(r, held) in &row {
            if ends_right(costs, a + 1, false) && fits(costs, held, kept, budget) {
                let at = (a + 1) * width + r;
                if held + kept.held < least[at] {
                    least[at] = held + kept.held;
                    from[at] = (a as u32, false);
                }
            }
        }
        for (end, cost) in (a + 1..=n).zip(costs.recomputed_from(a)) {
            let len = end - a;
            if len > limit {
                break;
            }
            for &(r, held) in &row {
                if r + len > limit
                    || !ends_right(costs, end, true)
                    || !fits(costs, held, cost, budget)
                {
                    continue;
                }
                let at = end * width + r + len;
                if held + cost.held < least[at] {
                    least[at] = held + cost.held;
                    from[at] = (a as u32, true);
                }
            }
        }
    }
    let r = (0..width).find(|&r| {
        let held = least[n * width + r];
        held != i64::MAX && costs.engine_peak(i64::MIN, i64::MIN, held) <= budget
    })?;
    let (mut end, mut r) = (n, r);
    let mut segments = Vec::new();
    while end > 0 {
        let (start, recomputed) = from[end * width + r];
        let start = start as usize;
        segments.push(Segment {
            blocks: start..end,
            recomputed,
        });
        if recomputed {
            r -= end - start;
        }
        end = start;
    }
    segments.reverse();
    Some(Plan::new(segments))
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::budget::BlockCost;

    /// Every plan of `n` blocks: each composition of the blocks into
    /// segments, each segment kept or recomputed.
    fn every_plan(n: usize) -> Vec<Plan> {
        let mut plans = Vec::new();
        for cuts in 0u32..1 << (n - 1) {
            let mut bounds = vec![0];
            bounds.extend((1..n).filter(|i| cuts >> (i - 1) & 1 == 1));
            bounds.push(n);
            let parts = bounds.len() - 1;
            for kinds in 0u32..1 << parts {
                plans.push(Plan::new(
                    (0..parts)
                        .map(|p| Segment {
                            blocks: bounds[p]..bounds[p + 1],
                            recomputed: kinds >> p & 1 == 1,
                        })
                        .collect(),
                ));
            }
        }
        plans
    }

    fn random_profile(rng: &mut StdRng, n: usize) -> ChainProfile {
        let blocks = (0..n)
            .map(|_| {
                let value = rng.random_range(1..50) * 8;
                let recorded = value + rng.random_range(0..200) * 8;
                BlockCost {
                    run_peak: value + rng.random_range(0..40) * 8,
                    value,
                    record_peak: recorded + rng.random_range(0..40) * 8,
                    recorded,
                    recorded_value: value,
                    backward_peak: rng.random_range(0..300) * 8,
                    input_grad: value,
                    param_grad: rng.random_range(0..30) * 8,
                }
            })
            .collect();
        ChainProfile::synthetic(blocks, rng.random_range(0..100) * 8)
    }

    #[test]
    fn the_exact_planner_recomputes_the_fewest_blocks_then_peaks_lowest_as_a_search_of_every_plan_does()
     {
        let mut rng = StdRng::seed_from_u64(3);
        for n in 1..=6 {
            let plans = every_plan(n);
            for _ in 0..20 {
                let profile = random_profile(&mut rng, n);
                let scored: Vec<(usize, usize)> = plans
                    .iter()
                    .map(|p| (profile.predict(p).unwrap(), p.recomputed()))
                    .collect();
                let lowest = scored.iter().map(|s| s.0).min().unwrap();
                let highest = scored.iter().map(|s| s.0).max().unwrap();
                assert_eq!(
                    plan_chain(&profile, Budget::bytes(lowest - 1), Planner::Exact),
                    Err(too_small(lowest - 1, lowest))
                );
                for budget in (lowest..=highest).step_by(((highest - lowest) / 7).max(1)) {
                    let best = scored
                        .iter()
                        .filter(|s| s.0 <= budget)
                        .map(|&(peak, recomputed)| (recomputed, peak))
                        .min()
                        .unwrap();
                    let plan = plan_chain(&profile, Budget::bytes(budget), Planner::Exact).unwrap();
                    assert_eq!(
                        (plan.recomputed(), plan.peak().unwrap()),
                        best,
                        "n {n}, budget {budget}"
                    );
                    assert_eq!(profile.predict(&plan).unwrap(), best.1);
                }
            }
        }
    }

    #[test]
    fn a_kept_segment_costs_what_its_blocks_kept_one_by_one_cost() {
        let mut rng = StdRng::seed_from_u64(4);
        let profile = random_profile(&mut rng, 7);
        let whole = Plan::segments_of(7, 7, false);
        let singles = Plan::segments_of(7, 1, false);
        assert_eq!(profile.predict(&whole), profile.predict(&singles));
    }
}
