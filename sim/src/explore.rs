//! Exhaustive exploration of a nondeterministic transition system.
//!
//! The timed engine ([`crate::engine`]) follows *one* schedule, picked by
//! latencies and random streams. For proofs within a bound we want *every*
//! schedule: the models above `sim` expose their nondeterminism as a
//! [`TransitionSystem`], and [`explore`] walks its reachable states
//! depth-first, never expanding a state twice (states are identified by a
//! 128-bit fingerprint of their `Hash`).
//!
//! ```
//! use sim::explore::{explore, Expansion, Limits, TransitionSystem};
//!
//! /// Two counters that each step to 2 in any interleaving.
//! struct Pair;
//! impl TransitionSystem for Pair {
//!     type State = (u8, u8);
//!     type Label = usize; // which counter stepped
//!     fn expand(&self, s: &(u8, u8), out: &mut Vec<(usize, (u8, u8))>) -> Expansion {
//!         for i in 0..2 {
//!             let mut n = *s;
//!             if self.apply(&mut n, &i) {
//!                 out.push((i, n));
//!             }
//!         }
//!         if out.is_empty() { Expansion::Final } else { Expansion::Continue }
//!     }
//!     fn apply(&self, s: &mut (u8, u8), i: &usize) -> bool {
//!         let c = if *i == 0 { &mut s.0 } else { &mut s.1 };
//!         *c += 1;
//!         *c <= 2
//!     }
//! }
//! let mut finals = vec![];
//! let stats = explore(&Pair, (0, 0), &Limits::default(), |s| finals.push(*s));
//! assert_eq!(finals, [(2, 2)]);
//! assert_eq!(stats.states, 9); // the 3x3 grid, each state once
//! ```

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::rc::Rc;

/// Bookkeeping kept inside a state that is not part of its identity: equal whatever it holds,
/// and left out of the hash, so that two states differing only in it are one state to
/// [`explore`] (a flag that spares work, a bound on a scan).
///
/// ```
/// use sim::explore::Bookkeeping;
/// assert_eq!((1, Bookkeeping(true)), (1, Bookkeeping(false)));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Bookkeeping<T>(pub T);

impl<T> PartialEq for Bookkeeping<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Bookkeeping<T> {}

impl<T> Hash for Bookkeeping<T> {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

/// What [`TransitionSystem::expand`] found out about a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expansion {
    /// Successors were pushed (possibly none, which is then a deadlock).
    Continue,
    /// The state is a complete, final state.
    Final,
    /// The state is not worth exploring (e.g. a mispredicted speculative path
    /// that the model knows adds no behaviour).
    Pruned,
    /// The state went past a bound of the model (e.g. a loop ran too long).
    BoundHit,
}

/// A system whose reachable states [`explore`] can enumerate.
pub trait TransitionSystem {
    /// A complete snapshot; two equal states must hash equally.
    type State: Clone + Hash;
    /// Names one transition, enough to take it again with [`Self::apply`].
    type Label: Clone;

    /// Pushes the successors of `state`, each with the label of the
    /// transition that leads to it, onto `out`, and classifies the state.
    fn expand(&self, state: &Self::State, out: &mut Vec<(Self::Label, Self::State)>) -> Expansion;

    /// Takes transition `label` in place; false if it is not enabled.
    fn apply(&self, state: &mut Self::State, label: &Self::Label) -> bool;

    // Partial-order reduction ([`explore_reduced`]). The defaults give none: every key is
    // its label, and no two transitions are independent.

    /// The key of transition `label`: what names the transition before it is taken. A key may
    /// lead to several successors (labels that differ only in what is decided while the
    /// transition is taken, e.g. the branch directions a core then speculates down); the
    /// reduction puts whole keys to sleep. Default: the label itself.
    fn key(&self, label: &Self::Label) -> Self::Label {
        label.clone()
    }

    /// As [`Self::expand`], but calls `take` once with the key of each enabled transition, in
    /// the order `expand` pushes them, and pushes the successors only of the keys `take`
    /// accepts, those of one key next to each other (implementations should not compute the
    /// others: that is the reduction's saving). The classification is `expand`'s. Default:
    /// `expand`, then each successor `take` accepts the label of (right for the default
    /// [`Self::key`]; a system that overrides `key` overrides this too).
    fn expand_where(
        &self,
        state: &Self::State,
        take: &mut dyn FnMut(&Self::Label) -> bool,
        out: &mut Vec<(Self::Label, Self::State)>,
    ) -> Expansion {
        let mut all = vec![];
        let e = self.expand(state, &mut all);
        out.extend(all.into_iter().filter(|(label, _)| take(&self.key(label))));
        e
    }

    /// True if the transitions with keys `a` and `b`, both enabled in `state`, are
    /// independent there: each stays enabled after the other (with the same successors
    /// apart from the other's effect), taking them in either order reaches the same states,
    /// and a successor of `a` that [`Self::expand`] would expand ([`Expansion::Continue`])
    /// is still expanded, or final, when `b` is taken first (and the same of `b`). Must be
    /// false when unsure, and for two transitions of one thread. Default: false (no
    /// reduction).
    fn independent(&self, state: &Self::State, a: &Self::Label, b: &Self::Label) -> bool {
        let _ = (state, a, b);
        false
    }

    /// True if the transition `label` from `from` to `to` (a successor [`Self::expand_where`]
    /// computed) must be taken as dependent on every other: it changed shared state that
    /// [`Self::independent`] cannot see from the keys beforehand (the reduction then neither
    /// puts it to sleep nor carries a sleep set past it). Default: false.
    fn conflicts_with_all(&self, from: &Self::State, label: &Self::Label, to: &Self::State) -> bool {
        let _ = (from, label, to);
        false
    }
}

/// Exploration bounds.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Stop once this many distinct states have been reached: expanded, or
    /// waiting on the depth-first stack. Waiting states are whole snapshots,
    /// so this bounds the explorer's memory as well as its time.
    pub max_states: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_states: 5_000_000 }
    }
}

