//! A machine: cores, their code, one shared memory — run timed on the
//! discrete-event engine, or explored exhaustively.
//!
//! ```
//! use std::sync::Arc;
//! use cpu_model::{asm::assemble, code::CodeSpace, isa::Reg};
//! use cpu_model::machine::{Machine, MachineConfig, ThreadInit};
//! use memory_model::{memory::FlatMemory, Mode};
//! use sim::Engine;
//!
//! // Two cores: store-buffering (SB) with no barrier.
//! let mut code = CodeSpace::new();
//! code.add(assemble("MOV X2,#1\nSTR X2,[X0]\nLDR X3,[X1]", 0x1000).unwrap());
//! code.add(assemble("MOV X2,#1\nSTR X2,[X1]\nLDR X3,[X0]", 0x2000).unwrap());
//! let threads = vec![
//!     ThreadInit { pc: 0x1000, regs: vec![(Reg::x(0), 0x100), (Reg::x(1), 0x140)], ..Default::default() },
//!     ThreadInit { pc: 0x2000, regs: vec![(Reg::x(0), 0x100), (Reg::x(1), 0x140)], ..Default::default() },
//! ];
//! let cfg = Arc::new(MachineConfig { mode: Mode::Tso, ..MachineConfig::default() });
//! let mut engine = Engine::new(Machine::new(cfg, Arc::new(code), &threads, FlatMemory::new()));
//! cpu_model::machine::run(&mut engine, &[0, 0], u64::MAX).unwrap();
//! let s = engine.model().state();
//! // With equal start times both loads run ahead of both buffered stores.
//! assert_eq!((s.cores[0].reg(Reg::x(3)), s.cores[1].reg(Reg::x(3))), (0, 0));
//! ```

use std::sync::Arc;

use memory_model::cache::{CacheConfig, CoherenceModel, Served};
use memory_model::graph::ExecGraph;
use memory_model::iside::{CodeSlot, ISide};
use memory_model::lsq::{Exclusive, RmwStep, Seq, SlotKind, Visible};
use memory_model::memory::FlatMemory;
use memory_model::{Addr, MaintOp, Mode, ThreadId, TlbiScope, WriteId};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sim::explore::{Expansion, Fingerprints, Shared, TransitionSystem};
use sim::rng::{RngStreams, SimRng};
use sim::{Cycle, Engine, Model, Scheduler};

use crate::code::CodeSpace;
use crate::core::in_order::{Checkpoint, DataPort, DecodeCache, Horizon, Stop as InOrderStop};
use crate::core::{AccessKind, Core, CoreConfig, Env, Fetched, Platform, Translating, TranslationFault, UserCode};
pub use crate::core::{Observed, Probe, ProbeHit, ThreadInit, WatchedLoad};
use crate::gic::{Gic, GicConfig};
use crate::isa::{Inst, SysReg};
use crate::topology::{Topology, TopologyConfig};
use events::Events;
use memory_model::tlb::{
    Asid, Fault, Invalidation, InvalidationLog, PageFlags, Tlb, TlbConfig, TlbEntry, TlbHit, Vpn, walk,
};
use private::PrivateData;
pub use private::{PrivateFault, Touched};
use rustc_hash::FxHashMap;

mod events;
mod private;

/// Same-time order of the machine's events: a memory access completing in a
/// cycle is seen by a core waking up in that same cycle.
pub mod prio {
    use sim::Priority;
    /// An access reaches storage (or a load gets its data), a dirty code
    /// line reaches the point of unification.
    pub const ACCESS: Priority = Priority::EARLY;
    /// A core resumes local work (end of a compute block, fetch redirect).
    pub const WAKE: Priority = Priority::DEFAULT;
    /// The in-order core's next user instruction issues: after everything else in its cycle,
    /// and among cores resuming in one cycle by core number, so that where it falls does not
    /// depend on when it was scheduled (see `Machine::step_in_order`).
    pub const RESUME: Priority = Priority::LATE;
}

/// Instruction-side timing (arm64 with CTR_EL0.IDC = 0 and DIC = 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ICacheConfig {
    /// I-cache miss on patchable code: a fill from the point of unification
    /// (the shared L2/LLC; Skylake L2: 12 cycles, DESIGN.md).
    pub fill_cycles: Cycle,
    /// Mean cycles before a dirty line of patched code reaches the point of
    /// unification on its own (eviction), without DC CVAU. Timed runs with
    /// jitter draw it uniformly from 0 to twice this.
    pub writeback_cycles: Cycle,
    /// DC CVAU: clean one line to the point of unification (a write-back
    /// to the L2: about an L2 hit).
    pub clean_cycles: Cycle,
    /// IC IVAU / IC IALLU: the invalidation broadcast to every core and its
    /// acknowledgement (a round trip over the interconnect, ~ two line
    /// transfers).
    pub invalidate_cycles: Cycle,
}

impl Default for ICacheConfig {
    fn default() -> Self {
        ICacheConfig { fill_cycles: 12, writeback_cycles: 10_000, clean_cycles: 12, invalidate_cycles: 200 }
    }
}

/// Everything that shapes a machine's behaviour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MachineConfig {
    /// Memory consistency mode.
    pub mode: Mode,
    /// Core timing.
    pub core: CoreConfig,
    /// Cache and coherence latencies.
    pub cache: CacheConfig,
    /// Instruction-side timing for patched code.
    pub icache: ICacheConfig,
    /// Sockets, clusters and cores, and the latency of each link.
    pub topology: TopologyConfig,
    /// Interrupt controller timing.
    pub gic: GicConfig,
    /// TLBs and page-table walks.
    pub tlb: TlbConfig,
    /// Core clock in MHz, to convert cycles to time in reports.
    pub clock_mhz: u64,
    /// Extra cycles drawn uniformly from `0..=jitter` for every memory access
    /// (timing noise; 0 makes timing fully deterministic without a seed).
    pub jitter: Cycle,
    /// Extra cycles drawn uniformly from `0..=store_jitter` before each store
    /// leaves the store buffer, on top of `jitter`: how long stores may wait
    /// behind write-backs and coherence traffic while loads go on (0: none;
    /// `isolsim fuzz` draws it to stretch the store-buffering windows).
    pub store_jitter: Cycle,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            mode: Mode::Arm,
            core: CoreConfig::default(),
            cache: CacheConfig::default(),
            icache: ICacheConfig::default(),
            topology: TopologyConfig::default(),
            gic: GicConfig::default(),
            tlb: TlbConfig::default(),
            clock_mhz: 2500,
            jitter: 0,
            store_jitter: 0,
        }
    }
}

impl MachineConfig {
    /// The topology, grown by clusters if it has fewer cores than `threads`
    /// (litmus tests bring their own thread count).
    pub fn topology_for(&self, threads: usize) -> Topology {
        let mut t = self.topology.clone();
        if t.num_cores() < threads {
            // A grown machine is no longer the one the Linux numbers describe.
            t.linux_cpus.clear();
        }
        while t.num_cores() < threads {
            t.clusters_per_socket += 1;
        }
        Topology::new(&t).unwrap_or_else(|e| panic!("invalid topology: {e}"))
    }

    /// Cycles to nanoseconds at the configured clock.
    pub fn ns(&self, cycles: Cycle) -> f64 {
        cycles as f64 * 1000.0 / self.clock_mhz.max(1) as f64
    }
}

/// The architectural and micro-architectural state: what exhaustive
/// exploration enumerates. With [`Exhaustive::tlb`] on it includes every
/// core's TLB ([`State::tlbs`]), so two paths that cached different
/// translations are different states.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// The cores, each with its fingerprint cached: a transition changes one or two of them,
    /// and the explorer then hashes only those again.
    pub cores: Fingerprints<Core>,
    /// Shared storage (shared with the successors a transition does not store in).
    pub mem: Shared<FlatMemory>,
    /// What instruction fetch sees of patchable code.
    pub iside: Shared<ISide>,
    /// Pending and active interrupts of every core.
    pub gic: Shared<Gic>,
    /// A store to code that was not declared patchable (the run is invalid).
    pub code_store_fault: Option<(Addr, WriteId)>,
    /// Exhaustive runs with [`Exhaustive::tlb`] on: each core's TLB, indexed
    /// by core. Empty otherwise (timed runs keep theirs in [`Mmu`]).
    pub tlbs: Fingerprints<ExploredTlb>,
    /// What [`Exhaustive::ghosts`] asked to be logged, in the order it
    /// happened on the path to this state (or since its owner last emptied
    /// it: a checker can fold each transition's events into a monitor of
    /// its own and clear the log). Part of the state: two paths that differ
    /// here are told apart.
    pub trace: Vec<Ghost>,
    /// All local transitions have been taken (exploration bookkeeping).
    closed: bool,
    /// A CAS taken to fail read a value its compare matches: the path does not exist.
    contradicted: bool,
}

impl State {
    /// Fresh cores at their entry points over `mem`, with the encodings of
    /// patchable code as the initial contents of its addresses.
    pub fn new(code: &CodeSpace, threads: &[ThreadInit], mut mem: FlatMemory, gic: GicConfig) -> Self {
        let cores = threads.iter().enumerate().map(|(i, t)| Core::new(i as ThreadId, t)).collect();
        for &(a, enc) in code.patchable() {
            mem.init(a, enc);
        }
        State {
            cores,
            mem: Shared::new(mem),
            iside: Shared::new(ISide::new(code.patchable(), threads.len())),
            gic: Shared::new(Gic::new(gic, threads.len())),
            code_store_fault: None,
            tlbs: Fingerprints::default(),
            trace: vec![],
            closed: false,
            contradicted: false,
        }
    }

    /// The same state with its parts in the form a state and its successors share, each copied
    /// when first changed ([`Shared::shared`]): what exploration wants. A timed run keeps them
    /// owned and pays nothing for the sharing.
    pub fn shared(self) -> State {
        let State { cores, mem, iside, gic, code_store_fault, tlbs, trace, closed, contradicted } = self;
        State {
            cores: cores.shared(),
            mem: mem.shared(),
            iside: iside.shared(),
            gic: gic.shared(),
            code_store_fault,
            tlbs: tlbs.shared(),
            trace,
            closed,
            contradicted,
        }
    }

    /// True when every core has finished and drained.
    pub fn all_done(&self, code: &CodeSpace) -> bool {
        self.cores.iter().all(|c| c.is_done(code))
    }

    /// The execution graph recorded so far (needs recording switched on).
    pub fn exec_graph(&self, init: &FlatMemory) -> ExecGraph {
        ExecGraph {
            threads: self.cores.iter().map(|c| c.recorded_events().to_vec()).collect(),
            coherence: self.mem.coherence_log().iter().map(|&(a, w, _)| (a, w)).collect(),
            init: init.cells().iter().map(|(a, c)| (*a, c.value)).collect(),
        }
    }

    /// After store `w` of `value` to `addr` reached memory: patchable code
    /// gets a new version; other code must not be written.
    fn stored(&mut self, code: &CodeSpace, addr: Addr, w: WriteId, value: u64) -> Option<CodeSlot> {
        match self.iside.slot(addr) {
            Some(s) => {
                self.iside.on_store(addr, w, value);
                Some(s)
            }
            None => {
                if code.contains(addr) && self.code_store_fault.is_none() {
                    self.code_store_fault = Some((addr, w));
                }
                None
            }
        }
    }

    /// The effect of a performed maintenance operation on caches and TLBs.
    /// A cache-maintenance operation on the instruction side; DC CVAU and
    /// IC IVAU act on the whole `line_bytes` line holding `addr`.
    fn maintain(&mut self, op: MaintOp, addr: Addr, line_bytes: u64) {
        match op {
            MaintOp::DcCvau => self.iside.clean(addr, line_bytes),
            MaintOp::IcIvau => self.iside.invalidate(addr, line_bytes),
            MaintOp::IcIallu => self.iside.invalidate_all(),
            // TLBs are the timed Mmu's or, exploring, `Exhaustive::invalidate_tlbs`'s.
            MaintOp::Tlbi { .. } => {}
        }
    }
}

/// One translation in a core's TLB during an exhaustive run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlbLine {
    /// Virtual page number.
    pub vpn: Vpn,
    /// The ASID it was filled under; 0 for a global entry, which matches
    /// every ASID (so that the same global translation filled under two
    /// ASIDs is one state, not two).
    pub asid: Asid,
    /// Physical page number.
    pub ppn: u64,
    /// Permissions and the global flag, as the leaf descriptor held them.
    pub flags: PageFlags,
    /// Address of the leaf descriptor the walk read.
    pub pte: Addr,
    /// The write of that descriptor the walk read: the entry is stale once
    /// storage holds a newer one.
    pub source: WriteId,
}

impl TlbLine {
    /// What a lookup and a fill match on: no two lines share it.
    fn key(&self) -> (Vpn, bool, Asid) {
        (self.vpn, self.flags.global, self.asid)
    }

    /// Does a lookup of (`vpn`, `asid`) hit this line?
    pub fn matches(&self, vpn: Vpn, asid: Asid) -> bool {
        self.vpn == vpn && (self.flags.global || self.asid == asid)
    }

    /// Does `inv` remove this line?
    pub fn covered_by(&self, inv: Invalidation) -> bool {
        inv.covers(self.vpn, self.asid, self.flags.global)
    }
}

/// One core's TLB in an exhaustive run: the translations it holds, sorted
/// by page, with no capacity limit and no replacement.
///
/// Not the timed machine's set-associative [`Tlb`]: explored states are
/// hashed and stored by the million, and a run touches a handful of pages,
/// so a short sorted vector is both smaller and canonical (two paths that
/// cached the same translations are the same state whatever the fill
/// order). Entries are never evicted: keeping a translation is always a
/// behaviour the hardware may show (a TLB may hold an entry indefinitely
/// until an invalidation removes it), and the one that exposes a missing
/// invalidation; evicting could only add paths on which a stale entry
/// happens to be refetched, which hides nothing and multiplies states.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExploredTlb {
    lines: Vec<TlbLine>,
}

impl ExploredTlb {
    /// The translations held, sorted by page.
    pub fn lines(&self) -> &[TlbLine] {
        &self.lines
    }

    /// The translation a lookup of (`vpn`, `asid`) hits, if any.
    pub fn lookup(&self, vpn: Vpn, asid: Asid) -> Option<&TlbLine> {
        let from = self.lines.partition_point(|l| l.vpn < vpn);
        self.lines[from..].iter().take_while(|l| l.vpn == vpn).find(|l| l.matches(vpn, asid))
    }

    /// Adds `line` (after a lookup missed, so no line has its key).
    fn fill(&mut self, line: TlbLine) {
        match self.lines.binary_search_by_key(&line.key(), TlbLine::key) {
            Ok(i) => self.lines[i] = line,
            Err(i) => self.lines.insert(i, line),
        }
    }

    /// Removes what `inv` covers, appending the removed lines to `removed`.
    fn invalidate(&mut self, inv: Invalidation, removed: &mut Vec<TlbLine>) {
        self.lines.retain(|l| {
            let gone = l.covered_by(inv);
            if gone {
                removed.push(*l);
            }
            !gone
        });
    }
}

/// The platform of an exhaustive run: the instruction side of the state;
/// code copies are chosen by the explorer, not fetched here.
struct StatePlatform<'a> {
    iside: &'a ISide,
    gic: &'a mut Gic,
    mem: &'a FlatMemory,
    cfg: &'a MachineConfig,
    /// The core's TLB, when the explorer models TLBs.
    tlb: Option<&'a mut ExploredTlb>,
    /// Where [`Ghost::Translated`] events go.
    trace: &'a mut Vec<Ghost>,
    ghosts: &'a Ghosts<'a>,
}

impl Platform for StatePlatform<'_> {
    fn code_miss_delay(&mut self, _: ThreadId, pc: Addr, _: Cycle) -> Cycle {
        unreachable!("exhaustive runs choose patchable code copies explicitly ({pc:#x})")
    }
    fn fetch_code(&mut self, _: ThreadId, pc: Addr, _: Cycle) -> Fetched {
        unreachable!("exhaustive runs choose patchable code copies explicitly ({pc:#x})")
    }
    fn code_latest(&self, pc: Addr) -> Option<WriteId> {
        self.iside.slot(pc).map(|s| self.iside.write(s, self.iside.latest(s)).0)
    }
    fn irq_pending(&self, core: ThreadId) -> bool {
        self.gic.irq_asserted(core as usize)
    }
    fn read_device(&mut self, core: ThreadId, reg: SysReg, _: Cycle) -> (u64, Cycle) {
        device_read(self.gic, core, reg, 0)
    }
    fn write_device(&mut self, core: ThreadId, reg: SysReg, value: u64, _: Cycle) -> Cycle {
        // Untimed: an SGI is pending at its targets as soon as it is sent.
        let mut deliveries = vec![];
        let topology = self.cfg.topology_for(self.gic.num_cores());
        let cost = device_write(self.gic, &topology, core, reg, value, &mut deliveries);
        for (target, intid, _) in deliveries {
            self.gic.set_pending(target, intid as u32);
        }
        cost
    }
    fn translate(
        &mut self,
        core: ThreadId,
        va: Addr,
        kind: AccessKind,
        ctx: Translating,
        _: Cycle,
    ) -> Result<(Addr, Cycle), TranslationFault> {
        let write = kind == AccessKind::Write;
        let Some(tlb) = self.tlb.as_deref_mut() else {
            // Untimed, TLBs not modelled: every access walks the tables as they are now.
            let w = walk(&self.cfg.tlb, ctx.root, va, |a| self.mem.read(a).value).map_err(|_| TranslationFault)?;
            return if w.flags.allows(ctx.user, write) { Ok((w.pa, 0)) } else { Err(TranslationFault) };
        };
        // Untimed, with a TLB: a hit is used whatever storage holds now (the TLB is not
        // coherent with page-table stores); a miss walks storage and fills, as the timed Mmu.
        let cfg = &self.cfg.tlb;
        let vpn = cfg.vpn(va);
        let (line, hit) = match tlb.lookup(vpn, ctx.asid) {
            Some(l) => (*l, true),
            None => {
                let w = walk(cfg, ctx.root, va, |a| self.mem.read(a).value).map_err(|_| TranslationFault)?;
                if !w.flags.allows(ctx.user, write) {
                    return Err(TranslationFault);
                }
                let line = fill_line(cfg, vpn, ctx.asid, &w, self.mem);
                tlb.fill(line);
                (line, false)
            }
        };
        let page_mask = cfg.page_bytes - 1;
        let pa = line.ppn << cfg.page_shift() | (va & page_mask);
        if self.ghosts.watches_translation(va & !page_mask, line.pte) {
            // A fresh walk read the newest descriptor; a hit is stale once storage holds a later one.
            let stale = hit && self.mem.read(line.pte).writer != line.source;
            self.trace.push(Ghost::Translated { core, va, pa, pte: line.pte, source: line.source, stale });
        }
        if line.flags.allows(ctx.user, write) { Ok((pa, 0)) } else { Err(TranslationFault) }
    }
}

/// Can queue entry `q` still be restarted to translate again? A load that
/// has not read, a store or atomic not retired that has not read or
/// written, and cache maintenance by address not yet performed (a TLBI's
/// operand is not translated).
fn restartable(q: &memory_model::lsq::Slot) -> bool {
    let kind = match q.kind {
        SlotKind::Load { .. } | SlotKind::Store { .. } | SlotKind::Rmw(_) => true,
        SlotKind::Maint(op) => !matches!(op, MaintOp::Tlbi { .. }),
        _ => false,
    };
    kind && !q.done && !q.retired && q.read.is_none()
}

/// The TLB line a successful walk of page `vpn` under `asid` fills.
fn fill_line(cfg: &TlbConfig, vpn: Vpn, asid: Asid, w: &memory_model::tlb::Walk, mem: &FlatMemory) -> TlbLine {
    let pte = *w.reads.last().expect("a successful walk read a leaf descriptor");
    TlbLine {
        vpn,
        asid: if w.flags.global { 0 } else { asid },
        ppn: w.ppn(cfg),
        flags: w.flags,
        pte,
        source: mem.read(pte).writer,
    }
}

/// GIC and counter reads shared by both platforms.
fn device_read(gic: &mut Gic, core: ThreadId, reg: SysReg, now: Cycle) -> (u64, Cycle) {
    match reg {
        SysReg::IccIar1El1 => (gic.acknowledge(core as usize) as u64, gic.config().iar_read_cycles),
        SysReg::CntvctEl0 => (now, 0),
        _ => (0, 0),
    }
}

/// GIC writes shared by both platforms: SGIs to send are pushed onto
/// `deliveries` as (target, INTID, cycles after the write).
fn device_write(
    gic: &mut Gic,
    topology: &Topology,
    core: ThreadId,
    reg: SysReg,
    value: u64,
    deliveries: &mut Vec<(usize, u8, Cycle)>,
) -> Cycle {
    match reg {
        SysReg::IccSgi1rEl1 => {
            let (intid, targets) = gic.sgi_deliveries(value, core as usize, topology);
            deliveries.extend(targets.into_iter().map(|(t, at)| (t, intid, at)));
            gic.config().sgi_write_cycles
        }
        SysReg::IccEoir1El1 => {
            // Ending an interrupt that is not active is ignored, as the GIC does.
            let _ = gic.end_of_interrupt(core as usize, value as u32);
            gic.config().eoir_write_cycles
        }
        _ => 0,
    }
}

/// The platform of a timed run.
struct TimedPlatform<'a, const RECORDING: bool = false> {
    code: &'a CodeSpace,
    // Borrowed mutably only where changed (a timed run's parts are owned: nothing to check).
    iside: &'a mut Shared<ISide>,
    gic: &'a mut Shared<Gic>,
    topology: &'a Topology,
    cfg: &'a MachineConfig,
    jitter: Option<&'a mut SimRng>,
    /// SGIs sent during this step: (target, INTID, delivery cycle).
    deliveries: &'a mut Vec<(usize, u8, Cycle)>,
    mem: &'a mut FlatMemory,
    mmu: &'a mut Mmu,
    /// What the in-order core's accesses change besides storage ([`DataPort`]).
    coherence: &'a mut CoherenceModel,
    counters: &'a mut CoreCounters,
    watch: &'a [Addr],
    watched_stores: &'a mut Vec<WatchedStore>,
    private: &'a mut PrivateData,
    events: &'a mut Events,
    /// Recording a speculative run of the in-order core ([`Machine::speculate`]): only what can
    /// be undone happens, and each store logs the cell it replaces here (with [`HeldCells`], each
    /// word written, once, when written back).
    undo: Option<&'a mut Vec<(Addr, Option<memory_model::memory::Cell>)>>,
    /// The private pages the in-order core's accesses translated in this step.
    private_pages: PrivatePages,
    /// A speculative run's private cells, when it holds them ([`HeldCells`]; lent by the
    /// machine, so that a platform is cheap to make).
    held: &'a mut HeldCells,
}

