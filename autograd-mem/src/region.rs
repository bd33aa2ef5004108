//! [`Region`]: the nodes of one graph kept together in a region and freed
//! together, when the last handle into the region goes.
//!
//! # The invariant
//!
//! * A region is one reference-counted block holding two stores (variable
//!   nodes, function nodes) and the list of older regions its nodes link
//!   into ([`RegionData`]). Only handles ([`RegionHandle`]: a `Variable`, a
//!   `FunctionNode`, a gradient kept as a variable) and other regions count
//!   toward a region; a link inside a graph ([`RegionLink`]) is a weak
//!   pointer and an index, so a region never owns itself.
//! * An op's function and outputs go into the newest region among the
//!   regions of its intermediate inputs, or into a new region if it reads
//!   leaves alone. A leaf is a region of its own: a parameter stays outside
//!   every step's region, and a graph reaches a leaf through a weak
//!   back-reference only (so a leaf's gradient graph cannot own the leaf).
//! * When a node links into another region, its region keeps that one
//!   alive. Regions are numbered as they are made and a node's region is
//!   the newest of its inputs', so a region only ever keeps older ones:
//!   regions form no cycle.
//! * A link is followed only from a node that is alive, whose region is then
//!   alive and keeps alive every region that node links into: a link's
//!   upgrade never fails while it can be followed.
//! * Nodes never move: a store is an inline first slot and then chunks of
//!   4, 8, 16, … slots, each allocated once, every slot a `OnceCell` set
//!   once. A reference into a region cannot be invalidated by its growth
//!   (rust-autograd#32's crash), and all of it is safe code.
//! * A region dropped while another one is being dropped on this thread is
//!   queued and dropped after it, so that freeing a chain of regions never
//!   nests.

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashSet;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::{Rc, Weak};

use crate::collection::NoCollector;
use crate::strategy::NoTracer;
use crate::strategy::sealed::Sealed;
use crate::{Freeing, GraphNode, LocalCells, Strategy, StrategyKind};

/// Regions: each graph's nodes live together in one `Rc` block and are
/// freed together, when the last handle into the block goes (Stan Math's
/// arena and DyNet's graph, without dangling handles).
///
/// A node costs no allocation and no reference count of its own; a kept
/// node keeps its whole region, and the regions its region reads from,
/// alive. [`Variable::unchain`] cuts a function but frees nothing until
/// the region goes. Graphs are neither `Send` nor `Sync`. The invariant
/// is written out in this module's source and in ARCHITECTURE.md.
///
/// [`Variable::unchain`]: https://docs.rs/autograd-core
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Region;

impl Sealed for Region {}

/// The smallest chunk after a store's inline slot: `1 << FIRST_SHIFT` slots.
const FIRST_SHIFT: u32 = 2;
/// Chunks of 4, 8, … slots: enough for `u32::MAX` nodes of a kind.
const CHUNKS: usize = 31;

/// A chunk of slots, allocated once and never moved.
type Chunk<T> = Box<[OnceCell<T>]>;
/// The chunks after a store's first, each made when first needed.
type Chunks<T> = [OnceCell<Chunk<T>>; CHUNKS - 1];

/// The nodes of one type in a region, in creation order. Slot 0 is inline
/// (a leaf's region allocates nothing more); then chunks that double, the
/// first one's pointer inline too (a small graph's region makes no list of
/// chunks).
#[doc(hidden)]
pub struct Store<T> {
    len: Cell<u32>,
    first: OnceCell<T>,
    first_chunk: OnceCell<Chunk<T>>,
    chunks: OnceCell<Box<Chunks<T>>>,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store {
            len: Cell::new(0),
            first: OnceCell::new(),
            first_chunk: OnceCell::new(),
            chunks: OnceCell::new(),
        }
    }
}

/// Drops every node, each in its own `catch_unwind`: a node's drop that
/// panics (a user op's) does not keep the rest from being freed, and a
/// second one does not abort. The first panic goes on unwinding afterwards
/// (dropped if the thread is already unwinding).
impl<T> Drop for Store<T> {
    fn drop(&mut self) {
        let mut panic = None;
        let mut free = |slot: &mut OnceCell<T>| {
            if let Some(node) = slot.take() {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(node))) {
                    panic.get_or_insert(payload);
                }
            }
        };
        free(&mut self.first);
        if let Some(chunk) = self.first_chunk.get_mut() {
            chunk.iter_mut().for_each(&mut free);
        }
        if let Some(chunks) = self.chunks.get_mut() {
            for chunk in chunks.iter_mut().filter_map(OnceCell::get_mut) {
                chunk.iter_mut().for_each(&mut free);
            }
        }
        if let Some(payload) = panic {
            if !std::thread::panicking() {
                resume_unwind(payload);
            }
        }
    }
}