/// Counters reported by [`explore`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExploreStats {
    /// Distinct states expanded.
    pub states: u64,
    /// The enabled transitions of every expanded state: successor edges (including ones to
    /// already-seen states) in [`explore`], [`explore_with_paths`] and [`explore_unordered`];
    /// enabled keys ([`TransitionSystem::key`]) in [`explore_reduced`], where a key with
    /// several successors counts once. A function of the states visited, so independent of
    /// the order they are visited in.
    pub transitions: u64,
    /// Successor edges computed. Without reduction, `transitions`; with
    /// [`explore_reduced`], fewer: those of the keys not asleep, counting a state reached again
    /// with keys newly awake once more. It depends on the search order (the serial search's is
    /// deterministic), so it is not one of the counters that must agree between searches.
    #[serde(default)]
    pub transitions_taken: u64,
    /// Distinct final states.
    pub finals: u64,
    /// States with no successor that were not final.
    pub deadlocks: u64,
    /// States the model pruned.
    pub pruned: u64,
    /// States past a model bound (their successors were not explored).
    pub model_bound_hits: u64,
    /// True if `max_states` stopped the search early (states expanded and
    /// waiting reached it).
    pub state_limit_hit: bool,
}

/// The counts of two explorations together (a split check's parts): sums, and a limit hit if
/// either hit it.
impl std::ops::AddAssign<&ExploreStats> for ExploreStats {
    fn add_assign(&mut self, o: &ExploreStats) {
        self.states += o.states;
        self.transitions += o.transitions;
        self.finals += o.finals;
        self.deadlocks += o.deadlocks;
        self.pruned += o.pruned;
        self.model_bound_hits += o.model_bound_hits;
        self.state_limit_hit |= o.state_limit_hit;
    }
}

impl ExploreStats {
    /// True if some part of the state space was cut off by a bound.
    pub fn bound_hit(&self) -> bool {
        self.state_limit_hit || self.model_bound_hits > 0
    }
}

/// 128-bit fingerprint of a state: XXH3-128 (the `xxhash-rust` crate) of the bytes its `Hash`
/// writes. Two equal states have equal fingerprints. Two different ones collide with
/// probability about 2^-128 (XXH3-128 passes SMHasher's collision tests at that width), so an
/// exploration of `n` states merges two distinct ones with probability at most n²/2^129: below
/// 10^-24 for the 20 M states of `isolsim check`'s default limit.
///
/// A state may fingerprint its parts while it is fingerprinted (to cache the part's fingerprint
/// and feed only that to the whole, as [`Fingerprints`] does): each nesting level takes a buffer
/// of its own from a per-thread pool.
pub fn fingerprint<S: Hash>(s: &S) -> u128 {
    thread_local! {
        static BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut bytes = BUFFERS.with_borrow_mut(Vec::pop).unwrap_or_default();
    bytes.clear();
    s.hash(&mut Bytes(&mut bytes));
    let fp = xxhash_rust::xxh3::xxh3_128(&bytes);
    BUFFERS.with_borrow_mut(|pool| pool.push(bytes));
    fp
}

/// Parts of a state, each with its [`fingerprint`] cached until the part is next borrowed
/// mutably.
///
/// A transition usually changes one part (one core of a machine): the others are shared with
/// the predecessor (copied on first write) and keep their cached fingerprints, so building a
/// successor copies what changed and fingerprinting it hashes what changed and the other
/// parts' 16 bytes each. `Hash` writes the parts' fingerprints, so two different states merge
/// only if two different parts' fingerprints collide or two wholes' do. With `k` parts per
/// state, `n` states hold at most `k·n` distinct parts, and the bound of [`fingerprint`] grows
/// to (1 + k²)·n²/2^129: about 10^-23 for 20 M states of 4 cores.
///
/// Parts start owned, as [`Shared`]'s do; [`Fingerprints::shared`] makes them copy-on-write.
///
/// ```
/// use sim::explore::{fingerprint, Fingerprints};
/// let mut a = Fingerprints::from(vec![1u32, 2]).shared();
/// let b = Fingerprints::from(vec![1u32, 3]);
/// assert_ne!(fingerprint(&a), fingerprint(&b));
/// a[1] = 3; // drops part 1's cached fingerprint
/// assert_eq!(fingerprint(&a), fingerprint(&b));
/// ```
// The derived `Hash` writes the length, then each part's cached fingerprint ([`Shared`]'s).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fingerprints<P> {
    parts: Vec<Shared<P>>,
}

impl<P> From<Vec<P>> for Fingerprints<P> {
    fn from(parts: Vec<P>) -> Self {
        parts.into_iter().collect()
    }
}

impl<P> FromIterator<P> for Fingerprints<P> {
    fn from_iter<I: IntoIterator<Item = P>>(iter: I) -> Self {
        Fingerprints { parts: iter.into_iter().map(Shared::new).collect() }
    }
}

impl<P> std::ops::Index<usize> for Fingerprints<P> {
    type Output = P;
    fn index(&self, i: usize) -> &P {
        &self.parts[i]
    }
}

impl<P: Clone> std::ops::IndexMut<usize> for Fingerprints<P> {
    fn index_mut(&mut self, i: usize) -> &mut P {
        &mut self.parts[i]
    }
}

impl<P> Fingerprints<P> {
    /// How many parts.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Part `i`.
    pub fn get(&self, i: usize) -> Option<&P> {
        self.parts.get(i).map(|p| &**p)
    }

    /// The parts in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &P> + ExactSizeIterator {
        self.parts.iter().map(|p| &**p)
    }

    /// The same parts, each in the form whose clones share it ([`Shared::shared`]).
    pub fn shared(self) -> Self {
        Fingerprints { parts: self.parts.into_iter().map(Shared::shared).collect() }
    }

    /// Appends a part.
    pub fn push(&mut self, part: P) {
        self.parts.push(Shared::new(part));
    }

    /// Keeps the first `n` parts.
    pub fn truncate(&mut self, n: usize) {
        self.parts.truncate(n);
    }
}

impl<P: Clone> Fingerprints<P> {
    /// Part `i`, mutably (its cached fingerprint is dropped).
    pub fn get_mut(&mut self, i: usize) -> Option<&mut P> {
        self.parts.get_mut(i).map(|p| &mut **p)
    }

    /// Every part, mutably (all cached fingerprints are dropped).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut P> {
        self.parts.iter_mut().map(|p| &mut **p)
    }
}