/// The cells of its private data a speculative run of the in-order core has read or written,
/// held here for the run instead of in storage. Nothing else reads or writes them before the
/// run ends: no other core runs meanwhile, private data is neither code nor a descriptor nor
/// watched, and a run that records the coherence order does not hold them. So the oslat loop's
/// histogram updates cost an array access rather than a search of storage. The run's end writes
/// the written ones back ([`TimedPlatform::release_cells`]), logging the cells they replace for
/// undoing, as each store did before (one entry per cell written back rather than per store;
/// undone in reverse, they restore the same contents).
struct HeldCells {
    /// The run holds its cells (a speculative run of a machine that does not record the
    /// coherence order).
    on: bool,
    /// Direct-mapped by word address; `addr` `Addr::MAX`: empty.
    slots: [HeldCell; HeldCells::SLOTS],
}

#[derive(Clone, Copy)]
struct HeldCell {
    /// The physical address.
    addr: Addr,
    cell: memory_model::memory::Cell,
    /// Written since read from storage.
    written: bool,
    /// The virtual address the run reached it by, and for which kinds of access
    /// ([`DataPort::translate_private`] found it private for loads, for stores): another access
    /// of that kind to `va` is translated to `addr` again without a look-up, since nothing the
    /// run does changes a translation or a line's ownership.
    va: Addr,
    loads: bool,
    stores: bool,
}

impl HeldCells {
    /// The oslat loop touches five or six words per iteration: its counters and one bucket.
    const SLOTS: usize = 16;
    const EMPTY: HeldCell = HeldCell {
        addr: Addr::MAX,
        cell: memory_model::memory::Cell { value: 0, writer: WriteId::INIT },
        written: false,
        va: Addr::MAX,
        loads: false,
        stores: false,
    };

    /// Empty, and off.
    fn new() -> HeldCells {
        HeldCells { on: false, slots: [HeldCells::EMPTY; HeldCells::SLOTS] }
    }

    /// The slot of a word, by its physical address or its virtual one: the bits used are within
    /// a page, where the two agree.
    fn slot(addr: Addr) -> usize {
        (addr >> 3) as usize % HeldCells::SLOTS
    }
}

/// The pages of private data the in-order core's latest accesses in one step translated through
/// [`Mmu::translate_private`] (or, with the MMU off, found private), so that another access to
/// one repeats what that translation does (a TLB hit, the core's lead) without looking it up
/// again. A page is good while the [`Mmu::generation`] and the core's TLB are what they were when
/// it was recorded, as the MMU's own memo of it is: every access that may change either checks
/// them, and forgets the pages if they changed ([`PrivatePages::rest_on`]). A speculative run's
/// access to one also needs its line owned, as [`TimedPlatform::translate_private_undoably`]
/// does: such a run changes no coherence state, so that is checked, not remembered.
#[derive(Default)]
struct PrivatePages {
    /// By kind (load, store), the latest two (the oslat loop's histogram may lie in two pages);
    /// [`PrivatePage::NONE`] where none is recorded.
    pages: [[PrivatePage; 2]; 2],
    /// The MMU's generation and the core's TLB's changes the pages rest on.
    basis: (u64, u64),
    /// Some page is recorded (the pipeline's steps record none, and check nothing).
    filled: bool,
    /// A speculative run's hits on the pages not yet counted: all of them, those that count as
    /// TLB hits, and the latest cycle accessed (the core's lead). Nothing reads the TLB's hits or
    /// the lead during such a run, which makes no access but to its private data;
    /// [`TimedPlatform::settle_hits`] counts them at its end.
    pending_hits: u64,
    pending_tlb_hits: u64,
    pending_lead: Cycle,
}

/// One of [`PrivatePages`]: `va` in it is private data at `pa_base | (va & offset)`, if that is in
/// `start..end`. (A platform serves one in-order call, whose translation regime is fixed: user
/// code cannot change it without handing back.)
#[derive(Clone, Copy)]
struct PrivatePage {
    va_base: Addr,
    pa_base: Addr,
    offset: Addr,
    start: Addr,
    end: Addr,
}

impl PrivatePage {
    /// No page: nothing is in its empty range.
    const NONE: PrivatePage = PrivatePage { va_base: Addr::MAX, pa_base: 0, offset: 0, start: 0, end: 0 };
}

impl Default for PrivatePage {
    fn default() -> Self {
        PrivatePage::NONE
    }
}

impl PrivatePages {
    /// The physical address of `va` if it is in one of the pages of its kind.
    #[inline(always)]
    fn hit(&self, va: Addr, write: bool) -> Option<Addr> {
        for p in &self.pages[usize::from(write)] {
            let pa = p.pa_base | (va & p.offset);
            if va & !p.offset == p.va_base && (p.start..p.end).contains(&pa) {
                return Some(pa);
            }
        }
        None
    }

    /// A speculative run's hit at cycle `at`, through the TLB if `tlb`, counted at the run's end
    /// ([`TimedPlatform::settle_hits`]).
    #[inline(always)]
    fn count_pending(&mut self, tlb: bool, at: Cycle) {
        self.pending_hits += 1;
        self.pending_tlb_hits += u64::from(tlb);
        self.pending_lead = self.pending_lead.max(at);
    }

    /// What the pages of `core` rest on now.
    fn basis(mmu: &Mmu, core: ThreadId) -> (u64, u64) {
        (mmu.generation, mmu.tlbs.get(core as usize).map_or(0, |t| t.changes()))
    }

    /// Forgets the pages if the MMU's generation or `core`'s TLB changed since they were recorded.
    #[inline(always)]
    fn rest_on(&mut self, mmu: &Mmu, core: ThreadId) {
        if self.filled && PrivatePages::basis(mmu, core) != self.basis {
            // (A speculative run's pending hits stay: they were hits when they were made.)
            self.pages = Default::default();
            self.filled = false;
        }
    }

    /// Records `page` as the latest of its kind, translated by `mmu` as it is now.
    fn record(&mut self, mmu: &Mmu, core: ThreadId, write: bool, page: PrivatePage) {
        self.rest_on(mmu, core);
        self.basis = PrivatePages::basis(mmu, core);
        self.filled = true;
        let [latest, before] = &mut self.pages[usize::from(write)];
        *before = std::mem::replace(latest, page);
    }
}

impl<const R: bool> TimedPlatform<'_, R> {
    /// A speculative run's access to its private data at `addr`, whose line
    /// [`DataPort::translate_private`] has just found owned: the hit, with nothing to look up
    /// (debug builds check the ownership).
    #[inline(always)]
    fn owned_hit(&self, core: ThreadId, addr: Addr) -> (Cycle, Served) {
        debug_assert!(self.coherence.owns_line(core, addr), "core {core} ran on with {addr:#x} not owned");
        let _ = (core, addr);
        self.coherence.owned_hit()
    }

    /// The held cell of `addr`, private data of the speculative run's core ([`HeldCells`]): read
    /// from storage the first time, after writing back the one it replaces.
    #[inline(always)]
    fn held(&mut self, addr: Addr) -> &mut HeldCell {
        let i = HeldCells::slot(addr);
        if self.held.slots[i].addr != addr {
            self.hold(i, addr);
        }
        &mut self.held.slots[i]
    }

    /// Puts `addr`'s cell in slot `i` of the held cells. (Out of line: once per cell and run.)
    #[inline(never)]
    fn hold(&mut self, i: usize, addr: Addr) {
        let was = std::mem::replace(
            &mut self.held.slots[i],
            HeldCell { addr, cell: self.mem.read(addr), ..HeldCells::EMPTY },
        );
        if was.written {
            self.write_back(was);
        }
    }

    /// Writes a held cell back to storage, logging the cell it replaces for undoing.
    fn write_back(&mut self, held: HeldCell) {
        let was = self.mem.replace(held.addr, held.cell.value, held.cell.writer);
        self.undo.as_deref_mut().expect("a speculative run logs what it writes").push((held.addr, was));
    }

    /// Writes the held cells back to storage: the speculative run has ended. (Its stores reach
    /// storage in no particular order: no two held cells are the same location.)
    fn release_cells(&mut self) {
        for i in 0..HeldCells::SLOTS {
            let held = std::mem::replace(&mut self.held.slots[i], HeldCells::EMPTY);
            if held.written {
                self.write_back(held);
            }
        }
    }

    /// [`TimedPlatform::owned_hit`] for an access to the core's private data (`own`) in a
    /// speculative run that holds no cells; `None` for any other access.
    #[inline(always)]
    fn coherence_hit(&self, core: ThreadId, addr: Addr, own: bool) -> Option<(Cycle, Served)> {
        (R && own).then(|| self.owned_hit(core, addr))
    }

    /// Timing noise of one access (the machine's `jitter`, and `store_jitter` for a store).
    fn noise(&mut self, store: bool) -> Cycle {
        // A run that records has no noise: its draws could not be undone (`may_speculate`).
        if R {
            debug_assert!(self.cfg.jitter == 0 && self.cfg.store_jitter == 0);
            return 0;
        }
        let j = self.cfg.jitter + if store { self.cfg.store_jitter } else { 0 };
        match &mut self.jitter {
            Some(r) if j > 0 => r.random_range(0..=j),
            _ => 0,
        }
    }
}

/// The in-order core's accesses, with the effects the pipeline's have when they complete
/// ([`Machine::access`]): storage, the caches, the counters, the descriptors a store makes
/// stale, the watched stores. Stores to code are the pipeline's.
impl<const R: bool> DataPort for TimedPlatform<'_, R> {
    const ONLY_PRIVATE: bool = R;
    fn load(&mut self, core: ThreadId, addr: Addr, at: Cycle, own: bool) -> (memory_model::memory::Cell, Cycle) {
        if R && own && self.held.on {
            let cell = self.held(addr).cell;
            let (latency, by) = self.owned_hit(core, addr);
            self.counters.loads += 1;
            self.counters.count_served(by);
            return (cell, latency);
        }
        if !own {
            self.private.check(core, addr, at, Touched::Data);
        }
        let cell = self.mem.read(addr);
        let (latency, by) = self.coherence_hit(core, addr, own).unwrap_or_else(|| self.coherence.load(core, addr));
        self.counters.loads += 1;
        self.counters.count_served(by);
        (cell, latency + self.noise(false))
    }
    fn store(
        &mut self,
        core: ThreadId,
        addr: Addr,
        value: u64,
        write: WriteId,
        at: Cycle,
        own: bool,
        watched: bool,
    ) -> Cycle {
        if R && own && self.held.on {
            let held = self.held(addr);
            held.cell = memory_model::memory::Cell { value, writer: write };
            held.written = true;
            self.events.written(core, addr, at);
            let (latency, by) = self.owned_hit(core, addr);
            self.counters.stores += 1;
            self.counters.count_served(by);
            // (No descriptor is private data in a run that speculates, and none is watched.)
            debug_assert!(!self.mmu.private_descriptors && !watched);
            return latency;
        }
        if !own {
            self.private.check(core, addr, at, Touched::Data);
        }
        // (A run that records is an instance of its own, so the other has no test here.)
        match self.undo.as_deref_mut() {
            Some(undo) if R => undo.push((addr, self.mem.replace(addr, value, write))),
            _ => self.mem.write(addr, value, write),
        }
        self.events.written(core, addr, at);
        let (latency, by) = self.coherence_hit(core, addr, own).unwrap_or_else(|| self.coherence.store(core, addr));
        self.counters.stores += 1;
        self.counters.count_served(by);
        // Private data holds no descriptor a TLB entry came from unless the Mmu says some does.
        if !own || self.mmu.private_descriptors {
            self.mmu.stored(addr, at, core, self.private);
            self.private_pages.rest_on(self.mmu, core);
        }
        if watched {
            self.watched_stores.push(WatchedStore { addr, write, value, at });
        }
        latency + self.noise(true)
    }
    #[inline(always)]
    fn translate_private(
        &mut self,
        core: ThreadId,
        va: Addr,
        kind: AccessKind,
        ctx: Option<Translating>,
        at: Cycle,
    ) -> Option<Addr> {
        let write = kind == AccessKind::Write;
        if R && self.held.on {
            let held = &self.held.slots[HeldCells::slot(va)];
            if held.va == va && if write { held.stores } else { held.loads } {
                let pa = held.addr;
                debug_assert!(
                    self.private_pages.hit(va, write).is_none_or(|p| p == pa) && self.coherence.owns_line(core, pa),
                    "core {core}'s held cell of {va:#x} is no longer its translation"
                );
                self.private_pages.count_pending(ctx.is_some(), at);
                return Some(pa);
            }
            let pa = self.translate_private_uncached(core, va, kind, ctx, at)?;
            let held = self.held(pa);
            if held.va != va {
                (held.va, held.loads, held.stores) = (va, false, false);
            }
            if write {
                held.stores = true;
            } else {
                held.loads = true;
            }
            return Some(pa);
        }
        self.translate_private_uncached(core, va, kind, ctx, at)
    }
}

impl<const R: bool> TimedPlatform<'_, R> {
    /// [`DataPort::translate_private`], short of a speculative run's held cells.
    #[inline(always)]
    fn translate_private_uncached(
        &mut self,
        core: ThreadId,
        va: Addr,
        kind: AccessKind,
        ctx: Option<Translating>,
        at: Cycle,
    ) -> Option<Addr> {
        let write = kind == AccessKind::Write;
        if let Some(pa) = self.private_pages.hit(va, write) {
            // (A speculative run's accesses also need the line owned.)
            if R && !self.coherence.owns_line(core, pa) {
                return None;
            }
            debug_assert!(
                ctx.is_none_or(|ctx| self
                    .mmu
                    .remembered_private(core as usize, va, write, ctx, self.private)
                    .is_none_or(|p| p == pa)),
                "core {core}'s private page of {va:#x} is no longer its translation"
            );
            if R {
                self.private_pages.count_pending(ctx.is_some(), at);
            } else {
                if ctx.is_some() {
                    self.mmu.tlbs[core as usize].count_hit();
                }
                self.private.ran_ahead(core, at);
            }
            return Some(pa);
        }
        // A core that owns nothing does not search its TLB twice (here and in `translate`).
        if !self.private.owns_any(core) {
            return None;
        }
        let pa = if R {
            self.translate_private_undoably(core, va, kind, ctx, at)?
        } else {
            let pa = match ctx {
                Some(c) => self.mmu.translate_private(core as usize, va, kind, c, at, self.private),
                None if self.private.owns(core, va) => {
                    self.private.ran_ahead(core, at);
                    Some(va)
                }
                None => None,
            };
            // (The lookup may have changed the TLB: a hit that is not the most recent one in its
            // set.)
            self.private_pages.rest_on(self.mmu, core);
            pa?
        };
        self.remember_page(core, va, write, ctx.is_some());
        debug_assert!(self.watch.binary_search(&pa).is_err(), "private data {pa:#x} is watched");
        debug_assert!(!self.code.contains(pa), "private data {pa:#x} is code");
        Some(pa)
    }
}

impl<const R: bool> TimedPlatform<'_, R> {
    /// Counts a speculative run's pending hits on its private pages ([`PrivatePages`]) for
    /// `core`, whose run it was; to call when the run has ended.
    fn settle_hits(&mut self, core: ThreadId) {
        let pages = &mut self.private_pages;
        if pages.pending_tlb_hits > 0 {
            let tlb = &mut self.mmu.tlbs[core as usize];
            tlb.set_hits(tlb.stats().hits + pages.pending_tlb_hits);
        }
        if pages.pending_hits > 0 {
            self.private.ran_ahead(core, pages.pending_lead);
        }
        (pages.pending_hits, pages.pending_tlb_hits, pages.pending_lead) = (0, 0, 0);
    }

    /// Records the page of `core`'s private data that `va` has just been translated in, for the
    /// rest of the call ([`PrivatePages`]). (Out of line: once per page and call.)
    #[inline(never)]
    fn remember_page(&mut self, core: ThreadId, va: Addr, write: bool, translating: bool) {
        let page = if translating {
            self.mmu.private_page(core as usize, va, write)
        } else {
            self.private.range_of(core, va).map(|r| (0, 0, Addr::MAX, r))
        };
        if let Some((va_base, pa_base, offset, range)) = page {
            let page = PrivatePage { va_base, pa_base, offset, start: range.start, end: range.end };
            self.private_pages.record(self.mmu, core, write, page);
        }
    }
}

impl<const R: bool> TimedPlatform<'_, R> {
    /// [`DataPort::translate_private`] while recording a speculative run: only accesses whose
    /// effects a rollback undoes (the remembered translation, whose use counts a TLB hit and
    /// moves the lead; a line the core owns, where the access changes no coherence state).
    #[inline(always)]
    fn translate_private_undoably(
        &mut self,
        core: ThreadId,
        va: Addr,
        kind: AccessKind,
        ctx: Option<Translating>,
        at: Cycle,
    ) -> Option<Addr> {
        let pa = match ctx {
            Some(ctx) => {
                self.mmu.remembered_private(core as usize, va, kind == AccessKind::Write, ctx, self.private)?
            }
            None if self.private.owns(core, va) => va,
            None => return None,
        };
        if !self.coherence.owns_line(core, pa) {
            return None;
        }
        if ctx.is_some() {
            self.mmu.tlbs[core as usize].count_hit();
        }
        self.private.ran_ahead(core, at);
        Some(pa)
    }
}

impl<const R: bool> Platform for TimedPlatform<'_, R> {
    fn code_miss_delay(&mut self, core: ThreadId, pc: Addr, _: Cycle) -> Cycle {
        let s = self.iside.slot(pc).expect("only asked for patchable code");
        if self.iside.is_cached(core, s) {
            return 0;
        }
        self.cfg.icache.fill_cycles + self.noise(false)
    }
    fn fetch_code(&mut self, core: ThreadId, pc: Addr, _: Cycle) -> Fetched {
        let s = self.iside.slot(pc).expect("fetch_code is only asked for patchable code");
        let (k, _) = self.iside.fetch_timed(core, s);
        let (writer, value) = self.iside.write(s, k);
        Fetched { inst: self.code.decode(value, pc), writer }
    }
    fn code_latest(&self, pc: Addr) -> Option<WriteId> {
        self.iside.slot(pc).map(|s| self.iside.write(s, self.iside.latest(s)).0)
    }
    fn take_event(&mut self, core: ThreadId) -> bool {
        self.events.take(core)
    }
    fn set_event(&mut self, core: ThreadId) {
        self.events.set(core);
    }
    fn irq_pending(&self, core: ThreadId) -> bool {
        self.gic.irq_asserted(core as usize)
    }
    fn read_device(&mut self, core: ThreadId, reg: SysReg, now: Cycle) -> (u64, Cycle) {
        device_read(self.gic, core, reg, now)
    }
    fn write_device(&mut self, core: ThreadId, reg: SysReg, value: u64, now: Cycle) -> Cycle {
        let start = self.deliveries.len();
        let cost = device_write(self.gic, self.topology, core, reg, value, self.deliveries);
        for d in &mut self.deliveries[start..] {
            // The SGI leaves once the register write completes.
            d.2 += now + cost;
        }
        cost
    }
    fn translate(
        &mut self,
        core: ThreadId,
        va: Addr,
        kind: AccessKind,
        ctx: Translating,
        now: Cycle,
    ) -> Result<(Addr, Cycle), TranslationFault> {
        let translated = self.mmu.translate(self.cfg, self.mem, core as usize, va, kind, ctx, now, self.private);
        self.private_pages.rest_on(self.mmu, core);
        translated
    }
}

/// A use of a translation that memory or a completed invalidation says is
/// gone: the TLB still held it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleTranslation {
    /// The core.
    pub core: ThreadId,
    /// The virtual address accessed.
    pub va: Addr,
    /// A store (rather than a load or a fetch).
    pub write: bool,
    /// An instruction fetch.
    pub fetch: bool,
    /// Cycle of the access.
    pub at: Cycle,
    /// When the TLB entry was filled.
    pub filled_at: Cycle,
    /// When the page-table entry was last written after that fill, if it was.
    pub pte_changed_at: Option<Cycle>,
    /// When an invalidation covering the entry completed after that fill,
    /// if one did (a shootdown that did not reach this core).
    pub shootdown_completed_at: Option<Cycle>,
}

/// The machine's TLBs and what it knows about their staleness (timed runs).
#[derive(Clone, Debug, Default)]
pub struct Mmu {
    tlbs: Vec<Tlb>,
    log: InvalidationLog,
    /// Leaf descriptors some TLB entry was filled from: the cycle of the last store to each (0
    /// if none since it was first watched), and the in-order cores that went through it to
    /// their private data.
    pte_writes: FxHashMap<Addr, WatchedDescriptor>,
    /// Some descriptor in `pte_writes` lies in data declared private (only then may a private
    /// store write one, which [`Mmu::translate_private`] must then look for).
    private_descriptors: bool,
    stale: Vec<StaleTranslation>,
    /// Per core, its last two private translations that ran ahead ([`Mmu::translate_private`])
    /// for a load and for a store, the latest first (the oslat loop alternates loads and stores,
    /// and its histogram's buckets and totals may lie in two pages).
    private_memo: Vec<[[Option<PrivateMemo>; 2]; 2]>,
    /// Counts the changes that a private translation's verdict rests on besides the TLB entry it
    /// hit: a descriptor watched or written, an invalidation, a declaration.
    generation: u64,
}

/// A private translation that ran ahead, and what its verdict rested on: while the
/// [`Mmu::generation`] is the same and its TLB has not changed since, an access of the same kind
/// (load or store) to the same private range through that entry gets the same verdict.
#[derive(Clone, Debug)]
struct PrivateMemo {
    /// The translation: the page's virtual and physical base, and the offset's bits.
    va_base: Addr,
    pa_base: Addr,
    offset: Addr,
    asid: Asid,
    user: bool,
    /// The private range the address was in.
    range: std::ops::Range<Addr>,
    generation: u64,
    /// [`Tlb::changes`] after the hit.
    tlb_changes: u64,
    /// The entry hit (to check the verdict again in debug builds).
    entry: TlbEntry,
}

/// What the [`Mmu`] knows of a leaf descriptor some TLB entry was filled from.
#[derive(Clone, Debug, Default)]
struct WatchedDescriptor {
    /// Cycle of the last store to it (0: none since it was first watched).
    written_at: Cycle,
    /// The cores whose in-order accesses to their private data went through it (those that may
    /// run ahead of the machine's next event, [`private`]). A store to it by another core is
    /// checked against each one's latest access to any of its private data, which can only make
    /// the check stricter than one against its accesses through this descriptor.
    ahead: Vec<ThreadId>,
}