/// Chunk and slot of index `index >= 1`.
fn locate(index: u32) -> (usize, usize) {
    let m = u64::from(index - 1) + (1 << FIRST_SHIFT);
    let k = 63 - m.leading_zeros();
    ((k - FIRST_SHIFT) as usize, (m - (1 << k)) as usize)
}

/// Slots in chunk `chunk`.
fn capacity(chunk: usize) -> usize {
    1 << (chunk + FIRST_SHIFT as usize)
}

impl<T> Store<T> {
    /// Appends `value`; its index.
    ///
    /// # Panics
    /// Past `u32::MAX` nodes of one kind in one region.
    fn push(&self, value: T) -> u32 {
        let index = self.len.get();
        let next = index
            .checked_add(1)
            .expect("a region holds at most u32::MAX nodes of a kind");
        let slot = if index == 0 {
            &self.first
        } else {
            let (chunk, slot) = locate(index);
            let cell = match chunk {
                0 => &self.first_chunk,
                _ => &self
                    .chunks
                    .get_or_init(|| Box::new(std::array::from_fn(|_| OnceCell::new())))[chunk - 1],
            };
            &cell.get_or_init(|| (0..capacity(chunk)).map(|_| OnceCell::new()).collect())[slot]
        };
        self.len.set(next);
        assert!(slot.set(value).is_ok(), "each slot is set once");
        index
    }

    /// The node at `index`; `None` past the end.
    #[inline]
    fn get(&self, index: u32) -> Option<&T> {
        if index == 0 {
            return self.first.get();
        }
        let (chunk, slot) = locate(index);
        let cell = match chunk {
            0 => &self.first_chunk,
            _ => &self.chunks.get()?[chunk - 1],
        };
        cell.get()?.get(slot)?.get()
    }

    fn len(&self) -> u32 {
        self.len.get()
    }

    /// Bytes allocated for the chunks and their list (the inline slot and
    /// the first chunk's pointer are in the region's block).
    fn heap_bytes(&self) -> usize {
        let slots = |k: usize, chunk: &OnceCell<Chunk<T>>| {
            chunk
                .get()
                .map_or(0, |_| capacity(k) * size_of::<OnceCell<T>>())
        };
        let rest = self.chunks.get().map_or(0, |chunks| {
            size_of::<Chunks<T>>()
                + (chunks.iter().enumerate())
                    .map(|(k, chunk)| slots(k + 1, chunk))
                    .sum::<usize>()
        });
        slots(0, &self.first_chunk) + rest
    }
}

/// A region's two stores: how a [`GraphNode`] finds its own
/// ([`GraphNode::store`]).
#[doc(hidden)]
pub struct RegionNodes<V, F> {
    /// Variable nodes.
    pub variables: Store<V>,
    /// Function nodes.
    pub functions: Store<F>,
}

impl<V, F> Default for RegionNodes<V, F> {
    fn default() -> Self {
        RegionNodes {
            variables: Store::default(),
            functions: Store::default(),
        }
    }
}

/// One region: its nodes, and the older regions they link into.
#[doc(hidden)]
pub struct RegionData<V: 'static, F: 'static> {
    nodes: RegionNodes<V, F>,
    keeps: RefCell<Vec<Rc<RegionData<V, F>>>>,
    serial: u64,
}

thread_local! {
    /// Regions made on this thread so far: a region's number.
    static SERIAL: Cell<u64> = const { Cell::new(0) };
    static TEARDOWN: Teardown = Teardown::default();
    static LATE_TEARDOWN: Cell<Option<&'static Teardown>> = const { Cell::new(None) };
}

/// Regions dropped on this thread while another one was being dropped.
#[derive(Default)]
struct Teardown {
    draining: Cell<bool>,
    queued: RefCell<Vec<Box<dyn Any>>>,
}