/// One part of a state, shared between a state and its successors until one changes it (copy on
/// write), with its [`fingerprint`] cached until then; `Hash` writes that fingerprint.
///
/// For a part that most transitions leave alone (a machine's memory, which only a store changes):
/// a successor's copy of it is a reference count, and fingerprinting the successor hashes the
/// part's 16 bytes, not the part. Any mutable borrow counts as a change.
///
/// A part starts owned, as a plain value: a timed run, which never copies its state, pays no
/// reference count and no atomic uniqueness check on each mutable borrow. [`Shared::shared`]
/// (the explorer's initial state calls it) turns it into the copy-on-write form, which its clones
/// keep.
///
/// ```
/// use sim::explore::{fingerprint, Shared};
/// let a = Shared::new(vec![1u8, 2]).shared();
/// let mut b = a.clone(); // shares a's vector
/// assert_eq!(fingerprint(&a), fingerprint(&b));
/// b.push(3); // b copies it, then changes its copy
/// assert_eq!((a.len(), b.len()), (2, 3));
/// assert_ne!(fingerprint(&a), fingerprint(&b));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Shared<T> {
    value: Held<T>,
    cached: std::cell::OnceCell<u128>,
}

#[derive(Clone, Debug)]
enum Held<T> {
    Owned(T),
    CopyOnWrite(std::sync::Arc<T>),
}

impl<T: Default> Default for Held<T> {
    fn default() -> Self {
        Held::Owned(T::default())
    }
}

impl<T> Shared<T> {
    /// `value`, owned (not shared until [`Shared::shared`]).
    pub fn new(value: T) -> Self {
        Shared { value: Held::Owned(value), cached: std::cell::OnceCell::new() }
    }

    /// The same value, in the form whose clones share it until one of them changes it.
    pub fn shared(self) -> Self {
        let value = match self.value {
            Held::Owned(v) => Held::CopyOnWrite(std::sync::Arc::new(v)),
            shared => shared,
        };
        Shared { value, cached: self.cached }
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.value {
            Held::Owned(v) => v,
            Held::CopyOnWrite(v) => v,
        }
    }
}

impl<T: Clone> std::ops::DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.cached = std::cell::OnceCell::new();
        match &mut self.value {
            Held::Owned(v) => v,
            Held::CopyOnWrite(v) => std::sync::Arc::make_mut(v),
        }
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for Shared<T> {}

impl<T: Hash> Hash for Shared<T> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u128(*self.cached.get_or_init(|| fingerprint(&**self)));
    }
}

/// A `Hasher` that only collects what it is fed (hashed in one pass after).
struct Bytes<'a>(&'a mut Vec<u8>);

impl Hasher for Bytes<'_> {
    #[inline]
    fn finish(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.0)
    }
    #[inline(always)]
    fn write(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    #[inline(always)]
    fn write_u8(&mut self, x: u8) {
        self.0.push(x);
    }
    #[inline(always)]
    fn write_u16(&mut self, x: u16) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    #[inline(always)]
    fn write_u32(&mut self, x: u32) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    #[inline(always)]
    fn write_u64(&mut self, x: u64) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    #[inline(always)]
    fn write_usize(&mut self, x: usize) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
}

/// The hasher of a set of fingerprints: they are hashes already, so it
/// folds the one it is given.
#[derive(Default)]
struct Fingerprinted(u64);

impl Hasher for Fingerprinted {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, b: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64(b);
    }
    fn write_u128(&mut self, x: u128) {
        self.0 = x as u64 ^ (x >> 64) as u64;
    }
}

/// Depth-first enumeration of the states reachable from `init`; calls
/// `on_final` once per distinct final state, in a deterministic order (the
/// DFS order the model's successor order induces).
pub fn explore<T: TransitionSystem>(
    sys: &T,
    init: T::State,
    limits: &Limits,
    mut on_final: impl FnMut(&T::State),
) -> ExploreStats {
    explore_with_paths(sys, init, limits, |s, _| on_final(s))
}

/// One step of a path: the transition taken, and the step before.
#[derive(Debug)]
struct Step<L> {
    label: L,
    parent: Option<Rc<Step<L>>>,
}

/// How a state was reached from the initial state: the labels of the
/// transitions taken. Cheap to keep (prefixes are shared); [`replay`] turns
/// it back into the state.
#[derive(Debug)]
pub struct Path<L>(Option<Rc<Step<L>>>);

impl<L> Clone for Path<L> {
    fn clone(&self) -> Self {
        Path(self.0.clone())
    }
}

impl<L> Default for Path<L> {
    fn default() -> Self {
        Path(None)
    }
}

impl<L: Clone> Path<L> {
    fn then(&self, label: L) -> Path<L> {
        Path(Some(Rc::new(Step { label, parent: self.0.clone() })))
    }

    /// The labels from the initial state on.
    pub fn labels(&self) -> Vec<L> {
        let mut v = vec![];
        let mut at = self.0.as_deref();
        while let Some(s) = at {
            v.push(s.label.clone());
            at = s.parent.as_deref();
        }
        v.reverse();
        v
    }
}

/// As [`explore`], also handing `on_final` the path to each final state.
pub fn explore_with_paths<T: TransitionSystem>(
    sys: &T,
    init: T::State,
    limits: &Limits,
    mut on_final: impl FnMut(&T::State, &Path<T::Label>),
) -> ExploreStats {
    let mut stats = ExploreStats::default();
    let mut seen: HashSet<u128, BuildHasherDefault<Fingerprinted>> = HashSet::default();
    seen.insert(fingerprint(&init));
    let mut stack = vec![(init, Path::default())];
    let mut succ = Vec::new();
    while let Some((state, path)) = stack.pop() {
        if stats.states >= limits.max_states {
            stats.state_limit_hit = true;
            break;
        }
        stats.states += 1;
        succ.clear();
        match sys.expand(&state, &mut succ) {
            Expansion::Final => {
                stats.finals += 1;
                on_final(&state, &path);
            }
            Expansion::Pruned => stats.pruned += 1,
            Expansion::BoundHit => stats.model_bound_hits += 1,
            Expansion::Continue => {
                if succ.is_empty() {
                    stats.deadlocks += 1;
                }
                stats.transitions += succ.len() as u64;
                stats.transitions_taken += succ.len() as u64;
                // Reverse so the first successor is explored first.
                for (label, s) in succ.drain(..).rev() {
                    if seen.insert(fingerprint(&s)) {
                        stack.push((s, path.then(label)));
                    }
                }
                // The waiting states are memory too: a wide state space (many threads) would
                // otherwise fill the stack with snapshots long before max_states were expanded.
                if stats.states + stack.len() as u64 > limits.max_states {
                    stats.state_limit_hit = true;
                    break;
                }
            }
        }
    }
    stats
}