impl Mmu {
    fn clear(&mut self) {
        for t in &mut self.tlbs {
            t.invalidate_all();
        }
        self.log.clear();
        self.pte_writes.clear();
        self.private_descriptors = false;
        self.stale.clear();
        self.private_memo.clear();
        self.generation += 1;
    }

    /// Uses of stale translations so far.
    pub fn stale(&self) -> &[StaleTranslation] {
        &self.stale
    }

    /// Sets core `core`'s TLB hits back to `hits` (a speculative run rolled back).
    fn set_tlb_hits(&mut self, core: usize, hits: u64) {
        if let Some(t) = self.tlbs.get_mut(core) {
            t.set_hits(hits);
        }
    }

    /// TLB of `core` (empty until the first translation).
    pub fn tlb(&self, core: usize) -> Option<&Tlb> {
        self.tlbs.get(core)
    }

    /// Completed invalidations.
    pub fn log(&self) -> &InvalidationLog {
        &self.log
    }

    #[allow(clippy::too_many_arguments)]
    fn translate(
        &mut self,
        cfg: &MachineConfig,
        mem: &FlatMemory,
        core: usize,
        va: Addr,
        kind: AccessKind,
        ctx: Translating,
        now: Cycle,
        private: &mut PrivateData,
    ) -> Result<(Addr, Cycle), TranslationFault> {
        if self.tlbs.len() <= core {
            self.tlbs.resize_with(core + 1, || Tlb::new(&cfg.tlb));
        }
        let write = kind == AccessKind::Write;
        if let Some(hit) = self.tlbs[core].lookup(va, ctx.asid) {
            let written_at = self.pte_writes.get(&hit.entry.leaf).map_or(0, |d| d.written_at);
            self.check_stale(core, va, kind, ctx, now, &hit.entry, written_at);
            return if hit.entry.flags.allows(ctx.user, write) { Ok((hit.pa, 0)) } else { Err(TranslationFault) };
        }
        let w = walk(&cfg.tlb, ctx.root, va, |a| mem.read(a).value).map_err(|_| TranslationFault)?;
        for &a in w.reads.as_slice() {
            private.check(core as ThreadId, a, now, Touched::Walk);
        }
        let cycles = cfg.tlb.walk_cycles(w.reads.len());
        if !w.flags.allows(ctx.user, write) {
            return Err(TranslationFault);
        }
        self.tlbs[core].fill_walk(va, ctx.asid, &w, now + cycles);
        if let Some(&leaf) = w.reads.last() {
            self.pte_writes.entry(leaf).or_default();
            self.private_descriptors |= private.owner(leaf).is_some();
            self.generation += 1;
        }
        Ok((w.pa, cycles))
    }

    /// Records the use of a TLB hit whose translation memory or a completed broadcast
    /// invalidation says is gone (`written_at`: the last store to its descriptor).
    #[allow(clippy::too_many_arguments)]
    fn check_stale(
        &mut self,
        core: usize,
        va: Addr,
        kind: AccessKind,
        ctx: Translating,
        now: Cycle,
        e: &TlbEntry,
        written_at: Cycle,
    ) {
        let pte_changed_at = Some(written_at).filter(|&t| t > e.filled_at);
        let shootdown_completed_at = self.log.stale_since(e.filled_at, e.vpn, ctx.asid, e.flags.global);
        if pte_changed_at.is_some() || shootdown_completed_at.is_some() {
            self.stale.push(StaleTranslation {
                core: core as ThreadId,
                va,
                write: kind == AccessKind::Write,
                fetch: kind == AccessKind::Fetch,
                at: now,
                filled_at: e.filled_at,
                pte_changed_at,
                shootdown_completed_at,
            });
        }
    }

    /// Translates `core`'s access to `va` at `at`, which may then run ahead of the machine's next
    /// event, if that is exact: its TLB holds the translation (a walk would read page tables
    /// other cores may write), allows the access, leads to data private to `core`, is not stale
    /// and, for a store, does not write a descriptor a TLB entry was filled from (the stale uses
    /// are one list for the whole machine, in the order of the accesses).
    /// Then it does what [`Mmu::translate`] does on such a hit, and records the lead (on the
    /// data, and on the descriptor, which another core must not rewrite before it); otherwise
    /// it does nothing.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn translate_private(
        &mut self,
        core: usize,
        va: Addr,
        kind: AccessKind,
        ctx: Translating,
        at: Cycle,
        private: &mut PrivateData,
    ) -> Option<Addr> {
        let write = kind == AccessKind::Write;
        if let Some(pa) = self.remembered_private(core, va, write, ctx, private) {
            self.tlbs[core].count_hit();
            private.ran_ahead(core as ThreadId, at);
            return Some(pa);
        }
        self.translate_private_unremembered(core, va, write, ctx, at, private)
    }

    /// [`Mmu::translate_private`]'s verdict if it is the remembered one: the same entry, range
    /// and kind as last time, and nothing else changed (the oslat loop's accesses, nearly all).
    /// Changes nothing.
    #[inline(always)]
    fn remembered_private(
        &self,
        core: usize,
        va: Addr,
        write: bool,
        ctx: Translating,
        private: &PrivateData,
    ) -> Option<Addr> {
        let [latest, before] = &self.private_memo.get(core)?[usize::from(write)];
        // (Written out rather than as an iterator, which the compiler left out of line.)
        let m = match (latest, before) {
            (Some(m), _) if va & !m.offset == m.va_base => m,
            (_, Some(m)) if va & !m.offset == m.va_base => m,
            _ => return None,
        };
        let hit = m.generation == self.generation
            && (m.asid, m.user) == (ctx.asid, ctx.user)
            // (A store's verdict also depends on its address when private data holds descriptors.)
            && !(write && self.private_descriptors)
            && self.tlbs[core].changes() == m.tlb_changes
            && m.range.contains(&(m.pa_base | (va & m.offset)));
        if !hit {
            return None;
        }
        let pa = m.pa_base | (va & m.offset);
        debug_assert!(
            self.tlbs[core].peek(va, ctx.asid) == Some(&m.entry)
                && private.owner(pa) == Some(core as ThreadId)
                && self.may_run_ahead(core, &TlbHit { pa, entry: m.entry }, write, ctx),
            "core {core}'s remembered private translation of {va:#x} is no longer one"
        );
        Some(pa)
    }

    /// The page of `core`'s private data `va` is in, as its memo of the latest translation of
    /// that kind that gave it holds it, if that is still good (the generation and the TLB are as
    /// the memo says, and a store's verdict does not depend on its address): the page's virtual
    /// and physical base, the offset's bits and the private range.
    fn private_page(&self, core: usize, va: Addr, write: bool) -> Option<(Addr, Addr, Addr, std::ops::Range<Addr>)> {
        if write && self.private_descriptors {
            return None;
        }
        let changes = self.tlbs.get(core)?.changes();
        self.private_memo.get(core)?[usize::from(write)]
            .iter()
            .flatten()
            .find(|m| va & !m.offset == m.va_base && m.generation == self.generation && m.tlb_changes == changes)
            .map(|m| (m.va_base, m.pa_base, m.offset, m.range.clone()))
    }

    /// [`Mmu::translate_private`] without a remembered translation (out of line: the remembered
    /// one is the in-order core's common case).
    #[inline(never)]
    fn translate_private_unremembered(
        &mut self,
        core: usize,
        va: Addr,
        write: bool,
        ctx: Translating,
        at: Cycle,
        private: &mut PrivateData,
    ) -> Option<Addr> {
        let mut recorded = false;
        let (pte_writes, log, private_descriptors) = (&self.pte_writes, &self.log, self.private_descriptors);
        let hit = self.tlbs.get_mut(core)?.lookup_hit_if(va, ctx.asid, |hit| {
            if !hit.entry.flags.allows(ctx.user, write) || !private.owns(core as ThreadId, hit.pa) {
                return false;
            }
            recorded = pte_writes.get(&hit.entry.leaf).is_some_and(|d| d.ahead.contains(&(core as ThreadId)));
            private_verdict(pte_writes, log, private_descriptors, hit, write, ctx)
        })?;
        if !recorded {
            self.pte_writes.entry(hit.entry.leaf).or_default().ahead.push(core as ThreadId);
        }
        private.ran_ahead(core as ThreadId, at);
        if self.private_memo.len() <= core {
            self.private_memo.resize(core + 1, Default::default());
        }
        let offset = (1 << self.tlbs[core].config().page_shift()) - 1;
        let tlb_changes = self.tlbs[core].changes();
        let [latest, before] = &mut self.private_memo[core][usize::from(write)];
        *before = latest.take();
        *latest = private.range_of(core as ThreadId, hit.pa).map(|range| PrivateMemo {
            va_base: va & !offset,
            pa_base: hit.pa & !offset,
            offset,
            asid: ctx.asid,
            user: ctx.user,
            range,
            generation: self.generation,
            tlb_changes,
            entry: hit.entry,
        });
        Some(hit.pa)
    }

    /// The verdict of [`Mmu::translate_private`] on `hit` of private data, with the owner's
    /// lead through its descriptor recorded (what a remembered translation must still have).
    fn may_run_ahead(&self, core: usize, hit: &TlbHit, write: bool, ctx: Translating) -> bool {
        hit.entry.flags.allows(ctx.user, write)
            && self.pte_writes.get(&hit.entry.leaf).is_some_and(|d| d.ahead.contains(&(core as ThreadId)))
            && private_verdict(&self.pte_writes, &self.log, self.private_descriptors, hit, write, ctx)
    }

    /// A store by `by` reached memory at `now`: if it wrote a watched descriptor, cached copies
    /// of that translation are now stale, and an in-order core that ran ahead through it must
    /// not have run past `now`.
    fn stored(&mut self, addr: Addr, now: Cycle, by: ThreadId, private: &mut PrivateData) {
        if let Some(d) = self.pte_writes.get_mut(&addr) {
            d.written_at = now;
            self.generation += 1;
            for &owner in &d.ahead {
                if owner != by {
                    private.check_owner(owner, by, addr, now, Touched::Descriptor);
                }
            }
        }
    }

    /// A TLBI was performed by `core`: invalidates its TLB or every TLB, and
    /// records the completion. Returns the cores it disturbed.
    /// Every one of the machine's `cores` but `core` receives a broadcast,
    /// whether or not it has translated anything yet (its TLB is created on
    /// first use; the hardware's receives the invalidation all the same).
    fn invalidate(&mut self, core: usize, cores: usize, inv: Invalidation, broadcast: bool, now: Cycle) -> Vec<usize> {
        for (t, tlb) in self.tlbs.iter_mut().enumerate() {
            if broadcast || t == core {
                tlb.invalidate(inv);
            }
        }
        self.generation += 1;
        let disturbed = if broadcast { (0..cores).filter(|&t| t != core).collect() } else { vec![] };
        // Only a broadcast is a shootdown other TLBs should have seen; a local
        // invalidation says nothing about other cores' entries.
        if broadcast {
            self.log.complete(inv, now);
        }
        disturbed
    }
}

/// Whether a TLB hit of data private to its core, which the hit allows, may run ahead: the
/// translation is not stale (its descriptor unwritten since the fill, no broadcast invalidation
/// of it completed since), and a store does not write a descriptor a TLB entry was filled from
/// (that makes the entry stale for every core from its cycle on: it must happen in the order of
/// the others' accesses). Stale uses are one list for the whole machine, in the order of the
/// accesses.
fn private_verdict(
    pte_writes: &FxHashMap<Addr, WatchedDescriptor>,
    log: &InvalidationLog,
    private_descriptors: bool,
    hit: &TlbHit,
    write: bool,
    ctx: Translating,
) -> bool {
    let e = &hit.entry;
    let stale = pte_writes.get(&e.leaf).is_some_and(|d| d.written_at > e.filled_at)
        || log.stale_since(e.filled_at, e.vpn, ctx.asid, e.flags.global).is_some();
    let describes = write && private_descriptors && pte_writes.contains_key(&hit.pa);
    !stale && !describes
}

/// The machine's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Core resumes local work.
    Wake(ThreadId),
    /// Core's user code resumes on the in-order core ([`prio::RESUME`]).
    Resume(ThreadId),
    /// An access (or maintenance operation) of core `core`, queue entry
    /// `seq`, completes.
    Access {
        /// The core.
        core: ThreadId,
        /// Its queue entry.
        seq: Seq,
        /// Matches the entry's token unless the access was withdrawn.
        token: u32,
    },
    /// An interrupt reaches core `core` (a software-generated interrupt
    /// sent by another core, or an external one).
    Irq {
        /// The target core.
        core: ThreadId,
        /// Interrupt ID.
        intid: u32,
    },
    /// Write `k` to patchable slot `slot` reaches the point of unification
    /// by eviction.
    Writeback {
        /// The code slot.
        slot: CodeSlot,
        /// The write's index in the slot's history.
        k: u32,
    },
}

/// Counters of a timed run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    /// Loads satisfied (including ones later restarted).
    pub loads: u64,
    /// Of which by store-to-load forwarding.
    pub forwarded: u64,
    /// Stores propagated to storage.
    pub stores: u64,
    /// Loads restarted by the ordering rules.
    pub restarts: u64,
    /// Cache and TLB maintenance operations performed.
    pub maintenance: u64,
    /// Atomic read-modify-writes performed (not counted as loads or stores).
    #[serde(default)]
    pub rmws: u64,
}

/// Event counts of one core in a timed run ([`Machine::stats`] adds them up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreCounters {
    /// Loads satisfied (including ones later restarted).
    pub loads: u64,
    /// Of which by store-to-load forwarding.
    pub forwarded: u64,
    /// Stores propagated to storage.
    pub stores: u64,
    /// Atomic read-modify-writes performed.
    pub rmws: u64,
    /// Cache and TLB maintenance operations performed.
    pub maintenance: u64,
    /// Loads restarted by the ordering rules.
    pub restarts: u64,
    /// Broadcast TLB invalidations performed (each disturbs every other core).
    pub tlbis_broadcast: u64,
    /// SGIs sent (one per target of each ICC_SGI1R_EL1 write).
    pub sgis_sent: u64,
    /// Data accesses that went to the caches (loads not forwarded, stores, RMWs), by where the
    /// coherence model served them ([`CoreCounters::served`]).
    served_by: [u64; 4],
}

impl CoreCounters {
    /// Data accesses the coherence model served at `s`.
    pub fn served(&self, s: Served) -> u64 {
        self.served_by[s as usize]
    }

    fn count_served(&mut self, s: Served) {
        self.served_by[s as usize] += 1;
    }
}

/// A machine ready to run on [`sim::Engine`].
pub struct Machine {
    cfg: Arc<MachineConfig>,
    code: Arc<CodeSpace>,
    topology: Topology,
    /// MPIDR_EL1 of each core (from the topology).
    mpidr: Vec<u64>,
    init_mem: FlatMemory,
    state: State,
    coherence: CoherenceModel,
    mmu: Mmu,
    deliveries: Vec<(usize, u8, Cycle)>,
    jitter: Vec<Option<SimRng>>,
    wake_at: Vec<Option<Cycle>>,
    record: bool,
    /// Cores whose completion ends a run (`None`: all of them).
    finish: Option<Vec<usize>>,
    counters: Vec<CoreCounters>,
    vis: Vec<Visible>,
    restarts: Vec<Seq>,
    probes: Vec<Probe>,
    /// Caller's index of each probe in `probes`.
    probe_order: Vec<u16>,
    watch: Vec<Addr>,
    watched_stores: Vec<WatchedStore>,
    /// In-order user code: the cycles of the interrupts scheduled for each core and of the
    /// broadcast TLB invalidations issued (each kept until the clock has passed it), and the
    /// shortest delay with which an event could cause either (see [`Machine::step_in_order`]).
    irq_due: Vec<Vec<Cycle>>,
    tlbi_due: Vec<Cycle>,
    lookahead: Cycle,
    /// Cycle of each core's pending [`Event::Resume`] (others for it are stale).
    resume_at: Vec<Option<Cycle>>,
    /// Each core's decoded user code, made when it first runs on the in-order core.
    decoded: Vec<Option<Box<DecodeCache>>>,
    /// Data private to one core's user code ([`Machine::keep_private`]).
    private: PrivateData,
    /// Exclusive monitors and event registers (timed runs; what wakes a `WFE`).
    events: Events,
    /// Each core's speculative run of its in-order user code not yet settled
    /// ([`Machine::speculate`]).
    speculation: Vec<Option<Box<Speculation>>>,
    /// Speculative runs begun, and rolled back.
    speculated: u64,
    rolled_back: u64,
    /// A settled run's undo log, kept for the next run's.
    spare_undo: Vec<(Addr, Option<memory_model::memory::Cell>)>,
    /// The held cells of speculative runs, lent to each in turn (empty between them).
    held_cells: HeldCells,
}

/// How far past the clock a speculative run of the in-order core may go ([`Machine::speculate`]),
/// about 4 000 instructions of the oslat loop, as many as one call runs at most. Measured on the
/// oslat loop (README › Speed): 4 096 and 16 384 cycles took the same time under the broadcast
/// protocol, whose TLBIs roll runs back, and 16 384 less under deferred, whose seldom do.
const SPECULATION_CYCLES: Cycle = 16384;

/// The in-order core run past its horizon, as if nothing would reach the core
/// ([`Machine::speculate`]), kept until nothing still to come can (it is settled) or something
/// does (it is rolled back, and the core resumes where it would have).
struct Speculation {
    /// The core before the run.
    core: Checkpoint,
    /// Where the core would have resumed without the run.
    resume: Cycle,
    /// The run's instructions all took effect before this cycle (where the core resumes).
    frontier: Cycle,
    /// The machine's parts the run changed, before it: the core's counters, its TLB's hits and
    /// its lead on its private data; and each cell its stores replaced, in order.
    counters: CoreCounters,
    tlb_hits: u64,
    lead: Option<Cycle>,
    undo: Vec<(Addr, Option<memory_model::memory::Cell>)>,
}

/// A write to a watched address reaching storage (a store, or an RMW's
/// write), in the order storage saw them: per address, that is coherence
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WatchedStore {
    /// The address.
    pub addr: Addr,
    /// The write.
    pub write: WriteId,
    /// The value written.
    pub value: u64,
    /// Cycle it reached storage.
    pub at: Cycle,
}

impl Machine {
    /// A machine with `threads` over initial memory `mem`.
    pub fn new(cfg: Arc<MachineConfig>, code: Arc<CodeSpace>, threads: &[ThreadInit], mem: FlatMemory) -> Self {
        let n = threads.len();
        let topology = cfg.topology_for(n);
        let mpidr: Vec<u64> = (0..topology.num_cores()).map(|i| topology.affinity(i).mpidr()).collect();
        let mut state = State::new(&code, threads, mem, cfg.gic.clone());
        for (c, &m) in state.cores.iter_mut().zip(&mpidr) {
            c.set_affinity(m);
        }
        let mut coherence = CoherenceModel::new(cfg.cache.clone());
        coherence.set_distances(n, |a, b| topology.latency(a, b));
        let lookahead = Self::lookahead(&cfg, &topology);
        Machine {
            coherence,
            topology,
            mpidr,
            mmu: Mmu::default(),
            deliveries: vec![],
            init_mem: (*state.mem).clone(),
            state,
            code,
            jitter: vec![None; n],
            wake_at: vec![None; n],
            record: false,
            finish: None,
            counters: vec![CoreCounters::default(); threads.len()],
            vis: vec![],
            restarts: vec![],
            probes: vec![],
            probe_order: vec![],
            watch: vec![],
            watched_stores: vec![],
            irq_due: vec![vec![]; n],
            tlbi_due: vec![],
            resume_at: vec![None; n],
            decoded: vec![None; n],
            speculation: (0..n).map(|_| None).collect(),
            speculated: 0,
            rolled_back: 0,
            spare_undo: vec![],
            held_cells: HeldCells::new(),
            private: PrivateData::default(),
            events: Events::new(cfg.cache.line_bytes),
            lookahead,
            cfg,
        }
    }

    /// The fewest cycles from an event to an interrupt or a broadcast TLB invalidation it causes
    /// on another core: an SGI leaves after its register write and the distributor's delay
    /// (plus a path through the topology, at least 0), and a broadcast TLBI completes when a
    /// local one would plus the round trip to the farthest core from its sender (at least the
    /// smallest such round trip of any core; see [`Machine::step_core`]).
    fn lookahead(cfg: &MachineConfig, topology: &Topology) -> Cycle {
        let sgi = cfg.gic.sgi_write_cycles.saturating_add(cfg.gic.delivery_cycles);
        let round_trip = (0..topology.num_cores()).map(|c| topology.max_round_trip(c)).min().unwrap_or(0);
        let tlbi = cfg.tlb.local_invalidate_all_cycles.min(cfg.tlb.local_invalidate_va_cycles) + round_trip;
        sgi.min(tlbi)
    }

    /// Logs every retirement of these instructions from now on (each core's
    /// [`Observed::probe_hits`]; a hit's `probe` indexes this list as
    /// given). Probes on serializing instructions that leave through an
    /// exception (SVC, ERET) do not fire.
    pub fn set_probes(&mut self, probes: &[Probe]) {
        let mut sorted: Vec<(usize, Probe)> = probes.iter().copied().enumerate().collect();
        sorted.sort_by_key(|(_, p)| p.pc);
        assert!(sorted.windows(2).all(|w| w[0].1.pc != w[1].1.pc), "two probes on one instruction");
        self.probe_order = sorted.iter().map(|(i, _)| *i as u16).collect();
        self.probes = sorted.into_iter().map(|(_, p)| p).collect();
        // Decoded instructions name their probes.
        self.decoded.iter_mut().for_each(|d| *d = None);
    }

    /// Logs retired loads and read-modify-writes from these addresses (each core's
    /// [`Observed::watched_loads`]) and writes reaching them
    /// ([`Machine::watched_stores`]) from now on.
    pub fn set_watch(&mut self, addrs: &[Addr]) {
        self.watch = addrs.to_vec();
        self.watch.sort_unstable();
        self.watch.dedup();
        self.assert_private_unwatched();
    }

