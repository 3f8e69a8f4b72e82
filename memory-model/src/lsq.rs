//! The per-core load/store queue: every in-flight memory access, barrier and
//! conditional branch of one core, in program order, and the rules of the
//! consistency mode that decide what may happen next.
//!
//! The queue is where the three modes differ; everything else (storage,
//! latencies, the pipeline) is shared. It holds:
//!
//! * loads, from address generation until they are *finished* (their value
//!   can no longer change) and retired;
//! * stores, from address generation until they have *propagated* to storage
//!   (a retired, unpropagated store is a store-buffer entry);
//! * barriers until they are finished, and conditional branches until they
//!   are resolved (both constrain what later accesses may do);
//! * atomic read-modify-writes (ARMv8.1 LSE: CAS, SWP, LDADD, ...) until
//!   they are *performed*: read and written in one step, straight in
//!   storage, or, split (exhaustive ARMv8 exploration), read and later
//!   written, the write forwarding to later loads in between as a buffered
//!   store does (a SWP, whose write does not depend on its read, forwards
//!   even before it reads).
//!
//! The core asks for the *visible* transitions that are enabled
//! ([`Lsq::visible`]: satisfy a load, propagate a store, take a step of an RMW),
//! applies the chosen one ([`Lsq::satisfy`], [`Lsq::propagate`],
//! [`Lsq::perform_rmw`]), and lets the queue take its
//! *local* transitions eagerly ([`Lsq::settle`]: finishing loads and
//! barriers). Satisfying or propagating may invalidate reads already made by
//! later loads; those are returned as restart roots, and the core restarts
//! them together with everything that depends on them.
//!
//! ## ARMv8 (`Mode::Arm`), after the Flat model
//! * A load may be satisfied once every earlier DMB SY/ISH, DSB, ISB and
//!   DMB LD has finished, every earlier load-acquire is satisfied, and (for a
//!   load-acquire) every earlier store-release has propagated. Earlier
//!   branches and store addresses need not be resolved: loads speculate.
//! * It takes its value from the program-order-closest earlier write to the
//!   same address if that is this core's own unpropagated store with known
//!   data (forwarding), otherwise from storage. It waits if that closest
//!   store has no data yet.
//! * Satisfying a load restarts later loads of the same address that read a
//!   different write not made by a store between the two (CoRR). Propagating
//!   a store restarts later loads of the same address that read a different
//!   write not made by a store between the two (they ran past it).
//! * A load *finishes* when its address is determined, earlier branches are
//!   resolved, earlier load-acquires finished, and every earlier access back
//!   to the write it read (or to the start) has a determined address, with no
//!   unfinished same-address load and no unpropagated same-address store in
//!   between.
//! * A store may propagate once its address and data are determined, earlier
//!   branches are resolved, every earlier access has a determined address,
//!   every earlier barrier (of any kind) and load-acquire has finished,
//!   earlier same-address loads have finished and same-address stores have
//!   propagated, and (for a store-release) every earlier access has finished.
//! * Barriers finish once earlier branches are resolved and earlier full
//!   barriers finished, and: DMB SY/ISH and DSB when every earlier barrier
//!   and access has finished; DMB LD when earlier loads have; DMB ST when
//!   earlier stores have propagated; ISB when earlier accesses have determined
//!   addresses.
//!
//! ## Store-exclusives, in every mode
//! A store-exclusive (`STXR`) is a store that first decides whether it stores
//! ([`Exclusive`]); its core says whether it may (it pairs with the latest
//! load-exclusive before it, and no other core's write came between the one
//! that load read and its own). Until it decides it neither propagates nor
//! forwards, and later loads of its location wait; failed, it writes nothing,
//! orders nothing and is passed over. Exhaustive exploration decides as a
//! transition of its own, at any time, in program order
//! ([`Lsq::exclusive_candidates`]), since `aarch64.cat` lets a store-exclusive
//! fail at any time and its status orders nothing; the explorer prunes a path
//! whose store turns out not to be allowed. Timed runs decide when the store
//! would propagate, and store then, so nothing can come between.
//!
//! ## Atomic read-modify-writes, in every mode
//! An RMW reads storage and, unless it is a CAS whose compare fails, writes
//! it, with no other write of the location between the two in coherence
//! order. Each step is taken at most once and never undone, so the RMW waits
//! until it can no longer be squashed or restarted: its address and operands
//! are determined, earlier branches are resolved and earlier accesses have
//! determined addresses; and every earlier same-address access is done
//! (loads finished, stores propagated; split, its read may instead forward
//! from this core's closest earlier store once that store's data is final), and
//! later same-address loads wait for it rather than read around it, except
//! that they forward from its write once that is known, as from a store:
//! split, once it has read (an acquire load, too: `aarch64.cat`'s
//! `rmw;lrs;[A|Q]` orders the RMW's read before it, not its write); and a
//! SWP's from the start, to loads other than acquires (its write is its
//! operand, whatever it reads, and `aarch64.cat` lets a load read it before
//! the SWP reads).
//!
//! * ARMv8: the read is ordered as a load (an acquire for `A`/`AL`: later
//!   accesses wait for it), the write as a store (a release for `L`/`AL`: it
//!   waits for every earlier access to finish), and with `AL` later accesses
//!   also wait for the write (`[range([A];amo;[L])]; po`), so `AL` is ordered
//!   like `DMB ISH; RMW; DMB ISH`, which Linux relies on for its fully ordered
//!   atomics on arm64 with LSE. With [`Lsq::set_split_rmw`] (exhaustive
//!   exploration) the read and the write are two steps, and other cores'
//!   writes of the location wait while one is between them (the explorer
//!   enforces that: [`Lsq::holds`]); a CAS may also be taken to fail before it
//!   reads ([`Lsq::predict_cas`]), and is then ordered as the plain read
//!   `aarch64.cat` makes it, or, without acquire, to succeed, and later loads
//!   may then read its write before it reads; and it may read before its
//!   compare value and new value are final, deciding once they are
//!   ([`Lsq::decide_cas`]). Without it (timed runs) an RMW takes both steps at
//!   once when both may be taken, and a failing CAS is ordered as if it could
//!   write: a near atomic on an owned line, one of the executions the split
//!   allows.
//! * TSO: like an x86 `LOCK`ed instruction: it waits for the store buffer to
//!   drain and for earlier loads, and nothing later passes it.
//! * SC: in order, like every access.
//!
//! ## TSO (`Mode::Tso`)
//! Loads are satisfied in order, after earlier branches and store addresses
//! are known, and forward from the newest earlier same-address store still
//! in the buffer. Stores propagate in order, after earlier loads finished.
//! DMB ISH and DSB wait for the buffer to drain and hold back later loads;
//! DSB ISHST (ISHLD) completes once earlier stores (loads) have, and holds
//! back later loads until then; DMB
//! ISHLD/ISHST impose nothing TSO does not already give; ISB is x86's
//! serializing instruction: it completes after every earlier access and
//! barrier, with the store buffer drained; LDAR/STLR behave as plain
//! accesses (the x86 mapping of the kernel's release and acquire).
//!
//! ## SC (`Mode::Sc`)
//! Every access and barrier waits for all earlier accesses to complete, and
//! there is no store buffer: the core retires a store only once it has
//! propagated ([`Mode::has_store_buffer`]), so nothing after it — an
//! `ERET`, an exception, a system-register write — happens while it is
//! still invisible to other cores.

use sim::window::Window;

use crate::memory::FlatMemory;
use crate::types::{Addr, Fence, MaintOp, Mode, Rmw, RmwOp, ThreadId, Value, WriteId};

/// What an entry of the queue is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlotKind {
    /// A load; `acquire` for LDAR.
    Load {
        /// Load-acquire (LDAR).
        acquire: bool,
    },
    /// A store; `release` for STLR.
    Store {
        /// Store-release (STLR).
        release: bool,
    },
    /// A barrier.
    Fence(Fence),
    /// A conditional branch (resolved = `done`).
    Branch,
    /// Cache or TLB maintenance (`done` = performed).
    Maint(MaintOp),
    /// An atomic read-modify-write (`done` = performed; `data` holds the
    /// operand, the new value for a CAS, and once performed the value
    /// written, `None` if a CAS compare failed).
    Rmw(Rmw),
}

/// Whether a store is a store-exclusive, and if so whether it stores ([`Lsq::decide_exclusive`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Exclusive {
    /// A plain store (or not a store).
    #[default]
    No,
    /// A store-exclusive that has not decided: it neither propagates nor forwards.
    Undecided,
    /// It stores: from here on a store like any other.
    Succeeds,
    /// It failed: it writes nothing and orders nothing (done, never forwarded from).
    Fails,
}

/// What a step of an RMW did ([`Lsq::perform_rmw`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RmwStep {
    /// Read and wrote at once.
    ReadWrote(ReadFrom, WriteId),
    /// Read; the RMW is done if it writes nothing (a CAS whose compare failed), otherwise its
    /// write is a later step (split RMWs).
    Read(ReadFrom),
    /// Wrote, after an earlier read step.
    Wrote(WriteId),
    /// A CAS predicted to fail read a value its compare matches: the path does not exist.
    Contradicted(ReadFrom),
}

impl RmwStep {
    /// What the step read, if it read.
    pub fn read(self) -> Option<ReadFrom> {
        match self {
            RmwStep::ReadWrote(r, _) | RmwStep::Read(r) | RmwStep::Contradicted(r) => Some(r),
            RmwStep::Wrote(_) => None,
        }
    }

    /// The write the step made, if it wrote.
    pub fn wrote(self) -> Option<WriteId> {
        match self {
            RmwStep::ReadWrote(_, w) | RmwStep::Wrote(w) => Some(w),
            RmwStep::Read(_) | RmwStep::Contradicted(_) => None,
        }
    }
}

/// Where a satisfied load got its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadFrom {
    /// The value read.
    pub value: Value,
    /// The write read from.
    pub source: WriteId,
    /// True if forwarded from this core's own unpropagated store.
    pub forwarded: bool,
}

/// One entry of the queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    /// Dynamic instruction instance number (shared with the core's ROB).
    pub iid: u32,
    /// What the entry is.
    pub kind: SlotKind,
    /// Access address, once generated.
    pub addr: Option<Addr>,
    /// The address can no longer change (its inputs are determined).
    pub addr_final: bool,
    /// Store data, once available.
    pub data: Option<Value>,
    /// The data can no longer change.
    pub data_final: bool,
    /// Load, RMW: the value read and its source.
    pub read: Option<ReadFrom>,
    /// Load finished / store propagated / RMW performed / barrier finished /
    /// branch resolved.
    pub done: bool,
    /// The core has retired the instruction.
    pub retired: bool,
    /// An ARMv8 CAS whose compare is taken to fail before it reads (exhaustive exploration
    /// only, see [`Lsq::predict_cas`]): ordered as the read it then is, never as a write.
    pub cas_fails: bool,
    /// An ARMv8 CAS without acquire taken to succeed before it reads (exhaustive exploration
    /// only, see [`Lsq::predict_cas`]): its write, its new value, may be read by later loads
    /// other than acquires before it reads, and the core may take its returned value from the
    /// compare value (herd7's `DataFromRRs`); when it reads, a value its compare does not
    /// match contradicts the prediction.
    pub cas_succeeds: bool,
    /// A split ARMv8 RMW other than a CAS whose read may be taken before its operand is final
    /// (the core found nothing older that could squash it, see [`Lsq::set_early_read`]);
    /// cleared once the operand is final or the read is taken.
    pub early_read: bool,
    /// A store-exclusive's outcome so far.
    pub exclusive: Exclusive,
    /// A load-acquire of the RCpc kind (`LDAPR`): an earlier store-release does not hold it
    /// back ([`Lsq::set_rcpc`]).
    pub rcpc: bool,
    /// A retired store-exclusive's pairing, set by the core as it retires: the write its
    /// load-exclusive read, and whether a store of the core to the location came between the two
    /// (`None`: it pairs with none, and may not store).
    pub paired: Option<(WriteId, bool)>,
    /// Timed mode: earliest cycle the access can start (its operands' ready time).
    pub ready_at: u64,
    /// Timed mode: an access event for this entry is in flight.
    pub issued: bool,
    /// Timed mode: identifies the in-flight event; changes on every reset.
    pub token: u32,
    /// What the entry holds back of later ones, derived from the fields above.
    pub holds: Holds,
}

