//! Byte budgets (`autograd_ops::budget`): the peak a plan predicts is the
//! peak the counting allocator measures during the step, to the byte; a
//! larger budget never gives a higher peak or more recomputation; every
//! plan gives the plain gradients bit for bit, dropout included; a budget
//! no plan fits is refused with the smallest that does. On a deep MLP with
//! dropout and on a recurrent chain whose weights every step reads.

use autograd_mem::{Freeing, test_each_strategy};
use autograd_ops::budget::{
    Budget, ChainBlock, ChainProfile, Meter, Plan, Planner, Segment, bypass_cache,
    checkpoint_chain, plan_chain, profile_chain,
};
use autograd_ops::{
    BackwardOptions, Error, Strategy, Variable, dropout, linear, manual_seed, matmul, square, sum,
    tanh,
};
use autograd_testkit::SeedRng;
use autograd_testkit::alloc::{ThreadMeter, scoped};
use ndarray::{Array2, ArrayD};

/// A chain and what its step needs.
struct Chain<S: Strategy> {
    blocks: Vec<ChainBlock<S>>,
    inputs: Vec<Variable<S>>,
    params: Vec<Variable<S>>,
}

impl<S: Strategy> Chain<S> {
    fn inputs(&self) -> Vec<&Variable<S>> {
        self.inputs.iter().collect()
    }

    /// The gradient a measured step starts from: ones in the last
    /// output's shape.
    fn seed(&self) -> ArrayD<f64> {
        let _plain = autograd_ops::no_grad();
        let mut carry = self.inputs.clone();
        for block in &self.blocks {
            carry = block.forward(&carry).unwrap();
        }
        ArrayD::ones(carry.last().unwrap().shape())
    }

    /// The step under `plan` measured as a profile measures it: the peak
    /// above the start, the gradients cleared before.
    fn measured_peak(&self, plan: &Plan, seed: &ArrayD<f64>) -> usize {
        for p in &self.params {
            p.cleargrad();
        }
        manual_seed(7);
        let seed = seed.clone();
        let _direct = bypass_cache();
        let meter = ThreadMeter;
        meter.reset_peak();
        let start = meter.live();
        let outputs = checkpoint_chain(&self.blocks, &self.inputs(), plan).unwrap();
        let mut options = BackwardOptions::default().retain_graph(false);
        options.grad = Some(seed);
        outputs.last().unwrap().backward_with(options).unwrap();
        let peak = meter.peak() - start;
        drop(outputs);
        peak
    }

    fn profile(&self) -> ChainProfile {
        manual_seed(7);
        profile_chain(&self.blocks, &self.inputs(), &ThreadMeter).unwrap()
    }
}

/// `layers` blocks of linear, tanh and dropout (p = 0.2) on a batch of 6,
/// width 5 (12 once: one block's buffer differs from the others').
fn mlp<S: Strategy>(layers: usize) -> Chain<S> {
    let mut rng = SeedRng::new(11);
    let mut params = Vec::new();
    let blocks = (0..layers)
        .map(|i| {
            let (inn, out) = (if i == 0 { 3 } else { 5 }, if i == 1 { 12 } else { 5 });
            let inn = if i == 2 { 12 } else { inn };
            let w = Variable::<S>::from_array(Array2::from_shape_fn((inn, out), |_| {
                rng.normal() * 0.5
            }));
            let b =
                Variable::<S>::from_array(ndarray::Array1::from_shape_fn(out, |_| rng.normal()));
            params.extend([w.clone(), b.clone()]);
            let (w2, b2) = (w.clone(), b.clone());
            ChainBlock::new(vec![w, b], move |h| {
                let y = tanh(&linear(&h[0], &w2, Some(&b2))?)?;
                Ok(vec![dropout(&y, 0.2)?])
            })
        })
        .collect();
    let x = Variable::<S>::constant_from_array(Array2::from_shape_fn((6, 3), |_| rng.normal()));
    Chain {
        blocks,
        inputs: vec![x],
        params,
    }
}