    /// Declares the physical `range` private to core `owner`'s user code: no other core reads
    /// or writes it. With user code on the in-order core ([`UserCode::InOrder`]), the owner's
    /// loads and stores to it may then run ahead of other cores' events, as far as its register
    /// operations do, when its TLB holds their translation. Every other core's access is
    /// checked against the declaration: one at a cycle the owner had already run past is
    /// [`Machine::private_fault`], and the run is no longer exact (see the machine's `private` module).
    /// Declarations are kept across [`Machine::reset`]. Panics if `range` overlaps one
    /// declared before or holds a watched address (the watched stores' log is in the order of
    /// the accesses).
    pub fn keep_private(&mut self, owner: usize, range: std::ops::Range<Addr>) {
        let code = self.code.programs().iter().find(|p| p.base < range.end && range.start < p.end());
        assert!(code.is_none(), "private range {range:#x?} holds code");
        self.private.declare(owner as ThreadId, range);
        self.private.reset(self.state.cores.len());
        self.mmu.private_descriptors |= self.mmu.pte_writes.keys().any(|&a| self.private.owner(a).is_some());
        self.mmu.generation += 1;
        self.assert_private_unwatched();
    }

    fn assert_private_unwatched(&self) {
        if let Some(a) = self.watch.iter().find(|&&a| self.private.owner(a).is_some()) {
            panic!("watched address {a:#x} is declared private");
        }
    }

    /// The first access by a core to data another core keeps private, at a cycle that core's
    /// in-order user code had already run past ([`Machine::keep_private`]): if there is one,
    /// the run is not exact.
    pub fn private_fault(&self) -> Option<PrivateFault> {
        self.private.fault()
    }

    /// Writes to watched addresses, in the order they reached storage.
    pub fn watched_stores(&self) -> &[WatchedStore] {
        &self.watched_stores
    }

    /// What a timed run observed of core `c` (probe numbers as given to
    /// [`Machine::set_probes`]).
    pub fn observed(&self, c: usize) -> &Observed {
        self.state.cores[c].observed()
    }

    /// Back to the initial state with new threads and memory, keeping
    /// allocations where possible (between litmus iterations).
    pub fn reset(&mut self, threads: &[ThreadInit], mem: &FlatMemory) {
        self.state.cores.truncate(threads.len());
        for (i, t) in threads.iter().enumerate() {
            if let Some(c) = self.state.cores.get_mut(i) {
                c.reset(t);
            } else {
                self.state.cores.push(Core::new(i as ThreadId, t));
            }
        }
        self.state.mem.reset_from(mem);
        for &(a, enc) in self.code.patchable() {
            self.state.mem.init(a, enc);
        }
        self.state.mem.set_record_coherence(self.record);
        if self.record {
            // The initial state is only needed for the execution graph.
            self.init_mem.reset_from(&self.state.mem);
        }
        if !self.code.patchable().is_empty() {
            self.state.iside = Shared::new(ISide::new(self.code.patchable(), threads.len()));
        }
        self.state.code_store_fault = None;
        if self.state.gic.num_cores() == threads.len() {
            self.state.gic.reset();
        } else {
            self.state.gic = Shared::new(Gic::new(self.cfg.gic.clone(), threads.len()));
        }
        self.mmu.clear();
        for (c, &m) in self.state.cores.iter_mut().zip(&self.mpidr) {
            c.set_affinity(m);
        }
        self.coherence.clear();
        self.wake_at.clear();
        self.wake_at.resize(threads.len(), None);
        self.jitter.resize(threads.len(), None);
        self.counters = vec![CoreCounters::default(); threads.len()];
        self.watched_stores.clear();
        self.irq_due = vec![vec![]; threads.len()];
        self.tlbi_due.clear();
        self.resume_at = vec![None; threads.len()];
        self.decoded = vec![None; threads.len()];
        self.speculation = (0..threads.len()).map(|_| None).collect();
        (self.speculated, self.rolled_back) = (0, 0);
        self.private.reset(threads.len());
        self.events.reset(threads.len());
    }

    /// Draws timing jitter from streams `core<i>.jitter` of `streams`.
    pub fn seed(&mut self, streams: &RngStreams) {
        for (i, r) in self.jitter.iter_mut().enumerate() {
            *r = Some(streams.stream(&format!("core{i}.jitter")));
        }
    }

    /// The per-core jitter generators (the litmus runner keeps one
    /// generator per core across iterations and records their positions).
    pub fn jitter_rngs(&mut self) -> &mut Vec<Option<SimRng>> {
        &mut self.jitter
    }

    /// Records execution-graph events from now on.
    pub fn set_record(&mut self, on: bool) {
        self.record = on;
        self.state.mem.set_record_coherence(on);
    }

    /// The configuration.
    pub fn config(&self) -> &MachineConfig {
        &self.cfg
    }

    /// The code.
    pub fn code(&self) -> &CodeSpace {
        &self.code
    }

    /// The cache/coherence model (e.g. to warm lines before a run).
    pub fn coherence_mut(&mut self) -> &mut CoherenceModel {
        &mut self.coherence
    }

    /// TLBs and stale-translation records.
    pub fn mmu(&self) -> &Mmu {
        &self.mmu
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The instruction side (e.g. to vary which cores start with code cached).
    pub fn iside_mut(&mut self) -> &mut ISide {
        &mut self.state.iside
    }

    /// Current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Counters since the last reset.
    pub fn stats(&self) -> RunStats {
        let mut t = RunStats::default();
        for k in &self.counters {
            t.loads += k.loads;
            t.forwarded += k.forwarded;
            t.stores += k.stores;
            t.restarts += k.restarts;
            t.maintenance += k.maintenance;
            t.rmws += k.rmws;
        }
        t
    }

    /// Event counts of core `c` since the last reset.
    pub fn core_counters(&self, c: usize) -> &CoreCounters {
        &self.counters[c]
    }

    /// The execution graph of the run so far (needs [`Machine::set_record`]).
    pub fn exec_graph(&self) -> ExecGraph {
        self.state.exec_graph(&self.init_mem)
    }

    /// Ends runs when these cores have finished, whatever the others do
    /// (idle loops, isolated user tasks that never end); `None` waits for
    /// every core.
    pub fn finish_when_done(&mut self, cores: Option<Vec<usize>>) {
        self.finish = cores;
    }

    /// True when the cores a run waits for (every core, unless
    /// [`Machine::finish_when_done`] named some) have finished and drained.
    pub fn all_done(&self) -> bool {
        match &self.finish {
            None => self.state.all_done(&self.code),
            Some(cores) => cores.iter().all(|&c| self.state.cores.get(c).is_none_or(|k| k.is_done(&self.code))),
        }
    }

    /// Schedules each core's first wake-up at its start cycle.
    pub fn start(&mut self, sched: &mut Scheduler<Event>, start_at: &[Cycle]) {
        for i in 0..self.state.cores.len() {
            let t = start_at.get(i).copied().unwrap_or(0);
            self.wake_at[i] = Some(t);
            sched.at(t, prio::WAKE, Event::Wake(i as ThreadId));
        }
    }

    fn noise(&mut self, c: usize, store: bool) -> Cycle {
        let j = self.cfg.jitter + if store { self.cfg.store_jitter } else { 0 };
        match &mut self.jitter[c] {
            Some(r) if j > 0 => r.random_range(0..=j),
            _ => 0,
        }
    }

    fn step_core(&mut self, c: usize, sched: &mut Scheduler<Event>, resumed: bool) {
        if self.user_in_order() {
            if self.step_in_order(c, sched, resumed) {
                return;
            }
            // The pipeline runs the core: a pending resumption is stale.
            self.resume_at[c] = None;
        }
        let now = sched.now();
        let in_order_user = self.user_in_order();
        let (env, core, mut platform) = self.timed_parts(c);
        let adv = core.advance(&env, now, &mut platform);
        self.counters[c].sgis_sent += self.deliveries.len() as u64;
        for i in 0..self.deliveries.len() {
            let (target, intid, at) = self.deliveries[i];
            sched.at(at.max(now), prio::ACCESS, Event::Irq { core: target as ThreadId, intid: intid as u32 });
            if in_order_user {
                self.irq_due[target].push(at.max(now));
                self.roll_back_if_reached(target, at.max(now), sched);
            }
        }
        self.vis.clear();
        self.state.cores[c].lsq().visible(self.cfg.mode, &mut self.vis);
        for i in 0..self.vis.len() {
            let a = self.vis[i];
            let seq = a.seq();
            let core = &self.state.cores[c];
            let slot = core.lsq().get(seq).expect("enabled entry exists");
            if slot.issued {
                continue;
            }
            let addr = slot.addr.expect("enabled access has an address");
            if !matches!(a, Visible::Maint(_)) {
                // Its timing reads the line's coherence state now.
                self.private.check(c as ThreadId, addr, now, Touched::Data);
            }
            let latency = match a {
                Visible::Satisfy(_) if core.lsq().forwards(seq) => self.cfg.core.forward_cycles,
                Visible::Satisfy(_) => self.coherence.peek_load(c as u16, addr),
                // An RMW must own the line, like a store; the operation itself
                // is folded into that access (assumption: near atomics, done
                // in the L1 on an owned line, as Neoverse and x86 cores do).
                Visible::Propagate(_) | Visible::Rmw(_) => self.coherence.peek_store(c as u16, addr),
                Visible::Maint(_) => match slot.kind {
                    SlotKind::Maint(MaintOp::DcCvau) => self.cfg.icache.clean_cycles,
                    SlotKind::Maint(MaintOp::IcIvau | MaintOp::IcIallu) => self.cfg.icache.invalidate_cycles,
                    SlotKind::Maint(MaintOp::Tlbi { scope, broadcast }) => {
                        let local = match scope {
                            TlbiScope::All | TlbiScope::Asid => self.cfg.tlb.local_invalidate_all_cycles,
                            _ => self.cfg.tlb.local_invalidate_va_cycles,
                        };
                        // A broadcast completes when the farthest core has acknowledged.
                        let reach = if broadcast { self.topology.max_round_trip(c) } else { 0 };
                        local + reach
                    }
                    _ => self.cfg.cache.l1_hit,
                },
            };
            let issue = now.max(core.issue_time(seq));
            let broadcast = matches!(slot.kind, SlotKind::Maint(MaintOp::Tlbi { broadcast: true, .. }));
            let at = issue + latency + self.noise(c, matches!(a, Visible::Propagate(_)));
            if broadcast && in_order_user {
                self.tlbi_due.push(at);
                for t in 0..self.speculation.len() {
                    self.roll_back_if_reached(t, at, sched);
                }
            }
            let token = self.state.cores[c].lsq_mut().mark_issued(seq);
            sched.at(at, prio::ACCESS, Event::Access { core: c as ThreadId, seq, token });
        }
        if let Some(w) = adv.wake_at {
            let w = w.max(now);
            if self.wake_at[c].is_none_or(|p| w < p || p < now) {
                self.wake_at[c] = Some(w);
                sched.at(w, prio::WAKE, Event::Wake(c as ThreadId));
            }
        } else if in_order_user
            && self.resume_at[c].is_none()
            && self.state.cores[c].in_order_ready(self.state.gic.irq_asserted(c))
            && !self.state.cores[c].is_done(&self.code)
        {
            // The pipeline drained into user code (an `ERET` retired, the last store left) with
            // nothing of its own to wake it: the in-order core takes over in this cycle, after
            // everything else in it, as from any of its resumptions. Without this a core with no
            // other event coming (a benchmark's only busy CPU) would stop for good. (A core past
            // the end of its code has nothing to run: the in-order core would hand it straight
            // back, and the pipeline fetch nothing, in this cycle, for ever.)
            self.resume_at[c] = Some(now);
            sched.at(now, prio::RESUME, Event::Resume(c as ThreadId));
        }
    }

    /// User code runs on the in-order core ([`UserCode::InOrder`] or [`UserCode::Dataflow`];
    /// never while recording a graph).
    fn user_in_order(&self) -> bool {
        self.cfg.core.user_code != UserCode::OutOfOrder && !self.record
    }

    /// Runs core `c`'s user code on the in-order core if it can take over; false if the pipeline
    /// steps instead (now, or from the instruction the in-order core handed back). `resumed`:
    /// the event is the core's own [`Event::Resume`].
    ///
    /// The in-order core runs ahead of the clock, and exactly: what it does is what it would do
    /// if every instruction issued in an [`Event::Resume`] of its own, at its issue cycle
    /// (`core.in_order_run_ahead = false` does that, and a test compares the two). That holds
    /// because of the [`Horizon`]:
    /// - its loads, stores and translations happen before the next pending event of any core,
    ///   so none is reordered against another core's event (where a [`Event::Resume`] would
    ///   fall after that event, as [`prio::RESUME`] puts it, the core stops and resumes there);
    /// - its other instructions touch nothing shared and may run further, up to the earliest
    ///   interrupt scheduled for the core or broadcast TLBI issued, and up to the shortest delay
    ///   ([`Machine::lookahead`]) after the next pending event with which an event still to come
    ///   could send one;
    /// - nothing happens past the run's time limit.
    #[inline(never)]
    fn step_in_order(&mut self, c: usize, sched: &mut Scheduler<Event>, resumed: bool) -> bool {
        let now = sched.now();
        if let Some(s) = &self.speculation[c] {
            if now.saturating_add(self.lookahead) < s.frontier {
                // Ahead of the clock, speculatively: nothing to do before its own resumption.
                return true;
            }
            // Settled: whatever still comes reaches the core after the run's last instruction.
            self.settle(c);
        }
        if !self.state.cores[c].in_order_ready(self.state.gic.irq_asserted(c)) {
            return false;
        }
        let end = sched.time_limit().saturating_add(1);
        let next = sched.next_time().unwrap_or(Cycle::MAX).min(end);
        self.irq_due[c].retain(|&t| t >= now);
        self.tlbi_due.retain(|&t| t >= now);
        let reaches = self.irq_due[c].iter().chain(&self.tlbi_due).copied().min().unwrap_or(Cycle::MAX);
        let horizon = Horizon {
            memory: if self.cfg.core.in_order_run_ahead { next } else { now },
            local: if self.cfg.core.in_order_run_ahead {
                next.saturating_add(self.lookahead).min(reaches).min(end)
            } else {
                now
            },
            now_is_mine: resumed,
        };
        let mut decoded = self.decoded[c].take().unwrap_or_default();
        let (env, core, mut platform) = self.timed_parts(c);
        let stop = core.run_in_order(&env, now, horizon, &mut platform, &mut decoded);
        self.decoded[c] = Some(decoded);
        self.wake_event_waiters(sched);
        match stop {
            InOrderStop::Pipeline => false,
            InOrderStop::At(t) => {
                let mut t = t.max(now);
                if t > now && self.may_speculate(c) {
                    t = self.speculate(c, now, t, reaches.min(end));
                }
                if self.resume_at[c] != Some(t) {
                    self.resume_at[c] = Some(t);
                    sched.at(t, prio::RESUME, Event::Resume(c as ThreadId));
                }
                true
            }
        }
    }

    /// Speculative runs may be made: user code on the in-order core running ahead of the clock,
    /// no timing noise (its draws could not be undone), and no private data that holds
    /// descriptors (a store there changes what the MMU remembers).
    fn may_speculate(&self, c: usize) -> bool {
        self.cfg.core.in_order_run_ahead
            && self.cfg.jitter == 0
            && self.cfg.store_jitter == 0
            && !self.mmu.private_descriptors
            && self.speculation[c].is_none()
            && !self.state.cores[c].in_order_leaving()
    }

    /// Core `c`'s in-order call stopped at `resume`, at the bound of what nothing could reach
    /// (its [`Horizon`]). Runs it on, past that bound, as far as `reaches` (the interrupts and
    /// broadcast invalidations already known to come) and [`SPECULATION_CYCLES`] allow, doing
    /// only what can be undone (register operations, branches, counter reads, and loads and
    /// stores of its private data through the remembered translation to lines it owns), and
    /// keeps what it changed. Returns where the core resumes: where the run stopped.
    ///
    /// If an interrupt or a broadcast TLBI is later scheduled to reach the core before that,
    /// the run is rolled back ([`Machine::roll_back_if_reached`]) and the core resumes at
    /// `resume`, as if the run had never been made; so the results are those of the core that
    /// stops at every horizon, only with far fewer, longer calls (README › Speed). Until the
    /// clock is within the lookahead of its end, the core is not run again.
    fn speculate(&mut self, c: usize, now: Cycle, resume: Cycle, reaches: Cycle) -> Cycle {
        let bound = now.saturating_add(SPECULATION_CYCLES).min(reaches);
        if bound <= resume {
            return resume;
        }
        let core = &self.state.cores[c];
        let mut undo = std::mem::take(&mut self.spare_undo);
        undo.clear();
        self.speculation[c] = Some(Box::new(Speculation {
            core: core.in_order_checkpoint(self.cfg.core.rob_entries),
            resume,
            frontier: resume,
            counters: self.counters[c],
            tlb_hits: self.mmu.tlb(c).map_or(0, |t| t.stats().hits),
            lead: self.private.lead(c as ThreadId),
            undo,
        }));
        // Nothing shared: the memory bound is the clock, which every instruction is past.
        let horizon = Horizon { memory: now, local: bound, now_is_mine: false };
        let mut decoded = self.decoded[c].take().unwrap_or_default();
        let (env, core, mut platform) = self.timed_parts_as::<true>(c);
        let stop = core.run_in_order(&env, now, horizon, &mut platform, &mut decoded);
        platform.settle_hits(c as ThreadId);
        platform.release_cells();
        self.decoded[c] = Some(decoded);
        let frontier = match stop {
            InOrderStop::At(t) => t.max(resume),
            // (It hands back only at its start, and the core was not leaving.)
            InOrderStop::Pipeline => unreachable!("a speculative run handed back to the pipeline"),
        };
        if frontier == resume {
            // Nothing ran.
            self.settle(c);
            return resume;
        }
        self.speculated += 1;
        if let Some(s) = self.speculation[c].as_mut() {
            s.frontier = frontier;
        }
        frontier
    }

    /// Forgets core `c`'s speculative run, keeping what it did.
    fn settle(&mut self, c: usize) {
        if let Some(s) = self.speculation[c].take() {
            self.spare_undo = s.undo;
        }
    }

    /// An interrupt or a broadcast TLBI reaches core `c` at cycle `at`: if a speculative run of
    /// the core issued instructions at or after `at`, it is rolled back, and the core resumes
    /// where it would have without it ([`Machine::speculate`]).
    fn roll_back_if_reached(&mut self, c: usize, at: Cycle, sched: &mut Scheduler<Event>) {
        let Some(s) = self.speculation[c].take_if(|s| at < s.frontier) else { return };
        self.state.cores[c].roll_back_in_order(&s.core);
        for &(addr, was) in s.undo.iter().rev() {
            self.state.mem.restore(addr, was);
        }
        self.counters[c] = s.counters;
        self.mmu.set_tlb_hits(c, s.tlb_hits);
        self.private.set_lead(c as ThreadId, s.lead);
        self.rolled_back += 1;
        let t = s.resume.max(sched.now());
        self.spare_undo = s.undo;
        self.resume_at[c] = Some(t);
        sched.at(t, prio::RESUME, Event::Resume(c as ThreadId));
    }

    /// Speculative runs of in-order user code made so far, and how many were rolled back (the
    /// in-order core runs past what it knows nothing can reach, and is put back if something
    /// does; see the `core::in_order` module).
    pub fn speculations(&self) -> (u64, u64) {
        (self.speculated, self.rolled_back)
    }

    /// Steps the cores whose event register a write set (a `WFE` of theirs may complete), at
    /// the write's cycle.
    fn wake_event_waiters(&mut self, sched: &mut Scheduler<Event>) {
        for (t, at) in self.events.drain_woken() {
            sched.at(at, prio::WAKE, Event::Wake(t));
        }
    }

    /// Core `c` of a timed run, what it needs to know of the run, and the machine around it.
    /// (Inlined, as [`Machine::timed_parts_as`] is, so that the parts are built where they are
    /// used rather than copied out: a core step makes them every time.)
    #[inline(always)]
    fn timed_parts(&mut self, c: usize) -> (Env<'_>, &mut Core, TimedPlatform<'_>) {
        self.timed_parts_as::<false>(c)
    }

    /// [`Machine::timed_parts`]; `RECORDING`, for a speculative run of core `c`, whose stores are
    /// logged to undo ([`Machine::speculate`]). Each is an instance of its own, so that recording
    /// costs the in-order core's other calls nothing.
    #[inline(always)]
    fn timed_parts_as<const RECORDING: bool>(
        &mut self,
        c: usize,
    ) -> (Env<'_>, &mut Core, TimedPlatform<'_, RECORDING>) {
        let in_order_user = self.user_in_order();
        let env = Env {
            code: &self.code,
            mode: self.cfg.mode,
            cfg: &self.cfg.core,
            timed: true,
            record: self.record,
            max_unresolved: self.cfg.core.max_unresolved_branches,
            probes: &self.probes,
            probe_ids: &self.probe_order,
            watch: &self.watch,
            fetch_limit: u64::MAX,
            holds: &[],
            in_order_user,
        };
        let State { cores, iside, gic, mem, .. } = &mut self.state;
        self.deliveries.clear();
        let held = &mut self.held_cells;
        held.on = RECORDING && !mem.records_coherence();
        debug_assert!(held.slots.iter().all(|h| h.addr == Addr::MAX), "a speculative run left cells held");
        let platform = TimedPlatform {
            code: &self.code,
            iside,
            gic,
            topology: &self.topology,
            cfg: &self.cfg,
            jitter: self.jitter[c].as_mut(),
            deliveries: &mut self.deliveries,
            mem,
            mmu: &mut self.mmu,
            coherence: &mut self.coherence,
            counters: &mut self.counters[c],
            watch: &self.watch,
            watched_stores: &mut self.watched_stores,
            private: &mut self.private,
            events: &mut self.events,
            undo: if RECORDING { self.speculation[c].as_mut().map(|s| &mut s.undo) } else { None },
            private_pages: PrivatePages::default(),
            held,
        };
        (env, &mut cores[c], platform)
    }

    fn access(&mut self, c: usize, seq: Seq, token: u32, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let mode = self.cfg.mode;
        let core = &mut self.state.cores[c];
        let Some(slot) = core.lsq().get(seq) else { return };
        if !slot.issued || slot.token != token {
            return;
        }
        let (action, addr) = match slot.kind {
            SlotKind::Load { .. } => (Visible::Satisfy(seq), slot.addr),
            SlotKind::Store { .. } => (Visible::Propagate(seq), slot.addr),
            SlotKind::Maint(_) => (Visible::Maint(seq), slot.addr),
            SlotKind::Rmw(_) => (Visible::Rmw(seq), slot.addr),
            _ => unreachable!("only accesses and maintenance are issued"),
        };
        // Guards only ever turn true: anything that could undo one (a
        // restart, a squash) also changes the entry's token. Debug builds
        // check it.
        debug_assert!(core.lsq().is_enabled(mode, action), "P{c} {action:?} issued but no longer enabled");
        let addr = addr.expect("enabled access has an address");
        if !matches!(action, Visible::Maint(_)) {
            self.private.check(c as ThreadId, addr, now, Touched::Data);
        }
        self.restarts.clear();
        // The write that reached storage, if any.
        let wrote = match action {
            Visible::Satisfy(_) => {
                let r = core.lsq_mut().satisfy(seq, &self.state.mem, &mut self.restarts);
                if core.load_satisfied(seq, r.value, now) {
                    self.events.arm(c as ThreadId, addr);
                }
                self.counters[c].loads += 1;
                if r.forwarded {
                    self.counters[c].forwarded += 1;
                } else {
                    let (_, by) = self.coherence.load(c as u16, addr);
                    self.counters[c].count_served(by);
                }
                None
            }
            Visible::Propagate(_) => {
                // A timed run's store-exclusive decides here, as it reaches storage: it stores if
                // it may, at once, so that nothing comes between.
                let exclusive = core.lsq().get(seq).is_some_and(|s| s.exclusive == Exclusive::Undecided);
                if exclusive && !core.exclusive_may_store(seq, &self.state.mem) {
                    core.exclusive_decided(seq, false, now);
                    None
                } else {
                    let w = core.lsq_mut().propagate(seq, &mut self.state.mem, &mut self.restarts);
                    if exclusive {
                        core.exclusive_decided(seq, true, now);
                    }
                    let (_, by) = self.coherence.store(c as u16, addr);
                    self.counters[c].count_served(by);
                    self.counters[c].stores += 1;
                    Some(w)
                }
            }
            Visible::Rmw(_) => {
                let compare = core.rmw_compare(seq);
                let step = core.lsq_mut().perform_rmw(seq, compare, &mut self.state.mem, &mut self.restarts);
                // Timed runs perform an RMW in one step (`Lsq::set_split_rmw` is off).
                let read = step.read().expect("an unsplit RMW reads in its one step");
                core.rmw_performed(seq, read.value, now);
                let w = step.wrote();
                let (_, by) = self.coherence.store(c as u16, addr);
                self.counters[c].count_served(by);
                self.counters[c].rmws += 1;
                w
            }
            Visible::Maint(_) => {
                let (op, a) = core.lsq_mut().perform_maint(seq);
                self.state.maintain(op, a, self.cfg.cache.line_bytes);
                self.counters[c].maintenance += 1;
                if let MaintOp::Tlbi { scope, broadcast } = op {
                    self.counters[c].tlbis_broadcast += u64::from(broadcast);
                    let inv = Invalidation::from_tlbi(&self.cfg.tlb, scope, a);
                    for t in self.mmu.invalidate(c, self.state.cores.len(), inv, broadcast, now) {
                        // Every other core pays for a broadcast invalidation.
                        self.state.cores[t].disturb(now, self.cfg.tlb.broadcast_disturbance_cycles);
                        sched.at(now, prio::WAKE, Event::Wake(t as ThreadId));
                    }
                }
                None
            }
        };
        if let Some(w) = wrote {
            self.events.written(c as ThreadId, addr, now);
            self.wake_event_waiters(sched);
            // Page tables and patchable code see the write.
            self.mmu.stored(addr, now, c as ThreadId, &mut self.private);
            let value = self.state.mem.read(addr).value;
            if self.watch.binary_search(&addr).is_ok() {
                self.watched_stores.push(WatchedStore { addr, write: w, value, at: now });
            }
            if let Some(slot) = self.state.stored(&self.code, addr, w, value) {
                // The dirty line reaches the PoU on its own some time later.
                let mean = self.cfg.icache.writeback_cycles;
                let delay = match (&mut self.jitter[c], self.cfg.jitter) {
                    (Some(r), j) if j > 0 => r.random_range(0..=2 * mean),
                    _ => mean,
                };
                let k = self.state.iside.latest(slot);
                sched.at(now + delay, prio::ACCESS, Event::Writeback { slot, k });
            }
        }
        self.counters[c].restarts += self.restarts.len() as u64;
        if !self.restarts.is_empty() {
            self.state.cores[c].restart(&self.restarts);
        }
    }
}

impl Model for Machine {
    type Event = Event;

