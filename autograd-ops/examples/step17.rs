//! DeZero step 17, "memory management and circular references", section by
//! section: Python's reference counting as Rust's `Rc`, the cycle it cannot
//! free, `weakref` as `Weak`, and then the seed's experiment (17.5), a loop of
//! `square(square(square(x)))` on 10,000 elements, under the four ways a
//! graph is freed: a strategy that breaks the cycle with a weak link, one
//! that frees each graph's nodes together with their region, one that keeps
//! the cycle, and one that leaves it to a cycle collector (Python's second
//! method, from 17.1).
//!
//! `cargo run -p autograd-ops --example step17`

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use autograd_ops::mem::live;
use autograd_ops::{Collected, RcWeak, Region, Strategy, StrongOnly, Variable, square};
use ndarray::Array1;

/// The seed's `class obj: pass`, with a field that owns another one, a
/// field that only refers to one, and a `Drop` that says when it is freed.
struct Obj {
    name: &'static str,
    next: RefCell<Option<Rc<Obj>>>,
    next_weak: RefCell<Weak<Obj>>,
}

impl Obj {
    fn new(name: &'static str) -> Rc<Obj> {
        Rc::new(Obj {
            name,
            next: RefCell::new(None),
            next_weak: RefCell::new(Weak::new()),
        })
    }
}

/// The seed's `f(x)`: while it runs, its argument is one more reference.
fn f(x: Rc<Obj>) {
    println!("    inside f(a): a has {} references", Rc::strong_count(&x));
}

impl Drop for Obj {
    fn drop(&mut self) {
        println!("    {} freed", self.name);
    }
}

fn main() -> autograd_ops::Result<()> {
    println!("17.2 reference counting");
    let a = Obj::new("a");
    println!("  a = obj(): a has {} reference", Rc::strong_count(&a));
    f(a.clone());
    println!("  after f(a): a has {} reference", Rc::strong_count(&a));
    println!("  a = None:");
    drop(a);
    let (a, b, c) = (Obj::new("a"), Obj::new("b"), Obj::new("c"));
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(c.clone());
    drop((b, c));
    println!("  a -> b -> c, then a = b = c = None:");
    drop(a); // a's count reaches zero, then b's, then c's

    println!("17.3 a cycle");
    let (a, b, c) = (Obj::new("a"), Obj::new("b"), Obj::new("c"));
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(c.clone());
    *c.next.borrow_mut() = Some(a.clone());
    let watch = Rc::downgrade(&a);
    println!("  a -> b -> c -> a, then a = b = c = None:");
    drop((a, b, c));
    println!(
        "    nothing freed: a still has {} reference, from c (leaked on purpose)",
        watch.strong_count()
    );
    println!("17.4 weak references");
    let a = Rc::new(Array1::from(vec![1.0, 2.0, 3.0]));
    let b: Weak<Array1<f64>> = Rc::downgrade(&a);
    println!("  b.upgrade() = {:?}", b.upgrade().map(|a| a.to_vec()));
    drop(a);
    println!("  a = None: b.upgrade() = {:?} (dead)", b.upgrade());
    let (a, b, c) = (Obj::new("a"), Obj::new("b"), Obj::new("c"));
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(c.clone());
    *c.next_weak.borrow_mut() = Rc::downgrade(&a);
    println!(
        "  the same cycle with c -> a weak: a has {} reference and {} weak",
        Rc::strong_count(&a),
        Rc::weak_count(&a)
    );
    println!("  a = b = c = None:");
    drop((b, c));
    drop(a);

    println!("17.5 the seed's loop, y = square(square(square(x))) on 10,000 elements");
    println!("  live nodes (variables + functions) after each iteration:");
    seed_loop::<RcWeak>("RcWeak, function -> output weak");
    seed_loop::<Region>("Region, each graph freed with its region");
    seed_loop::<StrongOnly<RcWeak>>("StrongOnly<RcWeak>, every link strong");
    seed_loop::<Collected>("Collected, cycles left to a collector");
    let freed = Collected::collect();
    println!(
        "  Collected, after a collection: {} nodes freed, {} left",
        freed.freed,
        live::total::<Collected>().variables + live::total::<Collected>().functions
    );
    Ok(())
}

/// The seed's loop, ten iterations, printing how many nodes are alive after
/// each (the previous iteration's graph is dropped when `y` is replaced).
fn seed_loop<S: Strategy>(label: &str) {
    let start = live::total::<S>();
    let mut counts = Vec::new();
    let mut y = None;
    for i in 0..10 {
        let x = Variable::<S>::from_array(Array1::from_shape_fn(10_000, |j| {
            ((i * 10_000 + j) as f64).sin()
        }));
        let graph = square(&square(&square(&x).expect("square")).expect("square")).expect("square");
        y = Some(graph); // the previous y, and with it its graph, goes here
        let live = live::total::<S>().since(start);
        counts.push(live.variables + live.functions);
    }
    drop(y);
    let live = live::total::<S>().since(start);
    println!(
        "  {label:42} {counts:?}, after the loop {}",
        live.variables + live.functions
    );
}