/// A recurrent chain of `steps` steps carrying (h, loss): every step reads
/// the same two weights (their gradients summed over the steps).
fn recurrent<S: Strategy>(steps: usize) -> Chain<S> {
    let mut rng = SeedRng::new(5);
    let wx = Variable::<S>::from_array(Array2::from_shape_fn((1, 4), |_| rng.normal()));
    let wh = Variable::<S>::from_array(Array2::from_shape_fn((4, 4), |_| rng.normal() * 0.4));
    let blocks = (0..steps)
        .map(|t| {
            let (wx2, wh2) = (wx.clone(), wh.clone());
            let x = Variable::<S>::constant_from_array(Array2::from_elem(
                (1, 1),
                (t as f64 * 0.3).sin(),
            ));
            ChainBlock::new(vec![wx.clone(), wh.clone()], move |carry| {
                let h = tanh(&(&matmul(&x, &wx2)? + &matmul(&carry[0], &wh2)?))?;
                let loss = &carry[1] + &sum(&square(&h)?)?;
                Ok(vec![h, loss])
            })
        })
        .collect();
    Chain {
        blocks,
        inputs: vec![
            Variable::<S>::constant_from_array(Array2::zeros((1, 4))),
            Variable::<S>::constant_from_array(ndarray::arr0(0.0)),
        ],
        params: vec![wx, wh],
    }
}

/// Plans of every shape: none, each block, segments, a mix.
fn hand_plans(n: usize) -> Vec<Plan> {
    let mix = Plan::new(vec![
        Segment {
            blocks: 0..2,
            recomputed: false,
        },
        Segment {
            blocks: 2..5,
            recomputed: true,
        },
        Segment {
            blocks: 5..6,
            recomputed: false,
        },
        Segment {
            blocks: 6..n,
            recomputed: true,
        },
    ]);
    vec![
        Plan::keep_all(n),
        Plan::segments_of(n, 1, true),
        Plan::segments_of(n, 3, true),
        Plan::segments_of(n, n, true),
        mix,
    ]
}

/// 20 budgets from the smallest any plan fits to keeping every block.
fn budgets(profile: &ChainProfile, n: usize) -> Vec<usize> {
    let minimum = match plan_chain(profile, Budget::bytes(0), Planner::Exact) {
        Err(Error::BudgetTooSmall { minimum, .. }) => minimum,
        other => panic!("no plan fits 0 bytes: {other:?}"),
    };
    let all = profile.predict(&Plan::keep_all(n)).unwrap();
    assert!(minimum < all, "checkpointing saves memory here");
    (0..20)
        .map(|i| minimum + (all - minimum) * i / 19)
        .collect()
}

fn predicted_peaks_are_measured<S: Strategy>(chain: Chain<S>) {
    scoped(|| {
        let n = chain.blocks.len();
        let profile = chain.profile();
        let seed = chain.seed();
        let mut plans = hand_plans(n);
        plans.push(plan_chain(&profile, Budget::unlimited(), Planner::Sqrt).unwrap());
        for budget in budgets(&profile, n) {
            plans.push(plan_chain(&profile, Budget::bytes(budget), Planner::Exact).unwrap());
        }
        for plan in &plans {
            let predicted = profile.predict(plan).unwrap();
            assert_eq!(plan.peak().unwrap_or(predicted), predicted);
            assert_eq!(
                chain.measured_peak(plan, &seed),
                predicted,
                "{:?}",
                plan.segments()
            );
        }
    });
}

fn the_mlp_peaks_are_measured_to_the_byte<S: Strategy>() {
    predicted_peaks_are_measured(mlp::<S>(10));
}

fn the_recurrent_peaks_are_measured_to_the_byte<S: Strategy>() {
    predicted_peaks_are_measured(recurrent::<S>(9));
}

fn a_larger_budget_never_gives_a_higher_peak_or_more_recomputation<S: Strategy>() {
    scoped(|| {
        let chain = mlp::<S>(12);
        let profile = chain.profile();
        let seed = chain.seed();
        let budgets = budgets(&profile, 12);
        let mut last: Option<(usize, usize)> = None;
        for &budget in &budgets {
            let plan = plan_chain(&profile, Budget::bytes(budget), Planner::Exact).unwrap();
            let peak = chain.measured_peak(&plan, &seed);
            assert!(peak <= budget, "{peak} > {budget}");
            if let Some((previous_peak, previous_recomputed)) = last {
                assert!(
                    peak >= previous_peak,
                    "{peak} < {previous_peak} at {budget}"
                );
                assert!(plan.recomputed() <= previous_recomputed);
            }
            last = Some((peak, plan.recomputed()));
        }
        assert_eq!(
            last.map(|(_, r)| r),
            Some(0),
            "keeping every block fits the last"
        );
        let first = plan_chain(&profile, Budget::bytes(budgets[0]), Planner::Exact).unwrap();
        assert_eq!(
            first.peak(),
            Some(budgets[0]),
            "the smallest budget is met exactly"
        );
    });
}