    fn handle(&mut self, event: Event, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let c = match event {
            Event::Wake(c) => {
                if self.wake_at[c as usize] == Some(now) {
                    self.wake_at[c as usize] = None;
                }
                c as usize
            }
            Event::Resume(c) => {
                let c = c as usize;
                if self.resume_at[c] != Some(now) {
                    return;
                }
                // Cores resuming in one cycle go by number, whenever each was scheduled.
                if sched.next_time() == Some(now) && self.resume_at[..c].contains(&Some(now)) {
                    sched.at(now, prio::RESUME, Event::Resume(c as ThreadId));
                    return;
                }
                self.resume_at[c] = None;
                self.step_core(c, sched, true);
                self.stop_if_finished(c, sched);
                return;
            }
            Event::Access { core, seq, token } => {
                self.access(core as usize, seq, token, sched);
                core as usize
            }
            Event::Writeback { slot, k } => {
                self.state.iside.writeback(slot, k);
                return;
            }
            Event::Irq { core, intid } => {
                self.state.gic.set_pending(core as usize, intid);
                core as usize
            }
        };
        self.step_core(c, sched, false);
        self.stop_if_finished(c, sched);
    }
}

impl Machine {
    fn stop_if_finished(&self, c: usize, sched: &mut Scheduler<Event>) {
        if let Some(cores) = &self.finish
            && cores.contains(&c)
            && self.all_done()
        {
            sched.stop();
        }
    }
}

/// Why a timed run did not finish.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// No event is pending but some core has not finished.
    #[error("deadlock at cycle {cycle}: {detail}")]
    Deadlock {
        /// Cycle at which the machine stopped.
        cycle: Cycle,
        /// What the stuck cores wait for.
        detail: String,
    },
    /// The cycle budget ran out.
    #[error("no completion within {limit} cycles: {detail}")]
    Timeout {
        /// The budget.
        limit: Cycle,
        /// What the unfinished cores are doing.
        detail: String,
    },
    /// A store changed code that was not declared patchable.
    #[error("store by P{} to code at {addr:#x}, which is not declared patchable", writer.tid)]
    CodeStore {
        /// The address.
        addr: Addr,
        /// The store.
        writer: WriteId,
    },
    /// A core touched data another core keeps private after that core's user code had run past
    /// the access ([`Machine::keep_private`]).
    #[error("{0}")]
    Private(PrivateFault),
}

/// Runs a started machine until every core has finished (or `max_cycles`).
pub fn run(engine: &mut Engine<Machine>, start_at: &[Cycle], max_cycles: Cycle) -> Result<Cycle, RunError> {
    let (m, s) = engine.parts();
    m.start(s, start_at);
    let stop = engine.run_until(max_cycles, u64::MAX);
    let m = engine.model();
    if let Some((addr, writer)) = m.state.code_store_fault {
        return Err(RunError::CodeStore { addr, writer });
    }
    if let Some(f) = m.private_fault() {
        return Err(RunError::Private(f));
    }
    if m.all_done() {
        return Ok(engine.now());
    }
    let detail =
        m.state.cores.iter().filter(|c| !c.is_done(&m.code)).map(Core::describe).collect::<Vec<_>>().join("; ");
    match stop {
        sim::Stop::TimeLimit => Err(RunError::Timeout { limit: max_cycles, detail }),
        _ => Err(RunError::Deadlock { cycle: engine.now(), detail }),
    }
}

/// The machine as a nondeterministic transition system: every choice of
/// which load to satisfy, store to propagate, maintenance operation to
/// perform or copy of patched code to fetch next, and every branch
/// direction a core may speculate down.
///
/// ## Translation
/// With the MMU on, a core translates an access when it generates its
/// address (possibly speculatively, long before the access is performed).
/// With [`Exhaustive::tlb`] off, the translation walks the page tables as
/// storage holds them at that moment: there is no TLB, so a remapped page is
/// seen at once and a forgotten TLB invalidation cannot be noticed.
///
/// With it on, every core has a TLB in the state ([`ExploredTlb`]): a
/// translation uses the core's entry for the page if it holds one, even if
/// storage has changed the descriptor since (reported as a stale
/// [`Ghost::Translated`]), and otherwise walks storage and fills an entry.
/// Entries are never evicted (see [`ExploredTlb`] for why). TLBs start empty
/// but for [`Exhaustive::tlb_prefill`] ([`Exhaustive::fill_tlb`]).
///
/// A TLBI is *complete* in the step that performs it (its
/// [`Visible::Maint`]): it then removes what it covers from the issuing
/// core's TLB (the local forms) or from every core's (the IS forms) at once,
/// and the load/store queue keeps a later DSB from finishing before that
/// step (a DSB ISH/SY waits for every earlier maintenance operation, a DSB
/// NSH for the core's own TLBIs), so after TLBI; DSB no TLB holds the
/// entry. Completion also covers accesses in flight, as Arm's does (a
/// completed TLBI leaves no access using the old translation to be
/// performed): an access a removed entry translated that has not been
/// performed yet (on the issuing core: only one after the TLBI in program
/// order) is restarted, so it translates again; and a broadcast TLBI is
/// not performed while another core holds, through an entry it would
/// remove, a retired store not yet propagated or an atomic that has read
/// and not written (those cannot be restarted: they go first).
pub struct Exhaustive<'a> {
    /// The code.
    pub code: &'a CodeSpace,
    /// Mode and core parameters (timing is ignored).
    pub cfg: &'a MachineConfig,
    /// A path on which some core fetches more instructions than this is cut
    /// off (and reported as a bound hit).
    pub max_fetch: u64,
    /// Record execution-graph events (in the states' history).
    pub record: bool,
    /// Unresolved conditional branches a core may speculate past. Each one
    /// doubles the paths to explore; litmus shapes need one or two, spin
    /// loops would otherwise unroll speculatively through the whole window.
    pub speculation: usize,
    /// What to log in [`State::trace`] (nothing by default).
    pub ghosts: Ghosts<'a>,
    /// Instructions (sorted addresses) whose retirement is a transition of its own
    /// ([`Step::Retire`]) rather than taken as soon as it can: a checker that judges a path by
    /// when instructions retire relative to other cores (its ghost probes) lists them here, so
    /// that every such order is explored, as stalls of any length would allow (empty: every
    /// instruction retires as soon as it can, which no memory-model outcome can tell apart).
    pub holds: &'a [Addr],
    /// Model per-core TLBs (see the type's docs). Off, translation walks
    /// storage at every access and the exploration is what it was before
    /// TLBs were modelled, state for state.
    pub tlb: bool,
    /// With `tlb` on: (core, virtual address) pairs whose translations
    /// [`Exhaustive::initial`] puts in the core's TLB, as if it had touched
    /// them before the run (see [`Exhaustive::fill_tlb`]). Ignored when off.
    pub tlb_prefill: &'a [(ThreadId, Addr)],
}

/// Ghost instrumentation of an exhaustive run: events logged in the state,
/// in the order the path takes them, so that a property can be judged on
/// the order of events across cores (which a final state alone forgets).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ghosts<'a> {
    /// Retirements to log, sorted by address.
    pub probes: &'a [Probe],
    /// The caller's number for each probe.
    pub probe_ids: &'a [u16],
    /// Addresses whose reads (when satisfied) and writes (when they reach
    /// storage) are logged, sorted.
    pub watch: &'a [Addr],
    /// Log every read and write, not only the watched ones (for replaying
    /// one path as a timeline); with TLBs modelled, every translation too.
    pub all_accesses: bool,
    /// With [`Exhaustive::tlb`] on: page-aligned virtual addresses and leaf
    /// descriptor addresses whose translations are logged
    /// ([`Ghost::Translated`]), sorted.
    pub watch_translations: &'a [Addr],
}

impl Ghosts<'_> {
    fn watches(&self, addr: Addr) -> bool {
        self.all_accesses || self.watch.binary_search(&addr).is_ok()
    }

    /// Is a translation of the page at `page` through leaf descriptor `pte` logged?
    fn watches_translation(&self, page: Addr, pte: Addr) -> bool {
        self.all_accesses
            || self.watch_translations.binary_search(&page).is_ok()
            || self.watch_translations.binary_search(&pte).is_ok()
    }
}

/// One logged event of an exhaustive path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Ghost {
    /// A probed instruction retired.
    Retired {
        /// The core.
        core: ThreadId,
        /// The probe's number.
        probe: u16,
        /// Its dynamic instance (program order).
        iid: u32,
        /// The probe's registers after it.
        values: [u64; 3],
    },
    /// A load (or the read of an atomic) obtained its value.
    Read {
        /// The core.
        core: ThreadId,
        /// The load's dynamic instance.
        iid: u32,
        /// The address.
        addr: Addr,
        /// The write read from.
        source: WriteId,
        /// Forwarded from the core's own store buffer.
        forwarded: bool,
        /// The value.
        value: u64,
    },
    /// A write reached storage (left the store buffer, or an atomic's write).
    Stored {
        /// The core.
        core: ThreadId,
        /// The write.
        write: WriteId,
        /// The address.
        addr: Addr,
        /// The value.
        value: u64,
    },
    /// A maintenance operation was performed.
    Maintained {
        /// The core.
        core: ThreadId,
        /// The instruction's dynamic instance.
        iid: u32,
        /// The operation.
        op: MaintOp,
        /// Its address operand.
        addr: Addr,
    },
    /// A core fetched patched code: the copy `writer` wrote.
    Fetched {
        /// The core.
        core: ThreadId,
        /// The write whose encoding it fetched.
        writer: WriteId,
    },
    /// A core translated a virtual address through its TLB (TLBs modelled):
    /// a hit, or a walk that filled an entry. Logged when the address is
    /// generated, which may be before the access is performed; faulting
    /// translations are not logged.
    Translated {
        /// The core.
        core: ThreadId,
        /// The virtual address.
        va: Addr,
        /// The physical address it translated to.
        pa: Addr,
        /// The leaf descriptor's address.
        pte: Addr,
        /// The write of the leaf descriptor the entry was filled from.
        source: WriteId,
        /// Storage holds a newer write of the leaf descriptor than `source`:
        /// the TLB used a translation memory no longer holds (the timed
        /// machine's [`StaleTranslation`] with `pte_changed_at` set). A
        /// walk is never stale.
        stale: bool,
    },
}

impl Ghost {
    /// The core the event happened on.
    pub fn core(&self) -> ThreadId {
        match *self {
            Ghost::Retired { core, .. }
            | Ghost::Read { core, .. }
            | Ghost::Stored { core, .. }
            | Ghost::Maintained { core, .. }
            | Ghost::Fetched { core, .. }
            | Ghost::Translated { core, .. } => core,
        }
    }
}