impl<V: 'static, F: 'static> RegionData<V, F> {
    fn new() -> Rc<Self> {
        let serial = SERIAL
            .try_with(|n| {
                n.set(n.get() + 1);
                n.get()
            })
            .unwrap_or(u64::MAX);
        Rc::new(RegionData {
            nodes: RegionNodes::default(),
            keeps: RefCell::new(Vec::new()),
            serial,
        })
    }

    /// Makes this region keep `other` alive (unless it is this one).
    fn keep(self: &Rc<Self>, other: &Rc<Self>) {
        if Rc::ptr_eq(self, other) {
            return;
        }
        let mut keeps = self.keeps.borrow_mut();
        // Ops read from few regions: a short look back dedups the common case.
        if !keeps.iter().rev().take(4).any(|k| Rc::ptr_eq(k, other)) {
            keeps.push(Rc::clone(other));
        }
    }

    /// The bytes of the region's own blocks: its `Rc` block, its chunks and
    /// its list of kept regions.
    fn bytes(&self) -> usize {
        crate::shared_block_size::<Self>()
            + self.nodes.variables.heap_bytes()
            + self.nodes.functions.heap_bytes()
            + self.keeps.borrow().capacity() * size_of::<Rc<Self>>()
    }
}

impl<V: 'static, F: 'static> Drop for RegionData<V, F> {
    fn drop(&mut self) {
        let mut contents = Some((
            std::mem::take(&mut self.nodes),
            std::mem::take(self.keeps.get_mut()),
        ));
        let mut run = |teardown: &Teardown| {
            let Some(contents) = contents.take() else {
                return;
            };
            if teardown.draining.replace(true) {
                teardown.queued.borrow_mut().push(Box::new(contents));
                return;
            }
            /// Ends the draining, also when a node's drop panics (what is
            /// still queued then goes with the next region dropped here).
            struct Drained<'a>(&'a Cell<bool>);
            impl Drop for Drained<'_> {
                fn drop(&mut self) {
                    self.0.set(false);
                }
            }
            let _drained = Drained(&teardown.draining);
            // A panicking node drop (re-raised by its store once the store is
            // empty) does not stop the regions queued behind it.
            let mut panic = catch_unwind(AssertUnwindSafe(|| drop(contents))).err();
            loop {
                let next = teardown.queued.borrow_mut().pop();
                let Some(queued) = next else {
                    break;
                };
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(queued))) {
                    panic.get_or_insert(payload);
                }
            }
            if let Some(payload) = panic {
                if !std::thread::panicking() {
                    resume_unwind(payload);
                }
            }
        };
        if TEARDOWN.try_with(&mut run).is_err() {
            run(crate::late::leaked_once(&LATE_TEARDOWN));
        }
    }
}

/// What a user holds under [`Region`]: the region (counted) and the node's
/// index in it.
#[doc(hidden)]
pub struct RegionHandle<T: GraphNode<Region>> {
    region: Rc<RegionData<T::Variable, T::Function>>,
    index: u32,
    node: PhantomData<fn() -> T>,
}

impl<T: GraphNode<Region>> Clone for RegionHandle<T> {
    fn clone(&self) -> Self {
        RegionHandle {
            region: Rc::clone(&self.region),
            index: self.index,
            node: PhantomData,
        }
    }
}

/// A link inside a graph, and a function's back-reference, under
/// [`Region`]: the region (not counted) and the node's index.
#[doc(hidden)]
pub struct RegionLink<T: GraphNode<Region>> {
    region: Weak<RegionData<T::Variable, T::Function>>,
    index: u32,
    node: PhantomData<fn() -> T>,
}

impl<T: GraphNode<Region>> Clone for RegionLink<T> {
    fn clone(&self) -> Self {
        RegionLink {
            region: Weak::clone(&self.region),
            index: self.index,
            node: PhantomData,
        }
    }
}

/// A borrow of a node under [`Region`]: through a handle, a plain
/// reference; through a link, the upgraded region with the index.
#[doc(hidden)]
pub enum RegionRef<'a, T: GraphNode<Region>> {
    /// Borrowed through a handle, which keeps the region.
    Borrowed(&'a T),
    /// Through a link: the region, held for the borrow.
    Held(RegionHandle<T>),
}

