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
use std::cell::RefCell;

use autograd_mem::{Strategy, StrategyKind};

use crate::function_node::FunctionInner;
use crate::variable::VariableInner;

/// A link waiting to be dropped.
pub(crate) enum Link<S: Strategy> {
    /// A variable's creator, or an intermediate input of a function.
    Function(S::Strong<FunctionInner<S>>),
    /// A function's intermediate input, or a stored gradient's node.
    Variable(S::Strong<VariableInner<S>>),
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

thread_local! {
    /// The worklists, by strategy (`StrategyKind::index`).
    static WORKLISTS: RefCell<Vec<Option<Box<dyn Any>>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's worklist for `S`; `None` once the thread's
/// locals are being destroyed.
fn with_worklist<S: Strategy, R>(f: impl FnOnce(&mut Worklist<S>) -> R) -> Option<R> {
    WORKLISTS
        .try_with(|lists| {
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
            f(list.downcast_mut().expect("one worklist type per strategy"))
        })
        .ok()
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
pub(crate) fn release<S: Strategy>(detach: impl FnOnce(&mut Vec<Link<S>>), also: impl FnOnce()) {
    let start = with_worklist::<S, _>(|list| {
        detach(&mut list.links);
        !std::mem::replace(&mut list.draining, true)
    });
    also();
    if start == Some(true) {
        drain::<S>();
    }
}

/// Drops the worklist's links until it is empty, a batch at a time. The
/// list's buffer is handed back when done, so that a thread keeps one buffer
/// (as large as its largest batch) rather than allocating one per drop.
fn drain<S: Strategy>() {
    /// Ends the draining even if a drop panics (a user op's `Drop`), so that
    /// later drops on this thread drain again.
    struct Draining<S: Strategy>(std::marker::PhantomData<S>);
    impl<S: Strategy> Drop for Draining<S> {
        fn drop(&mut self) {
            with_worklist::<S, _>(|list| list.draining = false);
        }
    }
    let _draining = Draining::<S>(std::marker::PhantomData);
    let Some(mut batch) = with_worklist::<S, _>(|list| std::mem::take(&mut list.links)) else {
        return;
    };
    loop {
        while let Some(link) = batch.pop() {
            link.release_into(&mut batch);
        }
        // Links that nested drops (an op's fields) added meanwhile, if any;
        // the emptied batch's buffer goes back to the list either way.
        let more = with_worklist::<S, _>(|list| {
            std::mem::swap(&mut list.links, &mut batch);
            !batch.is_empty()
        });
        if more != Some(true) {
            return;
        }
    }
}