impl Exhaustive<'_> {
    /// The initial state to explore from.
    pub fn initial(&self, threads: &[ThreadInit], mem: &FlatMemory) -> State {
        let mut s = State::new(self.code, threads, mem.clone(), self.cfg.gic.clone());
        let topology = self.cfg.topology_for(threads.len());
        for (i, c) in s.cores.iter_mut().enumerate() {
            c.set_affinity(topology.affinity(i).mpidr());
            // Every ordering aarch64.cat allows an RMW's read and write (timed runs take the
            // subset where they happen at once).
            c.lsq_mut().set_split_rmw(self.cfg.mode == Mode::Arm);
            // A store-exclusive may fail at any time, or store (if it then may).
            c.lsq_mut().set_choose_exclusives(true);
        }
        s.mem.set_record_coherence(self.record);
        if self.tlb {
            s.tlbs = vec![ExploredTlb::default(); threads.len()].into();
            for &(core, va) in self.tlb_prefill {
                // A page that does not translate leaves nothing, as a faulting walk would.
                let _ = self.fill_tlb(&mut s, core as usize, va);
            }
        }
        s.shared()
    }

    /// With [`Exhaustive::tlb`] on, puts the translation of `va` in core
    /// `core`'s TLB in `s`: walks the tables its TTBR0_EL1 points at, in
    /// `s`'s storage, under its ASID, whether or not its MMU is on yet
    /// (the entry a core that touched the page earlier would hold). Fails,
    /// filling nothing, if the walk faults; does nothing with TLBs off or
    /// for a core `s` does not have.
    pub fn fill_tlb(&self, s: &mut State, core: usize, va: Addr) -> Result<(), Fault> {
        let Some(tlb) = s.tlbs.get_mut(core).filter(|_| self.tlb) else { return Ok(()) };
        let Translating { root, asid, .. } = Translating::from_ttbr0(s.cores[core].sysreg(SysReg::Ttbr0El1), false);
        let w = walk(&self.cfg.tlb, root, va, |a| s.mem.read(a).value)?;
        let vpn = self.cfg.tlb.vpn(va);
        if tlb.lookup(vpn, asid).is_none() {
            tlb.fill(fill_line(&self.cfg.tlb, vpn, asid, &w, &s.mem));
        }
        Ok(())
    }

    fn env(&self) -> Env<'_> {
        Env {
            code: self.code,
            mode: self.cfg.mode,
            cfg: &self.cfg.core,
            timed: false,
            record: self.record,
            max_unresolved: self.speculation,
            probes: self.ghosts.probes,
            probe_ids: self.ghosts.probe_ids,
            watch: &[],
            fetch_limit: self.max_fetch,
            holds: self.holds,
            in_order_user: false,
        }
    }

    fn advance(&self, s: &mut State, c: usize) -> bool {
        let env = self.env();
        let State { cores, iside, gic, mem, trace, tlbs, .. } = s;
        let tlb = if self.tlb { tlbs.get_mut(c) } else { None };
        let mut platform = StatePlatform { iside, gic, mem, cfg: self.cfg, tlb, trace, ghosts: &self.ghosts };
        let ok = !cores[c].advance(&env, 0, &mut platform).mispredicted;
        if !self.ghosts.probes.is_empty() {
            let core = c as ThreadId;
            for h in cores[c].drain_probe_hits() {
                trace.push(Ghost::Retired { core, probe: h.probe, iid: h.iid, values: h.values });
            }
        }
        // (A refuted path is one state, pruned, as a contradicted step's is.)
        s.contradicted |= s.cores[c].refuted();
        ok
    }

    /// Takes core `c`'s local transitions, forking on each branch it may
    /// speculate past; pushes every resulting state with the directions
    /// taken (none if the path mispredicted: the right direction is explored
    /// on its own, and a wrong one adds no behaviour).
    fn close(&self, mut s: State, c: usize, preds: Vec<Addr>, out: &mut Vec<(Vec<Addr>, State)>) {
        if !self.advance(&mut s, c) {
            return;
        }
        match s.cores[c].pending_prediction() {
            None => out.push((preds, s)),
            Some((taken, fall)) => {
                for next in if taken == fall { vec![taken] } else { vec![taken, fall] } {
                    let mut t = s.clone();
                    t.cores[c].predict(next);
                    let mut p = preds.clone();
                    p.push(next);
                    self.close(t, c, p, out);
                }
            }
        }
    }

    /// Takes core `c`'s local transitions in place, following `preds` at
    /// each speculated branch; false if the path does not exist.
    fn close_with(&self, s: &mut State, c: usize, preds: &[Addr]) -> bool {
        let mut preds = preds.iter();
        loop {
            if !self.advance(s, c) {
                return false;
            }
            if s.cores[c].pending_prediction().is_none() {
                return preds.next().is_none();
            }
            let Some(&next) = preds.next() else { return false };
            s.cores[c].predict(next);
        }
    }

    /// Performs `action` of core `c`; returns the other cores whose accesses
    /// it restarted (a TLBI, TLBs modelled), in order, to be closed too.
    fn access(&self, s: &mut State, c: usize, action: Visible) -> Vec<usize> {
        let mut restarts = vec![];
        let mut others = vec![];
        let tid = c as ThreadId;
        // Whole-cache and whole-TLB maintenance has no address operand.
        let slot = s.cores[c].lsq().get(action.seq()).expect("an enabled access is in the queue");
        let (iid, addr) = (slot.iid, slot.addr.unwrap_or(0));
        let watched = self.ghosts.watches(addr);
        let wrote = match action {
            Visible::Satisfy(seq) => {
                let core = &mut s.cores[c];
                let r = core.lsq_mut().satisfy(seq, &s.mem, &mut restarts);
                core.load_satisfied(seq, r.value, 0);
                if watched {
                    let (source, forwarded, value) = (r.source, r.forwarded, r.value);
                    s.trace.push(Ghost::Read { core: tid, iid, addr, source, forwarded, value });
                }
                None
            }
            Visible::Propagate(seq) => {
                // A store-exclusive that took itself to store, and may not: the path does not exist.
                let core = &mut s.cores[c];
                if core.lsq().get(seq).is_some_and(|s| s.exclusive == Exclusive::Succeeds)
                    && !core.exclusive_may_store(seq, &s.mem)
                {
                    s.contradicted = true;
                }
                Some(core.lsq_mut().propagate(seq, &mut s.mem, &mut restarts))
            }
            Visible::Rmw(seq) => {
                let core = &mut s.cores[c];
                let compare = core.rmw_compare(seq);
                let step = core.lsq_mut().perform_rmw(seq, compare, &mut s.mem, &mut restarts);
                s.contradicted |= matches!(step, RmwStep::Contradicted(_));
                if let Some(read) = step.read() {
                    core.rmw_performed(seq, read.value, 0);
                    if watched {
                        let (source, value) = (read.source, read.value);
                        s.trace.push(Ghost::Read { core: tid, iid, addr, source, forwarded: false, value });
                    }
                }
                step.wrote()
            }
            Visible::Maint(seq) => {
                let (op, addr) = s.cores[c].lsq_mut().perform_maint(seq);
                s.maintain(op, addr, self.cfg.cache.line_bytes);
                if self.ghosts.all_accesses {
                    s.trace.push(Ghost::Maintained { core: tid, iid, op, addr });
                }
                if let (true, MaintOp::Tlbi { scope, broadcast }) = (self.tlb, op) {
                    let inv = Invalidation::from_tlbi(&self.cfg.tlb, scope, addr);
                    others = self.invalidate_tlbs(s, c, seq, inv, broadcast, &mut restarts);
                }
                None
            }
        };
        if let Some(w) = wrote {
            let value = s.mem.read(addr).value;
            s.stored(self.code, addr, w, value);
            if watched {
                s.trace.push(Ghost::Stored { core: tid, write: w, addr, value });
            }
        }
        s.cores[c].restart(&restarts);
        others
    }

    /// TLBI `tlbi` of core `c` completes: removes what `inv` covers from
    /// core `c`'s TLB, or every core's if `broadcast`, and restarts the
    /// accesses a removed entry translated that are not performed yet (on
    /// core `c` only those after the TLBI, pushed on `own`), so that they
    /// translate again. Returns the other cores it restarted accesses of.
    fn invalidate_tlbs(
        &self,
        s: &mut State,
        c: usize,
        tlbi: Seq,
        inv: Invalidation,
        broadcast: bool,
        own: &mut Vec<Seq>,
    ) -> Vec<usize> {
        let shift = self.cfg.tlb.page_shift();
        let mut others = vec![];
        let mut removed = vec![];
        for t in 0..s.tlbs.len() {
            if !broadcast && t != c {
                continue;
            }
            removed.clear();
            s.tlbs[t].invalidate(inv, &mut removed);
            // Matched by physical page: the queue holds physical addresses (another
            // page mapped to the same frame restarts too, harmlessly).
            let translated_by_removed = |a: Addr| removed.iter().any(|l| l.ppn == a >> shift);
            let roots: Vec<Seq> = s.cores[t]
                .lsq()
                .iter()
                .filter(|&(seq, q)| {
                    (t != c || seq > tlbi) && restartable(q) && q.addr.is_some_and(translated_by_removed)
                })
                .map(|(seq, _)| seq)
                .collect();
            if t == c {
                own.extend(roots);
            } else if !roots.is_empty() {
                s.cores[t].restart(&roots);
                others.push(t);
            }
        }
        others
    }

    /// True if `action` of core `c` is a broadcast TLBI (TLBs modelled) that
    /// would remove an entry through which another core holds an access it
    /// can no longer restart: a retired store not yet propagated, or an
    /// atomic that has read and not written. The TLBI waits for them, as a
    /// TLBI's completion waits for the accesses using the old translation.
    fn tlbi_waits(&self, s: &State, c: usize, action: Visible) -> bool {
        if !self.tlb {
            return false;
        }
        let Visible::Maint(seq) = action else { return false };
        let Some(slot) = s.cores[c].lsq().get(seq) else { return false };
        let (SlotKind::Maint(MaintOp::Tlbi { scope, broadcast: true }), Some(operand)) = (slot.kind, slot.addr) else {
            return false;
        };
        let inv = Invalidation::from_tlbi(&self.cfg.tlb, scope, operand);
        let shift = self.cfg.tlb.page_shift();
        s.tlbs.iter().enumerate().filter(|&(t, _)| t != c).any(|(t, tlb)| {
            let pages: Vec<u64> = tlb.lines().iter().filter(|l| l.covered_by(inv)).map(|l| l.ppn).collect();
            !pages.is_empty()
                && s.cores[t].lsq().iter().any(|(_, q)| {
                    let committed = match q.kind {
                        SlotKind::Store { .. } => q.retired,
                        SlotKind::Rmw(_) => q.retired || q.read.is_some(),
                        _ => false,
                    };
                    committed && !q.done && q.addr.is_some_and(|a| pages.contains(&(a >> shift)))
                })
        })
    }

    /// Closes each of `cores` in turn (after a TLBI restarted their
    /// accesses), forking on speculated branches: every resulting state with
    /// the directions each core took.
    fn close_restarted(&self, s: State, cores: &[usize]) -> Vec<(Restarted, State)> {
        let mut todo = vec![(vec![], s)];
        for &t in cores {
            let mut next = vec![];
            for (done, n) in todo {
                let mut forks = vec![];
                self.close(n, t, vec![], &mut forks);
                for (p, n) in forks {
                    let mut d: Restarted = done.clone();
                    d.push((t as ThreadId, p));
                    next.push((d, n));
                }
            }
            todo = next;
        }
        todo
    }

    /// True if `action` of core `c` would write a location (or start an RMW on it) while
    /// another core's RMW has read it and not yet written: that write would come between the
    /// RMW's read and write in coherence order, which `atomic` forbids.
    fn held_by_another(&self, s: &State, c: usize, action: Visible) -> bool {
        let Some(addr) = s.cores[c].lsq().writes_to(action) else { return false };
        s.cores.iter().enumerate().any(|(k, other)| k != c && other.lsq().holds(addr))
    }

    /// The successors of closed state `s` by the keys `take` accepts (called with the key of
    /// each enabled transition, in order), pushed onto `out`.
    fn successors(&self, s: &State, take: &mut dyn FnMut(Step) -> bool, out: &mut Vec<(Step, State)>) {
        let mut vis = vec![];
        for c in 0..s.cores.len() {
            let core = c as ThreadId;
            vis.clear();
            s.cores[c].lsq().visible(self.cfg.mode, &mut vis);
            for &action in &vis {
                if self.held_by_another(s, c, action) || self.tlbi_waits(s, c, action) {
                    continue;
                }
                if !take(Step::Access { core, action, predictions: vec![], restarted: vec![] }) {
                    continue;
                }
                let mut n = s.clone();
                let others = self.access(&mut n, c, action);
                let mut forks = vec![];
                self.close(n, c, vec![], &mut forks);
                for (predictions, t) in forks {
                    if others.is_empty() {
                        out.push((Step::Access { core, action, predictions, restarted: vec![] }, t));
                        continue;
                    }
                    for (restarted, t) in self.close_restarted(t, &others) {
                        let predictions = predictions.clone();
                        out.push((Step::Access { core, action, predictions, restarted }, t));
                    }
                }
            }
            let mut cas = vec![];
            s.cores[c].lsq().cas_candidates(self.cfg.mode, &mut cas);
            for (seq, succeeds) in cas {
                if !take(Step::Cas { core, seq, succeeds, predictions: vec![] }) {
                    continue;
                }
                let mut n = s.clone();
                n.cores[c].predict_cas(seq, succeeds);
                let mut forks = vec![];
                self.close(n, c, vec![], &mut forks);
                for (predictions, t) in forks {
                    out.push((Step::Cas { core, seq, succeeds, predictions }, t));
                }
            }
            let mut exclusives = vec![];
            s.cores[c].lsq().exclusive_candidates(&mut exclusives);
            for seq in exclusives {
                for succeeds in [true, false] {
                    if !succeeds && !s.cores[c].exclusive_may_fail(seq) {
                        continue;
                    }
                    if !take(Step::Exclusive { core, seq, succeeds, predictions: vec![] }) {
                        continue;
                    }
                    let mut n = s.clone();
                    n.cores[c].exclusive_decided(seq, succeeds, 0);
                    let mut forks = vec![];
                    self.close(n, c, vec![], &mut forks);
                    for (predictions, t) in forks {
                        out.push((Step::Exclusive { core, seq, succeeds, predictions }, t));
                    }
                }
            }
            if s.cores[c].is_held() && take(Step::Retire { core, predictions: vec![] }) {
                let mut n = s.clone();
                n.cores[c].release_held();
                let mut forks = vec![];
                self.close(n, c, vec![], &mut forks);
                for (predictions, t) in forks {
                    out.push((Step::Retire { core, predictions }, t));
                }
            }
            for (writer, inst) in self.code_copies(s, c) {
                if !take(Step::Fetch { core, writer, predictions: vec![] }) {
                    continue;
                }
                let mut n = s.clone();
                n.cores[c].choose_code(inst, writer);
                if self.ghosts.all_accesses {
                    n.trace.push(Ghost::Fetched { core, writer });
                }
                let mut forks = vec![];
                self.close(n, c, vec![], &mut forks);
                for (predictions, t) in forks {
                    out.push((Step::Fetch { core, writer, predictions }, t));
                }
            }
        }
    }

    /// The copies of patched code core `c` may fetch now: (write, the instruction it encodes).
    fn code_copies(&self, s: &State, c: usize) -> Vec<(WriteId, Inst)> {
        let Some(pc) = s.cores[c].pending_code_fetch(&self.env()) else { return vec![] };
        let slot = s.iside.slot(pc).expect("pending fetches are at patchable code");
        s.iside
            .candidates(c as ThreadId, slot)
            .map(|k| {
                let (w, value) = s.iside.write(slot, k);
                (w, self.code.decode(value, pc))
            })
            .collect()
    }
}

/// Cores a TLBI restarted accesses of, each with the branch directions its
/// local steps then speculated down (see [`Step::Access`]).
pub type Restarted = Vec<(ThreadId, Vec<Addr>)>;

/// One transition of [`Exhaustive`], enough to replay it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    /// Every core's first local steps, with the branch directions each
    /// speculated down.
    Start {
        /// Per core, the predicted targets in order.
        predictions: Vec<Vec<Addr>>,
    },
    /// A core satisfies a load, propagates a store or performs a
    /// maintenance operation, then takes its local steps.
    Access {
        /// The core.
        core: ThreadId,
        /// What it does.
        action: Visible,
        /// Branch directions speculated during the local steps.
        predictions: Vec<Addr>,
        /// TLBs modelled: the other cores whose accesses a TLBI restarted,
        /// in order, each with the branch directions speculated during the
        /// local steps it then took (empty otherwise, and not serialized).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        restarted: Restarted,
    },
    /// A core takes a CAS that has not read yet to fail, or to succeed (see
    /// `Lsq::cas_candidates`), then takes its local steps.
    Cas {
        /// The core.
        core: ThreadId,
        /// The CAS's queue entry.
        seq: Seq,
        /// It is taken to succeed (when it reads, a value its compare does not match refutes
        /// the path), or to fail (one that matches does).
        succeeds: bool,
        /// Branch directions speculated during the local steps.
        predictions: Vec<Addr>,
    },
    /// A core decides a store-exclusive (see `Lsq::exclusive_candidates`): it will store, or
    /// it fails; then the core takes its local steps.
    Exclusive {
        /// The core.
        core: ThreadId,
        /// The store-exclusive's queue entry.
        seq: Seq,
        /// It will store (when it propagates, if it may then; else the path does not exist).
        succeeds: bool,
        /// Branch directions speculated during the local steps.
        predictions: Vec<Addr>,
    },
    /// A core's oldest instruction, one of [`Exhaustive::holds`], retires; then the core takes
    /// its local steps.
    Retire {
        /// The core.
        core: ThreadId,
        /// Branch directions speculated during the local steps.
        predictions: Vec<Addr>,
    },
    /// A core fetches patched code: the copy written by `writer`.
    Fetch {
        /// The core.
        core: ThreadId,
        /// The write whose encoding it fetches.
        writer: WriteId,
        /// Branch directions speculated during the local steps.
        predictions: Vec<Addr>,
    },
}

/// What a transition of [`Exhaustive`] logs in [`State::trace`] ([`Exhaustive::logs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logs {
    /// Nothing.
    Nothing,
    /// A probe of its core retiring ([`Ghost::Retired`]).
    Retired,
    /// Its core's read of the address ([`Ghost::Read`]).
    Read(Addr),
    /// Its core's write of the address reaching storage ([`Ghost::Stored`]).
    Stored(Addr),
    /// An atomic's read or write of the address (either event).
    ReadStored(Addr),
    /// Not bounded: anything (the first step, maintenance, a store to code).
    Unknown,
}

/// What a transition of [`Exhaustive`] touches that other cores see, for
/// [`Exhaustive::independent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Footprint {
    /// Nothing shared (its core's own queue and registers).
    Local,
    /// Reads location `0` (a load satisfied, a CAS taken to fail).
    Read(Addr),
    /// Writes location `0` (a store reaching storage).
    Write(Addr),
    /// Reads and writes location `0` (an atomic's read or write: either holds the
    /// location against other writers).
    ReadWrite(Addr),
    /// Reads what instruction fetch sees of patched code.
    Fetch,
    /// Anything: maintenance (instruction side, TLBs), a store to code, the first step.
    All,
}

impl Footprint {
    fn conflicts(self, other: Footprint) -> bool {
        use Footprint::*;
        let writes = |f: Footprint| matches!(f, Write(_) | ReadWrite(_));
        let addr = |f: Footprint| match f {
            Read(a) | Write(a) | ReadWrite(a) => Some(a),
            _ => None,
        };
        match (self, other) {
            (All, _) | (_, All) => true,
            (Local, _) | (_, Local) | (Fetch, _) | (_, Fetch) => false,
            _ => addr(self) == addr(other) && (writes(self) || writes(other)),
        }
    }
}

impl Step {
    /// The core that takes the transition; none for [`Step::Start`] (every core's first steps).
    pub fn core(&self) -> Option<usize> {
        match self {
            Step::Start { .. } => None,
            Step::Access { core, .. }
            | Step::Cas { core, .. }
            | Step::Exclusive { core, .. }
            | Step::Retire { core, .. }
            | Step::Fetch { core, .. } => Some(*core as usize),
        }
    }
}

impl Exhaustive<'_> {
    /// What transition `key` (enabled in `s`) touches that other cores see, and what it logs
    /// in [`State::trace`] (whose order, and so a checker's monitor, depends on the order of
    /// the transitions).
    fn footprint(&self, s: &State, key: &Step) -> (Footprint, Logs) {
        let slot_addr = |c: u16, seq: Seq| s.cores.get(c as usize)?.lsq().get(seq)?.addr;
        let probes = !self.ghosts.probes.is_empty();
        match key {
            Step::Start { .. } => (Footprint::All, Logs::Unknown),
            // The held instruction retiring is what logs a probe.
            Step::Retire { .. } => (Footprint::Local, if probes { Logs::Retired } else { Logs::Nothing }),
            Step::Fetch { .. } => (Footprint::Fetch, Logs::Nothing),
            // (Its status register only: whether it stores shows when it propagates.)
            Step::Exclusive { .. } => (Footprint::Local, Logs::Nothing),
            Step::Cas { core, seq, .. } => match slot_addr(*core, *seq) {
                Some(a) => (Footprint::Read(a), Logs::Nothing),
                None => (Footprint::All, Logs::Unknown),
            },
            Step::Access { core, action, .. } => {
                let Some(a) = slot_addr(*core, action.seq()) else { return (Footprint::All, Logs::Unknown) };
                let logged = |l: Logs| if self.ghosts.watches(a) { l } else { Logs::Nothing };
                match action {
                    Visible::Satisfy(_) => (Footprint::Read(a), logged(Logs::Read(a))),
                    // A store to code changes the instruction side (or faults).
                    Visible::Propagate(_) if self.code.contains(a) || s.iside.slot(a).is_some() => {
                        (Footprint::All, Logs::Unknown)
                    }
                    Visible::Propagate(_) => (Footprint::Write(a), logged(Logs::Stored(a))),
                    Visible::Rmw(_) => (Footprint::ReadWrite(a), logged(Logs::ReadStored(a))),
                    Visible::Maint(_) => (Footprint::All, Logs::Unknown),
                }
            }
        }
    }

    /// What transition `key`, enabled in `s`, logs in [`State::trace`], known before it is
    /// taken: for a checker that folds the events into a monitor of its own and knows which
    /// of them its monitor orders ([`Exhaustive::independent_untraced`]).
    pub fn logs(&self, s: &State, key: &Step) -> Logs {
        self.footprint(s, key).1
    }

    /// [`TransitionSystem::independent`] apart from the order of the events the two
    /// transitions log: true if they are independent in the machine (the state but its
    /// trace). The machine's own independence also asks that not both log something.
    pub fn independent_untraced(&self, s: &State, a: &Step, b: &Step) -> bool {
        let (Some(ca), Some(cb)) = (a.core(), b.core()) else { return false };
        if ca == cb || !s.closed || self.unreduced(s) {
            return false;
        }
        let (fa, la) = self.footprint(s, a);
        let (fb, lb) = self.footprint(s, b);
        la != Logs::Unknown && lb != Logs::Unknown && !fa.conflicts(fb)
    }

    /// True when a transition's local steps may read or change shared state that its key does
    /// not show, so that the reduction is off: TLBs modelled (a TLBI restarts other cores'
    /// accesses), every access logged, a core with its MMU on (a translation walk reads page
    /// tables from storage), a probe that is not held (any core's local steps may log it).
    fn unreduced(&self, s: &State) -> bool {
        self.tlb
            || self.ghosts.all_accesses
            || self.ghosts.probes.iter().any(|p| self.holds.binary_search(&p.pc).is_err())
            || s.cores.iter().any(|c| c.sysreg(SysReg::SctlrEl1) & 1 == 1)
    }
}