impl Slot {
    /// Recomputes [`Slot::holds`] after a change to the entry.
    #[inline(always)]
    fn refresh(&mut self) {
        self.holds = Holds::of(self);
    }
    fn is_load(&self) -> bool {
        matches!(self.kind, SlotKind::Load { .. })
    }
    fn is_store(&self) -> bool {
        matches!(self.kind, SlotKind::Store { .. })
    }
    fn is_rmw(&self) -> bool {
        matches!(self.kind, SlotKind::Rmw(_))
    }
    /// Stores and RMWs: entries that may write their location.
    fn may_write(&self) -> bool {
        self.is_store() || self.is_rmw()
    }
    fn is_access(&self) -> bool {
        self.is_load() || self.may_write()
    }
    fn addr_determined(&self) -> bool {
        self.addr.is_some() && self.addr_final
    }
    fn same_addr(&self, a: Addr) -> bool {
        self.addr == Some(a)
    }
}

/// Granule of the ordering between DC CVAU and earlier stores: a 64-byte
/// line (the data-cache line of every configuration isolsim ships).
pub const MAINT_LINE_BYTES: Addr = 64;

/// Sequence number of a queue entry (stable while the entry lives).
pub type Seq = u32;

/// A transition that other cores can observe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Visible {
    /// Satisfy this load (from storage or by forwarding).
    Satisfy(Seq),
    /// Propagate this store to storage.
    Propagate(Seq),
    /// Perform this cache or TLB maintenance operation.
    Maint(Seq),
    /// Take the next step of this atomic read-modify-write (its read, its write, or both at once).
    Rmw(Seq),
}

impl Visible {
    /// The entry the transition acts on.
    pub fn seq(self) -> Seq {
        match self {
            Visible::Satisfy(s) | Visible::Propagate(s) | Visible::Maint(s) | Visible::Rmw(s) => s,
        }
    }
}

/// What one entry holds back of the entries after it: the prefix facts it spoils, one bit
/// each. Every change to an entry's kind, address, read, completion or CAS prediction recomputes
/// it (`Slot::refresh`), so that taking an entry into a prefix is one OR instead of a match over
/// its kind (the passes of `settle` and `visible` do that for every entry on every step).
/// Derived from the entry's other fields, so it adds nothing to equality or hashing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Holds(u32);

impl Holds {
    /// A load (or an RMW's read) has not finished.
    const LOAD_UNFINISHED: u32 = 1 << 0;
    /// The same, leaving out the reads of no-return atomics.
    const RETURNING_LOAD_UNFINISHED: u32 = 1 << 1;
    /// A store (or an RMW's write) has not propagated.
    const STORE_UNDONE: u32 = 1 << 2;
    /// An access or maintenance operation has no determined address.
    const ADDR_UNDETERMINED: u32 = 1 << 3;
    /// A conditional branch is unresolved.
    const BRANCH_UNRESOLVED: u32 = 1 << 4;
    /// Unfinished barriers, by kind.
    const FULL_PENDING: u32 = 1 << 5;
    const SYNC_PENDING: u32 = 1 << 6;
    const BARRIER_PENDING: u32 = 1 << 7;
    const LD_PENDING: u32 = 1 << 8;
    const ISB_PENDING: u32 = 1 << 9;
    /// An acquire has not read.
    const ACQUIRE_UNSATISFIED: u32 = 1 << 10;
    /// An acquire has not finished.
    const ACQUIRE_UNFINISHED: u32 = 1 << 11;
    /// A release has not propagated.
    const RELEASE_UNPROPAGATED: u32 = 1 << 12;
    /// A maintenance operation is not performed.
    const MAINT_UNDONE: u32 = 1 << 13;
    /// A TLBI has not completed.
    const TLBI_UNDONE: u32 = 1 << 14;
    /// A DC CVAU is not performed (DMB ISH/SY and DSB ISH/SY wait for it).
    const DC_PENDING: u32 = 1 << 15;

    /// The facts `s` spoils, from its fields.
    fn of(s: &Slot) -> Holds {
        let bit = |on: bool, b: u32| if on { b } else { 0 };
        let addr = bit(!s.addr_determined(), Self::ADDR_UNDETERMINED);
        Holds(match s.kind {
            SlotKind::Load { acquire } => {
                bit(!s.done, Self::LOAD_UNFINISHED | Self::RETURNING_LOAD_UNFINISHED)
                    | addr
                    | bit(acquire && !s.done, Self::ACQUIRE_UNFINISHED)
                    | bit(acquire && !s.done && s.read.is_none(), Self::ACQUIRE_UNSATISFIED)
            }
            SlotKind::Store { release } => {
                bit(!s.done, Self::STORE_UNDONE) | addr | bit(release && !s.done, Self::RELEASE_UNPROPAGATED)
            }
            SlotKind::Fence(_) if s.done => 0,
            SlotKind::Fence(f) => {
                Self::BARRIER_PENDING
                    | bit(f.is_full(), Self::FULL_PENDING)
                    | bit(f.is_sync(), Self::SYNC_PENDING)
                    | bit(f.is_load(), Self::LD_PENDING)
                    | bit(f == Fence::Isb, Self::ISB_PENDING)
            }
            SlotKind::Branch => bit(!s.done, Self::BRANCH_UNRESOLVED),
            SlotKind::Rmw(r) => {
                // A load until it has read, a store until it has written (a CAS predicted
                // to fail never writes); in one step, both until performed.
                let read_done = s.done || s.read.is_some();
                let write_done = s.done || s.cas_fails;
                // `[A]; po` orders later accesses after the read; with `L` too, also after
                // the write (aarch64.cat's `[range([A];amo;[L])]; po`).
                let held = r.acquire && if r.release { !(read_done && write_done) } else { !read_done };
                bit(!read_done, Self::LOAD_UNFINISHED)
                    | bit(!(read_done || r.no_ret), Self::RETURNING_LOAD_UNFINISHED)
                    | bit(!write_done, Self::STORE_UNDONE)
                    | addr
                    | bit(held, Self::ACQUIRE_UNFINISHED | Self::ACQUIRE_UNSATISFIED)
                    | bit(r.release && !write_done, Self::RELEASE_UNPROPAGATED)
            }
            SlotKind::Maint(op) => {
                bit(!s.done, Self::MAINT_UNDONE)
                    | bit(!s.done && matches!(op, MaintOp::Tlbi { .. }), Self::TLBI_UNDONE)
                    | addr
                    | bit(op == MaintOp::DcCvau && !s.done, Self::DC_PENDING)
            }
        })
    }
}

/// Facts about all entries older than the one being examined, accumulated in one program-order
/// pass: the union of what they hold back ([`Holds`]).
#[derive(Clone, Copy, Debug)]
struct Prefix(u32);

impl Prefix {
    const START: Prefix = Prefix(0);

    fn clear_of(&self, bits: u32) -> bool {
        self.0 & bits == 0
    }
    /// Every earlier load (and RMW read) has finished.
    fn loads_done(&self) -> bool {
        self.clear_of(Holds::LOAD_UNFINISHED)
    }
    /// Earlier loads finished, leaving out the reads of no-return atomics (what a DMB LD or DSB
    /// LD waits for under Arm).
    fn returning_loads_done(&self) -> bool {
        self.clear_of(Holds::RETURNING_LOAD_UNFINISHED)
    }
    fn stores_done(&self) -> bool {
        self.clear_of(Holds::STORE_UNDONE)
    }
    fn addrs_determined(&self) -> bool {
        self.clear_of(Holds::ADDR_UNDETERMINED)
    }
    fn branches_done(&self) -> bool {
        self.clear_of(Holds::BRANCH_UNRESOLVED)
    }
    fn full_pending(&self) -> bool {
        !self.clear_of(Holds::FULL_PENDING)
    }
    fn sync_pending(&self) -> bool {
        !self.clear_of(Holds::SYNC_PENDING)
    }
    fn any_barrier_pending(&self) -> bool {
        !self.clear_of(Holds::BARRIER_PENDING)
    }
    fn ld_pending(&self) -> bool {
        !self.clear_of(Holds::LD_PENDING)
    }
    fn isb_pending(&self) -> bool {
        !self.clear_of(Holds::ISB_PENDING)
    }
    fn acquire_unsatisfied(&self) -> bool {
        !self.clear_of(Holds::ACQUIRE_UNSATISFIED)
    }
    fn acquire_unfinished(&self) -> bool {
        !self.clear_of(Holds::ACQUIRE_UNFINISHED)
    }
    fn release_unpropagated(&self) -> bool {
        !self.clear_of(Holds::RELEASE_UNPROPAGATED)
    }
    fn maint_done(&self) -> bool {
        self.clear_of(Holds::MAINT_UNDONE)
    }
    /// Every earlier TLBI has completed.
    fn tlbi_done(&self) -> bool {
        self.clear_of(Holds::TLBI_UNDONE)
    }
    /// An earlier DC CVAU is not performed yet (DMB ISH/SY and DSB ISH/SY wait for it).
    fn dc_pending(&self) -> bool {
        !self.clear_of(Holds::DC_PENDING)
    }

    /// Earlier loads finished and cleans performed: under TSO and SC a DC CVAU is ordered like a
    /// load.
    fn loads_cleans_done(&self) -> bool {
        self.clear_of(Holds::LOAD_UNFINISHED | Holds::DC_PENDING)
    }

    /// True if no later access or maintenance operation can be enabled in `visible`, whatever
    /// it is: every guard below needs earlier branches resolved, except an ARMv8 load's, which
    /// something else here holds back (an unfinished full, load or synchronization barrier or
    /// ISB, or an acquire that has not read). The facts only grow in a pass, so `visible` stops
    /// scanning there (a core spinning on an acquire load behind its own predicted loop branch
    /// would otherwise look at every speculated iteration on every step).
    fn blocks_later_visible(&self, mode: Mode) -> bool {
        !self.branches_done()
            && match mode {
                Mode::Arm => !self.clear_of(
                    Holds::FULL_PENDING
                        | Holds::SYNC_PENDING
                        | Holds::ISB_PENDING
                        | Holds::LD_PENDING
                        | Holds::ACQUIRE_UNSATISFIED,
                ),
                Mode::Tso | Mode::Sc => true,
            }
    }

    /// ARMv8: no later load can finish (be no longer restartable) while an earlier branch is
    /// unresolved or an earlier acquire unfinished.
    fn holds_later_loads_unfinished(&self) -> bool {
        !self.clear_of(Holds::BRANCH_UNRESOLVED | Holds::ACQUIRE_UNFINISHED)
    }

    #[inline(always)]
    fn absorb(&mut self, s: &Slot) {
        debug_assert_eq!(s.holds, Holds::of(s), "entry {} changed without its facts", s.iid);
        self.0 |= s.holds.0;
    }
}

/// What a load would read if satisfied now.
enum Source {
    /// Forward from the store at this queue index.
    Forward(usize),
    /// Read storage.
    Storage,
    /// The closest earlier same-address store has no data yet.
    Wait,
}

/// The load/store queue of one core. See the module docs for the rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lsq {
    tid: ThreadId,
    slots: Window<Slot>,
    head: Seq,
    next_token: u32,
    /// Retired stores not yet propagated (the store buffer's occupancy).
    buffered: usize,
    /// ARMv8 RMWs read and write in two steps (see the module docs); off: in one.
    split_rmw: bool,
    /// Store-exclusives decide as transitions of their own ([`Lsq::set_choose_exclusives`]).
    choose_exclusives: bool,
}

impl Lsq {
    /// An empty queue for core `tid`.
    pub fn new(tid: ThreadId) -> Self {
        Lsq {
            tid,
            slots: Window::new(),
            head: 0,
            next_token: 0,
            buffered: 0,
            split_rmw: false,
            choose_exclusives: false,
        }
    }

    /// Empties the queue, keeping its allocation.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.head = 0;
        self.next_token = 0;
        self.buffered = 0;
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Retired stores that have not yet propagated (store-buffer occupancy).
    pub fn buffered_stores(&self) -> usize {
        debug_assert_eq!(self.buffered, self.slots.iter().filter(|s| s.is_store() && s.retired && !s.done).count());
        self.buffered
    }

    /// The data of the youngest retired store to `a` still in the store buffer: what this core's
    /// own later load of `a` reads before storage has it (for a full-width store at `a`).
    pub fn buffered_value(&self, a: Addr) -> Option<Value> {
        self.slots.iter().rev().find(|s| s.is_store() && s.retired && !s.done && s.same_addr(a)).and_then(|s| s.data)
    }

    fn index(&self, seq: Seq) -> usize {
        (seq - self.head) as usize
    }

    /// The entry `seq`, if it is still in the queue.
    pub fn get(&self, seq: Seq) -> Option<&Slot> {
        seq.checked_sub(self.head).and_then(|i| self.slots.get(i as usize))
    }

    fn slot_mut(&mut self, seq: Seq) -> &mut Slot {
        let i = self.index(seq);
        &mut self.slots[i]
    }

