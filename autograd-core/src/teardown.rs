//! Freeing a graph without recursion.
//!
//! Dropping the last handle to a long chain would, left to the compiler's
//! drop glue, recurse once per node and overflow the stack. Instead every
//! node's `Drop` moves the links it owns onto a per-thread worklist and
//! returns; the outermost drop on the thread drains the list. A node freed
//! while the list is being drained (a variable an op kept in its fields, a
//! node a collector frees) only adds its links, so nesting never grows with
//! the graph, whatever a node's drop glue reaches.
//!
//! The drain takes a uniquely owned node out of its pointer when the
//! strategy can (`Rc::try_unwrap`) and moves its links straight onto the
//! batch, so the common case costs no trip to the thread-local list; a
//! pointer that cannot give its node up (a collector's) just drops, and the
//! node's `Drop` hands its links over.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use autograd_mem::{Strategy, StrategyKind};

use crate::function_node::FunctionInner;
use crate::variable::VariableInner;

/// A link waiting to be dropped.
pub(crate) enum Link<S: Strategy> {
    /// A variable's creator, or an intermediate input of a function.
    Function(S::Link<FunctionInner<S>>),
    /// A function's intermediate input, or a stored gradient's node.
    Variable(S::Link<VariableInner<S>>),
    /// A function's link to an output or to a leaf input (strong under
    /// `StrongOnly` and the collected strategies).
    Back(S::Back<VariableInner<S>>),
}

/// One strategy's worklist on one thread.
struct Worklist<S: Strategy> {
    links: Vec<Link<S>>,
    /// `true` while a drop on this thread is draining `links`.
    draining: bool,
}

/// The worklists of one thread, by strategy (`StrategyKind::index`).
type Worklists = RefCell<Vec<Option<Box<dyn Any>>>>;

thread_local! {
    static WORKLISTS: Worklists = const { RefCell::new(Vec::new()) };
    /// The worklists of drops that run after [`WORKLISTS`] is destroyed (a
    /// graph kept in a thread-local that the thread destroys later): never
    /// freed, since such drops may come from any later destructor. A thread
    /// makes them only then; their buffers are emptied after each drain.
    static LATE_WORKLISTS: Cell<Option<&'static Worklists>> = const { Cell::new(None) };
}

/// Runs `f` on this thread's worklist for `S`: the thread's own, or the late
/// one once the thread's locals are being destroyed (`late` is then `true`).
fn with_worklist<S: Strategy, R>(f: impl FnOnce(&mut Worklist<S>, bool) -> R) -> R {
    fn on<S: Strategy, R>(
        lists: &Worklists,
        late: bool,
        f: impl FnOnce(&mut Worklist<S>, bool) -> R,
    ) -> R {
        let mut lists = lists.borrow_mut();
        let index = S::KIND.index();
        if lists.len() <= index {
            lists.resize_with(StrategyKind::ALL.len(), || None);
        }
        let list = lists[index].get_or_insert_with(|| {
            Box::new(Worklist::<S> {
                links: Vec::new(),
                draining: false,
            })
        });
        f(
            list.downcast_mut().expect("one worklist type per strategy"),
            late,
        )
    }
    let mut f = Some(f);
    if let Ok(result) = WORKLISTS.try_with(|lists| on(lists, false, f.take().expect("not run"))) {
        return result;
    }
    let late = autograd_mem::late::leaked_once(&LATE_WORKLISTS);
    on(late, true, f.take().expect("not run"))
}

impl<S: Strategy> Link<S> {
    /// Drops the link. If it held the last owning handle, the node's own
    /// links are moved onto `batch` first, so that dropping the node runs
    /// no further: the step that keeps teardown flat.
    fn release_into(self, batch: &mut Vec<Link<S>>) {
        match self {
            Link::Function(function) => {
                if let Ok(mut node) = S::try_unwrap(function) {
                    node.detach(batch);
                }
            }
            Link::Variable(variable) => {
                if let Ok(mut node) = S::try_unwrap(variable) {
                    node.detach(batch);
                }
            }
            Link::Back(back) => {
                if let Ok(mut node) = S::try_unwrap_back(back) {
                    node.detach(batch);
                }
            }
        }
    }
}

/// What a node does in its `Drop`: `detach` moves its owning links onto the
/// worklist; unless a drop on this thread is already draining it, the list
/// is then drained, after `also` (which drops what else the node owns in
/// place, such as an op, whose variables then only add to the list).
///
/// A panic in a drop (a user op's `Drop`) does not stop the drain: the rest
/// of the graph is freed first, then the first panic goes on unwinding (a
/// second one is dropped, and so is the first when the thread is already
/// unwinding, where raising it would abort).
pub(crate) fn release<S: Strategy>(detach: impl FnOnce(&mut Vec<Link<S>>), also: impl FnOnce()) {
    let start = with_worklist::<S, _>(|list, _| {
        detach(&mut list.links);
        !std::mem::replace(&mut list.draining, true)
    });
    if !start {
        also();
        return;
    }
    let panic = catch_unwind(AssertUnwindSafe(also)).err();
    if let Some(panic) = drain::<S>(panic) {
        if !std::thread::panicking() {
            resume_unwind(panic);
        }
    }
}

/// Drops the worklist's links until it is empty, a batch at a time, and ends
/// the draining; returns the first panic of a drop, if any (`panic` if
/// given). The list's buffer is handed back when done, so that a thread
/// keeps one buffer (as large as its largest batch) rather than allocating
/// one per drop.
fn drain<S: Strategy>(mut panic: Option<Box<dyn Any + Send>>) -> Option<Box<dyn Any + Send>> {
    let mut batch = with_worklist::<S, _>(|list, _| std::mem::take(&mut list.links));
    loop {
        // A drop that panics has already moved its node's links onto the
        // batch (or the list): keep going with the rest.
        while let Err(payload) = catch_unwind(AssertUnwindSafe(|| {
            while let Some(link) = batch.pop() {
                link.release_into(&mut batch);
            }
        })) {
            panic.get_or_insert(payload);
        }
        // Links that nested drops (an op's fields) added meanwhile, if any;
        // the emptied batch's buffer goes back to the list either way (a late
        // list keeps none).
        let more = with_worklist::<S, _>(|list, late| {
            std::mem::swap(&mut list.links, &mut batch);
            let more = !batch.is_empty();
            if !more {
                list.draining = false;
                if late {
                    list.links = Vec::new();
                }
            }
            more
        });
        if !more {
            return panic;
        }
    }
}
