//! What a seed-loop run exercises: typed, never matched by name.

use std::fmt;

use autograd_mem::{Freeing, StrategyKind};
use serde::{Serialize, Serializer};

/// A graph-free baseline: the same arithmetic in plain ndarray.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Baseline {
    /// One new array per expression, as a graph allocates them.
    RawNaive,
    /// One fused pass: the floor.
    RawFused,
}

/// One run of the seed loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// Plain ndarray.
    Baseline(Baseline),
    /// The loop under a strategy, each task with its own leaf.
    Strategy(StrategyKind),
    /// The loop under a thread-safe strategy (`ArcWeak`,
    /// `StrongOnly<ArcWeak>`, `CollectedSync`; running another panics), every
    /// task reading one shared leaf and adding to its gradient (serialised on
    /// that gradient's lock).
    SharedLeaf(StrategyKind),
}

impl Subject {
    /// The runs for `strategies`: the baselines first, then the strategies
    /// in order of how they free ([`Freeing::ALL`]: the last never give
    /// their memory back); a shared-leaf run after `ArcWeak`.
    pub fn plan(strategies: &[StrategyKind]) -> Vec<Subject> {
        let mut plan = vec![
            Subject::Baseline(Baseline::RawNaive),
            Subject::Baseline(Baseline::RawFused),
        ];
        for freeing in Freeing::ALL {
            for &kind in StrategyKind::ALL {
                if kind.freeing() == freeing && strategies.contains(&kind) {
                    plan.push(Subject::Strategy(kind));
                    if kind == StrategyKind::ArcWeak {
                        plan.push(Subject::SharedLeaf(kind));
                    }
                }
            }
        }
        plan
    }

    /// The strategy whose nodes the run builds, if any.
    pub fn strategy(self) -> Option<StrategyKind> {
        match self {
            Subject::Baseline(_) => None,
            Subject::Strategy(kind) | Subject::SharedLeaf(kind) => Some(kind),
        }
    }

    /// When the run's graphs are freed (`None` for a baseline).
    pub fn freeing(self) -> Option<Freeing> {
        self.strategy().map(StrategyKind::freeing)
    }

    /// [`freeing`](Subject::freeing) as reports print it:
    /// [`Freeing::describe`], or "no graph" for a baseline.
    pub fn describe_freeing(self) -> &'static str {
        self.freeing().map_or("no graph", Freeing::describe)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Baseline(Baseline::RawNaive) => f.write_str("raw_naive"),
            Subject::Baseline(Baseline::RawFused) => f.write_str("raw_fused"),
            Subject::Strategy(kind) => f.write_str(kind.name()),
            Subject::SharedLeaf(kind) => write!(f, "{} (shared leaf)", kind.name()),
        }
    }
}

impl Serialize for Subject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
