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
//!   regions of its intermediate inputs when one of those inputs is that
//!   region's newest variable (the op continues a chain at its tip), and
//!   into a new region otherwise: when it reads leaves alone, or builds on
//!   a node that other ops have built on since (a kept intermediate). A
//!   leaf is a region of its own: a parameter stays outside every step's
//!   region, and a graph reaches a leaf through a weak back-reference only
//!   (so a leaf's gradient graph cannot own the leaf).
//! * When a node links into another region, its region keeps that one
//!   alive, counting the links; a function that lets go of its inputs (cut
//!   by `unchain`, or released by backward) counts them down, and the last
//!   one releases the region. Regions are numbered as they are made and a
//!   node's region is the newest of its inputs' or a new one, so a region
//!   only ever keeps older ones: regions form no cycle.
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
use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::{Rc, Weak};

use crate::collection::NoCollector;
use crate::sealed::Sealed;
use crate::strategy::{Block, KindMap, NoTracer, PerKind};
use crate::{Freeing, GraphNode, LocalCells, Placement, Strategy, StrategyKind};

/// Regions: each graph's nodes live together in one `Rc` block and are
/// freed together, when the last handle into the block goes (Stan Math's
/// arena and DyNet's graph, without dangling handles).
///
/// A node costs no allocation and no reference count of its own; a kept
/// node keeps its whole region, and the regions its region still links
/// into, alive. Cutting a graph (`Variable::unchain` in autograd-core)
/// frees no node of the region it is in, but lets go of the regions it
/// read from. Graphs are neither `Send` nor `Sync`. The invariant is
/// written out in this module's source and in ARCHITECTURE.md; where an
/// op's nodes go is [`Regions`].
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

/// The map from a node type to its store in a region ([`GraphNode::of_kind`]).
#[doc(hidden)]
pub enum StoreOf {}

impl KindMap for StoreOf {
    type Of<T: 'static> = Store<T>;
}

/// A region's two stores, one per node kind.
type Stores<V, F> = PerKind<Store<V>, Store<F>>;

/// One region: its nodes, and the older regions they link into.
#[doc(hidden)]
pub struct RegionData<V: 'static, F: 'static> {
    nodes: Stores<V, F>,
    keeps: RefCell<Keeps<V, F>>,
    serial: u64,
}

/// The older regions a region keeps alive, each with the number of links
/// its nodes hold into it: a link let go ([`Placement::let_go`]) counts
/// down, and the last one releases the region kept. Searched in a list
/// while short, through an index by address once long (a node of a wide
/// sum reads many regions).
struct Keeps<V: 'static, F: 'static> {
    kept: Vec<(Rc<RegionData<V, F>>, u32)>,
    index: Option<HashMap<usize, usize>>,
}

/// How many kept regions a list is searched in before an index is built.
const KEEPS_LISTED: usize = 8;

impl<V: 'static, F: 'static> Default for Keeps<V, F> {
    fn default() -> Self {
        Keeps {
            kept: Vec::new(),
            index: None,
        }
    }
}