    /// Entries in program order with their sequence numbers.
    pub fn iter(&self) -> impl Iterator<Item = (Seq, &Slot)> {
        self.slots.iter().enumerate().map(move |(i, s)| (self.head + i as Seq, s))
    }

    /// Appends an entry for instruction instance `iid`.
    pub fn push(&mut self, iid: u32, kind: SlotKind) -> Seq {
        let seq = self.head + self.slots.len() as Seq;
        let token = self.fresh_token();
        self.slots.push_back(Slot {
            iid,
            kind,
            addr: None,
            addr_final: false,
            data: None,
            data_final: false,
            read: None,
            done: false,
            retired: false,
            cas_fails: false,
            cas_succeeds: false,
            early_read: false,
            exclusive: Exclusive::No,
            rcpc: false,
            paired: None,
            ready_at: 0,
            issued: false,
            token,
            holds: Holds::default(),
        });
        self.slots.back_mut().expect("just pushed").refresh();
        seq
    }

    fn fresh_token(&mut self) -> u32 {
        self.next_token = self.next_token.wrapping_add(1);
        self.next_token
    }

    /// Drops `seq` and every younger entry (branch misprediction).
    pub fn squash_from(&mut self, seq: Seq) {
        let keep = self.index(seq);
        self.slots.truncate(keep);
    }

    /// Sets (or clears) the address of an access.
    pub fn set_addr(&mut self, seq: Seq, addr: Option<Addr>, determined: bool) {
        let i = self.index(seq);
        let s = &mut self.slots[i];
        let newly_writes = (s.is_store() || s.is_rmw()) && addr.is_some() && s.addr != addr;
        s.addr = addr;
        s.addr_final = determined && addr.is_some();
        s.refresh();
        if newly_writes && let Some(a) = addr {
            // A later load already on its way to storage for this address would now read this
            // write (or wait for its data): its access is withdrawn, and issued again when the
            // rules allow, so that an issued access stays enabled until it is performed.
            for j in i + 1..self.slots.len() {
                let l = &self.slots[j];
                if matches!(l.kind, SlotKind::Load { .. }) && l.issued && l.read.is_none() && l.same_addr(a) {
                    let token = self.fresh_token();
                    let l = &mut self.slots[j];
                    l.issued = false;
                    l.token = token;
                }
            }
        }
    }

    /// Sets (or clears) the data of a store, or the operand of an RMW (the
    /// new value of a CAS).
    ///
    /// An RMW that has already read (early, see [`Lsq::set_early_read`]) holds the value it
    /// will write instead: the operation applied to the value read and the operand.
    pub fn set_data(&mut self, seq: Seq, data: Option<Value>, determined: bool) {
        let s = self.slot_mut(seq);
        s.data = match (s.kind, s.read) {
            (SlotKind::Rmw(r), Some(read)) if r.op != RmwOp::Cas && !s.done => {
                data.and_then(|operand| r.apply(read.value, operand, 0))
            }
            _ => data,
        };
        s.data_final = determined && s.data.is_some();
        // (The permission matters only while the operand is not final and the RMW has not
        // read: cleared after, so that states differing only by it are one.)
        if s.data_final {
            s.early_read = false;
        }
    }

    /// Lets split ARMv8 RMW `seq` (not a CAS) read before its operand is final, or not: the
    /// core says so once nothing older can squash it. `aarch64.cat` orders the RMW's read
    /// after nothing its operand comes from (the operand is the write's data), so a value
    /// the read returns may feed later dependencies before the operand is known.
    /// A CAS's read may likewise come before its compare value and new value are final: what it
    /// returns is the value read whatever the compare gives (herd7's CAS reads its location with
    /// only its address), and it decides once they are ([`Lsq::decide_cas`]).
    pub fn set_early_read(&mut self, seq: Seq, on: bool) {
        let s = self.slot_mut(seq);
        debug_assert!(s.is_rmw(), "only an RMW");
        s.early_read = on;
    }

    /// Decides split CAS `seq`, which read before its compare value and new value were final
    /// ([`Lsq::set_early_read`]), now that they are: it writes `new` in a later step if the value
    /// it read matches `compare`, and is otherwise a read, done. Returns false if it had been
    /// taken to fail and the compare matches, or to succeed and it does not ([`Lsq::predict_cas`]):
    /// the path does not exist.
    pub fn decide_cas(&mut self, seq: Seq, new: Value, compare: Value) -> bool {
        let s = self.slot_mut(seq);
        let (SlotKind::Rmw(r), Some(read)) = (s.kind, s.read) else { panic!("entry {seq} is not a CAS that read") };
        debug_assert!(r.op == RmwOp::Cas && !s.data_final, "only an undecided CAS");
        let written = r.apply(read.value, new, compare);
        if (s.cas_fails && written.is_some()) || (s.cas_succeeds && written.is_none()) {
            return false;
        }
        // Decided: `data_final` (with no data, a read that is done).
        s.data = written;
        s.data_final = true;
        s.done |= written.is_none();
        s.refresh();
        true
    }

    /// True if CAS `seq` read early and has not decided yet ([`Lsq::decide_cas`]): it may not
    /// retire.
    pub fn cas_undecided(&self, seq: Seq) -> bool {
        self.get(seq).is_some_and(|s| {
            matches!(s.kind, SlotKind::Rmw(r) if r.op == RmwOp::Cas) && s.read.is_some() && !s.data_final
        })
    }

    /// Records when the access's operands are ready (timed runs).
    pub fn set_ready_at(&mut self, seq: Seq, at: u64) {
        self.slot_mut(seq).ready_at = at;
    }

    /// Makes store `seq` a store-exclusive, undecided.
    pub fn set_exclusive(&mut self, seq: Seq) {
        let s = self.slot_mut(seq);
        debug_assert!(s.is_store(), "only a store is exclusive");
        s.exclusive = Exclusive::Undecided;
    }

    /// Makes load-acquire `seq` one of the RCpc kind (`LDAPR`).
    pub fn set_rcpc(&mut self, seq: Seq) {
        let s = self.slot_mut(seq);
        debug_assert!(matches!(s.kind, SlotKind::Load { acquire: true }), "only a load-acquire is RCpc");
        s.rcpc = true;
    }

    /// Records retired store-exclusive `seq`'s pairing (see [`Slot::paired`]).
    pub fn set_paired(&mut self, seq: Seq, paired: Option<(WriteId, bool)>) {
        self.slot_mut(seq).paired = paired;
    }

    /// Decides store-exclusive `seq`: it stores (later, when it propagates) or it fails now.
    pub fn decide_exclusive(&mut self, seq: Seq, succeeds: bool) {
        let s = self.slot_mut(seq);
        debug_assert_eq!(s.exclusive, Exclusive::Undecided, "only an undecided store-exclusive decides");
        if succeeds {
            s.exclusive = Exclusive::Succeeds;
        } else {
            s.exclusive = Exclusive::Fails;
            s.done = true;
            s.issued = false;
        }
        s.refresh();
    }

    /// Exploration takes each store-exclusive's outcome as a transition of its own, at any time
    /// before it propagates ([`Lsq::exclusive_candidates`]); timed runs decide when it would
    /// propagate, by whether it may store then.
    pub fn set_choose_exclusives(&mut self, on: bool) {
        self.choose_exclusives = on;
    }

    /// The store-exclusive exploration may decide now, either way: the oldest undecided one.
    /// (Deciding them in program order loses no execution: a decision waits for nothing and
    /// only enables, its own propagation and later loads of its location, so any decision taken
    /// earlier could have been taken right after the older ones. Out of order, a loop of
    /// speculated exclusive retries would decide its iterations in every order.)
    pub fn exclusive_candidates(&self, out: &mut Vec<Seq>) {
        if self.choose_exclusives {
            out.extend(self.iter().find(|(_, s)| s.exclusive == Exclusive::Undecided).map(|(seq, _)| seq));
        }
    }

    /// Marks a conditional branch resolved.
    pub fn resolve_branch(&mut self, seq: Seq) {
        let s = self.slot_mut(seq);
        s.done = true;
        s.refresh();
    }

    /// Marks the instruction retired by the core.
    pub fn set_retired(&mut self, seq: Seq) {
        let s = self.slot_mut(seq);
        s.retired = true;
        let buffered = s.is_store() && !s.done;
        self.buffered += buffered as usize;
    }

    /// Pops completed entries (retired and done) from the head.
    pub fn pop_completed(&mut self) {
        while let Some(s) = self.slots.front() {
            if s.retired && s.done {
                self.slots.pop_front();
                self.head += 1;
            } else {
                break;
            }
        }
    }

    /// Returns a load to its freshly generated state (restart).
    pub fn reset_load(&mut self, seq: Seq) {
        let token = self.fresh_token();
        let s = self.slot_mut(seq);
        debug_assert!(!s.done, "a finished load can never restart");
        s.read = None;
        s.addr = None;
        s.addr_final = false;
        s.issued = false;
        s.token = token;
        s.refresh();
    }

    /// Clears address and data of a store (or an RMW) whose inputs are
    /// being recomputed.
    pub fn reset_store(&mut self, seq: Seq) {
        let token = self.fresh_token();
        let s = self.slot_mut(seq);
        if s.exclusive == Exclusive::Fails {
            // It writes nothing, whatever its inputs (and its decision does not depend on them).
            return;
        }
        debug_assert!(!s.done, "a propagated store or performed RMW can never restart");
        s.addr = None;
        s.addr_final = false;
        s.data = None;
        s.data_final = false;
        s.issued = false;
        s.token = token;
        s.refresh();
    }

    /// Clears the operand of an RMW that has read early (see [`Lsq::set_early_read`]) and is
    /// computing it again: its read stands.
    pub fn reset_rmw_operand(&mut self, seq: Seq) {
        let s = self.slot_mut(seq);
        debug_assert!(s.is_rmw() && s.read.is_some() && !s.done, "only an RMW between its steps");
        s.data = None;
        s.data_final = false;
        s.refresh();
    }

    /// Records that an access event was scheduled for `seq`; returns its token.
    pub fn mark_issued(&mut self, seq: Seq) -> u32 {
        let s = self.slot_mut(seq);
        s.issued = true;
        s.token
    }

    /// Withdraws an in-flight access that turned out not to be enabled.
    pub fn unissue(&mut self, seq: Seq) {
        let token = self.fresh_token();
        let s = self.slot_mut(seq);
        s.issued = false;
        s.token = token;
    }

    // ------------------------------------------------------------------
    // Rules
    // ------------------------------------------------------------------

    /// Which write a load at index `i` would read now (ARMv8 and TSO).
    fn source(&self, i: usize) -> Source {
        let s = &self.slots[i];
        let addr = s.addr.expect("source() needs an address");
        for j in (0..i).rev() {
            let p = &self.slots[j];
            if !p.same_addr(addr) {
                continue;
            }
            match p.kind {
                SlotKind::Store { .. } if p.exclusive == Exclusive::Fails => {}
                SlotKind::Store { .. } => {
                    if p.done {
                        return Source::Storage;
                    }
                    let decided = p.exclusive != Exclusive::Undecided;
                    return if p.data.is_some() && decided { Source::Forward(j) } else { Source::Wait };
                }
                // A performed RMW wrote (or read) storage. A split RMW that has read holds
                // its write, final, like a buffered store: any later load may take it (`rfi`
                // orders nothing in `aarch64.cat`, and `rmw;lrs;[A|Q]` asks an acquire only
                // to come after the RMW's read). An unread SWP will write its operand whatever
                // it reads, so a later load other than an acquire may take that value already;
                // any other unread RMW's write depends on what it reads: the load waits.
                // A CAS that failed wrote nothing: it is a read, like a load (a split one may
                // have read an earlier store of this core that is still buffered).
                SlotKind::Rmw(_) if p.done && p.data.is_none() && p.read.is_some_and(|r| r.source.tid != self.tid) => {
                    return Source::Storage;
                }
                SlotKind::Rmw(_) if p.done && p.data.is_none() => {}
                SlotKind::Rmw(r) => {
                    let acquire = matches!(s.kind, SlotKind::Load { acquire: true });
                    return match (p.done, p.read.is_some(), r.op, p.data) {
                        (true, ..) => Source::Storage,
                        // (Once final: an RMW that read before its operand was known holds
                        // a value that changes if the operand's source restarts.)
                        (false, true, _, Some(_)) if p.data_final => Source::Forward(j),
                        (false, false, RmwOp::Swp, Some(_)) if !acquire => Source::Forward(j),
                        // So does a CAS taken to succeed: its write is its new value.
                        (false, false, RmwOp::Cas, Some(_)) if p.cas_succeeds && !acquire => Source::Forward(j),
                        _ => Source::Wait,
                    };
                }
                // A same-address load that read another core's write is the
                // closest writer for this one: do not forward past it.
                SlotKind::Load { .. } if p.read.is_some_and(|r| r.source.tid != self.tid) => {
                    return Source::Storage;
                }
                _ => {}
            }
        }
        Source::Storage
    }