impl<T: GraphNode<Region>> Deref for RegionRef<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            RegionRef::Borrowed(node) => node,
            RegionRef::Held(handle) => node_of(handle),
        }
    }
}

#[inline]
fn node_of<T: GraphNode<Region>>(handle: &RegionHandle<T>) -> &T {
    T::store(&handle.region.nodes)
        .get(handle.index)
        .expect("a handle's node is in its region")
}

#[inline]
fn upgrade_link<T: GraphNode<Region>>(link: &RegionLink<T>) -> Option<RegionHandle<T>> {
    link.region.upgrade().map(|region| RegionHandle {
        region,
        index: link.index,
        node: PhantomData,
    })
}

/// The handle a link names: see the invariant above for why it is alive.
#[inline]
fn follow<T: GraphNode<Region>>(link: &RegionLink<T>) -> RegionHandle<T> {
    upgrade_link(link).expect("a link is followed only while its region is kept alive")
}

fn push<T: GraphNode<Region>>(
    region: Rc<RegionData<T::Variable, T::Function>>,
    value: T,
) -> RegionHandle<T> {
    let index = T::store(&region.nodes).push(value);
    RegionHandle {
        region,
        index,
        node: PhantomData,
    }
}

/// A region's nodes as a footprint counts them: see
/// [`Strategy::regions_kept`].
#[doc(hidden)]
pub struct RegionMembers<S: Strategy, V: GraphNode<S>, F: GraphNode<S>> {
    /// The region's address: the same for every node in it.
    pub id: usize,
    /// The bytes of its own blocks.
    pub bytes: usize,
    /// Its variable nodes.
    pub variables: Vec<S::Handle<V>>,
    /// Its function nodes.
    pub functions: Vec<S::Handle<F>>,
}

impl Strategy for Region {
    type Handle<T: GraphNode<Self>> = RegionHandle<T>;
    type Link<T: GraphNode<Self>> = RegionLink<T>;
    type Back<T: GraphNode<Self>> = RegionLink<T>;
    type Ref<'a, T: GraphNode<Self> + 'a> = RegionRef<'a, T>;
    type Tracer<'a> = NoTracer;
    type Cells = LocalCells;
    type Collector = NoCollector;

    const KIND: StrategyKind = StrategyKind::Region;
    const FREEING: Freeing = Freeing::WithRegion;
    const BACK_OWNS: bool = false;
    const LINKS_OWN: bool = false;

    /// A node in a new region of its own (a leaf).
    fn new_handle<T: GraphNode<Self>>(value: T) -> RegionHandle<T> {
        push(RegionData::new(), value)
    }

    /// A node only its links would reach, in a new region: nothing would
    /// keep that region, so autograd-core never asks for one.
    ///
    /// # Panics
    /// Always.
    fn new_link<T: GraphNode<Self>>(_value: T) -> RegionLink<T> {
        unreachable!("under Region, functions are made with new_handle_near")
    }

    fn new_handle_near<T, U>(near: Option<&RegionHandle<U>>, value: T) -> RegionHandle<T>
    where
        T: GraphNode<Self>,
        U: GraphNode<Self, Variable = T::Variable, Function = T::Function>,
    {
        let region = near.map_or_else(RegionData::new, |near| Rc::clone(&near.region));
        push(region, value)
    }