impl<V: 'static, F: 'static> Keeps<V, F> {
    fn position(&self, id: usize) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(&id).copied(),
            None => self
                .kept
                .iter()
                .position(|(region, _)| Rc::as_ptr(region) as usize == id),
        }
    }

    /// One more link into `region`.
    fn add(&mut self, region: &Rc<RegionData<V, F>>) {
        let id = Rc::as_ptr(region) as usize;
        if let Some(at) = self.position(id) {
            self.kept[at].1 += 1;
            return;
        }
        self.kept.push((Rc::clone(region), 1));
        match &mut self.index {
            Some(index) => {
                index.insert(id, self.kept.len() - 1);
            }
            None if self.kept.len() > KEEPS_LISTED => {
                let index = (self.kept.iter().enumerate())
                    .map(|(at, (region, _))| (Rc::as_ptr(region) as usize, at))
                    .collect();
                self.index = Some(index);
            }
            None => {}
        }
    }

    /// One link fewer into the region at `id`; the region itself once it was
    /// the last (the caller drops it, outside the borrow).
    fn remove(&mut self, id: usize) -> Option<Rc<RegionData<V, F>>> {
        let at = self.position(id)?;
        self.kept[at].1 -= 1;
        if self.kept[at].1 > 0 {
            return None;
        }
        let (region, _) = self.kept.swap_remove(at);
        if let Some(index) = &mut self.index {
            index.remove(&id);
            if let Some((moved, _)) = self.kept.get(at) {
                index.insert(Rc::as_ptr(moved) as usize, at);
            }
        }
        Some(region)
    }

    fn bytes(&self) -> usize {
        self.kept.capacity() * size_of::<(Rc<RegionData<V, F>>, u32)>()
            + self.index.as_ref().map_or(0, |index| {
                // hashbrown's table: a slot and a control byte per bucket,
                // plus a group of control bytes.
                let buckets = index.capacity().checked_next_power_of_two().unwrap_or(0);
                buckets * (size_of::<(usize, usize)>() + 1) + 16
            })
    }
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
            nodes: Stores::default(),
            keeps: RefCell::new(Keeps::default()),
            serial,
        })
    }

    /// The bytes of the region's own blocks: its `Rc` block, its chunks and
    /// its list of kept regions.
    fn bytes(&self) -> usize {
        crate::shared_block_size::<Self>()
            + self.nodes.variables.heap_bytes()
            + self.nodes.functions.heap_bytes()
            + self.keeps.borrow().bytes()
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
fn store_of<T: GraphNode<Region>>(region: &RegionData<T::Variable, T::Function>) -> &Store<T> {
    T::of_kind::<StoreOf>(&region.nodes)
}

#[inline]
fn node_of<T: GraphNode<Region>>(handle: &RegionHandle<T>) -> &T {
    store_of::<T>(&handle.region)
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
    let index = store_of::<T>(&region).push(value);
    RegionHandle {
        region,
        index,
        node: PhantomData,
    }
}

/// A handle to every node of type `T` in `region`, in creation order.
fn every_node<T: GraphNode<Region>>(
    region: &Rc<RegionData<T::Variable, T::Function>>,
) -> Vec<RegionHandle<T>> {
    (0..store_of::<T>(region).len())
        .map(|index| RegionHandle {
            region: Rc::clone(region),
            index,
            node: PhantomData,
        })
        .collect()
}

/// Where [`Region`] puts an op's nodes: in the region of the intermediate
/// input it continues, or in a new region.
///
/// An op joins the newest region among its intermediate inputs' when one
/// of those inputs is that region's newest variable (the op grows the
/// chain at its tip, as `y = f(y)` does), and starts a new region
/// otherwise (it reads only leaves, or reads a node that other ops have
/// built on since: a kept intermediate). So a graph built on a kept
/// intermediate lives in regions of its own, freed when its own handles
/// go, and a region keeps only older regions: a new region is newer than
/// all, and a joined one is the newest the op reads.
///
/// A region keeps the regions its nodes link into, one count per link;
/// a function that lets go of its inputs (cut or released) counts them
/// down, and the last link into a region releases it.
#[derive(Debug)]
pub enum Regions {}

impl Sealed for Regions {}

impl Placement<Region> for Regions {
    const LINKS_OWN: bool = false;

    type Site<N: GraphNode<Region>> = Rc<RegionData<N::Variable, N::Function>>;

    fn site<'a, N: GraphNode<Region>>(
        reads: impl Iterator<Item = &'a RegionHandle<N>>,
    ) -> Self::Site<N> {
        let mut newest: Option<&RegionHandle<N>> = None;
        let mut at_tip = false;
        for read in reads {
            let tip = read.index + 1 == store_of::<N>(&read.region).len();
            match newest {
                Some(other) if Rc::ptr_eq(&other.region, &read.region) => at_tip |= tip,
                Some(other) if other.region.serial > read.region.serial => {}
                _ => {
                    newest = Some(read);
                    at_tip = tip;
                }
            }
        }
        match newest {
            Some(read) if at_tip => Rc::clone(&read.region),
            _ => RegionData::new(),
        }
    }

    fn link_input<N: GraphNode<Region>>(
        site: &Self::Site<N>,
        input: &RegionHandle<N>,
    ) -> RegionLink<N> {
        if !Rc::ptr_eq(site, &input.region) {
            site.keeps.borrow_mut().add(&input.region);
        }
        Region::link(input)
    }

    fn new_function<N, F>(site: Self::Site<N>, function: F) -> RegionHandle<F>
    where
        N: GraphNode<Region>,
        F: GraphNode<Region, Variable = N::Variable, Function = N::Function>,
    {
        push(site, function)
    }

    fn new_output<F, V>(
        function: &RegionHandle<F>,
        make: impl FnOnce(RegionLink<F>) -> V,
    ) -> RegionHandle<V>
    where
        F: GraphNode<Region>,
        V: GraphNode<Region, Variable = F::Variable, Function = F::Function>,
    {
        let creator = Region::link(function);
        push(Rc::clone(&function.region), make(creator))
    }

    fn let_go<F, N>(holder: &RegionLink<F>, link: RegionLink<N>)
    where
        F: GraphNode<Region>,
        N: GraphNode<Region, Variable = F::Variable, Function = F::Function>,
    {
        if Weak::ptr_eq(&holder.region, &link.region) {
            return;
        }
        let Some(region) = holder.region.upgrade() else {
            return;
        };
        let released = region
            .keeps
            .borrow_mut()
            .remove(Weak::as_ptr(&link.region) as usize);
        drop(released); // outside the borrow: it may free a chain of regions
    }

    fn block<T: GraphNode<Region>>(handle: &RegionHandle<T>) -> Option<usize> {
        Some(Rc::as_ptr(&handle.region) as usize)
    }

    fn blocks_kept<V, F>(
        handle: &RegionHandle<V>,
        seen: &mut HashSet<usize>,
    ) -> Vec<Block<Region, V, F>>
    where
        V: GraphNode<Region, Variable = V, Function = F>,
        F: GraphNode<Region, Variable = V, Function = F>,
    {
        let mut queue = vec![Rc::clone(&handle.region)];
        let mut blocks = Vec::new();
        while let Some(region) = queue.pop() {
            let id = Rc::as_ptr(&region) as usize;
            if !seen.insert(id) {
                continue;
            }
            blocks.push(Block {
                id,
                bytes: region.bytes(),
                variables: every_node(&region),
                functions: every_node(&region),
            });
            queue.extend(
                region
                    .keeps
                    .borrow()
                    .kept
                    .iter()
                    .map(|(kept, _)| Rc::clone(kept)),
            );
        }
        blocks
    }

    fn keeps<T, U>(keeper: &RegionHandle<T>, kept: &RegionHandle<U>) -> bool
    where
        T: GraphNode<Region>,
        U: GraphNode<Region, Variable = T::Variable, Function = T::Function>,
    {
        let target = Rc::as_ptr(&kept.region);
        let mut seen = HashSet::new();
        let mut queue = vec![Rc::clone(&keeper.region)];
        while let Some(region) = queue.pop() {
            if Rc::as_ptr(&region) == target {
                return true;
            }
            if seen.insert(Rc::as_ptr(&region)) {
                queue.extend(region.keeps.borrow().kept.iter().map(|(k, _)| Rc::clone(k)));
            }
        }
        false
    }

    /// The region's block, which its weak pointer keeps: one per region
    /// however many of its nodes are named.
    fn gone_block<T: GraphNode<Region>>(back: &RegionLink<T>) -> usize {
        Weak::as_ptr(&back.region) as usize
    }
}

impl Strategy for Region {
    type Handle<T: GraphNode<Self>> = RegionHandle<T>;
    type Link<T: GraphNode<Self>> = RegionLink<T>;
    type Back<T: GraphNode<Self>> = RegionLink<T>;
    type Ref<'a, T: GraphNode<Self> + 'a> = RegionRef<'a, T>;
    type Tracer<'a> = NoTracer;
    type Cells = LocalCells;
    type Collector = NoCollector;
    type Placement = Regions;

    const KIND: StrategyKind = StrategyKind::Region;
    const FREEING: Freeing = Freeing::WithRegion;
    const BACK_OWNS: bool = false;

    /// A node in a new region of its own (a leaf).
    fn new_handle<T: GraphNode<Self>>(value: T) -> RegionHandle<T> {
        push(RegionData::new(), value)
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
    fn into_link<T: GraphNode<Self>>(handle: RegionHandle<T>) -> RegionLink<T> {
        Self::link(&handle)
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
    /// [`Placement::blocks_kept`]).
    fn allocation_size<T: GraphNode<Self>>() -> usize {
        crate::shared_block_size::<RegionData<T::Variable, T::Function>>()
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