    fn load_guard(&self, mode: Mode, p: &Prefix, i: usize) -> bool {
        let s = &self.slots[i];
        let SlotKind::Load { acquire } = s.kind else { return false };
        if s.addr.is_none() || s.read.is_some() {
            return false;
        }
        match mode {
            Mode::Arm => {
                // (`[L]; po; [A]`: not for an RCpc acquire.)
                let release_before_acquire = acquire && !s.rcpc && p.release_unpropagated();
                // Any unfinished DSB (ISHST included) holds a later load back.
                !(p.full_pending()
                    || p.sync_pending()
                    || p.isb_pending()
                    || p.ld_pending()
                    || p.acquire_unsatisfied()
                    || release_before_acquire)
                    && self.after_line_clean(p, i, s.addr.expect("checked above"))
            }
            // A DSB of any kind holds later loads back, as under ARMv8.
            Mode::Tso => {
                p.loads_cleans_done()
                    && p.branches_done()
                    && p.addrs_determined()
                    && !p.full_pending()
                    && !p.sync_pending()
            }
            Mode::Sc => p.loads_cleans_done() && p.stores_done() && p.branches_done() && p.addrs_determined(),
        }
    }

    fn store_guard(&self, mode: Mode, p: &Prefix, i: usize) -> bool {
        let s = &self.slots[i];
        let SlotKind::Store { release } = s.kind else { return false };
        if s.done || !s.addr_final || !s.data_final || (self.choose_exclusives && s.exclusive == Exclusive::Undecided) {
            return false;
        }
        let addr = s.addr.expect("determined address");
        let ordered = match mode {
            Mode::Arm => {
                p.branches_done()
                    && p.addrs_determined()
                    && !p.any_barrier_pending()
                    && !p.acquire_unfinished()
                    && (!release || (p.loads_done() && p.stores_done()))
                    && self.after_line_clean(p, i, addr)
            }
            Mode::Tso | Mode::Sc => {
                p.branches_done()
                    && p.addrs_determined()
                    && p.loads_cleans_done()
                    && p.stores_done()
                    && !p.full_pending()
            }
        };
        // Coherence: earlier same-address loads settled, stores propagated.
        ordered && self.slots.range(..i).all(|q| !q.same_addr(addr) || q.done)
    }

    /// May RMW `i` take its next step now? See the module docs: never while it could still be
    /// squashed or restarted, after every earlier same-address access; its read ordered as a
    /// load, its write as a store, both at once unless the queue splits them.
    fn rmw_guard(&self, mode: Mode, p: &Prefix, i: usize) -> bool {
        let s = &self.slots[i];
        let SlotKind::Rmw(r) = s.kind else { return false };
        // Split, the read of an RMW other than a CAS needs no operand (see `set_early_read`).
        let split_read = self.split_rmw && s.read.is_none() && mode == Mode::Arm;
        let operand_ok = s.data_final || (split_read && s.early_read);
        // Split, the read may also run ahead of earlier branches, as a load's does
        // (`aarch64.cat` orders only writes after a control dependency): squashed, it is gone
        // with its path, having written nothing. Its write, and an RMW taken at once, wait.
        let branches_ok = split_read || p.branches_done();
        if s.done || !s.addr_final || !operand_ok || !branches_ok || !p.addrs_determined() {
            return false;
        }
        let addr = s.addr.expect("determined address");
        let ordered = match mode {
            Mode::Arm => {
                // The read: the load rules, with earlier acquires finished (it is never
                // restarted). The write: the store rules.
                let read_ok = || {
                    !(p.full_pending()
                        || p.sync_pending()
                        || p.isb_pending()
                        || p.ld_pending()
                        || p.acquire_unfinished()
                        || (r.acquire && p.release_unpropagated()))
                };
                let write_ok = || {
                    !p.any_barrier_pending()
                        && !p.acquire_unfinished()
                        && (!r.release || (p.loads_done() && p.stores_done()))
                };
                let step_ok = match (s.read.is_some(), self.split_rmw) {
                    (false, true) => read_ok(),
                    (false, false) => read_ok() && write_ok(),
                    (true, _) => write_ok(),
                };
                step_ok && self.after_line_clean(p, i, addr)
            }
            Mode::Tso | Mode::Sc => p.loads_cleans_done() && p.stores_done() && !p.full_pending(),
        };
        ordered
            && if self.split_rmw && s.read.is_none() {
                self.rmw_read_source(i).is_some()
            } else {
                self.slots.range(..i).all(|q| !q.same_addr(addr) || q.done)
            }
    }

    /// Split ARMv8 RMWs: where the read of RMW `i` may take its value now, `None` if it must
    /// wait. Like a load, it forwards from this core's closest earlier store to the location
    /// (`aarch64.cat` puts no `rfi` in `ob`), but only once that store's data can no longer
    /// change, since a step is never undone; every same-location access between them must be
    /// done. With no pending store before it, every earlier same-location access must be done
    /// and it reads storage.
    fn rmw_read_source(&self, i: usize) -> Option<Source> {
        let addr = self.slots[i].addr.expect("RMW address");
        for j in (0..i).rev() {
            let q = &self.slots[j];
            if !q.same_addr(addr) || q.done {
                continue;
            }
            return match q.kind {
                SlotKind::Store { .. } if q.addr_final && q.data_final && q.data.is_some() => {
                    // Everything between the store and the RMW is done (checked on the way here).
                    Some(Source::Forward(j))
                }
                _ => None,
            };
        }
        Some(Source::Storage)
    }

    fn fence_guard(&self, mode: Mode, p: &Prefix, f: Fence) -> bool {
        // A DSB also waits for earlier maintenance to complete: under ARMv8
        // DSB ISH/SY (and DSB NSH for local TLBIs), in the other modes every DSB.
        // A DSB NSH completes only this core's own TLBIs: aarch64.cat's DSB-ob
        // names dsb.full (DSB ISH/OSH/SY), never DSB NSH, before cache maintenance.
        let sync = match mode {
            Mode::Arm if f == Fence::LocalSync => p.tlbi_done(),
            Mode::Arm => !f.completes_maintenance() || p.maint_done(),
            _ => !f.is_sync() || p.maint_done(),
        };
        sync && match mode {
            // An ISB completes only after every earlier DSB: nothing after a DSB
            // runs before it completes, so what the ISB refetches sees its effects.
            _ if f == Fence::Isb && p.sync_pending() => false,
            // No barrier but the ISB waits for earlier branches: aarch64.cat orders by control
            // dependency only writes and context synchronization ([R]; ctrl; [W | ISB]), so a
            // DMB or DSB under an unresolved branch completes as soon as what it orders has
            // (and is squashed with the branch's wrong path like any other entry).
            Mode::Arm => {
                // An ISB does not wait for an earlier DMB: Arm's model orders what a DMB orders
                // by bob, whose targets are memory accesses, never instruction fetches (only
                // DSB-ob reaches past an ISB). Nor do the NSH barriers.
                (matches!(f, Fence::Isb | Fence::Local | Fence::LocalSync) || !p.full_pending())
                    && match f {
                        // Arm: [DC.CVAU]; po; [dmb.full]; po; [M]: a full barrier also
                        // waits for an earlier clean.
                        _ if f.is_full() => {
                            !p.any_barrier_pending() && p.loads_done() && p.stores_done() && !p.dc_pending()
                        }
                        _ if f.is_load() => p.returning_loads_done(),
                        _ if f.is_store() => p.stores_done(),
                        // CSE-ob: [R]; ctrl; [ISB] and addr; po; [ISB]; po; [R].
                        Fence::Isb => p.branches_done() && p.addrs_determined(),
                        // DMB NSH*, DSB NSH*: the non-shareable domain is this core alone, so
                        // they order nothing another core observes (aarch64.cat leaves them
                        // out of dmb.* and dsb.*); a DSB NSH's wait for this core's own TLBIs
                        // is the `sync` term above.
                        _ => true,
                    }
            }
            Mode::Tso => match f {
                _ if f.is_full() => p.loads_cleans_done() && p.stores_done(),
                // TSO already orders what a DSB ISHST/ISHLD orders among stores
                // or loads, but a DSB also waits for those accesses to complete
                // (a page-table store leaves the buffer before the access that
                // walks it) and holds later loads back until it has.
                _ if f.is_sync() && f.is_store() => p.stores_done(),
                _ if f.is_sync() && f.is_load() => p.loads_cleans_done(),
                // x86 has no ISB; its counterpart, a serializing instruction
                // (sync_core()), completes every earlier instruction and drains
                // the store buffer before the next one is fetched.
                Fence::Isb => p.branches_done() && p.loads_cleans_done() && p.stores_done() && !p.full_pending(),
                _ => true,
            },
            // No store buffer: a barrier has nothing left to order, but it
            // must not complete before the accesses it follows.
            Mode::Sc => p.loads_cleans_done() && p.stores_done(),
        }
    }

    /// May maintenance operation `i` be performed now? Never speculatively; the
    /// ordering per model is below.
    fn maint_guard(&self, mode: Mode, p: &Prefix, i: usize) -> bool {
        let s = &self.slots[i];
        let SlotKind::Maint(op) = s.kind else { return false };
        if s.done || !s.addr_determined() || !p.branches_done() || !p.addrs_determined() {
            return false;
        }
        let addr = s.addr.expect("determined");
        let clean = op == MaintOp::DcCvau;
        match mode {
            // aarch64hwreqs.cat: maintenance waits for earlier DSBs (DSB-ob) and ISBs (CSE-ob:
            // ctrl, addr or DSB before the ISB); a clean also for an earlier DMB ISH/SY
            // ([M]; po; [dmb.full]; po; [DC.CVAU]) and for every earlier access to its cache
            // line, loads included ([M]; (po & scl); [DC.CVAU]). Nothing else (DMB ISHLD, an
            // acquire, a DMB before an IC or TLBI) orders it.
            Mode::Arm => {
                !(p.sync_pending() || p.isb_pending())
                    && (!clean || (!p.full_pending() && self.line_settled(i, addr, |q| q.is_access())))
            }
            Mode::Tso => {
                p.loads_cleans_done() && !p.full_pending() && (!clean || self.line_settled(i, addr, Slot::may_write))
            }
            Mode::Sc => p.loads_cleans_done() && p.stores_done(),
        }
    }

    /// True if every entry before index `i` that `kind` picks and that touches `addr`'s cache
    /// line (64 bytes, the smallest data-cache line of the modelled cores: DC CVAU cleans a whole
    /// line) is done.
    fn line_settled(&self, i: usize, addr: Addr, kind: impl Fn(&Slot) -> bool) -> bool {
        let line = |a: Addr| a / MAINT_LINE_BYTES;
        self.slots.range(..i).all(|q| q.done || !kind(q) || q.addr.is_none_or(|a| line(a) != line(addr)))
    }

    /// ARMv8: an access at index `i` to `addr` waits for an earlier clean of its cache line
    /// ([DC.CVAU]; (po & scl); [M]).
    /// The prefix says whether any earlier clean is pending at all, so the scan runs only then.
    fn after_line_clean(&self, p: &Prefix, i: usize, addr: Addr) -> bool {
        !p.dc_pending() || self.line_settled(i, addr, |q| matches!(q.kind, SlotKind::Maint(MaintOp::DcCvau)))
    }

    /// Can the satisfied load at index `i` no longer be restarted?
    fn load_may_finish(&self, mode: Mode, p: &Prefix, i: usize) -> bool {
        let s = &self.slots[i];
        let Some(read) = s.read else { return false };
        if !s.addr_final {
            return false;
        }
        if mode != Mode::Arm {
            return true;
        }
        if p.holds_later_loads_unfinished() {
            return false;
        }
        let addr = s.addr.expect("satisfied load has an address");
        for j in (0..i).rev() {
            let q = &self.slots[j];
            if q.is_access() && !q.addr_determined() {
                return false;
            }
            if !q.same_addr(addr) {
                continue;
            }
            match q.kind {
                SlotKind::Store { .. } if q.exclusive == Exclusive::Fails => {}
                SlotKind::Store { .. } => {
                    // A propagated store settles everything older; our own
                    // source settles it too once its data cannot change.
                    let is_source = read.source == WriteId { tid: self.tid, iid: q.iid };
                    return q.done || (is_source && q.data_final);
                }
                SlotKind::Load { .. } if !q.done => return false,
                // A failed CAS is a read (and done).
                SlotKind::Rmw(_) if q.done && q.data.is_none() => {}
                // A performed RMW settles everything older, like a propagated
                // store; an unperformed SWP we read from settles it as a store
                // does, and so does a CAS taken to succeed once it has read (what it
                // writes depends on the read through its compare, a control input:
                // `aarch64.cat`'s pick dependency, which orders later writes); any
                // other unperformed one comes before our read.
                SlotKind::Rmw(r) => {
                    let is_source = read.source == WriteId { tid: self.tid, iid: q.iid };
                    let confirmed = r.op != RmwOp::Cas || q.read.is_some();
                    return q.done || (is_source && q.data_final && confirmed);
                }
                _ => {}
            }
        }
        true
    }

