//! The linear-regression example (DeZero step 42), end to end: the loss falls
//! monotonically, the fit lands on the closed-form least-squares line, and no
//! graph outlives its step.

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/linear_regression.rs"]
mod example;

use autograd_ops::mem::{Collector, live};
use autograd_ops::{DefaultStrategy, Freeing, Strategy};

#[test]
fn gradient_descent_reaches_the_least_squares_line() {
    let (x, y) = example::data(100, 42);
    let mut live_after_step = Vec::new();
    let fit = example::fit(&x, &y, 0.1, 1000, || {
        live_after_step.push(live::this_thread::<DefaultStrategy>());
    })
    .unwrap();

    // The loss falls monotonically after the first few steps.
    assert!(
        fit.losses[5..].windows(2).all(|w| w[1] <= w[0]),
        "{:?}",
        &fit.losses[..20]
    );
    assert!(fit.losses[999] < fit.losses[0] / 10.0);

    let (slope, intercept) = example::least_squares(&x, &y);
    assert!((fit.w - slope).abs() < 0.1, "W = {} vs {slope}", fit.w);
    assert!(
        (fit.b - intercept).abs() < 0.1,
        "b = {} vs {intercept}",
        fit.b
    );
    assert!((slope - 2.0).abs() < 0.3 && (intercept - 5.0).abs() < 0.2);

    match DefaultStrategy::FREEING {
        // Each step's graph is freed with it: live nodes stay flat.
        Freeing::OnDrop | Freeing::WithRegion => {
            assert!(live_after_step.windows(2).all(|w| w[0] == w[1]))
        }
        // Each step's graph stays.
        Freeing::Never => {
            assert!(live_after_step[999].functions > live_after_step[0].functions)
        }
        // Each step's graph stays until a collection: after one, none is left.
        Freeing::OnCollection => {
            <DefaultStrategy as Strategy>::Collector::collect();
            assert!(
                live::this_thread::<DefaultStrategy>().functions <= live_after_step[0].functions
            );
        }
        other => panic!("no check for the default strategy's freeing {other:?}"),
    }
}