/// The loss and the parameters' gradients of a step under `plan` (`None`:
/// the blocks run plainly, recorded).
fn step<S: Strategy>(chain: &Chain<S>, plan: Option<&Plan>) -> Vec<ArrayD<f64>> {
    for p in &chain.params {
        p.cleargrad();
    }
    manual_seed(3);
    let outputs = match plan {
        Some(plan) => checkpoint_chain(&chain.blocks, &chain.inputs(), plan).unwrap(),
        None => {
            let mut carry = chain.inputs.clone();
            for block in &chain.blocks {
                carry = block.forward(&carry).unwrap();
            }
            carry
        }
    };
    let loss = sum(outputs.last().unwrap()).unwrap();
    loss.backward().unwrap();
    let mut found = vec![loss.data().to_owned()];
    found.extend(chain.params.iter().map(|p| p.grad().unwrap().to_owned()));
    found
}

fn every_plan_gives_the_plain_gradients_bit_for_bit<S: Strategy>() {
    for chain in [mlp::<S>(10), recurrent::<S>(10)] {
        let plain = step(&chain, None);
        let mut plans = hand_plans(10);
        if matches!(S::FREEING, Freeing::OnDrop | Freeing::WithRegion) {
            let profile = scoped(|| chain.profile());
            for budget in budgets(&profile, 10).into_iter().step_by(4) {
                plans.push(plan_chain(&profile, Budget::bytes(budget), Planner::Exact).unwrap());
            }
        }
        for plan in &plans {
            assert_eq!(step(&chain, Some(plan)), plain, "{:?}", plan.segments());
        }
    }
}

fn a_budget_no_plan_fits_is_refused_with_the_smallest_that_does<S: Strategy>() {
    scoped(|| {
        let chain = mlp::<S>(8);
        let profile = chain.profile();
        let minimum = budgets(&profile, 8)[0];
        assert_eq!(
            plan_chain(&profile, Budget::bytes(minimum - 1), Planner::Exact),
            Err(Error::BudgetTooSmall {
                op: "plan_chain",
                budget: minimum - 1,
                minimum,
            })
        );
        let sqrt = profile.predict(&Plan::segments_of(8, 3, true)).unwrap();
        assert_eq!(
            plan_chain(&profile, Budget::bytes(sqrt - 1), Planner::Sqrt),
            Err(Error::BudgetTooSmall {
                op: "plan_chain",
                budget: sqrt - 1,
                minimum: sqrt,
            })
        );
        let err = checkpoint_chain(
            &chain.blocks,
            &chain.inputs(),
            &Plan::segments_of(7, 2, true),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidArgument {
                    op: "checkpoint_chain",
                    ..
                }
            ),
            "{err}"
        );
    });
}

/// Where a graph waits for a collector or is never freed, what a step
/// holds is not the plan's: the profile says so instead of predicting.
fn strategies_that_do_not_free_on_drop_are_refused<S: Strategy>() {
    let chain = mlp::<S>(3);
    let err = profile_chain(&chain.blocks, &chain.inputs(), &ThreadMeter).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { op: "profile_chain", message } if message.contains(S::KIND.name())),
        "{err}"
    );
}

test_each_strategy! {
    mlp_peaks => the_mlp_peaks_are_measured_to_the_byte if OnDrop | WithRegion;
    recurrent_peaks => the_recurrent_peaks_are_measured_to_the_byte if OnDrop | WithRegion;
    monotone => a_larger_budget_never_gives_a_higher_peak_or_more_recomputation if OnDrop | WithRegion;
    plain_gradients => every_plan_gives_the_plain_gradients_bit_for_bit;
    too_small => a_budget_no_plan_fits_is_refused_with_the_smallest_that_does if OnDrop | WithRegion;
    refused => strategies_that_do_not_free_on_drop_are_refused if OnCollection | Never;
}