/// Partial-order reduction ([`sim::explore::explore_reduced`]).
///
/// A key is a [`Step`] without what is only known once it is taken: its `predictions` (and
/// `restarted`) empty. Two transitions are independent in a state when they are of different
/// cores, neither is [`Step::Start`], a maintenance operation or a store to code (which change
/// the instruction side that fetches read, or fault), their locations do not conflict (a load
/// satisfied or a CAS taken to fail reads its location, a store reaching storage writes it,
/// an atomic's step reads and writes it: read/read is fine; a fetch of patched code, a
/// retirement and a CAS taken to fail touch no location another core's step writes), and not
/// both log a ghost event (a [`Step::Retire`] of a held probe; an access to a
/// [`Ghosts::watch`] address). `held_by_another` is covered by the locations: only an atomic
/// on a location holds it against another core's write to it. A core's local steps
/// (`Exhaustive::close`) touch only its own state except through the GIC (an SGI sent, an
/// interrupt acknowledged or ended), translation walks (MMU on) and TLBs: a transition whose
/// successor's GIC differs from its state's is dependent on every other
/// ([`TransitionSystem::conflicts_with_all`], checked on each successor), and with TLBs
/// modelled, every access logged, a probe not held, or an MMU on in the state (or the
/// successor), nothing is independent. Whether a successor is expanded (pruned for a CAS
/// contradicted or a store to code, cut off past `max_fetch`) depends only on the transition's
/// own core and location, so it is the same in either order.
impl TransitionSystem for Exhaustive<'_> {
    type State = State;
    type Label = Step;

    fn key(&self, step: &Step) -> Step {
        match step {
            Step::Start { .. } => Step::Start { predictions: vec![] },
            Step::Access { core, action, .. } => {
                Step::Access { core: *core, action: *action, predictions: vec![], restarted: vec![] }
            }
            Step::Cas { core, seq, succeeds, .. } => {
                Step::Cas { core: *core, seq: *seq, succeeds: *succeeds, predictions: vec![] }
            }
            Step::Exclusive { core, seq, succeeds, .. } => {
                Step::Exclusive { core: *core, seq: *seq, succeeds: *succeeds, predictions: vec![] }
            }
            Step::Retire { core, .. } => Step::Retire { core: *core, predictions: vec![] },
            Step::Fetch { core, writer, .. } => Step::Fetch { core: *core, writer: *writer, predictions: vec![] },
        }
    }

    fn independent(&self, s: &State, a: &Step, b: &Step) -> bool {
        self.independent_untraced(s, a, b) && (self.logs(s, a) == Logs::Nothing || self.logs(s, b) == Logs::Nothing)
    }

    fn conflicts_with_all(&self, from: &State, _: &Step, to: &State) -> bool {
        from.gic != to.gic || self.unreduced(to)
    }

    fn expand(&self, s: &State, out: &mut Vec<(Step, State)>) -> Expansion {
        self.expand_where(s, &mut |_| true, out)
    }

    fn expand_where(&self, s: &State, take: &mut dyn FnMut(&Step) -> bool, out: &mut Vec<(Step, State)>) -> Expansion {
        if !s.closed {
            if !take(&Step::Start { predictions: vec![] }) {
                return Expansion::Continue;
            }
            let mut todo = vec![(vec![], s.clone())];
            for c in 0..s.cores.len() {
                let mut next = vec![];
                for (done, t) in todo {
                    let mut forks = vec![];
                    self.close(t, c, vec![], &mut forks);
                    for (p, t) in forks {
                        let mut d: Vec<Vec<Addr>> = done.clone();
                        d.push(p);
                        next.push((d, t));
                    }
                }
                todo = next;
            }
            for (predictions, mut t) in todo {
                t.closed = true;
                out.push((Step::Start { predictions }, t));
            }
            return Expansion::Continue;
        }
        if s.code_store_fault.is_some() || s.contradicted {
            return Expansion::Pruned;
        }
        if s.all_done(self.code) {
            return Expansion::Final;
        }
        if s.cores.iter().any(|c| c.fetched() > self.max_fetch) {
            return Expansion::BoundHit;
        }
        let before = out.len();
        // Keys not taken: a state whose every key taken has no successor may yet have some
        // through them, which decides whether it is a dead end below.
        let mut skipped = vec![];
        let mut take = |k: Step| {
            let t = take(&k);
            if !t {
                skipped.push(k);
            }
            t
        };
        self.successors(s, &mut take, out);
        // Two RMWs that each hold a location the other's core must write first: a path where
        // both read too early, not a deadlock of the program (another order of their reads
        // goes on).
        if out.len() == before && s.cores.iter().any(|c| c.lsq().holds_any()) {
            let mut rest = vec![];
            if !skipped.is_empty() {
                self.successors(s, &mut |k| skipped.contains(&k), &mut rest);
            }
            if rest.is_empty() {
                return Expansion::Pruned;
            }
        }
        Expansion::Continue
    }

    fn apply(&self, s: &mut State, step: &Step) -> bool {
        match step {
            Step::Start { predictions } => {
                if s.closed || predictions.len() != s.cores.len() {
                    return false;
                }
                for (c, p) in predictions.iter().enumerate() {
                    if !self.close_with(s, c, p) {
                        return false;
                    }
                }
                s.closed = true;
                true
            }
            Step::Access { core, action, predictions, restarted } => {
                let c = *core as usize;
                if !s.closed
                    || c >= s.cores.len()
                    || !s.cores[c].lsq().is_enabled(self.cfg.mode, *action)
                    || self.held_by_another(s, c, *action)
                    || self.tlbi_waits(s, c, *action)
                {
                    return false;
                }
                let others = self.access(s, c, *action);
                if !self.close_with(s, c, predictions)
                    || others.len() != restarted.len()
                    || others.iter().zip(restarted).any(|(&t, (r, _))| t != *r as usize)
                {
                    return false;
                }
                restarted.iter().all(|(t, p)| self.close_with(s, *t as usize, p))
            }
            Step::Cas { core, seq, succeeds, predictions } => {
                let c = *core as usize;
                let mut cas = vec![];
                if let Some(core) = s.cores.get(c) {
                    core.lsq().cas_candidates(self.cfg.mode, &mut cas);
                }
                if !s.closed || !cas.contains(&(*seq, *succeeds)) {
                    return false;
                }
                s.cores[c].predict_cas(*seq, *succeeds);
                self.close_with(s, c, predictions)
            }
            Step::Exclusive { core, seq, succeeds, predictions } => {
                let c = *core as usize;
                let mut exclusives = vec![];
                if let Some(core) = s.cores.get(c) {
                    core.lsq().exclusive_candidates(&mut exclusives);
                }
                if !s.closed || !exclusives.contains(seq) || (!*succeeds && !s.cores[c].exclusive_may_fail(*seq)) {
                    return false;
                }
                s.cores[c].exclusive_decided(*seq, *succeeds, 0);
                self.close_with(s, c, predictions)
            }
            Step::Retire { core, predictions } => {
                let c = *core as usize;
                if !s.closed || c >= s.cores.len() || !s.cores[c].is_held() {
                    return false;
                }
                s.cores[c].release_held();
                self.close_with(s, c, predictions)
            }
            Step::Fetch { core, writer, predictions } => {
                let c = *core as usize;
                if !s.closed || c >= s.cores.len() {
                    return false;
                }
                let Some(&(_, inst)) = self.code_copies(s, c).iter().find(|(w, _)| w == writer) else {
                    return false;
                };
                s.cores[c].choose_code(inst, *writer);
                if self.ghosts.all_accesses {
                    s.trace.push(Ghost::Fetched { core: *core, writer: *writer });
                }
                self.close_with(s, c, predictions)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;
    use crate::isa::Reg;
    use sim::explore::{Limits, explore};
    use sim::rng::RngStreams;
    use std::collections::BTreeSet;

    const X: u64 = 0x100;
    const Y: u64 = 0x140;

    fn two_threads(p0: &str, p1: &str) -> (CodeSpace, Vec<ThreadInit>) {
        let mut code = CodeSpace::new();
        code.add(assemble(p0, 0x1000).unwrap());
        code.add(assemble(p1, 0x2000).unwrap());
        let regs = vec![(Reg::x(0), X), (Reg::x(1), Y)];
        let t = |pc| ThreadInit { pc, regs: regs.clone(), ..ThreadInit::default() };
        (code, vec![t(0x1000), t(0x2000)])
    }

    /// The explorer with no ghosts, holds or TLBs, speculating past 2 branches.
    fn plain<'a>(code: &'a CodeSpace, cfg: &'a MachineConfig, max_fetch: u64, record: bool) -> Exhaustive<'a> {
        Exhaustive {
            code,
            cfg,
            max_fetch,
            record,
            speculation: 2,
            ghosts: Default::default(),
            holds: &[],
            tlb: false,
            tlb_prefill: &[],
        }
    }

    /// All final (P0:X3, P1:X3) pairs of an exhaustive run, checking each
    /// final execution graph against the mode's axioms.
    fn outcomes(mode: Mode, p0: &str, p1: &str) -> BTreeSet<(u64, u64)> {
        let (code, threads) = two_threads(p0, p1);
        let cfg = MachineConfig { mode, ..MachineConfig::default() };
        let sys = plain(&code, &cfg, 100, true);
        let init = FlatMemory::new();
        let mut seen = BTreeSet::new();
        let stats = explore(&sys, sys.initial(&threads, &init), &Limits::default(), |s| {
            seen.insert((s.cores[0].reg(Reg::x(3)), s.cores[1].reg(Reg::x(3))));
        });
        assert!(!stats.bound_hit() && stats.deadlocks == 0, "{stats:?}");
        seen
    }

    const SB0: &str = "MOV X2,#1\nSTR X2,[X0]\nLDR X3,[X1]";
    const SB1: &str = "MOV X2,#1\nSTR X2,[X1]\nLDR X3,[X0]";

    #[test]
    fn store_buffering_is_seen_under_tso_and_arm_but_not_sc() {
        let all: BTreeSet<_> = [(0, 1), (1, 0), (1, 1), (0, 0)].into();
        assert_eq!(outcomes(Mode::Arm, SB0, SB1), all);
        assert_eq!(outcomes(Mode::Tso, SB0, SB1), all);
        let sc: BTreeSet<_> = [(0, 1), (1, 0), (1, 1)].into();
        assert_eq!(outcomes(Mode::Sc, SB0, SB1), sc);
        let fenced0 = "MOV X2,#1\nSTR X2,[X0]\nDMB ISH\nLDR X3,[X1]";
        let fenced1 = "MOV X2,#1\nSTR X2,[X1]\nDMB ISH\nLDR X3,[X0]";
        assert_eq!(outcomes(Mode::Arm, fenced0, fenced1), sc);
        assert_eq!(outcomes(Mode::Tso, fenced0, fenced1), sc);
    }

    /// Partial-order reduction: the same final states and counts as the full exploration of
    /// every interleaving, fewer transitions taken, on shapes with stores and loads to shared
    /// and private locations, barriers, atomics (split into read and write), CASes taken to
    /// fail, spin loops cut at the fetch bound and speculated branches.
    #[test]
    fn the_reduction_reaches_the_same_states_as_every_interleaving() {
        use sim::explore::{explore_reduced, fingerprint};
        let shapes = [
            (SB0, SB1),
            ("MOV X2,#1\nSTR X2,[X0]\nDMB ISH\nLDR X3,[X1]", "MOV X2,#1\nSTR X2,[X1]\nDMB ISH\nLDR X3,[X0]"),
            (SPIN_WRITER, SPIN_READER),
            ("MOV X2,#1\nSWPAL X2,X4,[X0]\nLDR X3,[X1]", "MOV X2,#1\nSWPAL X2,X4,[X1]\nLDR X3,[X0]"),
            ("MOV X2,#1\nLDADD X2,X3,[X0]\nSTR X2,[X1]", "MOV X2,#2\nMOV X4,#0\nCASAL X4,X2,[X0]\nLDR X3,[X1]"),
            (
                "MOV X2,#3\nSTR X2,[X0,#8]\nLDR X3,[X0,#8]\nSTR X3,[X1]",
                "MOV X2,#1\nSTR X2,[X1,#8]\nLDR X3,[X1,#8]\nLDR X5,[X0]",
            ),
        ];
        let (mut taken, mut full_taken) = (0, 0);
        for mode in [Mode::Sc, Mode::Tso, Mode::Arm] {
            for (p0, p1) in shapes {
                let (code, threads) = two_threads(p0, p1);
                let cfg = MachineConfig { mode, ..MachineConfig::default() };
                let sys = plain(&code, &cfg, 30, false);
                let init = sys.initial(&threads, &FlatMemory::new());
                let (mut full, mut red) = (BTreeSet::new(), BTreeSet::new());
                let f = explore(&sys, init.clone(), &Limits::default(), |s| {
                    full.insert(fingerprint(s));
                });
                let r = explore_reduced(&sys, init, &Limits::default(), |s, _| {
                    red.insert(fingerprint(s));
                });
                let what = format!("{mode}: {p0:?} | {p1:?}");
                assert_eq!(full, red, "{what}: final states");
                let counts = |s: &sim::explore::ExploreStats| {
                    (s.states, s.finals, s.pruned, s.deadlocks, s.model_bound_hits, s.state_limit_hit)
                };
                assert_eq!(counts(&f), counts(&r), "{what}");
                assert!(r.transitions_taken < f.transitions_taken, "{what}: {r:?} {f:?}");
                (taken, full_taken) = (taken + r.transitions_taken, full_taken + f.transitions_taken);
            }
        }
        assert!(taken * 10 < full_taken * 9, "{taken} of {full_taken}");
    }

    /// The relation itself: different cores' accesses to different locations commute; the
    /// same location written, the same core, a maintenance operation or two logged events do
    /// not.
    #[test]
    fn independence_is_by_core_location_and_ghost_events() {
        let (code, threads) = two_threads("MOV X2,#1\nSTR X2,[X0]", "MOV X2,#1\nSTR X2,[X1]\nLDR X3,[X0]");
        let cfg = MachineConfig { mode: Mode::Arm, ..MachineConfig::default() };
        let mut sys = Exhaustive {
            code: &code,
            cfg: &cfg,
            max_fetch: 30,
            record: false,
            speculation: 0,
            ghosts: Default::default(),
            holds: &[],
            tlb: false,
            tlb_prefill: &[],
        };
        let mut out = vec![];
        sys.expand(&sys.initial(&threads, &FlatMemory::new()), &mut out);
        let s = out.remove(0).1;
        let mut succ = vec![];
        sys.expand(&s, &mut succ);
        let keys: Vec<Step> = succ.iter().map(|(l, _)| sys.key(l)).collect();
        let find = |core: u16, f: &dyn Fn(&Visible) -> bool| {
            keys.iter()
                .find(|k| matches!(k, Step::Access { core: c, action, .. } if *c == core && f(action)))
                .unwrap_or_else(|| panic!("{keys:?}"))
                .clone()
        };
        let st_x = find(0, &|a| matches!(a, Visible::Propagate(_)));
        let st_y = find(1, &|a| matches!(a, Visible::Propagate(_)));
        let ld_x = find(1, &|a| matches!(a, Visible::Satisfy(_)));
        assert!(sys.independent(&s, &st_x, &st_y), "stores to different locations");
        assert!(!sys.independent(&s, &st_x, &ld_x), "a store and a load of X");
        assert!(!sys.independent(&s, &st_y, &ld_x), "one core");
        let watch = [X, Y];
        sys.ghosts.watch = &watch;
        assert!(!sys.independent(&s, &st_x, &st_y), "both log a Stored event");
    }

    #[test]
    fn timed_run_with_equal_starts_shows_store_buffering() {
        let (code, threads) = two_threads(SB0, SB1);
        let cfg = Arc::new(MachineConfig { mode: Mode::Arm, ..MachineConfig::default() });
        let mut e = Engine::new(Machine::new(cfg, Arc::new(code), &threads, FlatMemory::new()));
        e.model_mut().set_record(true);
        run(&mut e, &[0, 0], 1_000_000).unwrap();
        let s = e.model().state();
        assert_eq!((s.cores[0].reg(Reg::x(3)), s.cores[1].reg(Reg::x(3))), (0, 0));
        assert_eq!(s.mem.read(X).value, 1);
        let g = e.model().exec_graph();
        assert_eq!(g.threads[0].len(), 2);
    }

    const SPIN_WRITER: &str = "MOV X2,#1\nSTR X2,[X0]\nDMB ISHST\nSTR X2,[X1]";
    const SPIN_READER: &str = "wait: LDR X4,[X1]\nCBZ X4,wait\nDMB ISHLD\nLDR X3,[X0]";

    #[test]
    fn spinning_reader_finishes_in_every_timed_run_and_sees_the_data() {
        let (code, threads) = two_threads(SPIN_WRITER, SPIN_READER);
        let cfg = Arc::new(MachineConfig { mode: Mode::Arm, jitter: 150, ..MachineConfig::default() });
        let mut e = Engine::new(Machine::new(cfg, Arc::new(code), &threads, FlatMemory::new()));
        for seed in 0..200 {
            e.model_mut().seed(&RngStreams::new(seed));
            e.model_mut().reset(&threads, &FlatMemory::new());
            e.scheduler().reset();
            run(&mut e, &[seed % 7 * 50, 0], 1_000_000).unwrap_or_else(|err| panic!("seed {seed}: {err}"));
            assert_eq!(e.model().state().cores[1].reg(Reg::x(3)), 1, "seed {seed}");
        }
    }

    #[test]
    fn spin_loop_is_cut_at_the_fetch_bound_in_exhaustive_runs() {
        let (code, threads) = two_threads(SPIN_WRITER, SPIN_READER);
        let cfg = MachineConfig::default();
        let sys = plain(&code, &cfg, 40, false);
        let mut seen = BTreeSet::new();
        let stats = explore(&sys, sys.initial(&threads, &FlatMemory::new()), &Limits::default(), |s| {
            seen.insert(s.cores[1].reg(Reg::x(3)));
        });
        assert!(stats.model_bound_hits > 0, "the loop can spin forever: some path must hit the bound");
        assert_eq!(seen, [1].into(), "after seeing the flag, the data is visible (dmb.st + dmb.ld)");
    }

    #[test]
    fn a_compute_block_is_one_event_and_takes_its_cycles() {
        let (code, threads) = two_threads("work 10000\nMOV X2,#1\nSTR X2,[X0]", "NOP");
        let cfg = Arc::new(MachineConfig::default());
        let mut e = Engine::new(Machine::new(cfg, Arc::new(code), &threads, FlatMemory::new()));
        let end = run(&mut e, &[0, 0], u64::MAX).unwrap();
        assert!((10_000..10_000 + 400).contains(&end), "ended at {end}");
        assert!(e.scheduler().events_processed() <= 6, "{} events", e.scheduler().events_processed());
        assert_eq!(e.model().state().mem.read(X).value, 1);
    }

    const INCREMENTS: &str = "MOV X2,#1\nMOV X5,#100\nl: LDADD X2,X3,[X0]\nSUB X5,X5,#1\nCBNZ X5,l";

    #[test]
    fn timed_atomic_increments_are_never_lost_and_check_against_the_axioms() {
        let (code, threads) = two_threads(INCREMENTS, INCREMENTS);
        for mode in Mode::ALL {
            let cfg = Arc::new(MachineConfig { mode, jitter: 40, ..MachineConfig::default() });
            let mut e = Engine::new(Machine::new(cfg, Arc::new(code.clone()), &threads, FlatMemory::new()));
            e.model_mut().set_record(true);
            for seed in 0..20 {
                e.model_mut().seed(&RngStreams::new(seed));
                e.model_mut().reset(&threads, &FlatMemory::new());
                e.scheduler().reset();
                run(&mut e, &[0, seed * 13], 10_000_000).unwrap_or_else(|err| panic!("{mode} seed {seed}: {err}"));
                assert_eq!(e.model().state().mem.read(X).value, 200, "{mode} seed {seed}");
                assert_eq!(e.model().stats().rmws, 200);
                let g = e.model().exec_graph();
                memory_model::graph::check(&g, mode).unwrap_or_else(|v| panic!("{mode} seed {seed}: {v}"));
                // Each LDADD is a read and a write.
                assert_eq!(g.threads[0].len(), 200, "{mode}");
            }
        }
    }

    #[test]
    fn a_performed_rmw_is_not_performed_again_after_an_interrupt() {
        // P0 increments x 100 times with interrupts unmasked, each time
        // after a load that misses (so the relaxed LDADD is performed long
        // before it can retire); P1 sends P0 SGIs meanwhile, whose handler
        // only acknowledges them. An RMW is never squashed once performed:
        // x ends at 100 exactly.
        let handler = ".org 0x280\nMRS X9, ICC_IAR1_EL1\nMSR ICC_EOIR1_EL1, X9\nADD X7,X7,#1\nERET";
        let cfg = Arc::new(MachineConfig::default());
        let sgi = crate::gic::encode_sgi1r(1, &[0], &cfg.topology_for(2)).unwrap();
        let sender = "MOV X5,#30\nl: MSR ICC_SGI1R_EL1, X6\nwork 150\nSUB X5,X5,#1\nCBNZ X5,l";
        let incrementer = INCREMENTS.replace("l: ", "l: LDR X8,[X1,X5,LSL #8]\n");
        let (mut code, mut threads) = two_threads(&incrementer, sender);
        code.add(assemble(handler, 0x8000).unwrap());
        threads[0].daif = 0;
        threads[0].sysregs.push((SysReg::VbarEl1, 0x8000));
        threads[1].regs.push((Reg::x(6), sgi));
        let mut e = Engine::new(Machine::new(cfg, Arc::new(code), &threads, FlatMemory::new()));
        for seed in 0..20 {
            e.model_mut().seed(&RngStreams::new(seed));
            e.model_mut().reset(&threads, &FlatMemory::new());
            e.scheduler().reset();
            run(&mut e, &[0, seed * 7], 10_000_000).unwrap_or_else(|err| panic!("seed {seed}: {err}"));
            let s = e.model().state();
            assert!(s.cores[0].reg(Reg::x(7)) > 0, "seed {seed}: no interrupt taken");
            assert_eq!(s.mem.read(X).value, 100, "seed {seed}");
        }
    }

    #[test]
    fn swaps_in_exhaustive_runs() {
        // SB with fully ordered swaps (xchg): never both old values.
        let p0 = "MOV X2,#1\nSWPAL X2,X4,[X0]\nLDR X3,[X1]";
        let p1 = "MOV X2,#1\nSWPAL X2,X4,[X1]\nLDR X3,[X0]";
        let sc: BTreeSet<_> = [(0, 1), (1, 0), (1, 1)].into();
        for mode in Mode::ALL {
            assert_eq!(outcomes(mode, p0, p1), sc, "{mode}");
        }
        // Relaxed swaps: under arm the loads pass them.
        let (p0, p1) = (p0.replace("SWPAL", "SWP"), p1.replace("SWPAL", "SWP"));
        assert!(outcomes(Mode::Arm, &p0, &p1).contains(&(0, 0)));
        assert_eq!(outcomes(Mode::Tso, &p0, &p1), sc, "a LOCKed XCHG");
    }
}

/// The explorer's TLBs: thread 0 remaps page `PAGE` from frame `OLD` (holding 1) to `NEW`
/// (holding 2) and then sets `FLAG`; thread 1 reads the flag and then the page.
#[cfg(test)]
mod tlb_tests {
    use super::*;
    use crate::asm::assemble;
    use crate::isa::Reg;
    use memory_model::tlb::{Descriptor, PageTableBuilder, tlbi_operand};
    use sim::explore::{ExploreStats, Limits, explore, explore_unordered, explore_with_paths};
    use std::collections::BTreeSet;

    const PAGE: u64 = 0x40_0000;
    const OLD: u64 = 0x50_0000;
    const NEW: u64 = 0x60_0000;
    const FLAG: u64 = 0x3000;
    const TABLES: u64 = 0x10_0000;

    /// Thread 0: the new leaf descriptor, DSB ISH, the flag (X0: the descriptor's address,
    /// X2: the new descriptor, X6: the TLBI operand for `PAGE`).
    const REMAP: &str = "STR X2,[X0]\nDSB ISH\nMOV X3,#1\nSTR X3,[X1]";
    /// The same with a broadcast invalidation of the page completed before the flag.
    const REMAP_TLBI_IS: &str = "STR X2,[X0]\nDSB ISH\nTLBI VAE1IS,X6\nDSB ISH\nMOV X3,#1\nSTR X3,[X1]";
    const REMAP_VMALL_IS: &str = "STR X2,[X0]\nDSB ISH\nTLBI VMALLE1IS\nDSB ISH\nMOV X3,#1\nSTR X3,[X1]";
    /// Thread 1: the page's address depends on the flag read, so it is translated after it.
    const READ_DEP: &str = "LDR X4,[X1]\nEOR X5,X4,X4\nLDR X3,[X0,X5]";
    /// Thread 1: the page's address is known at once (translated before the flag is read),
    /// the access performed after it.
    const READ_DMB: &str = "LDR X4,[X1]\nDMB ISH\nLDR X3,[X0]";

    struct Run {
        /// (thread 1's X4: the flag it read, X3: what it read of the page) per final state.
        outcomes: BTreeSet<(u64, u64)>,
        /// The same, for final states where thread 1 translated `PAGE` through a stale entry.
        stale: BTreeSet<(u64, u64)>,
        stats: ExploreStats,
    }

    /// Page tables mapping code, flag and tables one to one and `PAGE` to `OLD`; both threads
    /// at EL1 with the MMU on.
    fn setup(p0: &str, p1: &str) -> (CodeSpace, Vec<ThreadInit>, FlatMemory) {
        let cfg = TlbConfig::default();
        let mut mem = FlatMemory::new();
        let mut b = PageTableBuilder::new(&cfg, TABLES..TABLES + 0x1_0000, &mut mem).unwrap();
        for p in [0x1000, 0x2000, FLAG] {
            b.map(&mut mem, p, p, PageFlags::KERNEL).unwrap();
        }
        let pte = b.map(&mut mem, PAGE, OLD, PageFlags::KERNEL).unwrap();
        // Thread 0 stores to the tables through their identity mapping.
        b.map_range(&mut mem, TABLES, TABLES, 16, PageFlags::KERNEL).unwrap();
        mem.init(OLD, 1);
        mem.init(NEW, 2);
        let mut code = CodeSpace::new();
        code.add(assemble(p0, 0x1000).unwrap());
        code.add(assemble(p1, 0x2000).unwrap());
        let mmu = vec![(SysReg::Ttbr0El1, b.root()), (SysReg::SctlrEl1, 1)];
        let regs0 = vec![
            (Reg::x(0), pte),
            (Reg::x(1), FLAG),
            (Reg::x(2), Descriptor::page(NEW, PageFlags::KERNEL).0),
            (Reg::x(6), tlbi_operand(PAGE, 0)),
        ];
        let regs1 = vec![(Reg::x(0), PAGE), (Reg::x(1), FLAG)];
        let threads = vec![
            ThreadInit { pc: 0x1000, regs: regs0, sysregs: mmu.clone(), ..ThreadInit::default() },
            ThreadInit { pc: 0x2000, regs: regs1, sysregs: mmu, ..ThreadInit::default() },
        ];
        (code, threads, mem)
    }

    /// The explorer the tests use, over `code`.
    fn explorer<'a>(
        code: &'a CodeSpace,
        cfg: &'a MachineConfig,
        ghosts: Ghosts<'a>,
        tlb: bool,
        tlb_prefill: &'a [(ThreadId, Addr)],
    ) -> Exhaustive<'a> {
        Exhaustive { code, cfg, max_fetch: 100, record: false, speculation: 2, ghosts, tlb, tlb_prefill, holds: &[] }
    }

    /// Explores thread 0 running `p0` against thread 1 running `p1`, with TLBs on or off;
    /// thread 1's TLB holds `PAGE`'s translation at the start if `prefill`.
    fn run(p0: &str, p1: &str, tlb: bool, prefill: bool) -> Run {
        let (code, threads, mem) = setup(p0, p1);
        let cfg = MachineConfig::default();
        let fills: &[(ThreadId, Addr)] = if prefill { &[(1, PAGE)] } else { &[] };
        let sys = explorer(&code, &cfg, Ghosts { watch_translations: &[PAGE], ..Ghosts::default() }, tlb, fills);
        let mut r = Run { outcomes: BTreeSet::new(), stale: BTreeSet::new(), stats: ExploreStats::default() };
        r.stats = explore(&sys, sys.initial(&threads, &mem), &Limits::default(), |s| {
            let seen = (s.cores[1].reg(Reg::x(4)), s.cores[1].reg(Reg::x(3)));
            r.outcomes.insert(seen);
            if s.trace.iter().any(|g| matches!(g, Ghost::Translated { core: 1, va: PAGE, stale: true, .. })) {
                r.stale.insert(seen);
            }
        });
        assert!(!r.stats.bound_hit() && r.stats.deadlocks == 0, "{:?}", r.stats);
        r
    }

    #[test]
    fn with_tlbs_off_remapping_explores_as_before() {
        // Outcomes and counts of the explorer before it modelled TLBs; a prefill is ignored.
        let all: BTreeSet<_> = [(0, 1), (0, 2), (1, 2)].into();
        for prefill in [false, true] {
            let r = run(REMAP, READ_DEP, false, prefill);
            assert_eq!(r.outcomes, all);
            assert_eq!((r.stats.states, r.stats.transitions, r.stats.finals), (16, 18, 3));
            assert!(r.stale.is_empty(), "no TLB, no translation logged");
            let r = run(REMAP_TLBI_IS, READ_DEP, false, prefill);
            assert_eq!(r.outcomes, all);
            assert_eq!((r.stats.states, r.stats.transitions, r.stats.finals), (21, 26, 3));
        }
        // Without TLBs a walk at address generation already reads the old descriptor.
        let r = run(REMAP, READ_DMB, false, false);
        assert_eq!(r.outcomes, [(0, 1), (1, 1)].into());
        assert_eq!((r.stats.states, r.stats.transitions, r.stats.finals), (12, 14, 2));
    }

    /// Memory whose page tables map each `(va, pa)` of `pages` for user code, in that order, and
    /// the tables themselves with `table_flags`: the memory, the root table, and each page's
    /// descriptor address.
    fn user_page_tables(pages: &[(u64, u64)], table_flags: PageFlags) -> (FlatMemory, u64, Vec<u64>) {
        let user = PageFlags { user: true, read_only: false, global: true };
        let mut mem = FlatMemory::new();
        let mut b = PageTableBuilder::new(&TlbConfig::default(), TABLES..TABLES + 0x1_0000, &mut mem).unwrap();
        let ptes = pages.iter().map(|&(va, pa)| b.map(&mut mem, va, pa, user).unwrap()).collect();
        b.map_range(&mut mem, TABLES, TABLES, 16, table_flags).unwrap();
        (mem, b.root(), ptes)
    }

    /// A machine that runs user code on the in-order core, ahead of the clock or stepped.
    fn in_order_engine(run_ahead: bool, code: CodeSpace, threads: &[ThreadInit], mem: FlatMemory) -> Engine<Machine> {
        let mut cfg = MachineConfig::default();
        cfg.core.user_code = UserCode::InOrder;
        cfg.core.in_order_run_ahead = run_ahead;
        Engine::new(Machine::new(Arc::new(cfg), Arc::new(code), threads, mem))
    }

    /// A user loop that works on two private pages in turn, as the oslat loop does on its
    /// histogram's buckets and totals when they straddle a page: both translations stay
    /// remembered for loads and for stores, and the run is the one with one event per instruction.
    #[test]
    fn two_private_pages_used_in_turn_are_both_remembered() {
        const PAGE2: u64 = PAGE + 0x1000;
        let user = PageFlags { user: true, read_only: false, global: true };
        let run = |run_ahead: bool| {
            let pages = [(0x2000, 0x2000), (PAGE, OLD), (PAGE2, OLD + 0x1000)];
            let (mem, root, _) = user_page_tables(&pages, user);
            let task = "MOV X9,#200\nloop:\nLDR X3,[X0]\nADD X3,X3,#1\nSTR X3,[X0]\nLDR X4,[X1]\nADD X4,X4,#2\n\
                        STR X4,[X1]\nSUB X9,X9,#1\nCBNZ X9,loop";
            let mut code = CodeSpace::new();
            code.add(assemble(task, 0x2000).unwrap());
            let threads = vec![ThreadInit {
                pc: 0x2000,
                regs: vec![(Reg::x(0), PAGE + 0x08), (Reg::x(1), PAGE2 + 0x10)],
                sysregs: vec![(SysReg::Ttbr0El1, root), (SysReg::SctlrEl1, 1)],
                el: 0,
                ..ThreadInit::default()
            }];
            let mut engine = in_order_engine(run_ahead, code, &threads, mem);
            engine.model_mut().keep_private(0, OLD..OLD + 0x2000);
            let end = super::run(&mut engine, &[0], 10_000_000).unwrap();
            let m = engine.model();
            let remembered: Vec<Vec<Addr>> = m.mmu.private_memo.first().map_or(vec![], |kinds| {
                kinds.iter().map(|ways| ways.iter().flatten().map(|w| w.va_base).collect()).collect()
            });
            let mem = m.state().mem.read(OLD + 0x08).value + 1000 * m.state().mem.read(OLD + 0x1010).value;
            (remembered, mem, m.state().cores[0].reg(Reg::x(4)), end)
        };
        let (ahead, stepped) = (run(true), run(false));
        assert_eq!((ahead.1, ahead.2, ahead.3), (stepped.1, stepped.2, stepped.3));
        assert_eq!(ahead.1, 200 + 1000 * 400);
        // For loads and for stores, both pages (in the order they were last missed).
        let sorted = |mut v: Vec<Addr>| {
            v.sort();
            v
        };
        assert_eq!(ahead.0.into_iter().map(sorted).collect::<Vec<_>>(), vec![vec![PAGE, PAGE2]; 2]);
    }

    /// Two user threads on the in-order core, each looping over its own private page through a
    /// translation another core has made stale: their stale uses are one list for the machine,
    /// so their private accesses must not run ahead of each other's (the list, the registers
    /// and memory are those of the run with one event per instruction).
    #[test]
    fn stale_private_translations_are_logged_in_the_order_of_the_accesses() {
        const PAGE2: u64 = 0x41_0000;
        const OLD2: u64 = 0x51_0000;
        let user = PageFlags { user: true, read_only: false, global: true };
        let run = |run_ahead: bool| {
            let identity = [0x1000, 0x2000, 0x3000, FLAG + 0x1000].map(|p| (p, p));
            let (mem, root, ptes) =
                user_page_tables(&[&identity[..], &[(PAGE, OLD), (PAGE2, OLD2)]].concat(), PageFlags::KERNEL);
            let (pte1, pte2) = (ptes[4], ptes[5]);
            // Thread 0 (the kernel) rewrites both descriptors, unchanged, after a while, then
            // raises the flag; threads 1 and 2 fill their TLBs, wait for it, and count.
            let writer =
                "MOV X9,#300\nw:\nSUB X9,X9,#1\nCBNZ X9,w\nSTR X2,[X0]\nSTR X5,[X6]\nDSB ISH\nMOV X3,#1\nSTR X3,[X1]";
            let counter = "LDR X3,[X0]\nwait:\nLDR X4,[X1]\nCBZ X4,wait\nMOV X9,#40\nloop:\nLDR X3,[X0]\n\
                           ADD X3,X3,#1\nSTR X3,[X0]\nSUB X9,X9,#1\nCBNZ X9,loop";
            let mut code = CodeSpace::new();
            code.add(assemble(writer, 0x1000).unwrap());
            code.add(assemble(counter, 0x2000).unwrap());
            code.add(assemble(counter, 0x3000).unwrap());
            let mmu = vec![(SysReg::Ttbr0El1, root), (SysReg::SctlrEl1, 1)];
            let flag = FLAG + 0x1000;
            let regs0 = vec![
                (Reg::x(0), pte1),
                (Reg::x(2), Descriptor::page(OLD, user).0),
                (Reg::x(6), pte2),
                (Reg::x(5), Descriptor::page(OLD2, user).0),
                (Reg::x(1), flag),
            ];
            let user_thread = |pc, page| ThreadInit {
                pc,
                regs: vec![(Reg::x(0), page), (Reg::x(1), flag)],
                sysregs: mmu.clone(),
                el: 0,
                ..ThreadInit::default()
            };
            let threads = vec![
                ThreadInit { pc: 0x1000, regs: regs0, sysregs: mmu.clone(), ..ThreadInit::default() },
                user_thread(0x2000, PAGE),
                user_thread(0x3000, PAGE2),
            ];
            let mut engine = in_order_engine(run_ahead, code, &threads, mem);
            engine.model_mut().keep_private(1, OLD..OLD + 0x1000);
            engine.model_mut().keep_private(2, OLD2..OLD2 + 0x1000);
            let end = super::run(&mut engine, &[0, 0, 0], 10_000_000).unwrap();
            let m = engine.model();
            let regs: Vec<u64> = (0..3).map(|c| m.state().cores[c].reg(Reg::x(3))).collect();
            (m.mmu().stale().to_vec(), regs, m.state().mem.read(OLD).value, end)
        };
        let (ahead, stepped) = (run(true), run(false));
        let order = |r: &(Vec<StaleTranslation>, _, _, _)| r.0.iter().map(|s| (s.core, s.at)).collect::<Vec<_>>();
        assert_eq!(order(&ahead), order(&stepped), "stale uses (core, cycle), ahead and stepped");
        assert_eq!(ahead, stepped);
        let (stale, ..) = &ahead;
        // Both threads used their stale entries, many times, interleaved.
        for core in [1, 2] {
            assert!(stale.iter().filter(|s| s.core == core).count() >= 40, "core {core}: {stale:?}");
        }
        assert!(stale.windows(2).any(|w| w[0].core != w[1].core));
    }

    /// A user thread on the in-order core counts through its private page, hands over to the
    /// kernel on another core, which rewrites the page's descriptor (unchanged, without a TLBI),
    /// and counts on: the translation the core remembers from before is stale from that store
    /// on, so each later use is logged, as in the run with one event per instruction (in debug
    /// builds every remembered translation is also checked against the full verdict).
    #[test]
    fn a_remembered_private_translation_is_forgotten_when_its_descriptor_is_written() {
        let user = PageFlags { user: true, read_only: false, global: true };
        let run = |run_ahead: bool| {
            let pages = [(0x1000, 0x1000), (0x2000, 0x2000), (FLAG, FLAG), (PAGE, OLD)];
            let (mem, root, ptes) = user_page_tables(&pages, user);
            // (The kernel's translations are made first, so that nothing but the store itself
            // changes what the task's remembered translation rests on.)
            let kernel = "LDR X5,[X0]\nw:\nLDR X4,[X1]\nCBZ X4,w\nSTR X2,[X0]\nDSB ISH\nMOV X4,#1\nSTR X4,[X1,#8]";
            let count =
                "MOV X9,#100\nloop{n}:\nLDR X3,[X0]\nADD X3,X3,#1\nSTR X3,[X0]\nSUB X9,X9,#1\nCBNZ X9,loop{n}\n";
            let task = format!(
                "LDR X4,[X1]\n{}MOV X4,#1\nSTR X4,[X1]\nwait:\nLDR X4,[X1,#8]\nCBZ X4,wait\n{}",
                count.replace("{n}", "1"),
                count.replace("{n}", "2")
            );
            let mut code = CodeSpace::new();
            code.add(assemble(kernel, 0x1000).unwrap());
            code.add(assemble(&task, 0x2000).unwrap());
            let mmu = vec![(SysReg::Ttbr0El1, root), (SysReg::SctlrEl1, 1)];
            let regs0 = vec![(Reg::x(0), ptes[3]), (Reg::x(1), FLAG), (Reg::x(2), Descriptor::page(OLD, user).0)];
            let threads = vec![
                ThreadInit { pc: 0x1000, regs: regs0, sysregs: mmu.clone(), ..ThreadInit::default() },
                ThreadInit {
                    pc: 0x2000,
                    regs: vec![(Reg::x(0), PAGE), (Reg::x(1), FLAG)],
                    sysregs: mmu,
                    el: 0,
                    ..ThreadInit::default()
                },
            ];
            let mut engine = in_order_engine(run_ahead, code, &threads, mem);
            engine.model_mut().keep_private(1, OLD..OLD + 0x1000);
            let end = super::run(&mut engine, &[0, 0], 10_000_000).unwrap();
            let m = engine.model();
            let stale: Vec<_> = m.mmu().stale().iter().map(|s| (s.core, s.at)).collect();
            (stale, m.state().mem.read(OLD).value, end)
        };
        let (ahead, stepped) = (run(true), run(false));
        assert_eq!(ahead, stepped);
        let (stale, count, _) = &ahead;
        assert_eq!(*count, 200);
        // Each load and store of the second hundred iterations, and none of the first.
        assert_eq!(stale.len(), 200);
        assert!(stale.iter().all(|s| s.0 == 1));
    }

    /// A user thread on the in-order core whose private data is a page-table page (mapped to it,
    /// as no kernel would) rewrites the descriptor another thread's TLB entry came from: each
    /// store makes that entry stale from its cycle on, so it must not run ahead of the other's
    /// accesses (the other's stale uses are those of the run with one event per instruction).
    #[test]
    fn a_private_store_to_a_descriptor_does_not_run_ahead() {
        const PAGE2: u64 = 0x41_0000;
        let user = PageFlags { user: true, read_only: false, global: true };
        let run = |run_ahead: bool| {
            let pages = [(0x1000, 0x1000), (0x2000, 0x2000), (FLAG, FLAG), (PAGE, OLD), (PAGE2, NEW)];
            let (mem, root, ptes) = user_page_tables(&pages, user);
            let pte = ptes[4];
            // Thread 1 reads the descriptor (so that its TLB maps the table), waits until thread 0
            // has its translation, then rewrites it, unchanged: its first store is a TLB hit.
            let reader = "LDR X3,[X0]\nDMB ISH\nMOV X4,#1\nSTR X4,[X1]\nMOV X9,#600\nloop:\nLDR X3,[X0]\n\
                          SUB X9,X9,#1\nCBNZ X9,loop";
            let writer = "LDR X5,[X0]\nwait:\nLDR X4,[X1]\nCBZ X4,wait\nMOV X9,#30\nloop:\nSTR X2,[X0]\nSUB X9,X9,#1\nCBNZ X9,loop";
            let mut code = CodeSpace::new();
            code.add(assemble(reader, 0x1000).unwrap());
            code.add(assemble(writer, 0x2000).unwrap());
            let mmu = vec![(SysReg::Ttbr0El1, root), (SysReg::SctlrEl1, 1)];
            let user_thread = |pc, regs| ThreadInit { pc, regs, sysregs: mmu.clone(), el: 0, ..ThreadInit::default() };
            let threads = vec![
                user_thread(0x1000, vec![(Reg::x(0), PAGE2), (Reg::x(1), FLAG)]),
                user_thread(
                    0x2000,
                    vec![(Reg::x(0), pte), (Reg::x(1), FLAG), (Reg::x(2), Descriptor::page(NEW, user).0)],
                ),
            ];
            let mut engine = in_order_engine(run_ahead, code, &threads, mem);
            let table = pte & !0xfff;
            engine.model_mut().keep_private(1, table..table + 0x1000);
            let end = super::run(&mut engine, &[0, 0], 10_000_000).unwrap();
            (engine.model().mmu().stale().iter().map(|s| (s.core, s.at)).collect::<Vec<_>>(), end)
        };
        let (ahead, stepped) = (run(true), run(false));
        assert_eq!(ahead, stepped);
        assert!(ahead.0.len() > 10 && ahead.0.iter().all(|s| s.0 == 0), "{:?}", ahead.0);
    }

    #[test]
    fn stale_translation_without_tlbi() {
        let r = run(REMAP, READ_DEP, true, true);
        assert!(r.outcomes.contains(&(1, 1)), "thread 1 saw the flag and read the old frame: {:?}", r.outcomes);
        assert!(r.stale.contains(&(1, 1)), "and the translation it used is reported stale: {:?}", r.stale);
        // Its TLB did not hold the page: the walk after the flag finds the new descriptor.
        let r = run(REMAP, READ_DEP, true, false);
        assert_eq!(r.outcomes, [(0, 1), (0, 2), (1, 2)].into());
        assert!(r.stale.is_empty());
    }

    #[test]
    fn tlbi_is_then_dsb_removes_stale_translations() {
        for p0 in [REMAP_TLBI_IS, REMAP_VMALL_IS] {
            for p1 in [READ_DEP, READ_DMB] {
                let r = run(p0, p1, true, true);
                let saw_flag: Vec<_> = r.outcomes.iter().filter(|o| o.0 == 1).collect();
                assert_eq!(saw_flag, [&(1, 2)], "{p0} / {p1}: {:?}", r.outcomes);
                assert!(r.stale.iter().all(|o| o.0 == 0), "{p0} / {p1}: stale after the flag: {:?}", r.stale);
            }
        }
        // READ_DMB translated the page before the TLBI: the TLBI restarts that access.
        let r = run(REMAP_TLBI_IS, READ_DMB, true, true);
        assert!(r.outcomes.contains(&(0, 1)) && r.outcomes.contains(&(0, 2)), "{:?}", r.outcomes);
    }

    #[test]
    fn a_local_tlbi_on_the_remapping_core_leaves_other_tlbs_alone() {
        let local = REMAP_TLBI_IS.replace("TLBI VAE1IS,X6\nDSB ISH", "TLBI VAE1,X6\nDSB NSH\nDSB ISH");
        let r = run(&local, READ_DEP, true, true);
        assert!(r.outcomes.contains(&(1, 1)) && r.stale.contains(&(1, 1)), "{:?} {:?}", r.outcomes, r.stale);
    }

    #[test]
    fn local_tlbi_after_the_flag_removes_the_stale_translation() {
        // DSB ISH orders the TLBI after the flag read (a DMB would not: Arm orders a TLBI after
        // an earlier load only by a DSB or a context synchronization).
        let flush = "LDR X4,[X1]\nDSB ISH\nTLBI VMALLE1\nDSB NSH\nISB\nLDR X3,[X0]";
        let r = run(REMAP, flush, true, true);
        assert_eq!(r.outcomes.iter().filter(|o| o.0 == 1).collect::<Vec<_>>(), [&(1, 2)], "{:?}", r.outcomes);
        assert!(r.stale.is_empty(), "{:?}", r.stale);
        // The same without the TLBI keeps using the old frame.
        let r = run(REMAP, &flush.replace("TLBI VMALLE1\n", ""), true, true);
        assert!(r.outcomes.contains(&(1, 1)) && r.stale.contains(&(1, 1)), "{:?} {:?}", r.outcomes, r.stale);
    }

    #[test]
    fn a_broadcast_tlbi_waits_for_buffered_stores_through_the_old_translation() {
        // Thread 1's store is translated through its entry for the page at once and retires
        // once the flag is read. It may reach the old frame only before the TLBI removing that
        // entry completes: retired, the TLBI waits for it; not yet, the TLBI restarts it.
        let (code, threads, mem) = setup(REMAP_TLBI_IS, "LDR X4,[X1]\nMOV X2,#7\nSTR X2,[X0]");
        let cfg = MachineConfig::default();
        let sys = explorer(&code, &cfg, Ghosts { all_accesses: true, ..Ghosts::default() }, true, &[(1, PAGE)]);
        let mut frames = BTreeSet::new();
        let stats = explore(&sys, sys.initial(&threads, &mem), &Limits::default(), |s| {
            let tlbi = s.trace.iter().position(|g| matches!(g, Ghost::Maintained { core: 0, .. })).unwrap();
            let store = s.trace.iter().position(|g| matches!(g, Ghost::Stored { core: 1, .. })).unwrap();
            let Ghost::Stored { addr, .. } = s.trace[store] else { unreachable!() };
            assert!(addr == NEW || store < tlbi, "stored to {addr:#x} after the TLBI: {:?}", s.trace);
            frames.insert(addr);
        });
        assert!(!stats.bound_hit() && stats.deadlocks == 0, "{stats:?}");
        assert_eq!(frames, [OLD, NEW].into());
    }

    #[test]
    fn tlb_exploration_is_deterministic_and_parallel_agrees() {
        let (code, threads, mem) = setup(REMAP_TLBI_IS, READ_DMB);
        let cfg = MachineConfig::default();
        let sys = explorer(&code, &cfg, Ghosts::default(), true, &[(1, PAGE)]);
        let init = sys.initial(&threads, &mem);
        let first = explore(&sys, init.clone(), &Limits::default(), |_| {});
        assert_eq!(first, explore(&sys, init.clone(), &Limits::default(), |_| {}));
        assert_eq!(first, explore_unordered(&sys, init.clone(), &Limits::default(), 2, |_| true));
        assert!(first.states > 0 && first.finals > 0);
        // Every final state replays from its path, restarts by a TLBI included.
        let mut restarting_paths = 0;
        explore_with_paths(&sys, init.clone(), &Limits::default(), |s, path| {
            let steps = path.labels();
            restarting_paths +=
                steps.iter().any(|l| matches!(l, Step::Access { restarted, .. } if !restarted.is_empty())) as usize;
            assert_eq!(sim::explore::replay(&sys, init.clone(), &steps).as_ref(), Some(s));
        });
        assert!(restarting_paths > 0, "some path has the TLBI restart thread 1's access");
    }

    #[test]
    fn prefill_walks_the_initial_tables() {
        let (code, threads, mem) = setup(REMAP, READ_DEP);
        let cfg = MachineConfig::default();
        // An unmapped page fills nothing.
        let sys = explorer(&code, &cfg, Ghosts::default(), true, &[(1, PAGE), (1, 0x7000), (0, FLAG)]);
        let s = sys.initial(&threads, &mem);
        let pages = |c: usize| s.tlbs[c].lines().iter().map(|l| (l.vpn << 12, l.ppn << 12)).collect::<Vec<_>>();
        assert_eq!(pages(0), [(FLAG, FLAG)]);
        assert_eq!(pages(1), [(PAGE, OLD)]);
        assert_eq!(s.tlbs[1].lines()[0].source, WriteId::INIT);
        let mut t = s.clone();
        assert!(sys.fill_tlb(&mut t, 0, 0x7000).is_err());
        let off = Exhaustive { tlb: false, ..sys };
        assert!(off.initial(&threads, &mem).tlbs.is_empty());
    }
}

#[cfg(test)]
mod repro {
    use super::*;
    use crate::asm::assemble;
    #[test]
    fn tso_maint_then_mrs() {
        for mode in [Mode::Tso, Mode::Sc, Mode::Arm] {
            let mut code = CodeSpace::new();
            code.add(
                assemble("MOV X0, #0x1000\nIC IVAU, X0\nMRS X9, TPIDR_EL1\nADD X9, X9, #128\nNOP", 0x1000).unwrap(),
            );
            let threads = vec![ThreadInit { pc: 0x1000, ..Default::default() }];
            let cfg = Arc::new(MachineConfig { mode, ..MachineConfig::default() });
            let mut e = Engine::new(Machine::new(cfg, Arc::new(code), &threads, FlatMemory::new()));
            let r = run(&mut e, &[0], 1_000_000);
            println!("{mode:?}: {r:?}");
        }
    }
}