    /// Takes every enabled local transition (finishing loads and barriers)
    /// in one program-order pass; returns true if anything changed.
    pub fn settle(&mut self, mode: Mode) -> bool {
        let mut p = Prefix::START;
        let mut changed = false;
        let mut i = 0;
        while i < self.slots.len() {
            // Only an unfinished load or barrier can finish (the bits also take in an RMW that has
            // not read, which the match passes over).
            if self.slots[i].holds.0 & (Holds::LOAD_UNFINISHED | Holds::BARRIER_PENDING) != 0 {
                let finish = match self.slots[i].kind {
                    SlotKind::Load { .. } => self.load_may_finish(mode, &p, i),
                    SlotKind::Fence(f) => self.fence_guard(mode, &p, f),
                    _ => false,
                };
                if finish {
                    self.slots[i].done = true;
                    self.slots[i].refresh();
                    changed = true;
                }
            }
            p.absorb(&self.slots[i]);
            i += 1;
            if mode == Mode::Arm && p.holds_later_loads_unfinished() {
                // No later load can finish (the facts only grow): only a barrier still might.
                // Go straight to the next unfinished one, taking in the facts on the way.
                let (from, p_from) = (i, p);
                while i < self.slots.len() && self.slots[i].holds.0 & Holds::BARRIER_PENDING == 0 {
                    p.absorb(&self.slots[i]);
                    i += 1;
                }
                debug_assert!(self.no_load_may_finish(mode, p_from, from, i));
            }
        }
        changed
    }

    /// Debug builds: true if no load at an index in `from..to` may finish, `p` holding the
    /// facts of the entries before `from` (what `settle`'s skipping rests on).
    fn no_load_may_finish(&self, mode: Mode, mut p: Prefix, from: usize, to: usize) -> bool {
        for i in from..to {
            let s = &self.slots[i];
            if !s.done && matches!(s.kind, SlotKind::Load { .. }) && self.load_may_finish(mode, &p, i) {
                return false;
            }
            p.absorb(s);
        }
        true
    }

    /// Appends every enabled visible transition to `out`, in program order,
    /// loads and stores interleaved as they appear; accesses already issued
    /// (timed runs) are left out.
    pub fn visible(&self, mode: Mode, out: &mut Vec<Visible>) {
        let mut p = Prefix::START;
        for (i, s) in self.slots.iter().enumerate() {
            let seq = self.head + i as Seq;
            // An issued access (timed runs) is already on its way; exhaustive runs never issue.
            // Only an access or maintenance operation not yet done can be enabled.
            if !s.issued
                && s.holds.0 & (Holds::LOAD_UNFINISHED | Holds::STORE_UNDONE | Holds::MAINT_UNDONE) != 0
                && let Some(action) = self.enabled_at(mode, &p, i, seq)
            {
                out.push(action);
            }
            p.absorb(s);
            if p.blocks_later_visible(mode) {
                debug_assert!(self.none_enabled_from(mode, p, i + 1), "visible stopped before an enabled entry");
                return;
            }
        }
    }

    /// The visible transition of the entry at index `i` (sequence number `seq`) if its guard
    /// holds, `p` holding the facts of the entries before it.
    #[inline(always)]
    fn enabled_at(&self, mode: Mode, p: &Prefix, i: usize, seq: Seq) -> Option<Visible> {
        match self.slots[i].kind {
            SlotKind::Load { .. } if self.load_guard(mode, p, i) && !matches!(self.source(i), Source::Wait) => {
                Some(Visible::Satisfy(seq))
            }
            SlotKind::Store { .. } if self.store_guard(mode, p, i) => Some(Visible::Propagate(seq)),
            SlotKind::Maint(_) if self.maint_guard(mode, p, i) => Some(Visible::Maint(seq)),
            SlotKind::Rmw(_) if self.rmw_guard(mode, p, i) => Some(Visible::Rmw(seq)),
            _ => None,
        }
    }

    /// Debug builds: true if no entry from index `from` on is enabled, `p` holding the facts
    /// of the entries before it (what `visible`'s early stop rests on).
    fn none_enabled_from(&self, mode: Mode, mut p: Prefix, from: usize) -> bool {
        for i in from..self.slots.len() {
            if !self.slots[i].issued && self.enabled_at(mode, &p, i, self.head + i as Seq).is_some() {
                return false;
            }
            p.absorb(&self.slots[i]);
        }
        true
    }

    /// Is `action` enabled right now? (Timed mode re-checks when the event fires.)
    pub fn is_enabled(&self, mode: Mode, action: Visible) -> bool {
        let Some(target) = action.seq().checked_sub(self.head).map(|i| i as usize) else { return false };
        if target >= self.slots.len() {
            return false;
        }
        let mut p = Prefix::START;
        for s in self.slots.range(..target) {
            p.absorb(s);
        }
        self.enabled_at(mode, &p, target, action.seq()) == Some(action)
    }

    /// True if load `seq` would be satisfied by forwarding right now.
    pub fn forwards(&self, seq: Seq) -> bool {
        let i = self.index(seq);
        self.slots[i].addr.is_some() && matches!(self.source(i), Source::Forward(_))
    }

    /// Satisfies load `seq` (forwarding or reading `mem`), and pushes onto
    /// `restarts` the later loads whose reads this invalidates (CoRR).
    pub fn satisfy(&mut self, seq: Seq, mem: &FlatMemory, restarts: &mut Vec<Seq>) -> ReadFrom {
        let i = self.index(seq);
        let read = match self.source(i) {
            Source::Forward(j) => {
                let w = &self.slots[j];
                let data = w.data.expect("forwarding source has data");
                // An unread SWP (or CAS taken to succeed) writes its operand at its width;
                // an RMW that has read holds the value it will write.
                let value = match w.kind {
                    SlotKind::Rmw(r) if w.read.is_none() => r.apply(0, data, 0).expect("a SWP or CAS writes it"),
                    _ => data,
                };
                ReadFrom { value, source: WriteId { tid: self.tid, iid: w.iid }, forwarded: true }
            }
            Source::Storage | Source::Wait => {
                let cell = mem.read(self.slots[i].addr.expect("load address"));
                ReadFrom { value: cell.value, source: cell.writer, forwarded: false }
            }
        };
        let s = &mut self.slots[i];
        s.read = Some(read);
        s.issued = false;
        s.refresh();
        self.later_reads_of_other_writes(i, read.source, restarts);
        read
    }

    /// Propagates store `seq` to `mem`, and pushes onto `restarts` the later
    /// loads that read around it.
    pub fn propagate(&mut self, seq: Seq, mem: &mut FlatMemory, restarts: &mut Vec<Seq>) -> WriteId {
        let i = self.index(seq);
        let s = &mut self.slots[i];
        let w = WriteId { tid: self.tid, iid: s.iid };
        mem.write(s.addr.expect("store address"), s.data.expect("store data"), w);
        s.done = true;
        self.buffered -= s.retired as usize;
        s.issued = false;
        s.refresh();
        self.later_reads_of_other_writes(i, w, restarts);
        w
    }

    /// Takes the next step of RMW `seq` on `mem` (see [`RmwStep`]): in one step, reads the
    /// location and, unless a CAS compare (with `compare`; ignored by the other operations)
    /// fails, writes it at the same instant; split (ARMv8 under [`Lsq::set_split_rmw`]), first
    /// the read, then, in a later step, the write. The entry's data becomes the value written.
    /// Pushes onto `restarts` the later loads that read around the write (none can have
    /// finished: they wait, see `source`).
    pub fn perform_rmw(&mut self, seq: Seq, compare: Value, mem: &mut FlatMemory, restarts: &mut Vec<Seq>) -> RmwStep {
        let i = self.index(seq);
        let split = self.split_rmw;
        let s = &mut self.slots[i];
        let SlotKind::Rmw(r) = s.kind else { panic!("entry {seq} is not an RMW") };
        let addr = s.addr.expect("RMW address");
        let w = WriteId { tid: self.tid, iid: s.iid };
        s.issued = false;
        if s.read.is_some() {
            // The second step of a split RMW: its write.
            mem.write(addr, s.data.expect("a read RMW that writes has its value"), w);
            s.done = true;
            s.refresh();
            self.later_reads_of_other_writes(i, w, restarts);
            return RmwStep::Wrote(w);
        }
        let forward = if split { self.rmw_read_source(i) } else { None };
        let read = match forward {
            Some(Source::Forward(j)) => {
                let st = &self.slots[j];
                let value = st.data.expect("a forwarding store has data");
                ReadFrom { value, source: WriteId { tid: self.tid, iid: st.iid }, forwarded: true }
            }
            _ => {
                let cell = mem.read(addr);
                ReadFrom { value: cell.value, source: cell.writer, forwarded: false }
            }
        };
        let s = &mut self.slots[i];
        s.read = Some(read);
        let early = std::mem::take(&mut s.early_read);
        if r.op == RmwOp::Cas && split && early && !s.data_final {
            // A CAS reading before its compare value and new value are final: it decides later
            // (`decide_cas`). Taken to fail, it is a plain read, done now.
            if s.cas_fails {
                s.data = None;
                s.done = true;
                s.refresh();
                self.later_reads_of_other_writes(i, read.source, restarts);
            } else {
                s.refresh();
            }
            return RmwStep::Read(read);
        }
        let Some(operand) = s.data else {
            // Read early (split, not a CAS): the write is taken once the operand is final, and
            // the entry's data is then the value written (`set_data`).
            debug_assert!(split && early && r.op != RmwOp::Cas, "an RMW reads without its operand only early");
            s.refresh();
            return RmwStep::Read(read);
        };
        let new = r.apply(read.value, operand, compare);
        if s.cas_succeeds && new.is_none() {
            // Taken to succeed, and the compare does not match: the path does not exist.
            s.data = None;
            s.done = true;
            s.refresh();
            return RmwStep::Contradicted(read);
        }
        if s.cas_fails {
            s.data = None;
            s.done = true;
            s.refresh();
            self.later_reads_of_other_writes(i, read.source, restarts);
            return if new.is_some() { RmwStep::Contradicted(read) } else { RmwStep::Read(read) };
        }
        s.data = new;
        if new.is_none() || !split {
            s.done = true;
        }
        s.refresh();
        match new {
            None => {
                self.later_reads_of_other_writes(i, read.source, restarts);
                RmwStep::Read(read)
            }
            Some(_) if split => RmwStep::Read(read),
            Some(v) => {
                mem.write(addr, v, w);
                self.later_reads_of_other_writes(i, w, restarts);
                RmwStep::ReadWrote(read, w)
            }
        }
    }

    /// Splits ARMv8 RMWs into a read and a later write, as `aarch64.cat` orders them (its `rmw`
    /// relation joins two events, each with its own ordering); off (the default), an RMW is
    /// performed in one step once both may be, as a near atomic in an owned cache line is.
    /// Exhaustive exploration turns it on; every one-step execution is one of the split ones.
    pub fn set_split_rmw(&mut self, on: bool) {
        self.split_rmw = on;
    }

    /// True if an RMW of this queue has read `addr` and not yet written it: no other core may
    /// write it (or start an RMW on it) until this one writes, which keeps the RMW atomic.
    /// An RMW that read by forwarding holds the location only once the store it read has
    /// propagated: until then other cores' writes go before that store in coherence, which
    /// leaves the store and the RMW's write adjacent.
    pub fn holds(&self, addr: Addr) -> bool {
        self.slots.iter().any(|s| s.addr == Some(addr) && self.holding(s))
    }

    /// True if some RMW holds its location (see [`Lsq::holds`]).
    pub fn holds_any(&self) -> bool {
        self.slots.iter().any(|s| self.holding(s))
    }

    fn holding(&self, s: &Slot) -> bool {
        let Some(read) = s.read.filter(|_| s.is_rmw() && !s.done) else { return false };
        !(read.forwarded && self.slots.iter().any(|q| q.is_store() && !q.done && q.iid == read.source.iid))
    }