    fn place<'a, T: GraphNode<Self>>(
        intermediates: impl Iterator<Item = &'a RegionHandle<T>>,
    ) -> Option<&'a RegionHandle<T>> {
        intermediates.max_by_key(|handle| handle.region.serial)
    }

    fn link_from<T, U>(holder: &RegionHandle<U>, target: &RegionHandle<T>) -> RegionLink<T>
    where
        T: GraphNode<Self>,
        U: GraphNode<Self, Variable = T::Variable, Function = T::Function>,
    {
        holder.region.keep(&target.region);
        Self::link(target)
    }

    #[inline]
    fn get<T: GraphNode<Self>>(handle: &RegionHandle<T>) -> RegionRef<'_, T> {
        RegionRef::Borrowed(node_of(handle))
    }

    #[inline]
    fn get_link<T: GraphNode<Self>>(link: &RegionLink<T>) -> RegionRef<'_, T> {
        RegionRef::Held(follow(link))
    }

    #[inline]
    fn link<T: GraphNode<Self>>(handle: &RegionHandle<T>) -> RegionLink<T> {
        RegionLink {
            region: Rc::downgrade(&handle.region),
            index: handle.index,
            node: PhantomData,
        }
    }

    #[inline]
    fn handle<T: GraphNode<Self>>(link: &RegionLink<T>) -> RegionHandle<T> {
        follow(link)
    }

    #[inline]
    fn back<T: GraphNode<Self>>(handle: &RegionHandle<T>) -> RegionLink<T> {
        Self::link(handle)
    }

    #[inline]
    fn upgrade<T: GraphNode<Self>>(back: &RegionLink<T>) -> Option<RegionHandle<T>> {
        upgrade_link(back)
    }

    fn try_unwrap<T: GraphNode<Self>>(link: RegionLink<T>) -> Result<T, RegionLink<T>> {
        Err(link)
    }

    fn try_unwrap_back<T: GraphNode<Self>>(back: RegionLink<T>) -> Result<T, RegionLink<T>> {
        Err(back)
    }

    /// The node's address while its region is alive; once it is gone, an odd
    /// number (never a node's address) that the weak pointer keeps unique
    /// among the region's gone nodes.
    fn back_addr<T: GraphNode<Self>>(back: &RegionLink<T>) -> usize {
        match upgrade_link(back) {
            Some(handle) => node_of(&handle) as *const T as usize,
            None => (Weak::as_ptr(&back.region) as usize).wrapping_add(2 * back.index as usize + 1),
        }
    }

    /// A new region's block, which is what a leaf costs; the nodes of an
    /// op cost their region nothing more than its chunks (see
    /// [`regions_kept`](Strategy::regions_kept)).
    fn allocation_size<T: GraphNode<Self>>() -> usize {
        crate::shared_block_size::<RegionData<T::Variable, T::Function>>()
    }

    fn regions_kept<V, F>(handle: &RegionHandle<V>) -> Vec<RegionMembers<Self, V, F>>
    where
        V: GraphNode<Self, Variable = V, Function = F>,
        F: GraphNode<Self, Variable = V, Function = F>,
    {
        let mut seen = HashSet::new();
        let mut queue = vec![Rc::clone(&handle.region)];
        let mut members = Vec::new();
        while let Some(region) = queue.pop() {
            let id = Rc::as_ptr(&region) as usize;
            if !seen.insert(id) {
                continue;
            }
            members.push(RegionMembers {
                id,
                bytes: region.bytes(),
                variables: (0..region.nodes.variables.len())
                    .map(|index| RegionHandle {
                        region: Rc::clone(&region),
                        index,
                        node: PhantomData,
                    })
                    .collect(),
                functions: (0..region.nodes.functions.len())
                    .map(|index| RegionHandle {
                        region: Rc::clone(&region),
                        index,
                        node: PhantomData,
                    })
                    .collect(),
            });
            queue.extend(region.keeps.borrow().iter().cloned());
        }
        members
    }

    fn trace_handle<T: GraphNode<Self>>(_: &RegionHandle<T>, tracer: &mut NoTracer) {
        match *tracer {}
    }

    fn trace_link<T: GraphNode<Self>>(_: &RegionLink<T>, tracer: &mut NoTracer) {
        match *tracer {}
    }

    fn trace_back<T: GraphNode<Self>>(_: &RegionLink<T>, tracer: &mut NoTracer) {
        match *tracer {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_map_to_chunks_without_gaps() {
        let mut expected = (0, 0);
        for index in 1..5000u32 {
            assert_eq!(locate(index), expected, "index {index}");
            expected.1 += 1;
            if expected.1 == capacity(expected.0) {
                expected = (expected.0 + 1, 0);
            }
        }
        assert_eq!(locate(u32::MAX).0, CHUNKS - 1);
    }

    #[test]
    fn a_store_keeps_every_node_where_it_was_put() {
        let store = Store::default();
        let first: *const u64 = store.first.get_or_init(|| 0);
        store.len.set(1);
        for value in 1..1000u64 {
            assert_eq!(store.push(value), value as u32);
        }
        assert_eq!(store.get(0).map(|v| v as *const u64), Some(first));
        assert!((0..1000).all(|i| store.get(i) == Some(&u64::from(i))));
        assert_eq!(store.get(1000), None);
    }
}