/// The states reachable from `init`, explored on `jobs` threads in no particular order, each
/// expanded once; `on_final` is called once per distinct final state, from any thread, and
/// stops the search by returning false (the counters are then of the part searched).
///
/// Without a limit hit, every counter is the one [`explore`] gives: which states are reachable,
/// what each expands to, and so how many transitions, finals, pruned states and bound hits
/// there are, do not depend on the order they are reached in. What does is which path reaches
/// a state first, so there are no paths here, and where a limit cuts the search: a search cut
/// short (`state_limit_hit`) has counters that vary from run to run, and a caller that needs
/// them exact searches again with [`explore_with_paths`].
///
/// Each thread searches depth first from its own stack; a thread whose stack runs dry takes
/// half of a shared pool, which busy threads refill from the bottom of their stacks (the
/// states nearest the root, whose subtrees are the largest). A 128-bit fingerprint set in
/// shards under locks makes each state's first finder its only expander.
///
/// ```
/// use sim::explore::{explore, explore_unordered, Expansion, Limits, TransitionSystem};
/// # struct Pair;
/// # impl TransitionSystem for Pair {
/// #     type State = (u8, u8);
/// #     type Label = usize;
/// #     fn expand(&self, s: &(u8, u8), out: &mut Vec<(usize, (u8, u8))>) -> Expansion {
/// #         for i in 0..2 { let mut n = *s; if self.apply(&mut n, &i) { out.push((i, n)); } }
/// #         if out.is_empty() { Expansion::Final } else { Expansion::Continue }
/// #     }
/// #     fn apply(&self, s: &mut (u8, u8), i: &usize) -> bool {
/// #         let c = if *i == 0 { &mut s.0 } else { &mut s.1 }; *c += 1; *c <= 2
/// #     }
/// # }
/// let par = explore_unordered(&Pair, (0, 0), &Limits::default(), 2, |_| true);
/// assert_eq!(par, explore(&Pair, (0, 0), &Limits::default(), |_| {}));
/// ```
pub fn explore_unordered<T>(
    sys: &T,
    init: T::State,
    limits: &Limits,
    jobs: usize,
    on_final: impl Fn(&T::State) -> bool + Sync,
) -> ExploreStats
where
    T: TransitionSystem + Sync,
    T::State: Send,
{
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};

    const SHARDS: usize = 64;
    let jobs = jobs.max(1);
    let seen: Vec<Mutex<Seen>> = (0..SHARDS).map(|_| Mutex::new(Seen::default())).collect();
    let first_seen = |fp: u128| seen[(fp as usize) % SHARDS].lock().unwrap_or_else(|e| e.into_inner()).insert(fp);
    first_seen(fingerprint(&init));
    let pool: Mutex<Vec<T::State>> = Mutex::new(vec![init]);
    // Threads with work in hand; the search is over when none has and the pool is empty.
    let busy = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // Stopped by `on_final` (not by the limit).
    let given_up = AtomicBool::new(false);
    let [states, transitions, finals, deadlocks, pruned, bound_hits] = std::array::from_fn(|_| AtomicU64::new(0));
    // States found and not yet expanded, for the limit.
    let waiting_now = AtomicU64::new(1);
    let worker = || {
        let mut stack: Vec<T::State> = vec![];
        let mut succ = Vec::new();
        loop {
            if stack.is_empty() {
                // Take half of the pool, or wait for some until nobody has work.
                let mut p = pool.lock().unwrap_or_else(|e| e.into_inner());
                if p.is_empty() {
                    // Read under the lock: states reach the pool only from a busy thread holding
                    // it, so an empty pool with nobody busy stays empty.
                    let over = busy.load(SeqCst) == 0 || stop.load(Relaxed);
                    drop(p);
                    if over {
                        return;
                    }
                    std::thread::yield_now();
                    continue;
                }
                let take = p.len().div_ceil(2);
                let at = p.len() - take;
                stack.extend(p.drain(at..));
                busy.fetch_add(1, SeqCst);
            }
            while let Some(state) = stack.pop() {
                waiting_now.fetch_sub(1, Relaxed);
                if stop.load(Relaxed) {
                    break;
                }
                let n = states.fetch_add(1, Relaxed) + 1;
                if n > limits.max_states {
                    states.fetch_sub(1, Relaxed);
                    stop.store(true, Relaxed);
                    break;
                }
                succ.clear();
                match sys.expand(&state, &mut succ) {
                    Expansion::Final => {
                        finals.fetch_add(1, Relaxed);
                        if !on_final(&state) {
                            given_up.store(true, Relaxed);
                            stop.store(true, Relaxed);
                        }
                    }
                    Expansion::Pruned => {
                        pruned.fetch_add(1, Relaxed);
                    }
                    Expansion::BoundHit => {
                        bound_hits.fetch_add(1, Relaxed);
                    }
                    Expansion::Continue => {
                        if succ.is_empty() {
                            deadlocks.fetch_add(1, Relaxed);
                        }
                        transitions.fetch_add(succ.len() as u64, Relaxed);
                        for (_, s) in succ.drain(..).rev() {
                            if first_seen(fingerprint(&s)) {
                                stack.push(s);
                                waiting_now.fetch_add(1, Relaxed);
                            }
                        }
                        if n + waiting_now.load(Relaxed) > limits.max_states {
                            stop.store(true, Relaxed);
                            break;
                        }
                    }
                }
                // Share the states nearest the root when others may be idle.
                if stack.len() > 1 && busy.load(Relaxed) < jobs {
                    let mut p = pool.lock().unwrap_or_else(|e| e.into_inner());
                    if p.is_empty() {
                        let give = stack.len() / 2;
                        p.extend(stack.drain(..give));
                    }
                }
            }
            stack.clear();
            busy.fetch_sub(1, SeqCst);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..jobs {
            scope.spawn(worker);
        }
        worker();
    });
    let get = |a: &AtomicU64| a.load(SeqCst);
    ExploreStats {
        states: get(&states),
        transitions: get(&transitions),
        transitions_taken: get(&transitions),
        finals: get(&finals),
        deadlocks: get(&deadlocks),
        pruned: get(&pruned),
        model_bound_hits: get(&bound_hits),
        state_limit_hit: stop.load(SeqCst) && !given_up.load(SeqCst),
    }
}