    /// The address a visible transition would write or, for an RMW, read-and-then-write; `None`
    /// for loads, maintenance and a CAS taken to fail (a plain read).
    pub fn writes_to(&self, action: Visible) -> Option<Addr> {
        match action {
            Visible::Propagate(seq) => self.get(seq).and_then(|s| s.addr),
            Visible::Rmw(seq) => self.get(seq).filter(|s| !s.cas_fails).and_then(|s| s.addr),
            Visible::Satisfy(_) | Visible::Maint(_) => None,
        }
    }

    /// CASes whose outcome may still be predicted before they read, each with the outcomes it
    /// may be taken to have (`true`: succeeds): ARMv8 with split RMWs, not yet read, not yet
    /// predicted. `aarch64.cat` orders a CAS whose compare fails as a plain read (no write event,
    /// so no `[W]`-rule and no release applies), which lets later stores pass it before it reads;
    /// and a successful one's write, its new value, may be read by a later load (`rfi` orders
    /// nothing), and herd7 may take the value it returns from its compare value (`DataFromRRs`),
    /// both before it reads. An operational core can only do either by knowing the outcome ahead.
    /// Success is offered only without acquire: with it every later access waits for the read.
    pub fn cas_candidates(&self, mode: Mode, out: &mut Vec<(Seq, bool)>) {
        if mode != Mode::Arm || !self.split_rmw {
            return;
        }
        for (seq, s) in self.iter() {
            if let SlotKind::Rmw(Rmw { op: RmwOp::Cas, acquire, .. }) = s.kind
                && s.read.is_none()
                && !s.done
                && !s.cas_fails
                && !s.cas_succeeds
            {
                out.push((seq, false));
                // (With acquire, every later access waits for the read, so knowing the
                // outcome earlier shows nothing that reading does not.)
                if !acquire {
                    out.push((seq, true));
                }
            }
        }
    }

    /// Takes CAS `seq` to fail or to succeed (see [`Lsq::cas_candidates`]); when it reads (or,
    /// having read early, decides: [`Lsq::decide_cas`]), a value its compare matches, or does
    /// not, contradicts the prediction ([`RmwStep::Contradicted`]).
    pub fn predict_cas(&mut self, seq: Seq, succeeds: bool) {
        let s = self.slot_mut(seq);
        debug_assert!(s.is_rmw() && s.read.is_none(), "only an unread CAS is predicted");
        if succeeds {
            s.cas_succeeds = true;
        } else {
            s.cas_fails = true;
        }
        s.refresh();
    }

    /// Marks maintenance operation `seq` performed (its effect on caches
    /// and TLBs is applied by the caller) and returns it with its address.
    pub fn perform_maint(&mut self, seq: Seq) -> (MaintOp, Addr) {
        let i = self.index(seq);
        let s = &mut self.slots[i];
        let SlotKind::Maint(op) = s.kind else { panic!("entry {seq} is not a maintenance operation") };
        s.done = true;
        s.issued = false;
        s.refresh();
        (op, s.addr.expect("performed maintenance has an address"))
    }

    /// Later satisfied loads to the same address as entry `i` that read a
    /// write other than `w`, unless a store between entry `i` and the load
    /// made what they read.
    fn later_reads_of_other_writes(&self, i: usize, w: WriteId, out: &mut Vec<Seq>) {
        let Some(addr) = self.slots[i].addr else { return };
        for k in i + 1..self.slots.len() {
            let x = &self.slots[k];
            if !x.is_load() || !x.same_addr(addr) {
                continue;
            }
            let Some(r) = x.read else { continue };
            if r.source == w {
                continue;
            }
            // A store between (or a SWP, which forwards too) made what it read.
            let from_between =
                r.source.tid == self.tid && self.slots.range(i + 1..k).any(|b| b.may_write() && b.iid == r.source.iid);
            if !from_between {
                debug_assert!(!x.done, "finished load P{}#{} would have to restart", self.tid, x.iid);
                out.push(self.head + k as Seq);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RmwOp;

    const X: Addr = 0x100;
    const Y: Addr = 0x200;
    const Z: Addr = 0x300;

    fn store(q: &mut Lsq, iid: u32, addr: Addr, v: Value) -> Seq {
        let s = q.push(iid, SlotKind::Store { release: false });
        q.set_addr(s, Some(addr), true);
        q.set_data(s, Some(v), true);
        s
    }

    fn load(q: &mut Lsq, iid: u32, addr: Addr) -> Seq {
        let s = q.push(iid, SlotKind::Load { acquire: false });
        q.set_addr(s, Some(addr), true);
        s
    }

    fn rmw(q: &mut Lsq, iid: u32, addr: Addr, op: RmwOp, order: &str, operand: Value) -> Seq {
        let (acquire, release) = (order.contains('A'), order.contains('L'));
        let s = q.push(iid, SlotKind::Rmw(Rmw { op, acquire, release, word: false, no_ret: false, narrow: None }));
        q.set_addr(s, Some(addr), true);
        q.set_data(s, Some(operand), true);
        s
    }

    fn enabled(q: &Lsq, mode: Mode) -> Vec<Visible> {
        let mut v = vec![];
        q.visible(mode, &mut v);
        v
    }

    #[test]
    fn arm_loads_pass_stores_and_forward_from_their_own() {
        let mut q = Lsq::new(0);
        let st = store(&mut q, 0, X, 1);
        let ld_x = load(&mut q, 1, X);
        let ld_y = load(&mut q, 2, Y);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Propagate(st), Visible::Satisfy(ld_x), Visible::Satisfy(ld_y)]);
        let mem = FlatMemory::new();
        let mut restarts = vec![];
        let r = q.satisfy(ld_x, &mem, &mut restarts);
        assert!(r.forwarded && r.value == 1 && restarts.is_empty());
    }

    #[test]
    fn a_store_exclusive_neither_propagates_nor_forwards_until_decided() {
        for choose in [true, false] {
            let mut q = Lsq::new(0);
            q.set_choose_exclusives(choose);
            let old = store(&mut q, 0, X, 1);
            let stx = store(&mut q, 1, X, 2);
            q.set_exclusive(stx);
            load(&mut q, 2, X);
            let mut mem = FlatMemory::new();
            q.propagate(old, &mut mem, &mut vec![]);
            // A later load of the location cannot know what it will read; an undecided one
            // waits for the decision in exploration, and timed runs decide as it propagates.
            let expected: &[Visible] = if choose { &[] } else { &[Visible::Propagate(stx)] };
            assert_eq!(enabled(&q, Mode::Arm), expected, "choose {choose}");
            let mut candidates = vec![];
            q.exclusive_candidates(&mut candidates);
            assert_eq!(candidates, if choose { vec![stx] } else { vec![] });
        }
        // A store-exclusive of 2 to X, decided, and a later load of X.
        let decided = |succeeds: bool| {
            let mut q = Lsq::new(0);
            q.set_choose_exclusives(true);
            let stx = store(&mut q, 0, X, 2);
            q.set_exclusive(stx);
            let ld = load(&mut q, 1, X);
            q.decide_exclusive(stx, succeeds);
            (q, stx, ld)
        };
        // Failed, it is skipped: the load reads storage.
        let (mut q, stx, ld) = decided(false);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Satisfy(ld)]);
        let mut mem = FlatMemory::new();
        mem.write(X, 7, WriteId { tid: 1, iid: 0 });
        let r = q.satisfy(ld, &mem, &mut vec![]);
        assert_eq!((r.value, r.forwarded), (7, false));
        // Its inputs computed again, it stays failed: the decision does not rest on them.
        q.reset_store(stx);
        assert_eq!(q.get(stx).map(|s| (s.exclusive, s.done)), Some((Exclusive::Fails, true)));
        // Taken to store, it is a store like any other: it forwards and propagates.
        let (mut q, stx, ld) = decided(true);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Propagate(stx), Visible::Satisfy(ld)]);
        let r = q.satisfy(ld, &mem, &mut vec![]);
        assert_eq!((r.value, r.forwarded), (2, true));
    }

    #[test]
    fn an_rcpc_acquire_passes_an_earlier_release_an_acquire_does_not() {
        for rcpc in [false, true] {
            let mut q = Lsq::new(0);
            let rel = q.push(0, SlotKind::Store { release: true });
            q.set_addr(rel, Some(X), true);
            q.set_data(rel, Some(1), true);
            let acq = q.push(1, SlotKind::Load { acquire: true });
            q.set_addr(acq, Some(Y), true);
            if rcpc {
                q.set_rcpc(acq);
            }
            let ld = load(&mut q, 2, Z);
            // Either way the acquire holds the later load until it is satisfied.
            let expected: &[Visible] =
                if rcpc { &[Visible::Propagate(rel), Visible::Satisfy(acq)] } else { &[Visible::Propagate(rel)] };
            assert_eq!(enabled(&q, Mode::Arm), expected, "rcpc {rcpc}");
            assert!(!enabled(&q, Mode::Arm).contains(&Visible::Satisfy(ld)));
        }
    }

    #[test]
    fn full_barrier_holds_later_loads_until_the_buffer_drains() {
        for mode in [Mode::Arm, Mode::Tso] {
            let mut q = Lsq::new(0);
            let st = store(&mut q, 0, X, 1);
            q.push(1, SlotKind::Fence(Fence::Full));
            let ld = load(&mut q, 2, Y);
            q.settle(mode);
            assert_eq!(enabled(&q, mode), [Visible::Propagate(st)], "{mode}");
            let mut mem = FlatMemory::new();
            q.propagate(st, &mut mem, &mut vec![]);
            assert!(q.settle(mode));
            assert_eq!(enabled(&q, mode), [Visible::Satisfy(ld)], "{mode}");
        }
    }

    /// A page-table store, DSB ISHST, ISB and an access through the new
    /// mapping: under TSO the DSB still waits for the store to leave the
    /// buffer, or the walk would miss it (what a kernel's vmalloc needs).
    #[test]
    fn dsb_ishst_completes_only_after_earlier_stores_in_every_weak_mode() {
        for mode in [Mode::Arm, Mode::Tso] {
            let mut q = Lsq::new(0);
            let st = store(&mut q, 0, X, 1);
            let dsb = q.push(1, SlotKind::Fence(Fence::SyncStore));
            q.settle(mode);
            assert!(!q.get(dsb).unwrap().done, "{mode}: DSB ISHST done with a store buffered");
            let mut mem = FlatMemory::new();
            q.propagate(st, &mut mem, &mut vec![]);
            q.settle(mode);
            assert!(q.get(dsb).unwrap().done, "{mode}: DSB ISHST not done once the store left");
        }
    }

    /// STR PTE; DSB ISHST; ISB: the ISB must not complete (and let fetch
    /// resume) while the DSB still waits for the store, in any mode.
    #[test]
    fn isb_completes_only_after_an_earlier_dsb() {
        for mode in Mode::ALL {
            let mut q = Lsq::new(0);
            let st = store(&mut q, 0, X, 1);
            let dsb = q.push(1, SlotKind::Fence(Fence::SyncStore));
            let isb = q.push(2, SlotKind::Fence(Fence::Isb));
            q.settle(mode);
            let done = |q: &Lsq, s| q.get(s).unwrap().done;
            if !done(&q, dsb) {
                assert!(!done(&q, isb), "{mode}: ISB done before the DSB");
            }
            let mut mem = FlatMemory::new();
            q.propagate(st, &mut mem, &mut vec![]);
            q.settle(mode);
            assert!(done(&q, dsb) && done(&q, isb), "{mode}: both done once the store left");
        }
    }

    /// DSB NSH (a local TLB flush's barrier) waits for the local
    /// maintenance, not for stores to reach other cores; later accesses
    /// still wait for it.
    #[test]
    fn dsb_nsh_completes_with_a_store_still_buffered() {
        for mode in [Mode::Arm, Mode::Tso] {
            let mut q = Lsq::new(0);
            let st = store(&mut q, 0, X, 1);
            let dsb = q.push(1, SlotKind::Fence(Fence::LocalSync));
            q.settle(mode);
            assert!(q.get(dsb).unwrap().done, "{mode}: DSB NSH waits for a buffered store");
            assert!(enabled(&q, mode).contains(&Visible::Propagate(st)), "{mode}");
        }
    }

    #[test]
    fn tso_ignores_dmb_ishld_and_ishst_but_arm_does_not() {
        let mut q = Lsq::new(0);
        let st = store(&mut q, 0, X, 1);
        q.push(1, SlotKind::Fence(Fence::Store));
        let st2 = store(&mut q, 2, Y, 1);
        let mut t = q.clone();
        t.settle(Mode::Tso);
        assert_eq!(enabled(&t, Mode::Tso), [Visible::Propagate(st)], "FIFO buffer");
        q.settle(Mode::Arm);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Propagate(st)]);
        let mut mem = FlatMemory::new();
        q.propagate(st, &mut mem, &mut vec![]);
        q.settle(Mode::Arm);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Propagate(st2)]);
    }

    #[test]
    fn satisfying_an_older_load_restarts_a_younger_one_that_read_another_write() {
        let mut q = Lsq::new(0);
        let older = load(&mut q, 0, X);
        let younger = load(&mut q, 1, X);
        let mut mem = FlatMemory::new();
        let mut restarts = vec![];
        q.satisfy(younger, &mem, &mut restarts);
        mem.write(X, 5, WriteId { tid: 1, iid: 0 });
        q.satisfy(older, &mem, &mut restarts);
        assert_eq!(restarts, [younger]);
    }

    #[test]
    fn a_store_propagating_restarts_loads_that_ran_past_it() {
        let mut q = Lsq::new(0);
        let st = q.push(0, SlotKind::Store { release: false });
        let ld = load(&mut q, 1, X);
        let mem0 = FlatMemory::new();
        let mut restarts = vec![];
        // The store's address is unknown: the load speculates past it.
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Satisfy(ld)]);
        q.satisfy(ld, &mem0, &mut restarts);
        q.settle(Mode::Arm);
        assert!(!q.get(ld).unwrap().done, "cannot finish past an unknown address");
        q.set_addr(st, Some(X), true);
        q.set_data(st, Some(9), true);
        let mut mem = mem0.clone();
        q.propagate(st, &mut mem, &mut restarts);
        assert_eq!(restarts, [ld]);
    }

    #[test]
    fn acquire_orders_later_loads_and_release_waits_for_earlier_accesses() {
        let mut q = Lsq::new(0);
        let acq = q.push(0, SlotKind::Load { acquire: true });
        q.set_addr(acq, Some(X), true);
        let _ld = load(&mut q, 1, Y);
        let rel = q.push(2, SlotKind::Store { release: true });
        q.set_addr(rel, Some(Y), true);
        q.set_data(rel, Some(1), true);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Satisfy(acq)]);
    }

    #[test]
    fn an_unsplit_rmw_waits_for_its_own_earlier_store_and_reads_it_from_storage() {
        for mode in Mode::ALL {
            let mut q = Lsq::new(0);
            let st = store(&mut q, 0, X, 5);
            let add = rmw(&mut q, 1, X, RmwOp::Add, "", 2);
            assert_eq!(enabled(&q, mode), [Visible::Propagate(st)], "{mode}: no forwarding into an RMW");
            let mut mem = FlatMemory::new();
            q.propagate(st, &mut mem, &mut vec![]);
            q.settle(mode);
            assert_eq!(enabled(&q, mode), [Visible::Rmw(add)], "{mode}");
            let step = q.perform_rmw(add, 0, &mut mem, &mut vec![]);
            let (read, wrote) = (step.read().expect("read"), step.wrote());
            assert_eq!((read.value, read.source, read.forwarded), (5, WriteId { tid: 0, iid: 0 }, false));
            assert_eq!(wrote, Some(WriteId { tid: 0, iid: 1 }));
            assert_eq!(mem.read(X).value, 7);
            assert!(q.get(add).unwrap().done);
        }
    }

    #[test]
    fn a_split_rmw_reads_its_own_buffered_store_and_holds_the_location_once_that_store_propagates() {
        let mut q = Lsq::new(0);
        q.set_split_rmw(true);
        let st = store(&mut q, 0, X, 5);
        let add = rmw(&mut q, 1, X, RmwOp::Add, "", 2);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Propagate(st), Visible::Rmw(add)]);
        let mut mem = FlatMemory::new();
        let step = q.perform_rmw(add, 0, &mut mem, &mut vec![]);
        let own = WriteId { tid: 0, iid: 0 };
        assert_eq!(step, RmwStep::Read(ReadFrom { value: 5, source: own, forwarded: true }));
        // Another core may still write x: its write goes before the buffered store.
        assert!(!q.holds(X) && !q.holds_any());
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Propagate(st)], "the write waits for the store");
        q.propagate(st, &mut mem, &mut vec![]);
        assert!(q.holds(X), "from the store's propagation to the RMW's write, nothing comes between");
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(add)]);
        assert_eq!(q.perform_rmw(add, 0, &mut mem, &mut vec![]), RmwStep::Wrote(WriteId { tid: 0, iid: 1 }));
        assert_eq!((mem.read(X).value, q.holds_any()), (7, false));
        // A store whose data may still change is not read: the step could not be undone.
        let mut q = Lsq::new(0);
        q.set_split_rmw(true);
        let pending = q.push(0, SlotKind::Store { release: false });
        q.set_addr(pending, Some(X), true);
        q.set_data(pending, Some(5), false);
        let add = rmw(&mut q, 1, X, RmwOp::Add, "", 2);
        assert!(!enabled(&q, Mode::Arm).contains(&Visible::Rmw(add)));
    }

    #[test]
    fn a_split_rmw_that_has_read_forwards_its_write_to_later_loads_acquires_included() {
        // P0: LDADD x (+2); LDR x; LDAR x. Before the LDADD reads, both loads wait (its write
        // depends on its read); once it has read 5, both take 7 from it, settle, and stay
        // when it writes (aarch64.cat: rfi is not in ob, rmw;lrs;[A|Q] asks only for the read).
        let mut q = Lsq::new(0);
        q.set_split_rmw(true);
        let add = rmw(&mut q, 0, X, RmwOp::Add, "", 2);
        let ld = load(&mut q, 1, X);
        let acq = q.push(2, SlotKind::Load { acquire: true });
        q.set_addr(acq, Some(X), true);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(add)]);
        let mut mem = FlatMemory::new();
        let other = WriteId { tid: 1, iid: 0 };
        mem.write(X, 5, other);
        assert_eq!(
            q.perform_rmw(add, 0, &mut mem, &mut vec![]),
            RmwStep::Read(ReadFrom { value: 5, source: other, forwarded: false })
        );
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(add), Visible::Satisfy(ld), Visible::Satisfy(acq)]);
        let own = WriteId { tid: 0, iid: 0 };
        assert_eq!(q.satisfy(ld, &mem, &mut vec![]), ReadFrom { value: 7, source: own, forwarded: true });
        assert_eq!(q.satisfy(acq, &mem, &mut vec![]), ReadFrom { value: 7, source: own, forwarded: true });
        q.settle(Mode::Arm);
        assert!(q.get(ld).unwrap().done && q.get(acq).unwrap().done, "their values can no longer change");
        let mut restarts = vec![];
        assert_eq!(q.perform_rmw(add, 0, &mut mem, &mut restarts), RmwStep::Wrote(own));
        assert_eq!((mem.read(X).value, restarts.len()), (7, 0));
        // In one step (timed runs) nothing is read before the RMW performs.
        let mut q = Lsq::new(0);
        let add = rmw(&mut q, 0, X, RmwOp::Add, "", 2);
        load(&mut q, 1, X);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(add)]);
    }

    #[test]
    fn a_split_rmw_reads_before_its_operand_once_allowed_and_writes_after_it() {
        // P0: LDADD z (operand from an earlier load, not yet known); LDR z. aarch64.cat orders
        // the read of the LDADD after nothing its operand comes from.
        let mut q = Lsq::new(0);
        q.set_split_rmw(true);
        let add = q.push(
            0,
            SlotKind::Rmw(Rmw {
                op: RmwOp::Add,
                acquire: false,
                release: false,
                word: false,
                no_ret: false,
                narrow: None,
            }),
        );
        q.set_addr(add, Some(X), true);
        let ld = load(&mut q, 1, X);
        assert_eq!(enabled(&q, Mode::Arm), [], "no operand, and the core has not allowed an early read");
        q.set_early_read(add, true);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(add)]);
        assert_eq!(enabled(&q, Mode::Tso), [], "only the split ARMv8 RMW reads early");
        let mut mem = FlatMemory::new();
        let other = WriteId { tid: 1, iid: 0 };
        mem.write(X, 5, other);
        let read = ReadFrom { value: 5, source: other, forwarded: false };
        assert_eq!(q.perform_rmw(add, 0, &mut mem, &mut vec![]), RmwStep::Read(read));
        // The write, and the later load that would take its value, wait for the operand.
        assert_eq!(enabled(&q, Mode::Arm), []);
        // A speculative operand becomes the value written, 5 + 3; when what it came from
        // restarts, only the operand goes, and the final one is applied to the same read.
        q.set_data(add, Some(3), false);
        assert_eq!(q.get(add).unwrap().data, Some(8));
        assert_eq!(enabled(&q, Mode::Arm), [], "a value that may still change is not forwarded");
        q.reset_rmw_operand(add);
        assert_eq!((q.get(add).unwrap().data, q.get(add).unwrap().read), (None, Some(read)));
        q.set_data(add, Some(4), true);
        assert_eq!(q.get(add).unwrap().data, Some(9));
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(add), Visible::Satisfy(ld)]);
        assert_eq!(
            q.satisfy(ld, &mem, &mut vec![]),
            ReadFrom { value: 9, source: WriteId { tid: 0, iid: 0 }, forwarded: true }
        );
        let own = WriteId { tid: 0, iid: 0 };
        assert_eq!(q.perform_rmw(add, 0, &mut mem, &mut vec![]), RmwStep::Wrote(own));
        assert_eq!(mem.read(X), crate::memory::Cell { value: 9, writer: own });
    }

    #[test]
    fn a_failed_cas_reading_a_buffered_store_leaves_later_loads_forwarding_from_that_store() {
        let mut q = Lsq::new(0);
        q.set_split_rmw(true);
        let st = store(&mut q, 0, X, 5);
        let cas = rmw(&mut q, 1, X, RmwOp::Cas, "", 9);
        let ld = load(&mut q, 2, X);
        let mut mem = FlatMemory::new();
        let step = q.perform_rmw(cas, 0, &mut mem, &mut vec![]);
        assert_eq!(step, RmwStep::Read(ReadFrom { value: 5, source: WriteId { tid: 0, iid: 0 }, forwarded: true }));
        assert!(q.get(cas).unwrap().done, "a failed CAS is done once read");
        let read = q.satisfy(ld, &mem, &mut vec![]);
        assert_eq!((read.value, read.forwarded), (5, true), "not the stale value in storage");
        assert!(!q.get(st).unwrap().done, "the store is still buffered");
    }

    #[test]
    fn a_failed_cas_writes_nothing() {
        let mut q = Lsq::new(0);
        let cas = rmw(&mut q, 0, X, RmwOp::Cas, "AL", 9);
        let mut mem = FlatMemory::new();
        let step = q.perform_rmw(cas, 1, &mut mem, &mut vec![]);
        let (read, wrote) = (step.read().expect("read"), step.wrote());
        assert_eq!((read.value, wrote), (0, None));
        assert_eq!(mem.read(X).writer, WriteId::INIT);
        let cas = rmw(&mut q, 1, X, RmwOp::Cas, "", 9);
        assert_eq!(q.perform_rmw(cas, 0, &mut mem, &mut vec![]).wrote(), Some(WriteId { tid: 0, iid: 1 }));
        assert_eq!(q.get(cas).unwrap().data, Some(9), "the entry's data is what was written");
        assert_eq!(mem.read(X).value, 9);
    }

    #[test]
    fn later_loads_of_the_location_wait_for_an_rmw_others_pass_a_relaxed_one() {
        let mut q = Lsq::new(0);
        let ld_y = load(&mut q, 0, Y);
        let add = rmw(&mut q, 1, X, RmwOp::Add, "", 1);
        let ld_x = load(&mut q, 2, X);
        let ld_y2 = load(&mut q, 3, Y);
        // A relaxed RMW does not wait for the earlier load; the later load
        // of another location passes it, the one of its location waits (what
        // an LDADD writes depends on what it reads).
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Satisfy(ld_y), Visible::Rmw(add), Visible::Satisfy(ld_y2)]);
        let mut mem = FlatMemory::new();
        q.perform_rmw(add, 0, &mut mem, &mut vec![]);
        assert!(enabled(&q, Mode::Arm).contains(&Visible::Satisfy(ld_x)));
        // TSO: in order, after the earlier load.
        let mut q = Lsq::new(0);
        let ld_y = load(&mut q, 0, Y);
        let swp = rmw(&mut q, 1, X, RmwOp::Swp, "", 1);
        load(&mut q, 2, Y);
        assert_eq!(enabled(&q, Mode::Tso), [Visible::Satisfy(ld_y)]);
        q.satisfy(ld_y, &mem, &mut vec![]);
        q.settle(Mode::Tso);
        assert_eq!(enabled(&q, Mode::Tso), [Visible::Rmw(swp)]);
    }

    #[test]
    fn a_later_load_reads_a_swps_write_before_the_swp_reads() {
        // P0: SWP W (operand wider than a word); LDR x. The load takes what the SWP will write,
        // at the SWP's width, settles at once, and stays when the SWP performs.
        let mut q = Lsq::new(0);
        let s = q.push(
            0,
            SlotKind::Rmw(Rmw {
                op: RmwOp::Swp,
                acquire: false,
                release: false,
                word: true,
                no_ret: false,
                narrow: None,
            }),
        );
        q.set_addr(s, Some(X), true);
        q.set_data(s, Some(0x1_0000_0005), true);
        let ld = load(&mut q, 1, X);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(s), Visible::Satisfy(ld)]);
        let mut mem = FlatMemory::new();
        let r = q.satisfy(ld, &mem, &mut vec![]);
        assert_eq!((r.value, r.source, r.forwarded), (5, WriteId { tid: 0, iid: 0 }, true));
        q.settle(Mode::Arm);
        assert!(q.get(ld).unwrap().done, "its value can no longer change");
        let mut restarts = vec![];
        let step = q.perform_rmw(s, 0, &mut mem, &mut restarts);
        let (read, wrote) = (step.read().expect("read"), step.wrote());
        assert_eq!((read.value, wrote, restarts.len()), (0, Some(WriteId { tid: 0, iid: 0 }), 0));
        assert_eq!(mem.read(X).value, 5);
        // An acquire SWP orders the later load after its read: no forwarding before it performs.
        let mut q = Lsq::new(0);
        let s = rmw(&mut q, 0, X, RmwOp::Swp, "A", 5);
        load(&mut q, 1, X);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(s)]);
    }

    #[test]
    fn a_fully_ordered_rmw_is_a_barrier_on_both_sides() {
        for mode in Mode::ALL {
            let mut q = Lsq::new(0);
            let st = store(&mut q, 0, Y, 1);
            let swp = rmw(&mut q, 1, X, RmwOp::Swp, "AL", 1);
            load(&mut q, 2, Z);
            store(&mut q, 3, Z, 1);
            assert_eq!(enabled(&q, mode), [Visible::Propagate(st)], "{mode}");
            let mut mem = FlatMemory::new();
            q.propagate(st, &mut mem, &mut vec![]);
            q.settle(mode);
            assert_eq!(enabled(&q, mode), [Visible::Rmw(swp)], "{mode}");
        }
    }

    #[test]
    fn an_rmw_is_never_performed_speculatively() {
        let mut q = Lsq::new(0);
        let br = q.push(0, SlotKind::Branch);
        let swp = rmw(&mut q, 1, X, RmwOp::Swp, "", 1);
        let ld = load(&mut q, 2, Y);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Satisfy(ld)]);
        q.resolve_branch(br);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(swp), Visible::Satisfy(ld)]);
        // Nor before its operands are final.
        let mut q = Lsq::new(0);
        let swp = rmw(&mut q, 0, X, RmwOp::Swp, "", 1);
        q.set_data(swp, Some(1), false);
        assert!(enabled(&q, Mode::Arm).is_empty());
    }

    #[test]
    fn a_split_release_rmw_reads_before_an_earlier_load_and_writes_after_it() {
        // LDR y; CASL x: `po; [L]` orders the load before the CASL's write, not its read.
        let mut q = Lsq::new(0);
        q.set_split_rmw(true);
        let ld = load(&mut q, 0, Y);
        let cas = rmw(&mut q, 1, X, RmwOp::Cas, "L", 7);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Satisfy(ld), Visible::Rmw(cas)]);
        let mut mem = FlatMemory::new();
        let step = q.perform_rmw(cas, 0, &mut mem, &mut vec![]);
        assert_eq!(step, RmwStep::Read(ReadFrom { value: 0, source: WriteId::INIT, forwarded: false }));
        assert!(q.holds(X) && !q.holds(Y));
        assert_eq!(mem.read(X).value, 0, "the write waits");
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Satisfy(ld)]);
        q.satisfy(ld, &mem, &mut vec![]);
        q.settle(Mode::Arm);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(cas)]);
        assert_eq!(q.perform_rmw(cas, 0, &mut mem, &mut vec![]), RmwStep::Wrote(WriteId { tid: 0, iid: 1 }));
        assert_eq!((mem.read(X).value, q.holds_any()), (7, false));
        // Unsplit (timed runs), the same RMW waits for the load and then does both at once.
        let mut q = Lsq::new(0);
        let ld = load(&mut q, 0, Y);
        let cas = rmw(&mut q, 1, X, RmwOp::Cas, "L", 7);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Satisfy(ld)]);
        q.satisfy(ld, &mem, &mut vec![]);
        q.settle(Mode::Arm);
        let step = q.perform_rmw(cas, 7, &mut mem, &mut vec![]);
        assert!(matches!(step, RmwStep::ReadWrote(r, _) if r.value == 7), "{step:?}");
    }

    #[test]
    fn later_accesses_wait_for_the_write_of_an_acquire_release_rmw_and_the_read_of_an_acquire() {
        for (order, waits_for_write) in [("AL", true), ("A", false)] {
            let mut q = Lsq::new(0);
            q.set_split_rmw(true);
            let swp = rmw(&mut q, 0, X, RmwOp::Swp, order, 1);
            let ld = load(&mut q, 1, Y);
            assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(swp)], "{order}");
            let mut mem = FlatMemory::new();
            q.perform_rmw(swp, 0, &mut mem, &mut vec![]);
            let later =
                if waits_for_write { vec![Visible::Rmw(swp)] } else { vec![Visible::Rmw(swp), Visible::Satisfy(ld)] };
            assert_eq!(enabled(&q, Mode::Arm), later, "{order}");
        }
    }

    #[test]
    fn a_cas_predicted_to_fail_is_ordered_as_a_read() {
        // CAS x; DMB ISHST; STR z: a DMB ST orders writes, and a CAS that fails has none.
        let setup = || {
            let mut q = Lsq::new(0);
            q.set_split_rmw(true);
            let cas = rmw(&mut q, 0, X, RmwOp::Cas, "L", 2);
            q.push(1, SlotKind::Fence(Fence::Store));
            let st = store(&mut q, 2, Z, 1);
            (q, cas, st)
        };
        let (mut q, cas, st) = setup();
        q.settle(Mode::Arm);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(cas)], "a CAS that may write holds the store");
        let mut cands = vec![];
        q.cas_candidates(Mode::Arm, &mut cands);
        assert_eq!(cands, [(cas, false), (cas, true)], "a CAS without acquire may be taken either way");
        q.predict_cas(cas, false);
        q.settle(Mode::Arm);
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(cas), Visible::Propagate(st)]);
        let mut mem = FlatMemory::new();
        q.propagate(st, &mut mem, &mut vec![]);
        // Compare value 5 against the initial 0: it fails, as predicted, and writes nothing.
        assert!(matches!(q.perform_rmw(cas, 5, &mut mem, &mut vec![]), RmwStep::Read(r) if r.value == 0));
        assert_eq!(mem.read(X).value, 0);
        // Compare value 0 matches: the prediction is contradicted.
        let (mut q, cas, _) = setup();
        q.predict_cas(cas, false);
        assert!(matches!(q.perform_rmw(cas, 0, &mut mem, &mut vec![]), RmwStep::Contradicted(_)));
        // Timed runs (unsplit) never predict.
        let mut q = Lsq::new(0);
        rmw(&mut q, 0, X, RmwOp::Cas, "", 2);
        q.cas_candidates(Mode::Arm, &mut cands);
        assert_eq!(cands, [(cas, false), (cas, true)], "nothing added");
    }

    #[test]
    fn a_cas_taken_to_succeed_lends_its_write_to_later_loads_before_it_reads() {
        // P0: CAS X (new value 7); LDR X. Taken to succeed, its write is known: the load takes
        // it at once; the CAS then reads, and a value its compare does not match refutes the path.
        let setup = || {
            let mut q = Lsq::new(0);
            q.set_split_rmw(true);
            let cas = rmw(&mut q, 0, X, RmwOp::Cas, "", 7);
            let ld = load(&mut q, 1, X);
            assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(cas)], "unpredicted, the load waits for the CAS");
            q.predict_cas(cas, true);
            (q, cas, ld)
        };
        let (mut q, cas, ld) = setup();
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(cas), Visible::Satisfy(ld)]);
        let mut mem = FlatMemory::new();
        let r = q.satisfy(ld, &mem, &mut vec![]);
        assert_eq!((r.value, r.source, r.forwarded), (7, WriteId { tid: 0, iid: 0 }, true));
        // Its value is final only once the CAS has read (and so succeeded).
        q.settle(Mode::Arm);
        assert!(!q.get(ld).unwrap().done, "the load waits for the CAS to read");
        // Compare value 0 matches the initial 0: it reads, then writes 7.
        assert!(matches!(q.perform_rmw(cas, 0, &mut mem, &mut vec![]), RmwStep::Read(r) if r.value == 0));
        q.settle(Mode::Arm);
        assert!(q.get(ld).unwrap().done);
        assert!(matches!(q.perform_rmw(cas, 0, &mut mem, &mut vec![]), RmwStep::Wrote(_)));
        assert_eq!(mem.read(X).value, 7);
        // Compare value 5 does not: the prediction is contradicted.
        let (mut q, cas, _) = setup();
        let mut mem = FlatMemory::new();
        assert!(matches!(q.perform_rmw(cas, 5, &mut mem, &mut vec![]), RmwStep::Contradicted(_)));
        // Read early, it is refuted when it decides.
        let (mut q, cas, _) = setup();
        q.set_data(cas, Some(7), false);
        q.set_early_read(cas, true);
        assert!(matches!(q.perform_rmw(cas, 0, &mut mem, &mut vec![]), RmwStep::Read(_)));
        assert!(!q.decide_cas(cas, 7, 5));
        // With acquire, success is not offered: every later access waits for the read anyway.
        let mut q = Lsq::new(0);
        q.set_split_rmw(true);
        let cas = rmw(&mut q, 0, X, RmwOp::Cas, "A", 7);
        let mut cands = vec![];
        q.cas_candidates(Mode::Arm, &mut cands);
        assert_eq!(cands, [(cas, false)]);
    }

    #[test]
    fn a_cas_that_reads_early_decides_once_its_operands_are_final() {
        // Split, a CAS whose compare and new values are not final may read (herd7's CAS reads
        // with only its address), returning what it read; it writes only once they are, and
        // only if the compare matched.
        let setup = |predict_fails: bool| {
            let mut q = Lsq::new(0);
            q.set_split_rmw(true);
            let cas = q.push(
                0,
                SlotKind::Rmw(Rmw {
                    op: RmwOp::Cas,
                    acquire: false,
                    release: false,
                    word: false,
                    no_ret: false,
                    narrow: None,
                }),
            );
            q.set_addr(cas, Some(X), true);
            q.set_data(cas, Some(7), false);
            assert!(enabled(&q, Mode::Arm).is_empty(), "the operands are not final");
            q.set_early_read(cas, true);
            if predict_fails {
                q.predict_cas(cas, false);
            }
            let mut mem = FlatMemory::new();
            mem.write(X, 3, WriteId { tid: 1, iid: 0 });
            assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(cas)]);
            assert!(matches!(q.perform_rmw(cas, 0, &mut mem, &mut vec![]), RmwStep::Read(r) if r.value == 3));
            assert!(q.cas_undecided(cas) && mem.read(X).value == 3);
            (q, cas, mem)
        };
        // The compare matches: the write follows.
        let (mut q, cas, mut mem) = setup(false);
        assert!(q.holds(X), "undecided, it holds its location");
        assert!(q.decide_cas(cas, 7, 3));
        assert!(!q.cas_undecided(cas));
        assert_eq!(enabled(&q, Mode::Arm), [Visible::Rmw(cas)]);
        assert!(matches!(q.perform_rmw(cas, 3, &mut mem, &mut vec![]), RmwStep::Wrote(_)));
        assert_eq!(mem.read(X).value, 7);
        // It does not: a read, done, nothing written, the location released.
        let (mut q, cas, mem) = setup(false);
        assert!(q.decide_cas(cas, 7, 4));
        assert!(q.get(cas).is_some_and(|s| s.done && s.data.is_none()) && !q.holds(X));
        assert_eq!(mem.read(X).value, 3);
        // Taken to fail, it is done as it reads; a compare that then matches refutes the path.
        let (mut q, cas, _) = setup(true);
        assert!(!q.holds(X));
        assert!(!q.decide_cas(cas, 7, 3));
        let (mut q, cas, _) = setup(true);
        assert!(q.decide_cas(cas, 7, 4) && !q.cas_undecided(cas));
    }
}