/// As [`explore_with_paths`], with partial-order reduction: sleep sets (Godefroid), which
/// skip a transition where taking it could only reach, in another order, states reached
/// already, while still visiting every reachable state. So `states`, `finals`, `deadlocks`,
/// `pruned`, `model_bound_hits`, the final states `on_final` is handed and `transitions`
/// (enabled keys, see [`ExploreStats::transitions`]) are those of the unreduced search over
/// the same system; only `transitions_taken` is smaller, and the paths (and so the order
/// `on_final` is called in) differ. The reduction is the system's
/// [`TransitionSystem::independent`], [`TransitionSystem::key`],
/// [`TransitionSystem::expand_where`] and [`TransitionSystem::conflicts_with_all`]; with their
/// defaults nothing is reduced.
///
/// The search is depth first, one state's successors at a time. A state is reached with a
/// sleep set: keys of transitions whose successors are reached another way, so not taken
/// there. After the successors of key `k` of state `s` are searched, `k` is asleep for the
/// later keys `l` of `s` that are independent of it in `s` (it is carried into `l`'s
/// successors, which reach `k`'s successors again by taking `l` after `k`), and a key in a
/// sleep set stays asleep past the transitions independent of it. A key is not put to sleep
/// if one of its successors was not expanded (final, pruned or past a bound: the states
/// after it were not searched from it), and nothing is carried past a transition
/// [`TransitionSystem::conflicts_with_all`] names. Each visited state keeps the sleep set it
/// was searched with; reached again with a sleep set lacking some of those keys, the state's
/// successors by those keys are searched then, and it keeps the intersection, so that no
/// state is missed whichever path reaches it first.
///
/// `max_states` counts the states visited and the successors waiting in the search's
/// frames, as [`explore_with_paths`] does.
///
/// ```
/// use sim::explore::{explore, explore_reduced, Expansion, Limits, TransitionSystem};
/// /// Two counters that each step to 2; steps of different counters commute.
/// struct Pair;
/// impl TransitionSystem for Pair {
///     type State = (u8, u8);
///     type Label = usize;
///     fn expand(&self, s: &(u8, u8), out: &mut Vec<(usize, (u8, u8))>) -> Expansion {
///         for i in 0..2 { let mut n = *s; if self.apply(&mut n, &i) { out.push((i, n)); } }
///         if out.is_empty() { Expansion::Final } else { Expansion::Continue }
///     }
///     fn apply(&self, s: &mut (u8, u8), i: &usize) -> bool {
///         let c = if *i == 0 { &mut s.0 } else { &mut s.1 }; *c += 1; *c <= 2
///     }
///     fn independent(&self, _: &(u8, u8), a: &usize, b: &usize) -> bool { a != b }
/// }
/// let full = explore(&Pair, (0, 0), &Limits::default(), |_| {});
/// let reduced = explore_reduced(&Pair, (0, 0), &Limits::default(), |_, _| {});
/// assert_eq!((reduced.states, reduced.finals, reduced.transitions), (full.states, full.finals, full.transitions));
/// assert!(reduced.transitions_taken < full.transitions_taken); // 8 instead of 12
/// ```
pub fn explore_reduced<T>(
    sys: &T,
    init: T::State,
    limits: &Limits,
    on_final: impl FnMut(&T::State, &Path<T::Label>),
) -> ExploreStats
where
    T: TransitionSystem,
    T::Label: PartialEq,
{
    let mut search = Sleeping {
        sys,
        max_states: limits.max_states,
        stats: ExploreStats::default(),
        visited: HashMap::default(),
        stack: vec![],
        waiting: 0,
        stopped: false,
        on_final,
    };
    search.reach(init, Path::default(), vec![]);
    search.run();
    search.stats
}

/// A visited state of [`explore_reduced`].
struct Visited<L> {
    /// The keys no successor of which has been searched from here (the intersection of the
    /// sleep sets the state was reached with).
    sleep: Vec<L>,
    /// The state was not expanded (final, pruned, past a bound).
    cut: bool,
}

/// The successors of one key of a state being searched.
struct Group<L, S> {
    key: L,
    /// Successors still to search, last first.
    succ: Vec<(L, S)>,
    /// Some successor is [`TransitionSystem::conflicts_with_all`].
    solo: bool,
    /// Some successor was not expanded.
    cut: bool,
    /// The sleep set its successors are reached with, once the group is started.
    sleep: Option<Vec<L>>,
}

/// A state being searched: its path, the sleep set so far, the keys left (last first).
struct Frame<L, S> {
    state: S,
    path: Path<L>,
    sleep: Vec<L>,
    groups: Vec<Group<L, S>>,
}

/// The search of [`explore_reduced`].
struct Sleeping<'a, T: TransitionSystem, F> {
    sys: &'a T,
    max_states: u64,
    stats: ExploreStats,
    visited: HashMap<u128, Visited<T::Label>, BuildHasherDefault<Fingerprinted>>,
    stack: Vec<Frame<T::Label, T::State>>,
    /// Successors computed and not yet reached.
    waiting: u64,
    stopped: bool,
    on_final: F,
}

#[cfg(test)]
thread_local! {
    /// Tests: ignore a state reached again (the search without the revisit rule, which misses
    /// states), and count the revisits that searched keys newly awake.
    static NAIVE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static REVISITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl<T, F> Sleeping<'_, T, F>
where
    T: TransitionSystem,
    T::Label: PartialEq,
    F: FnMut(&T::State, &Path<T::Label>),
{
    /// Reaches `state` by `path` with sleep set `sleep`: visits it or, visited before, searches
    /// the successors of the keys asleep then and awake now. Returns true if the state is not
    /// expanded.
    fn reach(&mut self, state: T::State, path: Path<T::Label>, sleep: Vec<T::Label>) -> bool {
        let fp = fingerprint(&state);
        let mut succ = vec![];
        if let Some(v) = self.visited.get_mut(&fp) {
            if v.cut {
                return true;
            }
            #[cfg(test)]
            if NAIVE.get() {
                return false;
            }
            let awake: Vec<T::Label> = v.sleep.iter().filter(|k| !sleep.contains(k)).cloned().collect();
            if awake.is_empty() {
                return false;
            }
            #[cfg(test)]
            REVISITS.set(REVISITS.get() + 1);
            v.sleep.retain(|k| sleep.contains(k));
            self.sys.expand_where(&state, &mut |k| awake.contains(k), &mut succ);
            self.push(state, path, sleep, succ);
            return false;
        }
        if self.stats.states >= self.max_states {
            self.stats.state_limit_hit = true;
            self.stopped = true;
            return true;
        }
        self.stats.states += 1;
        let (mut enabled, mut asleep) = (0, vec![]);
        let e = self.sys.expand_where(
            &state,
            &mut |k| {
                enabled += 1;
                let awake = !sleep.contains(k);
                if !awake {
                    asleep.push(k.clone());
                }
                awake
            },
            &mut succ,
        );
        let cut = e != Expansion::Continue;
        self.visited.insert(fp, Visited { sleep: if cut { vec![] } else { sleep.clone() }, cut });
        match e {
            Expansion::Final => {
                self.stats.finals += 1;
                (self.on_final)(&state, &path);
            }
            Expansion::Pruned => self.stats.pruned += 1,
            Expansion::BoundHit => self.stats.model_bound_hits += 1,
            Expansion::Continue => {
                // A deadlock has no successor at all: the keys asleep may have none either
                // (a key may lead nowhere, e.g. every direction it speculates is wrong).
                if succ.is_empty()
                    && (asleep.is_empty() || {
                        let mut rest = vec![];
                        self.sys.expand_where(&state, &mut |k| asleep.contains(k), &mut rest);
                        rest.is_empty()
                    })
                {
                    self.stats.deadlocks += 1;
                }
                self.stats.transitions += enabled;
                self.push(state, path, sleep, succ);
            }
        }
        cut
    }

    /// Puts a state with successors `succ` (grouped by key) on the stack.
    fn push(&mut self, state: T::State, path: Path<T::Label>, sleep: Vec<T::Label>, succ: Vec<(T::Label, T::State)>) {
        if succ.is_empty() {
            return;
        }
        self.stats.transitions_taken += succ.len() as u64;
        self.waiting += succ.len() as u64;
        let mut groups: Vec<Group<T::Label, T::State>> = vec![];
        for (label, next) in succ {
            let key = self.sys.key(&label);
            let solo = self.sys.conflicts_with_all(&state, &label, &next);
            match groups.last_mut() {
                Some(g) if g.key == key => {
                    g.solo |= solo;
                    g.succ.push((label, next));
                }
                _ => groups.push(Group { key, succ: vec![(label, next)], solo, cut: false, sleep: None }),
            }
        }
        for g in &mut groups {
            g.succ.reverse();
        }
        groups.reverse();
        self.stack.push(Frame { state, path, sleep, groups });
        if self.stats.states + self.waiting > self.max_states {
            self.stats.state_limit_hit = true;
            self.stopped = true;
        }
    }

    fn run(&mut self) {
        while !self.stopped {
            let Some(f) = self.stack.last_mut() else { break };
            let Some(g) = f.groups.last_mut() else {
                self.stack.pop();
                continue;
            };
            let Some((label, next)) = g.succ.pop() else {
                // Every successor of the key searched: asleep for the later keys, unless
                // one was not expanded or the key conflicts with everything.
                let g = f.groups.pop().expect("a group");
                if !g.solo && !g.cut {
                    f.sleep.push(g.key);
                }
                continue;
            };
            self.waiting -= 1;
            let sleep = match &g.sleep {
                Some(s) => s.clone(),
                None => {
                    let s: Vec<T::Label> = if g.solo {
                        vec![]
                    } else {
                        f.sleep.iter().filter(|u| self.sys.independent(&f.state, u, &g.key)).cloned().collect()
                    };
                    g.sleep = Some(s.clone());
                    s
                }
            };
            let path = f.path.then(label);
            let depth = self.stack.len() - 1;
            if self.reach(next, path, sleep) {
                let g = self.stack[depth].groups.last_mut().expect("the group searched");
                g.cut = true;
            }
        }
    }
}

/// Fingerprints of the states reached.
type Seen = HashSet<u128, BuildHasherDefault<Fingerprinted>>;

/// Takes the transitions `labels` from `init` with `sys`, in place (the
/// replaying system may record more than the exploring one did). `None` if
/// some transition is not enabled where the path says it was.
pub fn replay<T: TransitionSystem>(sys: &T, init: T::State, labels: &[T::Label]) -> Option<T::State> {
    let mut state = init;
    for l in labels {
        if !sys.apply(&mut state, l) {
            return None;
        }
    }
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three threads each doing two steps: the interleaving lattice has
    /// 3^3 = 27 states and 3 * 2 * 9 = 54 edges.
    struct Grid;
    impl TransitionSystem for Grid {
        type State = [u8; 3];
        type Label = usize;
        fn expand(&self, s: &[u8; 3], out: &mut Vec<(usize, [u8; 3])>) -> Expansion {
            for i in 0..3 {
                let mut n = *s;
                if self.apply(&mut n, &i) {
                    out.push((i, n));
                }
            }
            if out.is_empty() { Expansion::Final } else { Expansion::Continue }
        }
        fn apply(&self, s: &mut [u8; 3], i: &usize) -> bool {
            s[*i] += 1;
            s[*i] <= 2
        }
    }

    #[test]
    fn each_state_is_expanded_once() {
        let stats = explore(&Grid, [0; 3], &Limits::default(), |_| {});
        assert_eq!(stats.states, 27);
        assert_eq!(stats.transitions, 54);
        assert_eq!(stats.finals, 1);
        assert!(!stats.bound_hit());
    }

    #[test]
    fn replaying_a_path_reaches_the_same_final_state() {
        let mut finals = vec![];
        explore_with_paths(&Grid, [0; 3], &Limits::default(), |s, p| finals.push((*s, p.labels())));
        let (state, path) = &finals[0];
        assert_eq!(path.len(), 6, "two steps per counter");
        assert_eq!(replay(&Grid, [0; 3], path).as_ref(), Some(state));
        assert_eq!(replay(&Grid, [0; 3], &[0, 0, 0]), None, "a counter cannot pass 2");
    }

    #[test]
    fn the_state_limit_is_reported() {
        let stats = explore(&Grid, [0; 3], &Limits { max_states: 5 }, |_| {});
        assert!(stats.states <= 5);
        assert!(stats.state_limit_hit && stats.bound_hit());
        // A space of exactly the limit is explored whole.
        let stats = explore(&Grid, [0; 3], &Limits { max_states: 27 }, |_| {});
        assert_eq!((stats.states, stats.state_limit_hit), (27, false));
    }

    #[test]
    fn unordered_exploration_counts_what_depth_first_counts() {
        for jobs in [1, 2, 4] {
            let finals = std::sync::Mutex::new(vec![]);
            let par = explore_unordered(&Grid, [0; 3], &Limits::default(), jobs, |s| {
                finals.lock().unwrap().push(*s);
                true
            });
            assert_eq!(par, explore(&Grid, [0; 3], &Limits::default(), |_| {}), "jobs {jobs}");
            assert_eq!(finals.into_inner().unwrap(), [[2; 3]]);
            // A larger lattice with pruned and cut-off states, where the threads share work.
            let serial = explore(&Cube, [0; 6], &Limits::default(), |_| {});
            assert_eq!(explore_unordered(&Cube, [0; 6], &Limits::default(), jobs, |_| true), serial, "jobs {jobs}");
            assert!(serial.states > 1000 && serial.pruned > 0 && serial.model_bound_hits > 0, "{serial:?}");
        }
        let cut = explore_unordered(&Cube, [0; 6], &Limits { max_states: 100 }, 2, |_| true);
        assert!(cut.state_limit_hit && cut.states <= 100, "{cut:?}");
        // Stopped at the first final state: not a limit, and fewer states than the whole.
        let first = explore_unordered(&Grid, [0; 3], &Limits::default(), 2, |_| false);
        assert!(!first.state_limit_hit && first.finals == 1, "{first:?}");
    }

    /// Six counters stepping to 3 in any order, states with a sum of 7 pruned and with the first
    /// two at 3 cut off by a bound.
    struct Cube;
    impl TransitionSystem for Cube {
        type State = [u8; 6];
        type Label = usize;
        fn expand(&self, s: &[u8; 6], out: &mut Vec<(usize, [u8; 6])>) -> Expansion {
            if s.iter().map(|&x| u32::from(x)).sum::<u32>() == 7 {
                return Expansion::Pruned;
            }
            if s[0] == 3 && s[1] == 3 {
                return Expansion::BoundHit;
            }
            for i in 0..6 {
                let mut n = *s;
                if self.apply(&mut n, &i) {
                    out.push((i, n));
                }
            }
            if out.is_empty() { Expansion::Final } else { Expansion::Continue }
        }
        fn apply(&self, s: &mut [u8; 6], i: &usize) -> bool {
            s[*i] += 1;
            s[*i] <= 3
        }
    }

    /// [`Cube`] with steps of different counters declared independent, except of the first
    /// two (whose values together decide the bound), and next to the pruned sum (where one
    /// step decides whether the other's successor is pruned).
    struct CubeIndependent;
    impl TransitionSystem for CubeIndependent {
        type State = [u8; 6];
        type Label = usize;
        fn expand(&self, s: &[u8; 6], out: &mut Vec<(usize, [u8; 6])>) -> Expansion {
            Cube.expand(s, out)
        }
        fn apply(&self, s: &mut [u8; 6], i: &usize) -> bool {
            Cube.apply(s, i)
        }
        fn independent(&self, s: &[u8; 6], a: &usize, b: &usize) -> bool {
            let sum: u32 = s.iter().map(|&x| u32::from(x)).sum();
            a != b && !(*a < 2 && *b < 2) && sum != 5
        }
    }

    /// The counters and the final states of a search, reduced or not; checks that every path
    /// handed out replays to its state.
    fn search<T>(sys: &T, init: &T::State, reduced: bool) -> (ExploreStats, Vec<T::State>)
    where
        T: TransitionSystem,
        T::Label: PartialEq,
        T::State: Ord + std::fmt::Debug,
    {
        let mut finals = vec![];
        let stats = if reduced {
            explore_reduced(sys, init.clone(), &Limits::default(), |s, p| {
                assert_eq!(replay(sys, init.clone(), &p.labels()).as_ref(), Some(s));
                finals.push(s.clone());
            })
        } else {
            explore(sys, init.clone(), &Limits::default(), |s| finals.push(s.clone()))
        };
        finals.sort();
        (stats, finals)
    }

    /// What the reduction must leave alone: everything but `transitions_taken`.
    fn same_but_taken(a: &ExploreStats, b: &ExploreStats) -> bool {
        ExploreStats { transitions_taken: 0, ..a.clone() } == ExploreStats { transitions_taken: 0, ..b.clone() }
    }

    #[test]
    fn the_reduction_visits_every_state_and_takes_fewer_transitions() {
        let (full, full_finals) = search(&Cube, &[0; 6], false);
        let (red, red_finals) = search(&CubeIndependent, &[0; 6], true);
        assert!(same_but_taken(&full, &red), "{full:?}\n{red:?}");
        assert_eq!(full_finals, red_finals);
        assert!(full.pruned > 0 && full.model_bound_hits > 0, "{full:?}");
        assert!(red.transitions_taken * 3 < full.transitions_taken * 2, "{red:?} {full:?}");
        // With the default independence (none), the reduced search is the full one.
        let (none, none_finals) = search(&Cube, &[0; 6], true);
        assert_eq!(none, full);
        assert_eq!(none_finals, full_finals);
        // Grid: every pair of different counters commutes; the reduced search is a tree.
        let (g, _) = search(&GridIndependent, &[0; 3], true);
        assert_eq!((g.states, g.transitions, g.finals), (27, 54, 1));
        assert_eq!(g.transitions_taken, 26, "one edge into each state but the first");
    }

    /// [`Grid`] with steps of different counters independent.
    struct GridIndependent;
    impl TransitionSystem for GridIndependent {
        type State = [u8; 3];
        type Label = usize;
        fn expand(&self, s: &[u8; 3], out: &mut Vec<(usize, [u8; 3])>) -> Expansion {
            Grid.expand(s, out)
        }
        fn apply(&self, s: &mut [u8; 3], i: &usize) -> bool {
            Grid.apply(s, i)
        }
        fn independent(&self, _: &[u8; 3], a: &usize, b: &usize) -> bool {
            a != b
        }
    }

    /// Threads of straight-line programs over three shared variables: an operation reads one
    /// into the thread's register or writes a constant to it. The state: each thread's
    /// program counter (4), the variables (3), the registers (4). Steps of two threads are
    /// independent unless they access one variable and one of them writes.
    struct Threads(Vec<Vec<(usize, u8)>>);
    type Regs = [u8; 11];
    impl Threads {
        /// Thread `t`'s next operation: (variable, value written or 0 to read).
        fn op(&self, s: &Regs, t: usize) -> Option<(usize, u8)> {
            self.0[t].get(s[t] as usize).copied()
        }
    }
    impl TransitionSystem for Threads {
        type State = Regs;
        type Label = usize;
        fn expand(&self, s: &Regs, out: &mut Vec<(usize, Regs)>) -> Expansion {
            for t in 0..self.0.len() {
                let mut n = *s;
                if self.apply(&mut n, &t) {
                    out.push((t, n));
                }
            }
            if out.is_empty() { Expansion::Final } else { Expansion::Continue }
        }
        fn apply(&self, s: &mut Regs, t: &usize) -> bool {
            let Some((v, w)) = self.op(s, *t) else { return false };
            if w == 0 {
                s[7 + t] = s[4 + v];
            } else {
                s[4 + v] = w;
            }
            s[*t] += 1;
            true
        }
        fn independent(&self, s: &Regs, a: &usize, b: &usize) -> bool {
            let (Some((va, wa)), Some((vb, wb))) = (self.op(s, *a), self.op(s, *b)) else { return false };
            a != b && (va != vb || (wa == 0 && wb == 0))
        }
    }

    #[test]
    fn a_state_reached_again_with_fewer_keys_asleep_searches_those() {
        // Thread 0 writes x = 2 then y = 1, thread 1 writes x = 2. The search takes 0, then at
        // (1, 0) takes 0 (y = 1) before 1 (x = 2), so it reaches (1, 1) by 1 with 0 asleep.
        // Then it takes 1 first from the start (the writes of x conflict: nothing asleep) and
        // reaches (1, 1) again by 0, with nothing asleep: 0 is searched from there now.
        let diamond = Threads(vec![vec![(0, 2), (1, 1)], vec![(0, 2)]]);
        let (full, full_finals) = search(&diamond, &[0; 11], false);
        let before = REVISITS.get();
        let (red, red_finals) = search(&diamond, &[0; 11], true);
        assert_eq!(REVISITS.get(), before + 1, "one revisit searched a key newly awake");
        assert!(same_but_taken(&full, &red), "{full:?}\n{red:?}");
        assert_eq!(full_finals, red_finals);
        assert_eq!((full.states, full.transitions_taken, red.transitions_taken), (6, 7, 7));
    }

    #[test]
    fn the_reduction_agrees_on_random_programs() {
        // xorshift: the same programs every run.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let ops = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (2, 1)];
        let (mut taken, mut full_taken, mut revisits) = (0, 0, REVISITS.get());
        for _ in 0..3000 {
            let threads = 2 + rnd(3) as usize;
            let prog = (0..threads).map(|_| (0..1 + rnd(3)).map(|_| ops[rnd(7) as usize]).collect()).collect();
            let sys = Threads(prog);
            let (full, full_finals) = search(&sys, &[0; 11], false);
            let (red, red_finals) = search(&sys, &[0; 11], true);
            assert!(same_but_taken(&full, &red), "{:?}\n{full:?}\n{red:?}", sys.0);
            assert_eq!(full_finals, red_finals, "{:?}", sys.0);
            taken += red.transitions_taken;
            full_taken += full.transitions_taken;
        }
        revisits = REVISITS.get() - revisits;
        assert!(taken * 3 < full_taken * 2 && revisits > 100, "{taken} of {full_taken} taken, {revisits} revisits");
    }

    thread_local! {
        /// Snapshots of [`Wide`] alive now, and the most alive at once.
        static LIVE: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
    }

    /// A snapshot that counts how many of its kind are alive.
    #[derive(Hash)]
    struct Counted(Vec<u8>);
    impl Counted {
        fn new(v: Vec<u8>) -> Self {
            LIVE.with(|l| {
                let (live, peak) = l.get();
                l.set((live + 1, peak.max(live + 1)));
            });
            Counted(v)
        }
    }
    impl Clone for Counted {
        fn clone(&self) -> Self {
            Counted::new(self.0.clone())
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            LIVE.with(|l| l.set((l.get().0 - 1, l.get().1)));
        }
    }

    /// `n` independent counters that each step once: 2^n states, `n` successors of the first.
    struct Wide(usize);
    impl TransitionSystem for Wide {
        type State = Counted;
        type Label = usize;
        fn expand(&self, s: &Counted, out: &mut Vec<(usize, Counted)>) -> Expansion {
            for i in 0..self.0 {
                let mut n = s.clone();
                if self.apply(&mut n, &i) {
                    out.push((i, n));
                }
            }
            if out.is_empty() { Expansion::Final } else { Expansion::Continue }
        }
        fn apply(&self, s: &mut Counted, i: &usize) -> bool {
            s.0[*i] += 1;
            s.0[*i] <= 1
        }
    }

    #[test]
    fn the_snapshots_held_never_pass_the_limit_by_more_than_one_expansion() {
        // Depth-first on 64 counters leaves ~63 waiting snapshots per level: 1,000 expansions
        // would hold tens of thousands. The limit counts them, so about 1,000 + 2 × 64 exist at most.
        LIVE.with(|l| l.set((0, 0)));
        let stats = explore(&Wide(64), Counted::new(vec![0; 64]), &Limits { max_states: 1000 }, |_| {});
        assert!(stats.state_limit_hit && stats.states > 10, "{stats:?}");
        let (live, peak) = LIVE.with(|l| l.get());
        assert_eq!(live, 0, "every snapshot dropped");
        assert!(peak <= 1000 + 2 * 64, "{peak} snapshots alive at once");
    }

    /// A part changed through any mutable accessor is fingerprinted again, so a state's
    /// fingerprint with cached parts equals the one of the same parts never fingerprinted; and a
    /// successor's change does not reach the predecessor it shares parts with.
    #[test]
    fn cached_part_fingerprints_follow_every_change() {
        use proptest::prelude::*;
        let op = (0..6u8, 0..4usize, any::<u16>());
        proptest!(|(init in proptest::collection::vec(any::<u16>(), 0..5), ops in proptest::collection::vec(op, 0..24))| {
            let mut cached: Fingerprints<u16> = init.iter().copied().collect::<Fingerprints<_>>().shared();
            let mut plain = init.clone();
            for (kind, i, v) in ops {
                let before = cached.clone();
                let before_fp = fingerprint(&before);
                let n = plain.len();
                match kind {
                    0 if i < n => { cached[i] = v; plain[i] = v; }
                    1 if i < n => { *cached.get_mut(i).unwrap() = v; plain[i] = v; }
                    2 => { cached.iter_mut().for_each(|p| *p = p.wrapping_add(v)); plain.iter_mut().for_each(|p| *p = p.wrapping_add(v)); }
                    3 => { cached.push(v); plain.push(v); }
                    4 => { cached.truncate(i); plain.truncate(i); }
                    _ => prop_assert!(cached.get_mut(i + n).is_none()),
                }
                prop_assert_eq!(fingerprint(&cached), fingerprint(&Fingerprints::from(plain.clone())));
                prop_assert_eq!(cached.iter().copied().collect::<Vec<_>>(), plain.clone());
                prop_assert_eq!(fingerprint(&before), before_fp, "the clone kept its parts");
                prop_assert_eq!(cached == before, plain == before.iter().copied().collect::<Vec<_>>());
            }
        });
    }
}
