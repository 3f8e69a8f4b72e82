//! One out-of-order, speculative core.
//!
//! ```text
//!  fetch ──▶ ROB (program order, renamed through producer links) ──▶ retire ──▶ arch regs
//!              │ loads, stores, barriers, cond. branches
//!              ▼
//!             Lsq (memory-model): ordering rules of the mode, store buffer
//! ```
//!
//! The core fetches instructions into a reorder buffer, following predicted
//! branch directions; each instruction names the in-flight producers of its
//! source registers. Register computations happen as soon as their inputs
//! exist — they are local and invisible to other cores. Memory accesses go
//! through the load/store queue, whose mode rules say which load may be
//! satisfied and which store may propagate; those *visible* transitions are
//! chosen from outside: by latencies in a timed run, by the explorer in an
//! exhaustive one. A satisfied load that later turns out to have read the
//! wrong write is restarted, with everything that consumed its value.
//!
//! An atomic read-modify-write (CAS, SWP, LDADD, ...) is performed once, in
//! one step, and never undone: the queue performs it only when nothing
//! older can squash or restart it, its operands are held back from the
//! queue while an older serializing instruction (which may take an
//! exception) is in flight, and an interrupt waits until every performed
//! RMW has retired.
//!
//! Timing is carried as timestamps rather than ticks: every entry records
//! when it was fetched and when its result is ready, so a chain of register
//! operations costs cycles without costing events. Only memory accesses,
//! the end of a compute block (`work N`) and front-end redirections are
//! events.

use memory_model::graph::{Atomic, Event as GEvent, EventKind};
use memory_model::lsq::{Exclusive, Lsq, Seq, SlotKind};
use memory_model::{Addr, Fence, MaintOp, Mode, ThreadId, WriteId};
use serde::{Deserialize, Serialize};
use sim::Cycle;
use sim::explore::Bookkeeping;
use sim::window::Window;

use crate::code::CodeSpace;
use crate::isa::{Inst, Operand, Reg, Sources, SysReg};

pub mod in_order;

/// Timing parameters of a core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CoreConfig {
    /// Reorder-buffer entries: how far the core runs ahead (speculation window).
    pub rob_entries: usize,
    /// Retired stores the store buffer holds before retirement stalls
    /// (Skylake: 56, DESIGN.md).
    pub store_buffer_entries: usize,
    /// Cycles from fetch until an instruction can execute (front-end depth).
    pub frontend_cycles: Cycle,
    /// Latency of a register operation.
    pub alu_cycles: Cycle,
    /// Store-to-load forwarding latency (about 5 cycles on recent x86 and Arm cores).
    pub forward_cycles: Cycle,
    /// Cycles lost when a mispredicted branch redirects fetch (Skylake ~15–20).
    pub mispredict_penalty: Cycle,
    /// Pipeline refill after ISB (ISB costs ~30–40 cycles, DESIGN.md).
    pub isb_cycles: Cycle,
    /// Unresolved conditional branches the front end may run past (Skylake
    /// tracks 48 branches in flight).
    pub max_unresolved_branches: usize,
    /// Exception entry: pipeline flush, state save and the jump to the vector
    /// before the handler's first instruction can be fetched (a getpid()
    /// round trip is ~270 ns on a Xeon Gold 6248, DESIGN.md, entry and return
    /// included; ~150 cycles each way leaves the rest to the handler).
    pub exception_entry_cycles: Cycle,
    /// Exception return (ERET): state restore and pipeline refill.
    pub exception_return_cycles: Cycle,
    /// Fetch bubble after a taken branch, at least 1 (a branch-target-buffer
    /// redirect: 1 cycle on current big cores).
    pub taken_branch_cycles: Cycle,
    /// Waking from WFI when an interrupt arrives, before the exception is
    /// taken (assumption: clocks are gated, not powered down; ~80 ns at
    /// 2.5 GHz, well under the 1 µs Linux's cpuidle declares for WFI).
    pub wfi_wake_cycles: Cycle,
    /// How timed runs execute user (EL0) code: `out-of-order`, on this pipeline like the
    /// kernel's; `in-order`, on a simpler core with the same front end and latencies that
    /// issues in program order and is much cheaper to simulate; or `dataflow`, that core timed
    /// as the pipeline is (issue when operands are ready, within the reorder-buffer window), as
    /// cheap (README › Speed; the kernel paths, and exhaustive runs, always use the pipeline).
    pub user_code: UserCode,
    /// Lets the in-order core run ahead of the clock while nothing can reach it (exact: off, it
    /// executes one instruction per event with the same results; for checking exactly that).
    pub in_order_run_ahead: bool,
}

/// The core model that runs user (EL0) code in timed runs ([`CoreConfig::user_code`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UserCode {
    /// The out-of-order pipeline, as kernel code.
    #[default]
    OutOfOrder,
    /// The in-order core of [`in_order`]: same front end and latencies, issue in program order,
    /// loads and stores performed when they issue.
    InOrder,
    /// The same core, executing in program order, timed as the pipeline is: each instruction
    /// issues once its operands are ready, not after the one before it, within a window of
    /// `rob_entries` instructions (ZSim's out-of-order core model: functional execution in
    /// order, timing by dataflow).
    Dataflow,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            rob_entries: 64,
            store_buffer_entries: 56,
            frontend_cycles: 5,
            alu_cycles: 1,
            forward_cycles: 5,
            mispredict_penalty: 16,
            isb_cycles: 35,
            max_unresolved_branches: 48,
            exception_entry_cycles: 150,
            exception_return_cycles: 100,
            taken_branch_cycles: 1,
            wfi_wake_cycles: 200,
            user_code: UserCode::OutOfOrder,
            in_order_run_ahead: true,
        }
    }
}

const NO_PROD: u32 = u32::MAX;
/// Page granule of the fetch translation check.
const PAGE_BYTES: Addr = 4096;
/// The I (IRQ) bit of the DAIF mask.
const DAIF_I: u8 = 2;
const NO_SLOT: Seq = Seq::MAX;

/// Dependencies of an entry, tracked only when the run records its graph:
/// instance numbers of the loads that feed it. The `pick` sets also count the loads that feed it
/// through a control input of a conditional select (`aarch64deps.cat`'s `pick-dtrm`: they hold
/// the `value` ones and more).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Deps {
    value: Vec<u32>,
    addr: Vec<u32>,
    data: Vec<u32>,
    pick: Vec<u32>,
    pick_addr: Vec<u32>,
    pick_data: Vec<u32>,
}

fn union_into(dst: &mut Vec<u32>, src: &[u32]) {
    for &x in src {
        if let Err(i) = dst.binary_search(&x) {
            dst.insert(i, x);
        }
    }
}

/// One reorder-buffer entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    iid: u32,
    pc: Addr,
    inst: Inst,
    /// `inst.sources()`, decoded once at fetch.
    srcs: Sources,
    /// Producer instance of each source register (`NO_PROD`: architectural).
    prod: [u32; 3],
    /// Value written to the destination register.
    result: Option<u64>,
    /// The flags a flag-setting ALU instruction also writes ([`Inst::writes_flags`]), set with
    /// `result`; 0 otherwise.
    flags: u64,
    /// The result (or address/data) can no longer change.
    determined: bool,
    /// Register part done: result computed, or address (and data) generated.
    executed: bool,
    /// Queue entry, for loads, stores, barriers and conditional branches.
    slot: Seq,
    /// Branches: the next pc fetched after it (`None`: not yet predicted).
    next: Option<Addr>,
    /// Conditional selects in exhaustive runs of a model that speculates: the condition the path
    /// predicted, before the flags were known ([`Core::predict`]). A CAS taken to succeed:
    /// `Some(true)` once it has returned its compare value before reading
    /// ([`Core::execute_rmw`]).
    predicted: Option<bool>,
    /// Conditional branches: outcome known and final.
    resolved: bool,
    /// Nothing more for `execute` to do (until a restart).
    settled: bool,
    /// Timed runs: something `execute` reads for this entry may have changed since it last
    /// looked at it (its operands' producers, an older branch, an older serializing
    /// instruction, a restart). A pass looks only at these. Bookkeeping: exhaustive runs look
    /// at every entry and leave it set.
    dirty: Bookkeeping<bool>,
    /// The youngest entry fetched that names this one as a producer (0: none, since a reader is
    /// always younger): waking its readers ([`Core::wake_consumers`]) looks no further. (A squash
    /// may leave it past the buffer's end.)
    last_reader: Bookkeeping<u32>,
    fetched_at: Cycle,
    ready_at: Cycle,
    /// For patchable code: the write whose encoding was fetched.
    fetched_from: Option<WriteId>,
    /// A translation fault this instruction raises when it reaches the head
    /// (the faulting virtual address and whether it was the fetch).
    fault: Option<(Addr, bool)>,
    deps: Option<Box<Deps>>,
}

/// Why fetch stopped, as far as the outside needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchState {
    /// Fetch can continue (or the window is full).
    Running,
    /// A conditional branch waits for a predicted direction (exhaustive mode).
    NeedsPrediction,
    /// Nothing left to fetch: the pc left the code.
    Ended,
}

/// What a call to [`Core::advance`] left behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Advance {
    /// Earliest future cycle at which the core has local work (timed mode).
    pub wake_at: Option<Cycle>,
    /// A branch resolved against its prediction (exhaustive mode prunes such paths).
    pub mispredicted: bool,
}

/// Static facts the core needs while advancing.
pub struct Env<'a> {
    /// The code.
    pub code: &'a CodeSpace,
    /// Consistency mode.
    pub mode: Mode,
    /// Timing parameters.
    pub cfg: &'a CoreConfig,
    /// Timed run (timestamps and predictions) or exhaustive exploration.
    pub timed: bool,
    /// Record execution-graph events at retirement.
    pub record: bool,
    /// Unresolved conditional branches fetch may run past.
    pub max_unresolved: usize,
    /// Instructions whose retirement is logged ([`Observed::probe_hits`]),
    /// sorted by address.
    pub probes: &'a [Probe],
    /// The caller's number for each of `probes` (what a hit records).
    pub probe_ids: &'a [u16],
    /// Data addresses whose retired loads and read-modify-writes are logged
    /// ([`Observed::watched_loads`]), sorted.
    pub watch: &'a [Addr],
    /// Exhaustive runs: stop fetching once past this many instructions (a
    /// loop without memory accesses would otherwise spin inside one step;
    /// the explorer reports the path as cut at its bound).
    pub fetch_limit: u64,
    /// Exhaustive runs: instructions (sorted addresses) that retire only when the explorer says
    /// so ([`Core::release_held`]), so that when they retire relative to other cores is a choice
    /// of the path, as a stall of any length before them would make it on real hardware.
    pub holds: &'a [Addr],
    /// Timed runs: user code runs on the in-order core ([`UserCode::InOrder`]), so the
    /// pipeline fetches nothing at EL0 but what the in-order core hands back to it
    /// ([`Core::run_in_order`]).
    pub in_order_user: bool,
}

/// An instruction whose every retirement a timed run logs, with the values
/// of up to three registers just after it (what a tracing probe or a
/// breakpoint that prints registers would show).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Probe {
    /// Address of the instruction.
    pub pc: Addr,
    /// Registers to read (`Reg::ZR` for none).
    pub regs: [Reg; 3],
}

/// One retirement of a probed instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProbeHit {
    /// The probe's number (its index in the list given to
    /// `Machine::set_probes`).
    pub probe: u16,
    /// Exception level the instruction ran at.
    pub el: u8,
    /// Cycle of retirement.
    pub at: Cycle,
    /// The instruction's dynamic instance number (fetch order): earlier in
    /// program order means smaller.
    pub iid: u32,
    /// The probe's registers after the instruction.
    pub values: [u64; 3],
}

/// A retired store to a watched address: it may still sit in the store
/// buffer; [`WatchedLoad::source`] and the machine's storage log name it by
/// the same [`WriteId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RetiredStore {
    /// The address.
    pub addr: Addr,
    /// Address of the store instruction.
    pub pc: Addr,
    /// The write.
    pub write: WriteId,
    /// Cycle it retired.
    pub retired_at: Cycle,
}

/// A retired load (or read-modify-write: its read) from a watched address: which write it read
/// and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WatchedLoad {
    /// The address.
    pub addr: Addr,
    /// Address of the load (or read-modify-write) instruction.
    pub pc: Addr,
    /// Exception level it ran at.
    pub el: u8,
    /// The write it read from ([`WriteId::INIT`] for the initial value).
    pub source: WriteId,
    /// The value read.
    pub value: u64,
    /// Cycle its value was obtained (from storage or by forwarding).
    pub satisfied_at: Cycle,
    /// Cycle it retired.
    pub retired_at: Cycle,
}

/// What a timed run observed of a core (history, not state: excluded from
/// `Hash` and equality, which exhaustive exploration uses).
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Retirements of probed instructions, in order.
    pub probe_hits: Vec<ProbeHit>,
    /// Retired loads and read-modify-writes (their read) from watched addresses, in retirement
    /// order.
    pub watched_loads: Vec<WatchedLoad>,
    /// Retired stores to watched addresses, in retirement (program) order.
    pub retired_stores: Vec<RetiredStore>,
    /// Broadcast TLB invalidations received: (cycle, cycles stalled).
    pub disturbances: Vec<(Cycle, Cycle)>,
}

impl std::hash::Hash for Observed {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}
impl PartialEq for Observed {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Observed {}

/// Where a core starts: pc, registers, exception level, masks and system
/// registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadInit {
    /// First instruction.
    pub pc: Addr,
    /// Registers with non-zero initial values.
    pub regs: Vec<(Reg, u64)>,
    /// Exception level (1 = kernel, as at reset).
    pub el: u8,
    /// D, A, I, F mask bits (8, 4, 2, 1); all set at reset.
    pub daif: u8,
    /// Initial system registers (VBAR_EL1, TPIDR_EL1, MPIDR_EL1, …).
    pub sysregs: Vec<(SysReg, u64)>,
}

impl Default for ThreadInit {
    fn default() -> Self {
        ThreadInit { pc: 0, regs: vec![], el: 1, daif: 0xf, sysregs: vec![] }
    }
}

/// An instruction fetched from patchable code through an I-cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The decoded instruction.
    pub inst: Inst,
    /// The write that put its encoding in memory.
    pub writer: WriteId,
}

/// What a core asks of the machine around it: patchable code, interrupt
/// state, and device registers (the GIC, the counter).
pub trait Platform {
    /// Timed runs: cycles before a fetch of patchable code at `pc` can read
    /// it — 0 on an I-cache hit, the fill time on a miss (the fill reads the
    /// point of unification when it completes).
    fn code_miss_delay(&mut self, core: ThreadId, pc: Addr, now: Cycle) -> Cycle;
    /// Timed runs: fetches patchable code at `pc` through `core`'s I-cache, now.
    fn fetch_code(&mut self, core: ThreadId, pc: Addr, now: Cycle) -> Fetched;
    /// The newest write to patchable code at `pc`, if `pc` is patchable.
    fn code_latest(&self, pc: Addr) -> Option<WriteId>;
    /// True if an interrupt is pending for `core`.
    fn irq_pending(&self, core: ThreadId) -> bool;
    /// Clears `core`'s event register; true if it was set, and a `WFE` completes. By default
    /// always true: `WFE` never waits, which the architecture allows (exhaustive runs).
    fn take_event(&mut self, _core: ThreadId) -> bool {
        true
    }
    /// Sets `core`'s event register (`SEVL`).
    fn set_event(&mut self, _core: ThreadId) {}
    /// Reads a device register (GIC, counter): the value and the cycles the
    /// access takes.
    fn read_device(&mut self, core: ThreadId, reg: SysReg, now: Cycle) -> (u64, Cycle);
    /// Writes a device register (GIC); returns the cycles the access takes.
    fn write_device(&mut self, core: ThreadId, reg: SysReg, value: u64, now: Cycle) -> Cycle;
    /// Translates `va` for an access of `kind` (MMU on): the physical
    /// address and the cycles the translation took (a TLB hit, or a walk),
    /// or a fault.
    fn translate(
        &mut self,
        core: ThreadId,
        va: Addr,
        kind: AccessKind,
        ctx: Translating,
        now: Cycle,
    ) -> Result<(Addr, Cycle), TranslationFault>;
}

/// The MMU refused a translation (no valid descriptor, or the permissions
/// forbid the access); the core takes an abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TranslationFault;

/// What an address is translated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// A load or a cache maintenance operation.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Fetch,
}

/// The translation regime of a core at the time of an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Translating {
    /// Page-table root (TTBR0_EL1 bits 47:0).
    pub root: Addr,
    /// Address space ID (TTBR0_EL1 bits 63:48).
    pub asid: u16,
    /// The access comes from EL0 (user permissions apply).
    pub user: bool,
}

impl Translating {
    /// The regime TTBR0_EL1 = `ttbr0` gives an access from EL0 (`user`) or EL1.
    pub fn from_ttbr0(ttbr0: u64, user: bool) -> Translating {
        Translating { root: ttbr0 & 0xffff_ffff_ffff, asid: (ttbr0 >> 48) as u16, user }
    }
}

/// A machine without devices or patchable code (unit tests, simple runs).
pub struct NoDevices;

impl Platform for NoDevices {
    fn code_miss_delay(&mut self, _: ThreadId, pc: Addr, _: Cycle) -> Cycle {
        panic!("no patchable code at {pc:#x}")
    }
    fn fetch_code(&mut self, _: ThreadId, pc: Addr, _: Cycle) -> Fetched {
        panic!("no patchable code at {pc:#x}")
    }
    fn code_latest(&self, _: Addr) -> Option<WriteId> {
        None
    }
    fn irq_pending(&self, _: ThreadId) -> bool {
        false
    }
    fn read_device(&mut self, _: ThreadId, reg: SysReg, now: Cycle) -> (u64, Cycle) {
        match reg {
            SysReg::CntvctEl0 => (now, 0),
            SysReg::IccIar1El1 => (1023, 0),
            _ => (0, 0),
        }
    }
    fn write_device(&mut self, _: ThreadId, _: SysReg, _: u64, _: Cycle) -> Cycle {
        0
    }
    fn translate(
        &mut self,
        _: ThreadId,
        va: Addr,
        _: AccessKind,
        _: Translating,
        _: Cycle,
    ) -> Result<(Addr, Cycle), TranslationFault> {
        Ok((va, 0))
    }
}

/// A patched instruction executed from a copy older than the newest write
/// to its address: what happens when code is patched without the full
/// DC CVAU, DSB, IC IVAU, DSB, ISB sequence reaching this core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StaleInstruction {
    /// Address of the instruction.
    pub pc: Addr,
    /// The write whose encoding was executed.
    pub executed: WriteId,
    /// The newest write to that address when it retired.
    pub newest: WriteId,
    /// Cycle of retirement (0 in exhaustive runs).
    pub at: Cycle,
}

/// Why an exception was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExceptionKind {
    /// A synchronous exception (SVC, undefined instruction) with its ESR class.
    Sync {
        /// Exception class (bits 31:26 of `ESR_EL1`): 0x15 for SVC, 0 for unknown.
        class: u8,
    },
    /// An interrupt.
    Irq,
}

/// One exception entry in a core's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExceptionRecord {
    /// What was taken.
    pub kind: ExceptionKind,
    /// Exception level it was taken from.
    pub from_el: u8,
    /// Address the exception returns to.
    pub return_pc: Addr,
    /// Cycle of entry.
    pub taken_at: Cycle,
    /// Cycle its ERET retired (None while the handler runs).
    pub returned_at: Option<Cycle>,
}

/// Core-local system registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct SysRegs {
    /// The banked stack pointers; the current EL's lives in `arch[SP]`.
    sp_el0: u64,
    sp_el1: u64,
    vbar: u64,
    elr: u64,
    spsr: u64,
    esr: u64,
    far: u64,
    tpidr: u64,
    ttbr0: u64,
    sctlr: u64,
    mpidr: u64,
}

/// A core: architectural registers, the reorder buffer and the load/store queue.
///
/// Its `Hash` (what exhaustive exploration tells states apart by) covers what decides the
/// core's future in an exhaustive run, and leaves out what only a timed run reads (timestamps,
/// which an exhaustive run computes but never looks at; the queue's event tokens) and history
/// (the logs of exceptions, stale instructions, observations and recorded events): two cores
/// that differ only there behave alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Core {
    id: ThreadId,
    arch: [u64; Reg::COUNT],
    /// Cycle at which each architectural value became available.
    arch_ready: [Cycle; Reg::COUNT],
    rob: Window<Entry>,
    /// Conditional branches in `rob` not yet resolved (what fetch's speculation limit counts;
    /// kept as entries come, resolve and go, so fetch does not scan the buffer for it).
    unresolved_branches: usize,
    /// Exhaustive runs of a model that speculates: conditional selects may be predicted
    /// ([`Core::pending_prediction`]). Set from the run's [`Env`] at each step (configuration,
    /// not state: left out of `Hash`).
    predicts_selects: bool,
    /// Exhaustive runs: a CAS taken to fail turned out to match when it decided after reading
    /// early (see [`Core::refuted`]).
    refuted: bool,
    head_iid: u32,
    next_iid: u32,
    rename: [u32; Reg::COUNT],
    lsq: Lsq,
    pc: Addr,
    fetch_ready_at: Cycle,
    fetched: u64,
    el: u8,
    /// D, A, I, F mask bits (8, 4, 2, 1).
    daif: u8,
    sys: SysRegs,
    /// A compute block interrupted part-way: its address and the cycles left.
    work_resume: Option<(Addr, Cycle)>,
    /// Exhaustive runs: the instruction the explorer chose for the patchable
    /// address fetch is stopped at.
    code_choice: Option<(Inst, WriteId)>,
    /// Exhaustive runs: the oldest instruction is one of [`Env::holds`], ready to retire, and
    /// waits for the explorer; and the instance the explorer let retire.
    held: bool,
    released: Option<u32>,
    /// The latest retired load-exclusive, which a later store-exclusive pairs with (see
    /// [`Core::exclusive_may_store`]); cleared by a retired store-exclusive and by exceptions.
    reservation: Option<Reservation>,
    /// Exhaustive runs: how many times the store-exclusive at each code address has failed on
    /// this path (see [`Core::exclusive_may_fail`]).
    exclusive_failures: Vec<(Addr, u8)>,
    /// Timed runs: an I-cache fill of patchable code in progress (address,
    /// completion cycle).
    code_fill: Option<(Addr, Cycle)>,
    /// Timed runs: nothing retires before this cycle (a serializing
    /// system-register access is still in progress, or the core was
    /// disturbed by a broadcast TLB invalidation).
    commit_stall_until: Cycle,
    /// The code page whose translation fetch last checked.
    fetch_page: Option<Addr>,
    /// Broadcast TLB invalidations this core received.
    tlbi_disturbances: u64,
    /// Instructions retired (a compute block counts as one): a rate, not state, so left out of
    /// `Hash`.
    retired: u64,
    /// Timed runs: sleeping in WFI (waking costs `wfi_wake_cycles`).
    asleep: bool,
    /// Timed runs: cycles spent stalled, by cause (a rate, not state: left out of `Hash`).
    stalls: StallClocks,
    /// Timed runs with in-order user code: instructions at EL0 the pipeline may still fetch
    /// (ones the in-order core handed back to it), and the in-order core's clocks.
    el0_fetches: u32,
    in_order: in_order::Clocks,
    /// Timed runs with [`UserCode::Dataflow`]: its window and recent stores (made on first use).
    dataflow: Option<Box<in_order::Dataflow>>,
    stale: Vec<StaleInstruction>,
    exceptions: Vec<ExceptionRecord>,
    observed: Observed,
    #[doc(hidden)]
    pub(crate) rec: Recorder,
}

/// Leaves the timestamps out, as [`Core`]'s `Hash` does, and `srcs`, which is
/// `inst.sources()` (set once at fetch).
impl std::hash::Hash for Entry {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let Entry {
            iid,
            pc,
            inst,
            srcs: _,
            prod,
            result,
            flags: nzcv,
            determined,
            executed,
            slot,
            next,
            predicted,
            resolved,
            settled,
            dirty: _,
            last_reader: _,
            fetched_at: _,
            ready_at: _,
            fetched_from,
            fault,
            deps,
        } = self;
        // The flags and which options are present in one word, then the present values: the
        // same information as hashing each field, in a third of the writes (a core's reorder
        // buffer is most of what the explorer hashes).
        let present = [result.is_some(), next.is_some(), fetched_from.is_some(), fault.is_some(), deps.is_some()];
        let predicted = [predicted.is_some(), predicted.unwrap_or(false)];
        let flags = [*determined, *executed, *resolved, *settled].into_iter().chain(present).chain(predicted);
        h.write_u16(flags.enumerate().fold(0, |acc, (i, f)| acc | (u16::from(f) << i)));
        h.write_u64(*pc);
        h.write_u32(*iid);
        h.write_u32(*slot);
        prod.iter().for_each(|p| h.write_u32(*p));
        if let Some(r) = result {
            h.write_u64(*r);
        }
        if *nzcv != 0 {
            h.write_u64(*nzcv);
        }
        if let Some(n) = next {
            h.write_u64(*n);
        }
        if let Some(w) = fetched_from {
            w.hash(h);
        }
        if let Some((addr, on_fetch)) = fault {
            h.write_u64(*addr);
            h.write_u8(u8::from(*on_fetch));
        }
        if let Some(d) = deps {
            d.hash(h);
        }
        inst.hash(h);
    }
}

impl std::hash::Hash for Core {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let Core {
            id,
            arch,
            arch_ready: _,
            rob,
            unresolved_branches: _,
            predicts_selects: _,
            refuted,
            head_iid,
            next_iid,
            rename,
            lsq,
            pc,
            fetch_ready_at: _,
            fetched,
            el,
            daif,
            sys,
            work_resume,
            code_choice,
            held,
            released,
            reservation,
            exclusive_failures,
            code_fill,
            commit_stall_until: _,
            fetch_page,
            tlbi_disturbances,
            retired: _,
            asleep,
            stalls: _,
            el0_fetches: _,
            in_order: _,
            dataflow: _,
            stale: _,
            exceptions: _,
            observed: _,
            rec: _,
        } = self;
        (id, arch, rob, head_iid, next_iid, rename, pc, fetched, el, daif, sys).hash(h);
        (work_resume, code_choice, code_fill, fetch_page, tlbi_disturbances, asleep, held, released).hash(h);
        (reservation, exclusive_failures, refuted).hash(h);
        // The queue's entries, without their timed-run bookkeeping (their sequence numbers only
        // name them: a queue emptied at another number behaves alike).
        lsq.len().hash(h);
        for (seq, s) in lsq.iter() {
            let memory_model::lsq::Slot {
                iid,
                kind,
                addr,
                addr_final,
                data,
                data_final,
                read,
                done,
                retired,
                cas_fails,
                cas_succeeds,
                early_read,
                exclusive,
                rcpc,
                paired,
                ready_at: _,
                issued: _,
                token: _,
                holds: _,
            } = s;
            // (A bool hashes as the byte it is: the flags hash as `cas_fails` alone did when no
            // read is early and no CAS is taken to succeed.)
            let flags = u8::from(*cas_fails) | u8::from(*early_read) << 1 | u8::from(*cas_succeeds) << 2;
            (seq, iid, kind, addr, addr_final, data, data_final, read, done, retired, flags).hash(h);
            (exclusive, rcpc, paired).hash(h);
        }
    }
}

/// How many times exploration takes one store-exclusive (one code address) to fail on a path
/// ([`Core::exclusive_may_fail`]).
pub const EXCLUSIVE_FAILURES: u8 = 2;

/// What a retired load-exclusive leaves for a later store-exclusive ([`Core::exclusive_may_store`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Reservation {
    /// The location it read.
    addr: Addr,
    /// The write it read.
    source: WriteId,
    /// A store of this core to the location has retired since.
    own_store: bool,
}

/// Graph events retired so far (history, not state: excluded from `Hash`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) events: Vec<GEvent>,
    load_po: Vec<(u32, u32)>,
    ctrl: Vec<u32>,
    /// The loads that feed a retired branch's condition through a pick dependency too.
    pick_ctrl: Vec<u32>,
    arch_deps: Vec<Vec<u32>>,
    /// The pick dependencies of each architectural register ([`Deps`]).
    arch_pick: Vec<Vec<u32>>,
}

impl std::hash::Hash for Recorder {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}
impl PartialEq for Recorder {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Recorder {}

impl Recorder {
    fn po_of(&self, iids: &[u32]) -> Vec<u32> {
        let mut v: Vec<u32> =
            iids.iter().filter_map(|i| self.load_po.iter().find(|(l, _)| l == i).map(|&(_, po)| po)).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

impl Core {
    /// A core that will start as `init` says.
    pub fn new(id: ThreadId, init: &ThreadInit) -> Self {
        let mut c = Core {
            id,
            arch: [0; Reg::COUNT],
            arch_ready: [0; Reg::COUNT],
            rob: Window::new(),
            unresolved_branches: 0,
            predicts_selects: false,
            refuted: false,
            head_iid: 0,
            next_iid: 0,
            rename: [NO_PROD; Reg::COUNT],
            lsq: Lsq::new(id),
            pc: 0,
            fetch_ready_at: 0,
            fetched: 0,
            el: 0,
            daif: 0,
            sys: SysRegs::default(),
            work_resume: None,
            code_choice: None,
            held: false,
            released: None,
            reservation: None,
            exclusive_failures: vec![],
            code_fill: None,
            commit_stall_until: 0,
            fetch_page: None,
            tlbi_disturbances: 0,
            retired: 0,
            asleep: false,
            stalls: StallClocks::default(),
            el0_fetches: 0,
            in_order: in_order::Clocks::default(),
            dataflow: None,
            stale: vec![],
            exceptions: vec![],
            observed: Observed::default(),
            rec: Recorder::default(),
        };
        c.reset(init);
        c
    }

    /// Back to a fresh core as `init` says, keeping allocations.
    pub fn reset(&mut self, init: &ThreadInit) {
        self.arch = [0; Reg::COUNT];
        for &(r, v) in &init.regs {
            if !r.is_zero() {
                self.arch[r.index()] = v;
            }
        }
        self.arch_ready = [0; Reg::COUNT];
        self.rob.clear();
        self.unresolved_branches = 0;
        self.head_iid = 0;
        self.next_iid = 0;
        self.rename = [NO_PROD; Reg::COUNT];
        self.lsq.clear();
        self.pc = init.pc;
        self.fetch_ready_at = 0;
        self.fetched = 0;
        self.el = init.el;
        self.daif = init.daif;
        self.sys = SysRegs::default();
        for &(r, v) in &init.sysregs {
            self.write_sysreg(r, v);
        }
        self.work_resume = None;
        self.code_choice = None;
        self.reservation = None;
        self.exclusive_failures.clear();
        self.refuted = false;
        self.code_fill = None;
        self.commit_stall_until = 0;
        self.fetch_page = None;
        self.tlbi_disturbances = 0;
        self.retired = 0;
        self.asleep = false;
        self.stalls = StallClocks::default();
        self.el0_fetches = 0;
        self.in_order = in_order::Clocks::default();
        self.dataflow = None;
        self.stale.clear();
        self.exceptions.clear();
        self.observed.probe_hits.clear();
        self.observed.watched_loads.clear();
        self.observed.retired_stores.clear();
        self.observed.disturbances.clear();
        self.rec.events.clear();
        self.rec.load_po.clear();
        self.rec.ctrl.clear();
        self.rec.pick_ctrl.clear();
        self.rec.arch_deps.clear();
        self.rec.arch_pick.clear();
    }

    /// Sets MPIDR_EL1 (the machine does, from the topology).
    pub fn set_affinity(&mut self, mpidr: u64) {
        self.sys.mpidr = mpidr;
    }

    /// A broadcast TLB invalidation from another core reaches this one: it
    /// stalls for `cycles` (a compute block in progress ends that much later).
    pub fn disturb(&mut self, now: Cycle, cycles: Cycle) {
        self.tlbi_disturbances += 1;
        self.observed.disturbances.push((now, cycles));
        if let Some(e) = self.rob.front_mut()
            && matches!(e.inst, Inst::Work(_))
            && e.ready_at > now
        {
            e.ready_at += cycles;
        }
        self.commit_stall_until = self.commit_stall_until.max(now) + cycles;
    }

    /// Broadcast TLB invalidations this core has received.
    pub fn tlbi_disturbances(&self) -> u64 {
        self.tlbi_disturbances
    }

    /// Instructions this core has retired (a `work` compute block counts as one).
    pub fn retired(&self) -> u64 {
        self.retired
    }

    /// Cycles this core has spent stalled, by cause, up to `now` (timed runs; zero otherwise).
    pub fn stall_cycles(&self, now: Cycle) -> StallCycles {
        self.stalls.read(now)
    }

    /// Current exception level.
    pub fn el(&self) -> u8 {
        self.el
    }

    /// Patched instructions this core executed from stale copies.
    pub fn stale_instructions(&self) -> &[StaleInstruction] {
        &self.stale
    }

    /// Exceptions taken, in order, with entry and return cycles.
    pub fn exceptions(&self) -> &[ExceptionRecord] {
        &self.exceptions
    }

    /// Probe hits, watched loads and disturbance times of a timed run.
    pub fn observed(&self) -> &Observed {
        &self.observed
    }

    /// Takes the probe hits logged so far (an exhaustive run moves them into
    /// its state's trace after each step).
    pub fn drain_probe_hits(&mut self) -> std::vec::Drain<'_, ProbeHit> {
        self.observed.probe_hits.drain(..)
    }

    /// A core-local system register (device registers read 0 here).
    pub fn sysreg(&self, r: SysReg) -> u64 {
        match r {
            SysReg::VbarEl1 => self.sys.vbar,
            SysReg::ElrEl1 => self.sys.elr,
            SysReg::SpsrEl1 => self.sys.spsr,
            SysReg::EsrEl1 => self.sys.esr,
            SysReg::FarEl1 => self.sys.far,
            SysReg::TpidrEl1 => self.sys.tpidr,
            SysReg::Ttbr0El1 => self.sys.ttbr0,
            SysReg::SctlrEl1 => self.sys.sctlr,
            SysReg::MpidrEl1 => self.sys.mpidr,
            SysReg::Daif => (self.daif as u64) << 6,
            SysReg::CurrentEl => (self.el as u64) << 2,
            SysReg::SpEl0 if self.el == 0 => self.arch[Reg::SP.index()],
            SysReg::SpEl0 => self.sys.sp_el0,
            SysReg::SpEl1 if self.el == 1 => self.arch[Reg::SP.index()],
            SysReg::SpEl1 => self.sys.sp_el1,
            _ => 0,
        }
    }

    fn write_sysreg(&mut self, r: SysReg, v: u64) {
        match r {
            SysReg::VbarEl1 => self.sys.vbar = v,
            SysReg::ElrEl1 => self.sys.elr = v,
            SysReg::SpsrEl1 => self.sys.spsr = v,
            SysReg::EsrEl1 => self.sys.esr = v,
            SysReg::FarEl1 => self.sys.far = v,
            SysReg::TpidrEl1 => self.sys.tpidr = v,
            SysReg::Ttbr0El1 => self.sys.ttbr0 = v,
            SysReg::SctlrEl1 => self.sys.sctlr = v,
            SysReg::MpidrEl1 => self.sys.mpidr = v,
            SysReg::Daif => self.daif = ((v >> 6) & 0xf) as u8,
            SysReg::SpEl0 if self.el == 0 => self.arch[Reg::SP.index()] = v,
            SysReg::SpEl0 => self.sys.sp_el0 = v,
            SysReg::SpEl1 if self.el == 1 => self.arch[Reg::SP.index()] = v,
            SysReg::SpEl1 => self.sys.sp_el1 = v,
            _ => {}
        }
    }

    /// Switches `SP` from the current EL's stack pointer to `to`'s (with
    /// nothing in flight: exception entry and return squash first).
    fn switch_stack(&mut self, to: u8) {
        let sp = Reg::SP.index();
        match (self.el, to) {
            (0, 1) => {
                self.sys.sp_el0 = self.arch[sp];
                self.arch[sp] = self.sys.sp_el1;
            }
            (1, 0) => {
                self.sys.sp_el1 = self.arch[sp];
                self.arch[sp] = self.sys.sp_el0;
            }
            _ => {}
        }
    }

    /// This core's index.
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// Architectural value of `r` (meaningful once the core is done).
    pub fn reg(&self, r: Reg) -> u64 {
        if r.is_zero() { 0 } else { self.arch[r.index()] }
    }

    /// The load/store queue.
    pub fn lsq(&self) -> &Lsq {
        &self.lsq
    }

    /// The load/store queue, mutably (the machine applies visible transitions).
    pub fn lsq_mut(&mut self) -> &mut Lsq {
        &mut self.lsq
    }

    /// Instructions fetched so far (including squashed ones).
    pub fn fetched(&self) -> u64 {
        self.fetched
    }

    /// Next fetch address.
    pub fn pc(&self) -> Addr {
        self.pc
    }

    /// Address of the oldest instruction in flight (the one retirement waits on), if any.
    pub fn head_pc(&self) -> Option<Addr> {
        self.rob.front().map(|e| e.pc)
    }

    /// True when the program has ended and every access has completed.
    pub fn is_done(&self, code: &CodeSpace) -> bool {
        self.rob.is_empty() && self.lsq.is_empty() && code.fetch(self.pc).is_none()
    }

    /// Graph events retired so far, in program order.
    pub fn recorded_events(&self) -> &[GEvent] {
        &self.rec.events
    }

    fn entry_index(&self, iid: u32) -> Option<usize> {
        iid.checked_sub(self.head_iid).map(|i| i as usize).filter(|&i| i < self.rob.len())
    }

    /// Value, determinedness and ready time of source `k` of entry `i`.
    /// (Inlined into `execute`, the hot loop, whatever its other callers.)
    #[inline(always)]
    fn source(&self, i: usize, k: usize, op: Operand) -> Option<(u64, bool, Cycle)> {
        if op.reg.is_zero() {
            return Some((0, true, 0));
        }
        match self.entry_index(self.rob[i].prod[k]) {
            Some(p) if self.rob[i].prod[k] != NO_PROD => {
                let e = &self.rob[p];
                // A flag-setting ALU instruction produces the flags besides its destination.
                let v = |v: u64| if op.reg == Reg::FLAGS && e.inst.writes_flags() { e.flags } else { v };
                e.result.map(|r| (op.width.mask(v(r)), e.determined, e.ready_at))
            }
            _ => Some((op.width.mask(self.arch[op.reg.index()]), true, self.arch_ready[op.reg.index()])),
        }
    }

    /// True if a pass of `execute` can do nothing for entry `i`, so that its operands need not
    /// be read: an unexecuted register operation or unresolved conditional branch with an operand
    /// whose producer has no value yet; a conditional branch behind an unresolved one (branches
    /// resolve in program order; `branches_resolved` says whether every older one has); a
    /// serializing instruction, which executes at the head of the reorder buffer (in `retire`).
    /// Such entries are most of what a pass meets behind a long wait.
    #[inline(always)]
    fn idle_in_execute(&self, i: usize, branches_resolved: bool) -> bool {
        let e = &self.rob[i];
        match e.inst {
            Inst::Mov { .. } | Inst::Alu { .. } | Inst::Cmp { .. } | Inst::MulAdd { .. } => {
                !e.executed && self.awaits_a_producer(e)
            }
            // (A predicting run's select may execute without its flags, or the other operand.)
            Inst::Cset { .. } | Inst::Csel { .. } => !e.executed && !self.predicts_selects && self.awaits_a_producer(e),
            Inst::BCond { .. } | Inst::Cbz { .. } => {
                !e.resolved && (!branches_resolved || (!e.executed && self.awaits_a_producer(e)))
            }
            // A pass only marks an `UDF` executed; the other serializing instructions it leaves
            // to `retire` altogether.
            Inst::Udf(_) => e.executed,
            _ => e.inst.is_serializing(),
        }
    }

    /// True if one of `e`'s register operands comes from an older entry that has no value yet.
    #[inline(always)]
    fn awaits_a_producer(&self, e: &Entry) -> bool {
        e.srcs.iter().zip(e.prod).any(|(op, prod)| {
            op.is_some_and(|op| !op.reg.is_zero())
                && prod != NO_PROD
                && self.entry_index(prod).is_some_and(|p| self.rob[p].result.is_none())
        })
    }

    fn source_deps(&self, i: usize, k: usize, op: Operand) -> Vec<u32> {
        self.source_deps_of(i, k, op, false)
    }

    /// [`Core::source_deps`] with the pick dependencies (see [`Deps`]).
    fn source_pick_deps(&self, i: usize, k: usize, op: Operand) -> Vec<u32> {
        self.source_deps_of(i, k, op, true)
    }

    fn source_deps_of(&self, i: usize, k: usize, op: Operand, pick: bool) -> Vec<u32> {
        if op.reg.is_zero() {
            return vec![];
        }
        match self.entry_index(self.rob[i].prod[k]) {
            Some(p) if self.rob[i].prod[k] != NO_PROD => self.rob[p]
                .deps
                .as_ref()
                .map(|d| if pick { d.pick.clone() } else { d.value.clone() })
                .unwrap_or_default(),
            _ => {
                let arch = if pick { &self.rec.arch_pick } else { &self.rec.arch_deps };
                arch.get(op.reg.index()).cloned().unwrap_or_default()
            }
        }
    }

    /// Dependencies of the access at ROB index `i`: address dependencies
    /// through its first `n_addr` sources, data dependencies through the
    /// others, and, if it `reads`, its own value.
    fn access_deps(&self, i: usize, n_addr: usize, reads: bool) -> Box<Deps> {
        let e = &self.rob[i];
        let own = if reads { vec![e.iid] } else { vec![] };
        let mut d = Deps { value: own.clone(), pick: own, ..Deps::default() };
        for (k, op) in e.srcs.iter().enumerate() {
            if let Some(op) = op {
                let (into, pick) =
                    if k < n_addr { (&mut d.addr, &mut d.pick_addr) } else { (&mut d.data, &mut d.pick_data) };
                union_into(into, &self.source_deps(i, k, *op));
                union_into(pick, &self.source_pick_deps(i, k, *op));
            }
        }
        Box::new(d)
    }

    /// Exhaustive runs: the oldest instruction is one of [`Env::holds`] and waits for the
    /// explorer to let it retire.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Exhaustive runs: lets the held oldest instruction retire at the core's next step.
    pub fn release_held(&mut self) {
        if self.held {
            self.released = self.rob.front().map(|e| e.iid);
            self.held = false;
        }
    }

    /// The direction a conditional branch at the tail waits for, if any:
    /// (taken target, fall-through). Or, in exhaustive runs of a model that speculates, the
    /// condition a conditional select at the tail waits for, its flags unknown: (1, 0), holds or
    /// not ([`Core::predict`]).
    pub fn pending_prediction(&self) -> Option<(Addr, Addr)> {
        let e = self.rob.back()?;
        if self.select_waits(e) {
            return Some((1, 0));
        }
        if e.inst.is_conditional_branch() && e.next.is_none() && !e.resolved {
            let target = match e.inst {
                Inst::BCond { target, .. } | Inst::Cbz { target, .. } => target,
                _ => unreachable!(),
            };
            Some((target, e.pc + Inst::BYTES))
        } else {
            None
        }
    }

    /// A conditional select whose condition an exhaustive run predicts: aarch64's selects read
    /// the flags as a control input only (herd7's `iico_ctrl`: a *pick* dependency, which orders
    /// later writes and not later reads), so what reads its result need not wait for them.
    /// Fetch stops behind it until it has executed or the explorer has predicted it. (Timed
    /// runs, like a real pipeline, wait for the flags and both operands.)
    fn select_waits(&self, e: &Entry) -> bool {
        self.predicts_selects
            && matches!(e.inst, Inst::Csel { .. } | Inst::Cset { .. })
            && !e.executed
            && e.predicted.is_none()
    }

    /// Follows `next` after the unpredicted branch at the tail; or, for a conditional select
    /// there ([`Core::pending_prediction`]), takes its condition to hold if `next` is 1.
    pub fn predict(&mut self, next: Addr) {
        if let Some(e) = self.rob.back_mut().filter(|e| matches!(e.inst, Inst::Csel { .. } | Inst::Cset { .. })) {
            debug_assert!(e.predicted.is_none() && !e.executed);
            e.predicted = Some(next != 0);
            e.dirty = Bookkeeping(true);
            return;
        }
        let e = self.rob.back_mut().expect("a pending branch");
        debug_assert!(e.next.is_none());
        e.next = Some(next);
        self.pc = next;
    }

    /// Exhaustive runs: takes the CAS in queue entry `seq`, which has not read, to fail or to
    /// succeed (`Lsq::predict_cas`); its entry is looked at again (taken to succeed, it returns
    /// its compare value).
    pub fn predict_cas(&mut self, seq: Seq, succeeds: bool) {
        self.lsq.predict_cas(seq, succeeds);
        let iid = self.lsq.get(seq).expect("a predicted CAS's slot").iid;
        if let Some(i) = self.entry_index(iid) {
            let e = &mut self.rob[i];
            e.settled = false;
            e.dirty = Bookkeeping(true);
        }
    }

    /// Exhaustive runs: the path turned out not to exist (a CAS taken to fail matched when it
    /// decided, after reading early); the explorer prunes the state.
    pub fn refuted(&self) -> bool {
        self.refuted
    }

    /// Earliest cycle an access for queue entry `seq` can start.
    pub fn issue_time(&self, seq: Seq) -> Cycle {
        self.lsq.get(seq).map_or(0, |s| s.ready_at)
    }

    /// Delivers the value of a satisfied load (timed: at `now`); true if it is an exclusive load
    /// (`LDXR`, `LDAXR`), whose read arms the core's exclusive monitor.
    pub fn load_satisfied(&mut self, seq: Seq, value: u64, now: Cycle) -> bool {
        let iid = self.lsq.get(seq).expect("satisfied slot").iid;
        if let Some(i) = self.entry_index(iid) {
            let e = &mut self.rob[i];
            if let Inst::Load { exclusive, .. } = e.inst {
                e.result = Some(e.inst.loaded_value(value));
                e.ready_at = now;
                self.wake_consumers(i);
                return exclusive;
            }
        }
        false
    }

    /// Delivers the old value read by a performed RMW (timed: at `now`);
    /// it can no longer change.
    pub fn rmw_performed(&mut self, seq: Seq, old: u64, now: Cycle) {
        let iid = self.lsq.get(seq).expect("performed slot").iid;
        if let Some(i) = self.entry_index(iid) {
            let e = &mut self.rob[i];
            if let Some(r) = e.inst.rmw() {
                e.result = Some(r.returned(old));
                e.determined = true;
                e.ready_at = now;
                self.wake_consumers(i);
            }
        }
    }

    /// The compare value of the CAS in queue entry `seq` (its Rs, which is
    /// determined once the queue may perform it, unless it reads early and decides later); 0 for
    /// other RMWs, and for a CAS that does not know it yet.
    pub fn rmw_compare(&self, seq: Seq) -> u64 {
        let iid = self.lsq.get(seq).expect("an RMW's slot").iid;
        let i = self.entry_index(iid).expect("an unperformed RMW is in flight");
        match self.rob[i].inst {
            Inst::Rmw { op: memory_model::RmwOp::Cas, rs, .. } => self.source(i, 1, rs).map_or(0, |s| s.0),
            _ => 0,
        }
    }

    /// Decides store-exclusive `seq` (timed: at `now`): its status register gets 0 if it stores,
    /// 1 if it fails.
    pub fn exclusive_decided(&mut self, seq: Seq, succeeds: bool, now: Cycle) {
        self.lsq.decide_exclusive(seq, succeeds);
        let iid = self.lsq.get(seq).expect("a decided slot").iid;
        if let Some(i) = self.entry_index(iid) {
            if !succeeds {
                let pc = self.rob[i].pc;
                match self.exclusive_failures.iter_mut().find(|(at, _)| *at == pc) {
                    Some((_, n)) => *n = n.saturating_add(1),
                    None => self.exclusive_failures.push((pc, 1)),
                }
            }
            let e = &mut self.rob[i];
            e.result = Some(u64::from(!succeeds));
            e.determined = true;
            e.ready_at = now;
            self.wake_consumers(i);
        }
    }

    /// Exploration: may store-exclusive `seq` be taken to fail? Each code address fails at
    /// most [`EXCLUSIVE_FAILURES`] times on a path. herd7 lets a store-exclusive fail at any
    /// time, so a retry loop (`LDXR; …; STXR; CBNZ`) could fail on every iteration: every
    /// iteration doubles the paths, and none adds a final state, since a retry computes again
    /// whatever the failed iteration computed. Two failures cover a spurious one and one caused
    /// by another core's write, as herd7's default unrolling covers a loop's first two
    /// iterations.
    pub fn exclusive_may_fail(&self, seq: Seq) -> bool {
        let Some(i) = self.lsq.get(seq).and_then(|s| self.entry_index(s.iid)) else { return false };
        let pc = self.rob[i].pc;
        self.exclusive_failures.iter().find(|(at, _)| *at == pc).is_none_or(|(_, n)| *n < EXCLUSIVE_FAILURES)
    }

    /// May store-exclusive `seq` store now, `mem` holding storage? Only if it pairs with the
    /// latest load-exclusive before it (no store-exclusive between them), to the same location,
    /// and the write that load read is still the latest in `mem`, or a store of this core
    /// to the location came between the two (`aarch64.cat`'s `atomic` excuses a write
    /// between them that is this core's own: herd7 agrees, `LDXR; STR; STXR` may store). By
    /// the time it propagates, every earlier store to the location has, so `mem` holds each.
    pub fn exclusive_may_store(&self, seq: Seq, mem: &memory_model::memory::FlatMemory) -> bool {
        let Some(stx) = self.lsq.get(seq) else { return false };
        let Some(addr) = stx.addr else { return false };
        // The write the load-exclusive read is still the latest, or a store of this core's came
        // between (`atomic` excuses it).
        let unbroken = |source: WriteId, own_store: bool| own_store || mem.read(addr).writer == source;
        let Some(i) = self.entry_index(stx.iid) else {
            // Retired: it took the reservation with it.
            return stx.paired.is_some_and(|(source, own_store)| unbroken(source, own_store));
        };
        let mut own_store = false;
        for e in self.rob.range(..i).rev() {
            let slot = (e.slot != NO_SLOT).then(|| self.lsq.get(e.slot)).flatten();
            match e.inst {
                Inst::Load { exclusive: true, .. } => {
                    let Some(s) = slot else { return false };
                    let (Some(a), Some(read)) = (s.addr, s.read) else { return false };
                    return a == addr && unbroken(read.source, own_store);
                }
                // An earlier store-exclusive took the reservation.
                Inst::Store { status: Some(_), .. } => return false,
                Inst::Store { .. } => own_store |= slot.is_some_and(|s| s.addr == Some(addr)),
                _ => {}
            }
        }
        self.reservation.is_some_and(|r| r.addr == addr && unbroken(r.source, own_store || r.own_store))
    }

    /// Keeps [`Core::reservation`] as instruction `inst`, with queue entry `slot`, retires.
    fn note_reservation(&mut self, inst: Inst, slot: Seq) {
        let Some(s) = self.lsq.get(slot) else { return };
        match inst {
            Inst::Load { exclusive: true, .. } => {
                self.reservation =
                    s.addr.zip(s.read).map(|(addr, read)| Reservation { addr, source: read.source, own_store: false });
            }
            Inst::Store { status: Some(_), .. } => {
                let addr = s.addr;
                let paired = self.reservation.take().filter(|r| Some(r.addr) == addr).map(|r| (r.source, r.own_store));
                self.lsq.set_paired(slot, paired);
            }
            Inst::Store { .. } => {
                if let Some(r) = self.reservation.as_mut()
                    && s.addr == Some(r.addr)
                {
                    r.own_store = true;
                }
            }
            _ => {}
        }
    }

    /// True if an RMW has been performed (or, split, has read) but not retired: squashing it
    /// now (an interrupt) would perform it twice.
    fn rmw_in_flight(&self) -> bool {
        self.rob.iter().any(|e| {
            matches!(e.inst, Inst::Rmw { .. }) && self.lsq.get(e.slot).is_some_and(|s| s.done || s.read.is_some())
        })
    }

    /// Restarts the loads in `roots` and everything that depends on them.
    pub fn restart(&mut self, roots: &[Seq]) {
        if roots.is_empty() {
            return;
        }
        let mut restarted: Vec<u32> = roots.iter().filter_map(|&s| self.lsq.get(s)).map(|s| s.iid).collect();
        let first = restarted.iter().filter_map(|&iid| self.entry_index(iid)).min().unwrap_or(self.rob.len());
        let mut acquire_restarted = false;
        // RMWs that read early and whose operand, the value they write, is computed again.
        let mut rewritten: Vec<u32> = vec![];
        for i in first..self.rob.len() {
            let e = &self.rob[i];
            let is_load = matches!(e.inst, Inst::Load { .. });
            let mut hit = restarted.contains(&e.iid) || e.prod.iter().any(|p| *p != NO_PROD && restarted.contains(p));
            if !hit && is_load {
                if let Some(r) = self.lsq.get(e.slot).and_then(|s| s.read) {
                    hit = r.forwarded && (restarted.contains(&r.source.iid) || rewritten.contains(&r.source.iid));
                }
                hit |= acquire_restarted;
            }
            if !hit {
                continue;
            }
            let (iid, slot, inst) = (e.iid, e.slot, e.inst);
            if matches!(inst, Inst::Rmw { .. }) && self.lsq.get(slot).is_some_and(|s| s.read.is_some()) {
                // An RMW that read early keeps its read (its address was final, so nothing it
                // read through restarts) and the result it returned; only its operand, the
                // write's data, is computed again, and a later load that took that (a SWP's
                // operand, forwarded before it read) restarts.
                rewritten.push(iid);
                let e = &mut self.rob[i];
                e.executed = false;
                e.settled = false;
                e.dirty = Bookkeeping(true);
                // (A CAS taken to fail that read early is done, a read: its compare is checked
                // again once final.)
                if !self.lsq.get(slot).is_some_and(|s| s.done) {
                    self.lsq.reset_rmw_operand(slot);
                }
                continue;
            }
            if matches!(inst, Inst::Store { status: Some(_), .. })
                && self.lsq.get(slot).is_some_and(|s| s.exclusive != Exclusive::Undecided)
            {
                // A store-exclusive that has decided keeps its status, which rests on nothing
                // it reads: only its address and data are computed again (and a later load that
                // took its data restarts, as from a rewritten RMW).
                rewritten.push(iid);
                let e = &mut self.rob[i];
                e.executed = false;
                e.settled = false;
                e.dirty = Bookkeeping(true);
                if let Some(d) = e.deps.as_mut() {
                    **d = Deps::default();
                }
                self.lsq.reset_store(slot);
                continue;
            }
            if !restarted.contains(&iid) {
                restarted.push(iid);
            }
            if let Inst::Load { acquire: true, .. } = inst {
                acquire_restarted = true;
            }
            let e = &mut self.rob[i];
            e.executed = false;
            e.settled = false;
            e.dirty = Bookkeeping(true);
            e.fault = None;
            e.result = None;
            e.flags = 0;
            e.determined = false;
            if matches!(inst, Inst::Rmw { .. }) {
                // (A CAS taken to succeed returns its compare value again once it is known.)
                e.predicted = None;
            }
            if let Some(d) = e.deps.as_mut() {
                **d = Deps::default();
            }
            match inst {
                Inst::Load { .. } => self.lsq.reset_load(slot),
                Inst::Store { .. } | Inst::Rmw { .. } => self.lsq.reset_store(slot),
                _ => {}
            }
        }
    }

    /// Takes every local transition available at `now` until none is left:
    /// retire, fetch, execute register operations, generate addresses,
    /// resolve branches, finish loads and barriers.
    pub fn advance(&mut self, env: &Env, now: Cycle, platform: &mut dyn Platform) -> Advance {
        let mut out = Advance::default();
        // The in-order core's clocks start afresh when it next runs.
        self.in_order.active = false;
        self.predicts_selects = !env.timed && env.mode.speculates();
        loop {
            let fetched = self.fetch(env, now, platform);
            let executed = self.execute(env, now, &mut out, platform);
            if (out.mispredicted || self.refuted) && !env.timed {
                return out;
            }
            let settled = self.lsq.settle(env.mode);
            // A load becomes final when `settle` finishes it (it has its value by then), so only a
            // pass in which `settle` changed something can find one. Debug builds look anyway.
            let determined = (settled || cfg!(debug_assertions)) && {
                let determined = self.mark_loads_determined();
                debug_assert!(settled || !determined, "P{}: a load became final without settle", self.id);
                determined
            };
            let (retired, serialized) = self.retire(env, now, platform);
            // One pass handles every chain in program order; another is
            // needed only for newly determined load values, for results of
            // serializing instructions (executed at retirement, after their
            // consumers were looked at), or when the front end may fetch
            // again (room freed, redirect, ISB done).
            let again = determined
                || serialized
                || ((fetched || executed || settled || retired) && self.fetch_possible(env, now, platform));
            if !again {
                break;
            }
        }
        if env.timed {
            out.wake_at = self.next_local_time(env, now);
            let causes = self.stall_causes(env);
            self.stalls.update(now, causes);
        }
        out
    }

    /// What holds the pipeline up once `advance` has done all it can: a full reorder buffer
    /// (fetch waits), a store at the head that the full store buffer will not take (retirement
    /// waits), a barrier at the head that has not completed (retirement waits). State changes
    /// only in `advance`, so sampling here, at each step, times every stall exactly.
    fn stall_causes(&self, env: &Env) -> [bool; StallCycles::CAUSES] {
        let rob_full = self.rob.len() >= env.cfg.rob_entries.max(1);
        let (mut store_buffer_full, mut barrier) = (false, false);
        if let Some(head) = self.rob.front() {
            match head.inst {
                Inst::Store { .. } => {
                    store_buffer_full = self.lsq.buffered_stores() >= env.cfg.store_buffer_entries.max(1)
                }
                Inst::Dmb(_) | Inst::Dsb(_) | Inst::Isb => {
                    barrier = !self.lsq.get(head.slot).is_some_and(|s| s.done);
                }
                _ => {}
            }
        }
        [rob_full, store_buffer_full, barrier]
    }

    /// The earliest future cycle at which local work becomes possible
    /// without any memory event: a compute block ends, or the front end
    /// resumes after a redirect or an ISB.
    fn next_local_time(&self, env: &Env, now: Cycle) -> Option<Cycle> {
        let mut t: Option<Cycle> = None;
        for e in [self.rob.front(), self.rob.back()].into_iter().flatten() {
            if matches!(e.inst, Inst::Work(_)) && e.ready_at > now {
                t = min_opt(t, e.ready_at);
            }
        }
        if self.fetch_ready_at > now && env.code.fetch(self.pc).is_some() {
            t = min_opt(t, self.fetch_ready_at);
        }
        if let Some((_, fill)) = self.code_fill.filter(|&(_, f)| f > now) {
            t = min_opt(t, fill);
        }
        if self.commit_stall_until > now && !self.rob.is_empty() {
            t = min_opt(t, self.commit_stall_until);
        }
        t
    }

    /// Could `fetch` add an instruction right now (or an interrupt be taken)?
    fn fetch_possible(&self, env: &Env, now: Cycle, platform: &dyn Platform) -> bool {
        if self.daif & DAIF_I == 0 && platform.irq_pending(self.id) {
            return true;
        }
        if self.rob.len() >= env.cfg.rob_entries.max(1) || (env.timed && self.fetch_ready_at > now) {
            return false;
        }
        if self.tail_blocks_fetch(env, now) || (env.in_order_user && self.el == 0 && self.el0_fetches == 0) {
            return false;
        }
        if env.code.is_patchable(self.pc) {
            return env.timed || self.code_choice.is_some();
        }
        env.code.fetch(self.pc).is_some()
    }

    fn mark_loads_determined(&mut self) -> bool {
        let mut changed = false;
        let mut i = 0;
        while let Some(k) = self.rob.range(i..).position(|e| {
            !e.determined
                && matches!(e.inst, Inst::Load { .. })
                && e.result.is_some()
                && self.lsq.get(e.slot).is_some_and(|s| s.done)
        }) {
            i += k;
            self.rob[i].determined = true;
            changed = true;
            self.wake_consumers(i);
            i += 1;
        }
        changed
    }

    /// Marks the entries that read entry `i`'s result for `execute`'s next look (its value,
    /// finality or ready cycle changed).
    #[inline(always)]
    fn wake_consumers(&mut self, i: usize) {
        let (iid, last) = (self.rob[i].iid, self.rob[i].last_reader.0);
        if last == 0 {
            return;
        }
        let end = self.entry_index(last).map_or(self.rob.len(), |k| k + 1);
        for e in &mut self.rob.as_mut_slice()[i + 1..end] {
            let [a, b, c] = e.prod;
            if a == iid || b == iid || c == iid {
                e.dirty = Bookkeeping(true);
            }
        }
    }

    /// The translation regime, if the MMU is on (SCTLR_EL1.M).
    fn translating(&self) -> Option<Translating> {
        (self.sys.sctlr & 1 == 1).then(|| Translating::from_ttbr0(self.sys.ttbr0, self.el == 0))
    }

    /// The physical address and translation cycles of an access to `va`,
    /// or `Err` for a translation fault. (Generic, so that the in-order core's calls through the
    /// machine's own platform are direct.)
    #[inline(always)]
    fn physical(
        &self,
        va: Addr,
        kind: AccessKind,
        at: Cycle,
        platform: &mut (impl Platform + ?Sized),
    ) -> Result<(Addr, Cycle), TranslationFault> {
        match self.translating() {
            None => Ok((va, 0)),
            Some(ctx) => platform.translate(self.id, va, kind, ctx, at),
        }
    }

    fn execute(&mut self, env: &Env, now: Cycle, out: &mut Advance, platform: &mut dyn Platform) -> bool {
        let mut changed = false;
        let mut branches_resolved = true;
        let mut i = 0;
        // Timed runs look only at entries something they read may have changed for.
        let only_dirty = env.timed;
        // Passing over the settled and the clean entries is most of a pass: one sweep of the
        // buffer finds the next entry to look at. (Debug builds look at the clean ones too.)
        let sweep = only_dirty && !cfg!(debug_assertions);
        while i < self.rob.len() {
            if sweep {
                let mut resolved = branches_resolved;
                let next = self.rob.range(i..).position(|e| {
                    let look = !e.settled && e.dirty.0;
                    if !e.settled && !look {
                        // A clean unsettled branch is unresolved.
                        resolved &= !e.inst.is_conditional_branch();
                    }
                    look
                });
                branches_resolved = resolved;
                match next {
                    Some(k) => i += k,
                    None => break,
                }
            }
            if self.rob[i].settled {
                i += 1;
                continue;
            }
            // Most entries a pass looks at can do nothing yet, and are passed over without their
            // operands being read. A branch passed over is unresolved: younger ones wait for it.
            if self.idle_in_execute(i, branches_resolved) {
                branches_resolved &= !self.rob[i].inst.is_conditional_branch();
                if only_dirty {
                    self.rob[i].dirty = Bookkeeping(false);
                }
                i += 1;
                continue;
            }
            // What the entry's consumers and younger branches read of it, to wake them on a change.
            let seen = {
                let e = &self.rob[i];
                (e.result, e.determined, e.ready_at, e.resolved)
            };
            let changed_before = std::mem::replace(&mut changed, false);
            // Debug builds reach the clean entries too (no sweep): the look must change nothing.
            let clean_before = (cfg!(debug_assertions) && only_dirty && !self.rob[i].dirty.0)
                .then(|| (self.rob[i].clone(), self.lsq.get(self.rob[i].slot).cloned()));
            let inst = self.rob[i].inst;
            let srcs = self.rob[i].srcs;
            let mut vals = [0u64; 3];
            let mut avail = [true; 3];
            let mut det = [true; 3];
            let mut ready = self.rob[i].fetched_at + env.cfg.frontend_cycles;
            let mut start = ready;
            for (k, op) in srcs.iter().enumerate() {
                if let Some(op) = op {
                    match self.source(i, k, *op) {
                        Some((v, d, t)) => {
                            vals[k] = v;
                            det[k] = d;
                            start = start.max(t);
                        }
                        None => avail[k] = false,
                    }
                }
            }
            ready = ready.max(start);
            let all_avail = avail.iter().all(|a| *a);
            let all_det = det.iter().zip(avail).all(|(d, a)| *d && a);
            match inst {
                Inst::Load { index, .. } => {
                    let slot = self.rob[i].slot;
                    let (addr_now, addr_final) = {
                        let s = self.lsq.get(slot).expect("load slot");
                        (s.addr, s.addr_final)
                    };
                    if !self.rob[i].executed && avail[0] && avail[1] {
                        let va = Inst::effective_address(&index, vals[0], vals[1]);
                        let Ok((addr, walk)) = self.physical(va, AccessKind::Read, ready, platform) else {
                            let e = &mut self.rob[i];
                            e.fault = Some((va, false));
                            e.executed = true;
                            changed = true;
                            i += 1;
                            continue;
                        };
                        let ready = ready + walk;
                        self.lsq.set_addr(slot, Some(addr), det[0] && det[1]);
                        let deps = env.record.then(|| self.access_deps(i, 2, true));
                        self.lsq.set_ready_at(slot, ready);
                        let e = &mut self.rob[i];
                        e.executed = true;
                        e.ready_at = ready;
                        e.deps = deps;
                        changed = true;
                    } else if self.rob[i].executed && !addr_final && det[0] && det[1] {
                        self.lsq.set_addr(slot, addr_now, true);
                        changed = true;
                    }
                }
                Inst::Store { index, .. } => {
                    let slot = self.rob[i].slot;
                    let s = {
                        let s = self.lsq.get(slot).expect("store slot");
                        StoreView { addr: s.addr, addr_final: s.addr_final, data: s.data, data_final: s.data_final }
                    };
                    if (s.addr.is_none() && avail[0] && avail[1]) || (s.data.is_none() && avail[2]) {
                        // Operands known so far; the access waits for the last one.
                        self.lsq.set_ready_at(slot, ready);
                    }
                    if s.addr.is_none() && avail[0] && avail[1] && self.rob[i].fault.is_none() {
                        let va = Inst::effective_address(&index, vals[0], vals[1]);
                        match self.physical(va, AccessKind::Write, ready, platform) {
                            Ok((addr, walk)) => {
                                self.lsq.set_addr(slot, Some(addr), det[0] && det[1]);
                                self.lsq.set_ready_at(slot, ready + walk);
                            }
                            Err(TranslationFault) => self.rob[i].fault = Some((va, false)),
                        }
                        changed = true;
                    } else if s.addr.is_some() && !s.addr_final && det[0] && det[1] {
                        self.lsq.set_addr(slot, s.addr, true);
                        changed = true;
                    }
                    if s.data.is_none() && avail[2] {
                        self.lsq.set_data(slot, Some(inst.stored_value(vals[2])), det[2]);
                        changed = true;
                    } else if s.data.is_some() && !s.data_final && det[2] {
                        self.lsq.set_data(slot, s.data, true);
                        changed = true;
                    }
                    if !self.rob[i].executed && all_avail {
                        let deps = env.record.then(|| self.access_deps(i, 2, false));
                        let e = &mut self.rob[i];
                        e.executed = true;
                        e.ready_at = ready;
                        e.deps = deps;
                    }
                }
                Inst::Rmw { op, .. } => {
                    let ops = Operands { vals, avail, det, ready };
                    match self.execute_rmw(env, i, op, &ops, platform) {
                        Some(c) => changed |= c,
                        None => {
                            // A CAS taken to fail whose compare, now known, matches what it read:
                            // the path does not exist (the explorer prunes it, as it does a CAS
                            // found to match as it reads).
                            self.refuted = true;
                            return true;
                        }
                    }
                }
                Inst::BCond { .. } | Inst::Cbz { .. } => {
                    if !self.rob[i].resolved && branches_resolved && all_det {
                        let (taken, target) = match inst {
                            Inst::BCond { cond, target } => (cond.holds(vals[0]), target),
                            Inst::Cbz { nonzero, bit, target, .. } => {
                                let tested = bit.map_or(vals[0], |b| vals[0] & (1 << b));
                                ((tested != 0) == nonzero, target)
                            }
                            _ => unreachable!(),
                        };
                        let actual = if taken { target } else { self.rob[i].pc + Inst::BYTES };
                        let resolve_at = ready + env.cfg.alu_cycles;
                        let deps = env.record.then(|| self.register_deps(i, [0], []));
                        let e = &mut self.rob[i];
                        e.resolved = true;
                        e.executed = true;
                        e.ready_at = resolve_at;
                        e.deps = deps;
                        let slot = e.slot;
                        self.unresolved_branches -= 1;
                        let predicted = e.next;
                        self.lsq.resolve_branch(slot);
                        changed = true;
                        match predicted {
                            None => {
                                self.rob[i].next = Some(actual);
                                self.pc = actual;
                            }
                            Some(p) if p != actual => {
                                out.mispredicted = true;
                                if !env.timed {
                                    return true;
                                }
                                self.squash_after(i);
                                self.rob[i].next = Some(actual);
                                self.pc = actual;
                                self.fetch_ready_at = resolve_at.max(now) + env.cfg.mispredict_penalty;
                            }
                            Some(_) => {}
                        }
                    }
                    branches_resolved &= self.rob[i].resolved;
                }
                Inst::Cset { .. } | Inst::Csel { .. } if self.predicts_selects => {
                    match self.execute_select(env, i, &Operands { vals, avail, det, ready }) {
                        Some(c) => changed |= c,
                        None => {
                            // The flags refute the predicted condition: the path does not exist.
                            out.mispredicted = true;
                            return true;
                        }
                    }
                }
                Inst::Mov { .. }
                | Inst::Alu { .. }
                | Inst::Cmp { .. }
                | Inst::Cset { .. }
                | Inst::Csel { .. }
                | Inst::MulAdd { .. } => {
                    let e = &self.rob[i];
                    if !e.executed && all_avail {
                        let (v, nzcv) = inst.register_result(vals);
                        let deps = env.record.then(|| self.register_deps(i, [0, 1, 2], []));
                        let e = &mut self.rob[i];
                        e.result = Some(v);
                        e.flags = nzcv;
                        e.executed = true;
                        e.determined = all_det;
                        e.ready_at = ready + env.cfg.alu_cycles;
                        e.deps = deps;
                        changed = true;
                    } else if e.executed && !e.determined && all_det {
                        self.rob[i].determined = true;
                        changed = true;
                    }
                }
                Inst::WorkReg(_) => unreachable!("a register-length compute block enters the pipeline as `work N`"),
                Inst::Work(_) => {
                    // Its duration was set at fetch (it may resume a block
                    // an interrupt split).
                    if !self.rob[i].executed {
                        self.rob[i].executed = true;
                        changed = true;
                    }
                }
                Inst::Bl { .. } | Inst::Adr { .. } => {
                    if !self.rob[i].executed {
                        let e = &mut self.rob[i];
                        e.result = Some(match inst {
                            Inst::Adr { rd, target } => rd.width.mask(target),
                            _ => e.pc + Inst::BYTES,
                        });
                        e.executed = true;
                        e.determined = true;
                        e.ready_at = ready + env.cfg.alu_cycles;
                        changed = true;
                    }
                }
                Inst::Br { .. } | Inst::Ret { .. } => {
                    if !self.rob[i].resolved && all_det {
                        let link = matches!(inst, Inst::Br { link: true, .. });
                        let resolve_at = ready + env.cfg.alu_cycles;
                        let e = &mut self.rob[i];
                        e.resolved = true;
                        e.executed = true;
                        e.next = Some(vals[0]);
                        e.ready_at = resolve_at;
                        if link {
                            e.result = Some(e.pc + Inst::BYTES);
                            e.determined = true;
                        }
                        self.pc = vals[0];
                        if env.timed {
                            self.fetch_ready_at = self.fetch_ready_at.max(resolve_at);
                        }
                        changed = true;
                    }
                }
                Inst::DcCvau { .. } | Inst::IcIvau { .. } | Inst::Tlbi { rt: Some(_), .. } => {
                    let slot = self.rob[i].slot;
                    let (addr_now, addr_final) = {
                        let s = self.lsq.get(slot).expect("maintenance slot");
                        (s.addr, s.addr_final)
                    };
                    if !self.rob[i].executed && avail[0] {
                        // Cache maintenance by VA is translated like a load;
                        // a TLBI operand is not an address.
                        let operand = if matches!(inst, Inst::Tlbi { .. }) {
                            Ok((vals[0], 0))
                        } else {
                            self.physical(vals[0], AccessKind::Read, ready, platform)
                        };
                        match operand {
                            Ok((addr, walk)) => {
                                self.lsq.set_addr(slot, Some(addr), det[0]);
                                self.lsq.set_ready_at(slot, ready + walk);
                            }
                            Err(TranslationFault) => self.rob[i].fault = Some((vals[0], false)),
                        }
                        let e = &mut self.rob[i];
                        e.executed = true;
                        e.ready_at = ready;
                        changed = true;
                    } else if self.rob[i].executed && !addr_final && det[0] {
                        self.lsq.set_addr(slot, addr_now, true);
                        changed = true;
                    }
                }
                // Executed at the head of the reorder buffer, in `retire`.
                Inst::Svc(_)
                | Inst::Eret
                | Inst::Mrs { .. }
                | Inst::Msr { .. }
                | Inst::MsrDaif { .. }
                | Inst::Wfi
                | Inst::Wfe
                | Inst::Sevl => {}
                Inst::B { .. }
                | Inst::Nop
                | Inst::Dmb(_)
                | Inst::Dsb(_)
                | Inst::Isb
                | Inst::IcIallu
                | Inst::Tlbi { rt: None, .. }
                | Inst::Udf(_) => {
                    if !self.rob[i].executed {
                        let e = &mut self.rob[i];
                        e.executed = true;
                        e.ready_at = ready;
                        changed = true;
                    }
                }
            }
            let e = &self.rob[i];
            let settled = e.fault.is_some()
                || match inst {
                    Inst::Load { .. } => e.executed && self.lsq.get(e.slot).is_some_and(|s| s.addr_final),
                    Inst::Store { .. } | Inst::Rmw { .. } => {
                        e.executed && self.lsq.get(e.slot).is_some_and(|s| s.addr_final && s.data_final)
                    }
                    Inst::BCond { .. } | Inst::Cbz { .. } | Inst::Br { .. } | Inst::Ret { .. } => e.resolved,
                    Inst::DcCvau { .. } | Inst::IcIvau { .. } | Inst::Tlbi { rt: Some(_), .. } => {
                        e.executed && self.lsq.get(e.slot).is_some_and(|s| s.addr_final)
                    }
                    _ if inst.is_serializing() => false,
                    Inst::Mov { .. }
                    | Inst::Alu { .. }
                    | Inst::Cmp { .. }
                    | Inst::Cset { .. }
                    | Inst::Csel { .. }
                    | Inst::MulAdd { .. } => e.executed && e.determined,
                    _ => e.executed,
                };
            self.rob[i].settled = settled;
            if let Some((e, slot)) = clean_before {
                assert!(
                    !changed && self.rob[i] == e && self.lsq.get(e.slot).cloned() == slot,
                    "P{}: execute changed entry {} ({}), which nothing had marked for a look",
                    self.id,
                    e.iid,
                    e.inst
                );
            }
            changed |= changed_before;
            if only_dirty {
                let e = &mut self.rob[i];
                e.dirty = Bookkeeping(false);
                if (e.result, e.determined, e.ready_at) != (seen.0, seen.1, seen.2) {
                    self.wake_consumers(i);
                }
                if self.rob[i].resolved != seen.3 {
                    // Branches resolve in program order: younger ones may now resolve.
                    for e in &mut self.rob.as_mut_slice()[i + 1..] {
                        if e.inst.is_conditional_branch() {
                            e.dirty = Bookkeeping(true);
                        }
                    }
                }
            }
            i += 1;
        }
        changed
    }

    /// Executes the conditional select at ROB index `i` in a run that predicts selects
    /// ([`Core::select_waits`]): its result is the operand the condition chooses, the condition
    /// being the flags' if they are known and the predicted one otherwise; it is final once the
    /// flags and that operand are. Returns whether anything changed, or `None` if the flags, now
    /// final, refute the prediction.
    fn execute_select(&mut self, env: &Env, i: usize, ops: &Operands) -> Option<bool> {
        let e = &self.rob[i];
        let (inst, predicted) = (e.inst, e.predicted);
        let cond = match inst {
            Inst::Csel { cond, .. } | Inst::Cset { cond, .. } => cond,
            _ => unreachable!("not a conditional select: {inst}"),
        };
        let flags = ops.avail[0].then(|| cond.holds(ops.vals[0]));
        if ops.det[0] && predicted.zip(flags).is_some_and(|(p, f)| p != f) {
            return None;
        }
        let Some(holds) = predicted.or(flags) else { return Some(false) };
        // The operand it reads (a CSET reads none: its result is the condition).
        let chosen = match inst {
            Inst::Csel { .. } => Some(if holds { 1 } else { 2 }),
            _ => None,
        };
        let determined = ops.avail[0] && ops.det[0] && chosen.is_none_or(|k| ops.det[k]);
        if !e.executed {
            if chosen.is_some_and(|k| !ops.avail[k]) {
                return Some(false);
            }
            let value = match inst {
                Inst::Csel { op, rd, .. } => op.select(rd.width, holds, ops.vals[1], ops.vals[2]),
                _ => u64::from(holds),
            };
            let deps = env.record.then(|| self.register_deps(i, chosen, [0]));
            let e = &mut self.rob[i];
            e.result = Some(value);
            e.flags = 0;
            e.executed = true;
            e.determined = determined;
            e.ready_at = ops.ready + env.cfg.alu_cycles;
            e.deps = deps;
            return Some(true);
        }
        if !e.determined && determined {
            self.rob[i].determined = true;
            return Some(true);
        }
        Some(false)
    }

    /// Dependencies of the register operation at ROB index `i`: through its sources `data` (their
    /// values), and through its sources `control` (what it chooses by, a pick dependency).
    fn register_deps(
        &self,
        i: usize,
        data: impl IntoIterator<Item = usize>,
        control: impl IntoIterator<Item = usize>,
    ) -> Box<Deps> {
        let mut d = Deps::default();
        let srcs = self.rob[i].srcs;
        for k in data {
            if let Some(op) = srcs[k] {
                union_into(&mut d.value, &self.source_deps(i, k, op));
                union_into(&mut d.pick, &self.source_pick_deps(i, k, op));
            }
        }
        for k in control {
            if let Some(op) = srcs[k] {
                union_into(&mut d.pick, &self.source_pick_deps(i, k, op));
            }
        }
        Box::new(d)
    }

    /// Generates the address and operands of the RMW at ROB index `i` (the
    /// queue performs it); returns whether anything changed. Kept out of
    /// `execute` so that programs without RMWs do not pay for it there.
    #[inline(never)]
    fn execute_rmw(
        &mut self,
        env: &Env,
        i: usize,
        op: memory_model::RmwOp,
        ops: &Operands,
        platform: &mut dyn Platform,
    ) -> Option<bool> {
        let mut changed = false;
        let slot = self.rob[i].slot;
        let s = {
            let s = self.lsq.get(slot).expect("rmw slot");
            StoreView { addr: s.addr, addr_final: s.addr_final, data: s.data, data_final: s.data_final }
        };
        let operands_avail = ops.avail[1] && ops.avail[2];
        if (s.addr.is_none() && ops.avail[0]) || (s.data.is_none() && operands_avail) {
            self.lsq.set_ready_at(slot, ops.ready);
        }
        if s.addr.is_none() && ops.avail[0] && self.rob[i].fault.is_none() {
            match self.physical(ops.vals[0], AccessKind::Write, ops.ready, platform) {
                Ok((addr, walk)) => {
                    self.lsq.set_addr(slot, Some(addr), ops.det[0]);
                    self.lsq.set_ready_at(slot, ops.ready + walk);
                }
                Err(TranslationFault) => self.rob[i].fault = Some((ops.vals[0], false)),
            }
            changed = true;
        } else if s.addr.is_some() && !s.addr_final && ops.det[0] {
            self.lsq.set_addr(slot, s.addr, true);
            changed = true;
        }
        let cas = op == memory_model::RmwOp::Cas;
        if cas
            && self.rob[i].result.is_none()
            && ops.avail[1]
            && self.lsq.get(slot).is_some_and(|q| q.cas_succeeds && q.read.is_none())
        {
            // Taken to succeed: it returns its compare value, which it will read (herd7's
            // `DataFromRRs`), before it reads. What reads it depends on the compare value's
            // sources, and on the read only through the compare (a control input, as a
            // conditional select's flags: a pick dependency); not final until the read confirms it.
            let deps = env.record.then(|| self.compare_deps(i));
            let e = &mut self.rob[i];
            e.result = Some(e.inst.rmw().expect("an RMW").returned(ops.vals[1]));
            e.predicted = Some(true);
            e.ready_at = ops.ready;
            if let Some((value, pick)) = deps {
                match e.deps.as_mut() {
                    Some(d) => (d.value, d.pick) = (value, pick),
                    None => e.deps = Some(Box::new(Deps { value, pick, ..Deps::default() })),
                }
            }
            self.wake_consumers(i);
            changed = true;
        }
        if cas && self.lsq.cas_undecided(slot) {
            // A CAS that read early decides once its compare value (Rs) and new value (Rt) are
            // final, as nothing older can squash it by then.
            if ops.avail[1] && ops.avail[2] && ops.det[1] && ops.det[2] {
                if !self.lsq.decide_cas(slot, ops.vals[2], ops.vals[1]) {
                    return None;
                }
                changed = true;
            }
            return Some(changed || self.mark_rmw_executed(env, i, ops));
        }
        if !env.timed && !s.data_final {
            // Exhaustive ARMv8 runs split the RMW: its read may come before its operand is
            // final once nothing older can squash it (`Lsq::set_early_read`); a CAS's, before
            // its compare value is. (The older entries are scanned only while that can still
            // change.)
            if let Some(allowed) = self.lsq.get(slot).filter(|q| q.read.is_none()).map(|q| q.early_read) {
                let unsquashable = !self.rob.range(..i).any(|e| e.inst.is_serializing());
                if allowed != unsquashable {
                    self.lsq.set_early_read(slot, unsquashable);
                    changed = true;
                }
            }
        }
        // A CAS taken to succeed writes its new value (Rt) whatever its compare value: a later
        // load may take it as soon as it is known (`Lsq::predict_cas`).
        let write_known = operands_avail || (cas && ops.avail[2] && self.lsq.get(slot).is_some_and(|q| q.cas_succeeds));
        if write_known && !(s.data.is_some() && s.data_final) && !self.lsq.get(slot).is_some_and(|q| q.done) {
            // The operands are final only once no older instruction can take an exception and
            // squash the performed RMW. (Asked only here: the scan of the older entries is what
            // a pass over a full buffer of a sender's RMWs would otherwise spend its time on.)
            // (An operand not yet available counts as not final: a CAS taken to succeed gets here
            // with its new value alone.)
            let final_now =
                operands_avail && ops.det[1] && ops.det[2] && !self.rob.range(..i).any(|e| e.inst.is_serializing());
            if s.data.is_none() || final_now {
                // The operand is Rs, or the new value Rt of a CAS (whose compare
                // value Rs is read when it is performed, see `rmw_compare`).
                let operand = if op == memory_model::RmwOp::Cas { ops.vals[2] } else { ops.vals[1] };
                self.lsq.set_data(slot, Some(operand), final_now);
                changed = true;
            }
        }
        Some(self.mark_rmw_executed(env, i, ops) || changed)
    }

    /// Marks the RMW at ROB index `i` executed once its operands are all available; returns
    /// whether it changed.
    fn mark_rmw_executed(&mut self, env: &Env, i: usize, ops: &Operands) -> bool {
        if self.rob[i].executed || !ops.avail.iter().all(|a| *a) {
            return false;
        }
        let deps = env.record.then(|| {
            let mut d = self.access_deps(i, 1, true);
            if let (Some(r), Some(rt)) = (self.rob[i].inst.rmw(), self.rob[i].srcs[2])
                && r.op == memory_model::RmwOp::Cas
            {
                // A CAS's compare value decides whether it writes, a control input of the write
                // (herd7's CAS: Rs and the value read feed its branch, which feeds the write by
                // `iico_ctrl`): a pick dependency only. The data is the new value's.
                d.data = self.source_deps(i, 2, rt);
            }
            if self.rob[i].predicted == Some(true) {
                // Its returned value came from the compare value ([`Core::execute_rmw`]).
                (d.value, d.pick) = self.compare_deps(i);
            }
            d
        });
        let e = &mut self.rob[i];
        e.executed = true;
        e.ready_at = ops.ready;
        e.deps = deps;
        true
    }

    /// The dependencies of what the CAS at ROB index `i` returns when it returns its compare value
    /// before reading ([`Core::execute_rmw`]): the compare value's, and, as pick dependencies,
    /// those and its own read's.
    fn compare_deps(&self, i: usize) -> (Vec<u32>, Vec<u32>) {
        let rs = self.rob[i].srcs[1].expect("a CAS's compare register");
        let mut pick = self.source_pick_deps(i, 1, rs);
        union_into(&mut pick, &[self.rob[i].iid]);
        (self.source_deps(i, 1, rs), pick)
    }

    /// Drops every entry younger than ROB index `i` (misprediction).
    fn squash_after(&mut self, i: usize) {
        if let Some(first_slot) = self.rob.iter().skip(i + 1).map(|e| e.slot).find(|&s| s != NO_SLOT) {
            self.lsq.squash_from(first_slot);
        }
        self.rob.truncate(i + 1);
        self.unresolved_branches = self.rob.iter().filter(|e| e.inst.is_conditional_branch() && !e.resolved).count();
        self.next_iid = self.rob[i].iid + 1;
        self.rename = [NO_PROD; Reg::COUNT];
        for e in &self.rob {
            if let Some(d) = e.inst.dest() {
                self.rename[d.index()] = e.iid;
            }
            if e.inst.writes_flags() {
                self.rename[Reg::FLAGS.index()] = e.iid;
            }
        }
    }

    /// Retires what can retire; returns whether anything changed and
    /// whether a serializing instruction executed (its result or state
    /// change may let younger entries execute).
    fn retire(&mut self, env: &Env, now: Cycle, platform: &mut dyn Platform) -> (bool, bool) {
        let mut changed = false;
        let mut serialized = false;
        self.held = false;
        loop {
            // Interrupts are taken at an instruction boundary: before the
            // oldest unretired instruction (splitting a compute block), once
            // no performed RMW is in flight.
            if self.daif & DAIF_I == 0 && platform.irq_pending(self.id) && !self.rmw_in_flight() {
                let (return_pc, left) = match self.rob.front() {
                    Some(e) if matches!(e.inst, Inst::Work(_)) && env.timed && e.ready_at > now => {
                        (e.pc, Some(e.ready_at - now))
                    }
                    Some(e) => (e.pc, None),
                    None => (self.pc, None),
                };
                self.work_resume = left.map(|l| (return_pc, l));
                let at = if std::mem::take(&mut self.asleep) { now + env.cfg.wfi_wake_cycles } else { now };
                self.take_exception(env, at, ExceptionKind::Irq, return_pc, 0);
                changed = true;
                continue;
            }
            let Some(e) = self.rob.front() else { break };
            if env.timed && self.commit_stall_until > now {
                break;
            }
            // Only a compute block holds retirement to its cycle; other
            // entries retire once done, their ready cycle carried along in
            // `arch_ready` so that consumers still wait for it.
            if env.timed && matches!(e.inst, Inst::Work(_)) && e.ready_at > now {
                break;
            }
            if let Some((va, fetch)) = e.fault {
                let (pc, lower) = (e.pc, self.el == 0);
                let class = match (fetch, lower) {
                    (true, true) => 0x20,
                    (true, false) => 0x21,
                    (false, true) => 0x24,
                    (false, false) => 0x25,
                };
                self.sys.far = va;
                self.take_exception(env, now, ExceptionKind::Sync { class }, pc, ((class as u64) << 26) | (1 << 25));
                changed = true;
                continue;
            }
            let hold = |e: &Entry| {
                !env.holds.is_empty() && self.released != Some(e.iid) && env.holds.binary_search(&e.pc).is_ok()
            };
            if e.inst.is_serializing() {
                if hold(e) {
                    self.held = true;
                    break;
                }
                if !self.execute_at_head(env, now, platform) {
                    break;
                }
                // Its result, and its leaving (an RMW's operand waits for older serializing
                // instructions), may let any younger entry move.
                for e in self.rob.iter_mut() {
                    e.dirty = Bookkeeping(true);
                }
                changed = true;
                serialized = true;
                continue;
            }
            let slot = (e.slot != NO_SLOT).then(|| self.lsq.get(e.slot).expect("slot of a live entry"));
            let ok = match e.inst {
                Inst::Load { .. } => e.result.is_some() && slot.is_some_and(|s| s.done),
                Inst::Store { status, .. } => {
                    slot.is_some_and(|s| s.addr_final && s.data_final && (s.done || env.mode.has_store_buffer()))
                        && self.lsq.buffered_stores() < env.cfg.store_buffer_entries.max(1)
                        && (status.is_none() || e.result.is_some())
                }
                Inst::Dmb(_) | Inst::Dsb(_) | Inst::Isb | Inst::Rmw { .. } => slot.is_some_and(|s| s.done),
                Inst::DcCvau { .. } | Inst::IcIvau { .. } | Inst::IcIallu | Inst::Tlbi { .. } => {
                    slot.is_some_and(|s| s.done)
                }
                Inst::BCond { .. } | Inst::Cbz { .. } | Inst::Br { .. } | Inst::Ret { .. } => e.resolved,
                _ => e.executed,
            };
            if !ok {
                break;
            }
            if (e.predicted.is_some() && !e.determined)
                || (matches!(e.inst, Inst::Rmw { .. }) && self.lsq.cas_undecided(e.slot))
            {
                // A predicted select retires once the flags have confirmed it, and a CAS that read
                // early once it has decided. At the head what they wait for is final, so the next
                // pass of `execute` settles it: ask for one.
                serialized = true;
                break;
            }
            if hold(e) {
                self.held = true;
                break;
            }
            if matches!(e.inst, Inst::Isb) && !e.resolved && env.timed {
                // Completed at the head before fetch saw it complete: the refill starts now.
                self.fetch_ready_at = self.fetch_ready_at.max(now + env.cfg.isb_cycles);
            }
            self.retire_head(env, now, platform);
            changed = true;
        }
        self.lsq.pop_completed();
        (changed, serialized)
    }

    /// Removes the head entry, making its effects architectural.
    #[inline]
    fn retire_head(&mut self, env: &Env, now: Cycle, platform: &dyn Platform) {
        if !self.rob[0].determined && (self.rob[0].inst.dest().is_some() || self.rob[0].inst.writes_flags()) {
            // Its consumers now read the architectural register, which is final.
            self.wake_consumers(0);
        }
        let e = &self.rob[0];
        let (iid, slot, pc, fetched_from) = (e.iid, e.slot, e.pc, e.fetched_from);
        if self.released == Some(iid) {
            self.released = None;
        }
        if let Some(d) = e.inst.dest() {
            self.arch[d.index()] = e.result.expect("retired entries have results");
            self.arch_ready[d.index()] = e.ready_at;
            if self.rename[d.index()] == iid {
                self.rename[d.index()] = NO_PROD;
            }
        }
        if e.inst.writes_flags() {
            let f = Reg::FLAGS.index();
            self.arch[f] = e.flags;
            self.arch_ready[f] = e.ready_at;
            if self.rename[f] == iid {
                self.rename[f] = NO_PROD;
            }
        }
        if slot != NO_SLOT {
            // A load's read, or a read-modify-write's (a failed CAS included): the read a decision
            // on the value rests on is whichever of them came last, as exploration's ghost reads
            // have it.
            if !env.watch.is_empty()
                && matches!(e.inst, Inst::Load { .. } | Inst::Rmw { .. })
                && let Some(s) = self.lsq.get(slot)
                && let (Some(addr), Some(read)) = (s.addr, s.read)
                && env.watch.binary_search(&addr).is_ok()
            {
                self.observed.watched_loads.push(WatchedLoad {
                    addr,
                    pc,
                    el: self.el,
                    source: read.source,
                    value: read.value,
                    satisfied_at: e.ready_at,
                    retired_at: now,
                });
            }
            if !env.watch.is_empty()
                && let Inst::Store { .. } = e.inst
                && let Some(addr) = self.lsq.get(slot).and_then(|s| s.addr)
                && env.watch.binary_search(&addr).is_ok()
            {
                let write = WriteId { tid: self.id, iid };
                self.observed.retired_stores.push(RetiredStore { addr, pc, write, retired_at: now });
            }
            self.note_reservation(e.inst, slot);
            self.lsq.set_retired(slot);
        }
        if !env.probes.is_empty()
            && let Ok(i) = env.probes.binary_search_by_key(&pc, |p| p.pc)
        {
            let values = env.probes[i].regs.map(|r| if r.is_zero() { 0 } else { self.arch[r.index()] });
            self.observed.probe_hits.push(ProbeHit { probe: env.probe_ids[i], el: self.el, at: now, iid, values });
        }
        if let Some(executed) = fetched_from
            && let Some(newest) = platform.code_latest(pc)
            && executed != newest
        {
            self.stale.push(StaleInstruction { pc, executed, newest, at: now });
        }
        if env.record {
            let e = self.rob[0].clone();
            self.record(&e);
        }
        self.rob.pop_front();
        self.head_iid += 1;
        self.retired += 1;
    }

    /// Executes the serializing instruction at the head of the reorder
    /// buffer (everything older has retired). Returns false if it must wait.
    fn execute_at_head(&mut self, env: &Env, now: Cycle, platform: &mut dyn Platform) -> bool {
        let head = &self.rob[0];
        let (inst, pc) = (head.inst, head.pc);
        let src = match head.srcs[0] {
            Some(op) => match self.source(0, 0, op) {
                Some((v, _, t)) => Some((v, t)),
                None => return false,
            },
            None => None,
        };
        let at = now.max(head.fetched_at + env.cfg.frontend_cycles).max(src.map_or(0, |(_, t)| t));
        match inst {
            Inst::Mrs { rt, reg } => {
                let (v, cost) = match reg {
                    SysReg::IccIar1El1 | SysReg::CntvctEl0 | SysReg::IccSgi1rEl1 | SysReg::IccEoir1El1 => {
                        platform.read_device(self.id, reg, at)
                    }
                    _ => (self.sysreg(reg), 0),
                };
                self.commit_stall_until = at + cost;
                let e = &mut self.rob[0];
                e.result = Some(rt.width.mask(v));
                e.executed = true;
                e.determined = true;
                e.ready_at = at + cost + env.cfg.alu_cycles;
                self.retire_head(env, now, platform);
            }
            Inst::Msr { reg, .. } => {
                let v = src.map_or(0, |(v, _)| v);
                let cost = match reg {
                    SysReg::IccSgi1rEl1 | SysReg::IccEoir1El1 | SysReg::IccIar1El1 | SysReg::CntvctEl0 => {
                        platform.write_device(self.id, reg, v, at)
                    }
                    _ => {
                        self.write_sysreg(reg, v);
                        0
                    }
                };
                // A system-register write holds later commits until it is done.
                self.commit_stall_until = at + cost;
                self.rob[0].executed = true;
                self.retire_head(env, now, platform);
            }
            Inst::MsrDaif { set, imm } => {
                if set {
                    self.daif |= imm;
                } else {
                    self.daif &= !imm;
                }
                self.rob[0].executed = true;
                self.retire_head(env, now, platform);
            }
            Inst::Svc(imm) => {
                self.rob[0].executed = true;
                self.retire_head(env, now, platform);
                let esr = (0x15u64 << 26) | (1 << 25) | imm as u64;
                self.take_exception(env, at, ExceptionKind::Sync { class: 0x15 }, pc + Inst::BYTES, esr);
            }
            Inst::Wfi => {
                // Sleeps until an interrupt is pending, masked or not; the
                // interrupt's arrival is what wakes the core again.
                if env.timed && !platform.irq_pending(self.id) {
                    self.asleep = true;
                    return false;
                }
                if std::mem::take(&mut self.asleep) {
                    self.fetch_ready_at = self.fetch_ready_at.max(now + env.cfg.wfi_wake_cycles);
                }
                self.rob[0].executed = true;
                self.retire_head(env, now, platform);
            }
            Inst::Wfe => {
                // Waits until the event register is set; the write that sets it steps the core.
                if !platform.take_event(self.id) {
                    return false;
                }
                self.rob[0].executed = true;
                self.retire_head(env, now, platform);
            }
            Inst::Sevl => {
                platform.set_event(self.id);
                self.rob[0].executed = true;
                self.retire_head(env, now, platform);
            }
            Inst::Udf(_) => {
                // Undefined instruction: a synchronous exception, class 0.
                self.take_exception(env, at, ExceptionKind::Sync { class: 0 }, pc, 1 << 25);
            }
            Inst::Eret => {
                self.rob[0].executed = true;
                self.retire_head(env, now, platform);
                self.exception_return(env, at);
            }
            _ => unreachable!("not a serializing instruction: {inst}"),
        }
        true
    }

    /// Takes an exception to EL1: saves the return address and PSTATE, masks
    /// interrupts, discards everything not yet retired and redirects fetch
    /// to the vector. Context-synchronizing.
    fn take_exception(&mut self, env: &Env, now: Cycle, kind: ExceptionKind, return_pc: Addr, esr: u64) {
        let from_el = self.el;
        self.squash_unretired();
        self.released = None;
        // Taking an exception clears the exclusive monitor, as returning from one does.
        self.reservation = None;
        self.sys.elr = return_pc;
        self.sys.spsr = ((self.daif as u64) << 6) | ((self.el as u64) << 2) | (self.el == 1) as u64;
        if let ExceptionKind::Sync { .. } = kind {
            self.sys.esr = esr;
        }
        self.switch_stack(1);
        self.el = 1;
        self.daif = 0xf;
        let offset = match (kind, from_el) {
            (ExceptionKind::Sync { .. }, 0) => 0x400,
            (ExceptionKind::Irq, 0) => 0x480,
            (ExceptionKind::Sync { .. }, _) => 0x200,
            (ExceptionKind::Irq, _) => 0x280,
        };
        self.pc = self.sys.vbar + offset;
        if env.timed {
            self.fetch_ready_at = self.fetch_ready_at.max(now) + env.cfg.exception_entry_cycles;
        }
        self.exceptions.push(ExceptionRecord { kind, from_el, return_pc, taken_at: now, returned_at: None });
    }

    /// ERET: restores PSTATE and the return address; context-synchronizing.
    fn exception_return(&mut self, env: &Env, now: Cycle) {
        self.squash_unretired();
        self.released = None;
        self.reservation = None;
        let spsr = self.sys.spsr;
        // Only EL0 and EL1 exist: a return to a higher level stays at EL1
        // (the architecture makes it an illegal return).
        let el = (((spsr >> 2) & 3) as u8).min(1);
        self.switch_stack(el);
        self.el = el;
        self.daif = ((spsr >> 6) & 0xf) as u8;
        self.pc = self.sys.elr;
        let done = now + env.cfg.exception_return_cycles;
        if env.timed {
            self.fetch_ready_at = self.fetch_ready_at.max(done);
        }
        if let Some(r) = self.exceptions.iter_mut().rev().find(|r| r.returned_at.is_none()) {
            r.returned_at = Some(if env.timed { done } else { 0 });
        }
    }

    /// Drops every instruction that has not retired (retired stores stay in
    /// the store buffer).
    fn squash_unretired(&mut self) {
        if let Some(first) = self.rob.iter().map(|e| e.slot).find(|&s| s != NO_SLOT) {
            self.lsq.squash_from(first);
        }
        self.rob.clear();
        self.unresolved_branches = 0;
        self.next_iid = self.head_iid;
        self.rename = [NO_PROD; Reg::COUNT];
        self.code_choice = None;
        self.code_fill = None;
        self.fetch_page = None;
    }

    fn record(&mut self, e: &Entry) {
        let rec = &mut self.rec;
        if rec.arch_deps.is_empty() {
            rec.arch_deps = vec![vec![]; Reg::COUNT];
            rec.arch_pick = vec![vec![]; Reg::COUNT];
        }
        let deps = e.deps.as_deref().cloned().unwrap_or_default();
        for r in e.inst.dest().into_iter().chain(e.inst.writes_flags().then_some(Reg::FLAGS)) {
            rec.arch_deps[r.index()] = deps.value.clone();
            rec.arch_pick[r.index()] = deps.pick.clone();
        }
        // What a pick dependency adds to a full one (in `po` indices).
        let extra = |rec: &Recorder, pick: &[u32], full: &[u32]| -> Vec<u32> {
            let full = rec.po_of(full);
            rec.po_of(pick).into_iter().filter(|p| !full.contains(p)).collect()
        };
        let pick_addr_deps = extra(rec, &deps.pick_addr, &deps.addr);
        let pick_data_deps = extra(rec, &deps.pick_data, &deps.data);
        let pick_ctrl_deps: Vec<u32> = rec.pick_ctrl.iter().copied().filter(|p| !rec.ctrl.contains(p)).collect();
        let po = rec.events.len() as u32;
        let slot = self.lsq.get(e.slot);
        if let Some(rmw) = e.inst.rmw() {
            // A read, then (unless a CAS compare failed) a write.
            let s = slot.expect("a retired RMW's slot");
            let read = s.read.expect("retired RMW was performed");
            let atomic = Some(Atomic {
                acquire: rmw.acquire,
                release: rmw.release,
                no_ret: rmw.no_ret,
                // (A CAS taken to succeed lends its write as a SWP does.)
                forwards: rmw.op == memory_model::types::RmwOp::Swp || s.cas_succeeds,
            });
            let ev = GEvent {
                tid: self.id,
                po,
                kind: EventKind::Read { acquire: rmw.acquire },
                addr: s.addr.unwrap_or(0),
                value: rmw.returned(read.value),
                id: None,
                rf: Some(read.source),
                addr_deps: rec.po_of(&deps.addr),
                // The operands (a CAS's compare value too) feed the write, not the read, as in
                // herd7's RMWs: split, the read may come first.
                data_deps: vec![],
                ctrl_deps: rec.ctrl.clone(),
                pick_addr_deps,
                pick_data_deps: vec![],
                pick_ctrl_deps,
                rcpc: false,
                atomic,
            };
            rec.load_po.push((e.iid, po));
            if let Some(v) = s.data {
                let w = GEvent {
                    po: po + 1,
                    kind: EventKind::Write { release: rmw.release },
                    value: v,
                    id: Some(WriteId { tid: self.id, iid: e.iid }),
                    rf: None,
                    data_deps: rec.po_of(&deps.data),
                    pick_data_deps: extra(rec, &deps.pick_data, &deps.data),
                    ..ev.clone()
                };
                rec.events.push(ev);
                rec.events.push(w);
            } else {
                rec.events.push(ev);
            }
            return;
        }
        let kind = match e.inst {
            Inst::Load { acquire, .. } => EventKind::Read { acquire },
            // A store-exclusive that failed wrote nothing.
            Inst::Store { .. } if slot.is_some_and(|s| s.exclusive == Exclusive::Fails) => return,
            Inst::Store { release, .. } => EventKind::Write { release },
            Inst::Dmb(f) | Inst::Dsb(f) => EventKind::Fence(f),
            Inst::Isb => EventKind::Fence(Fence::Isb),
            Inst::BCond { .. } | Inst::Cbz { .. } => {
                let d = rec.po_of(&deps.value);
                union_into(&mut rec.ctrl, &d);
                let p = rec.po_of(&deps.pick);
                union_into(&mut rec.pick_ctrl, &p);
                return;
            }
            _ => return,
        };
        let mut ev = GEvent {
            tid: self.id,
            po,
            kind,
            addr: slot.and_then(|s| s.addr).unwrap_or(0),
            value: 0,
            id: None,
            rf: None,
            addr_deps: rec.po_of(&deps.addr),
            data_deps: rec.po_of(&deps.data),
            ctrl_deps: rec.ctrl.clone(),
            pick_addr_deps,
            pick_data_deps,
            pick_ctrl_deps,
            rcpc: matches!(e.inst, Inst::Load { rcpc: true, .. }),
            atomic: None,
        };
        match kind {
            EventKind::Read { .. } => {
                let r = slot.and_then(|s| s.read).expect("retired load was satisfied");
                ev.value = e.result.unwrap_or(r.value);
                ev.rf = Some(r.source);
                rec.load_po.push((e.iid, po));
            }
            EventKind::Write { .. } => {
                ev.value = slot.and_then(|s| s.data).unwrap_or(0);
                ev.id = Some(WriteId { tid: self.id, iid: e.iid });
            }
            EventKind::Fence(_) => {}
        }
        rec.events.push(ev);
    }

    /// Why fetch cannot continue past the youngest entry, if it cannot.
    fn tail_blocks_fetch(&self, env: &Env, now: Cycle) -> bool {
        let Some(last) = self.rob.back() else { return false };
        match last.inst {
            Inst::Work(_) => env.timed && last.ready_at > now,
            // Context synchronization: nothing after an ISB is fetched before
            // it completes; exception generation and return redirect fetch.
            // (Its completion schedules the refill: see `fetch`.)
            Inst::Isb => !self.tail_isb_complete(),
            Inst::Svc(_) | Inst::Eret => true,
            // A core waiting for an interrupt or an event fetches nothing meanwhile.
            Inst::Wfi | Inst::Wfe => true,
            // Nothing is fetched past an instruction whose fetch faulted.
            _ if last.fault.is_some_and(|(_, fetch)| fetch) => true,
            _ if last.inst.is_conditional_branch() || last.inst.is_indirect_branch() => last.next.is_none(),
            Inst::Csel { .. } | Inst::Cset { .. } => self.select_waits(last),
            _ => false,
        }
    }

    /// The youngest entry, an ISB, has completed: its queue entry is done (the ordering rules)
    /// and no system-register access ahead of it is still waiting for the head, where those take
    /// effect. What the ISB refetches sees an earlier MSR's effect, and a counter read after it
    /// is not taken in the same cycle as one before it.
    fn tail_isb_complete(&self) -> bool {
        let Some(last) = self.rob.back() else { return false };
        self.lsq.get(last.slot).is_some_and(|s| s.done)
            && !self.rob.iter().rev().skip(1).any(|e| e.inst.is_serializing())
    }

    fn fetch(&mut self, env: &Env, now: Cycle, platform: &mut dyn Platform) -> bool {
        let mut changed = false;
        while self.rob.len() < env.cfg.rob_entries.max(1) && self.fetched <= env.fetch_limit {
            if let Some(last) = self.rob.back()
                && let Inst::Isb = last.inst
                && !last.resolved
                && self.tail_isb_complete()
            {
                // The ISB completed: later instructions are fetched anew
                // after the pipeline refills.
                let refill = now + env.cfg.isb_cycles;
                self.rob.back_mut().expect("tail").resolved = true;
                if env.timed {
                    self.fetch_ready_at = self.fetch_ready_at.max(refill);
                }
                changed = true;
            }
            if self.tail_blocks_fetch(env, now) || (env.timed && self.fetch_ready_at > now) {
                break;
            }
            if env.in_order_user && self.el == 0 {
                if self.el0_fetches == 0 {
                    break;
                }
                self.el0_fetches -= 1;
            }
            let pc = self.pc;
            // Exhaustive runs: a thread that branched out of all code is done ([`Core::is_done`]),
            // MMU on or off (its fetch is not translated, so it does not fault).
            if !env.timed && env.code.fetch(pc).is_none() && !env.code.is_patchable(pc) {
                break;
            }
            let mut fetched_at = if env.timed { now.max(self.fetch_ready_at) } else { 0 };
            // Instruction fetch is translated once per page (code is
            // identity-mapped: the translation is checked, not applied).
            let mut fault = None;
            let page = pc & !(PAGE_BYTES - 1);
            if self.translating().is_some() && self.fetch_page != Some(page) {
                match self.physical(pc, AccessKind::Fetch, fetched_at, platform) {
                    Ok((_, walk)) => {
                        self.fetch_page = Some(page);
                        fetched_at += walk;
                    }
                    Err(TranslationFault) => fault = Some((pc, true)),
                }
            }
            let (inst, fetched_from) = if fault.is_some() {
                (Inst::Udf(0), None)
            } else if env.code.is_patchable(pc) {
                if env.timed {
                    // An I-cache miss stalls fetch until the fill completes;
                    // the copy is read then.
                    match self.code_fill {
                        Some((at, t)) if at == pc && t > now => break,
                        Some((at, t)) if at == pc => {
                            self.code_fill = None;
                            fetched_at = fetched_at.max(t);
                        }
                        _ => {
                            let delay = platform.code_miss_delay(self.id, pc, fetched_at);
                            if delay > 0 {
                                self.code_fill = Some((pc, fetched_at + delay));
                                changed = true;
                                break;
                            }
                        }
                    }
                    let f = platform.fetch_code(self.id, pc, fetched_at);
                    (f.inst, Some(f.writer))
                } else {
                    // Exhaustive runs: which copy is fetched is the explorer's choice.
                    match self.code_choice.take() {
                        Some((inst, w)) => (inst, Some(w)),
                        None => break,
                    }
                }
            } else {
                match env.code.fetch(pc) {
                    Some(i) => (i, None),
                    None => break,
                }
            };
            // A compute block of register length waits until its count is
            // architectural, then is an ordinary compute block.
            let inst = match inst {
                Inst::WorkReg(r) => {
                    if !self.rob.is_empty() {
                        break;
                    }
                    fetched_at = fetched_at.max(self.arch_ready[r.index()]);
                    Inst::Work(self.arch[r.index()])
                }
                other => other,
            };
            debug_assert_eq!(
                self.unresolved_branches,
                self.rob.iter().filter(|e| e.inst.is_conditional_branch() && !e.resolved).count()
            );
            if inst.is_conditional_branch() && self.unresolved_branches >= env.max_unresolved.max(1) {
                if let Some(w) = fetched_from {
                    self.code_choice = Some((inst, w));
                }
                break;
            }
            let iid = self.next_iid;
            self.next_iid += 1;
            self.fetched += 1;
            let srcs = inst.sources();
            let mut prod = [NO_PROD; 3];
            for (k, op) in srcs.iter().enumerate() {
                if let Some(op) = op {
                    prod[k] = self.rename[op.reg.index()];
                    if prod[k] != NO_PROD
                        && let Some(p) = self.entry_index(prod[k])
                    {
                        let reader = &mut self.rob[p].last_reader;
                        reader.0 = reader.0.max(iid);
                    }
                }
            }
            if let Some(d) = inst.dest() {
                self.rename[d.index()] = iid;
            }
            if inst.writes_flags() {
                self.rename[Reg::FLAGS.index()] = iid;
            }
            let slot = match inst {
                Inst::Load { acquire, rcpc, .. } => {
                    let seq = self.lsq.push(iid, SlotKind::Load { acquire });
                    if rcpc {
                        self.lsq.set_rcpc(seq);
                    }
                    seq
                }
                Inst::Store { release, status, .. } => {
                    let seq = self.lsq.push(iid, SlotKind::Store { release });
                    if status.is_some() {
                        self.lsq.set_exclusive(seq);
                    }
                    seq
                }
                Inst::Rmw { .. } => self.lsq.push(iid, SlotKind::Rmw(inst.rmw().expect("an RMW"))),
                Inst::Dmb(f) | Inst::Dsb(f) => self.lsq.push(iid, SlotKind::Fence(f)),
                Inst::Isb => self.lsq.push(iid, SlotKind::Fence(Fence::Isb)),
                Inst::BCond { .. } | Inst::Cbz { .. } => self.lsq.push(iid, SlotKind::Branch),
                Inst::DcCvau { .. } => self.lsq.push(iid, SlotKind::Maint(MaintOp::DcCvau)),
                Inst::IcIvau { .. } => self.lsq.push(iid, SlotKind::Maint(MaintOp::IcIvau)),
                Inst::IcIallu => {
                    let seq = self.lsq.push(iid, SlotKind::Maint(MaintOp::IcIallu));
                    self.lsq.set_addr(seq, Some(0), true);
                    seq
                }
                Inst::Tlbi { scope, broadcast, rt } => {
                    let seq = self.lsq.push(iid, SlotKind::Maint(MaintOp::Tlbi { scope, broadcast }));
                    if rt.is_none() {
                        self.lsq.set_addr(seq, Some(0), true);
                    }
                    seq
                }
                _ => NO_SLOT,
            };
            let next = match inst {
                Inst::B { target } | Inst::Bl { target } => Some(target),
                Inst::BCond { target, .. } | Inst::Cbz { target, .. } => {
                    // Timed ARM cores speculate with a static predictor
                    // (backward taken, forward not taken); exhaustive runs
                    // fork on both directions; SC/TSO cores wait.
                    if env.timed && env.mode.speculates() {
                        Some(if target <= pc { target } else { pc + Inst::BYTES })
                    } else {
                        None
                    }
                }
                // Indirect branches wait for their target register.
                Inst::Br { .. } | Inst::Ret { .. } => None,
                _ => Some(pc + Inst::BYTES),
            };
            // A compute block occupies the core from fetch to its end; one
            // interrupted part-way resumes with the cycles it had left.
            let ready_at = match inst {
                Inst::Work(n) if env.timed => {
                    let left = match self.work_resume {
                        Some((at, left)) if at == pc => {
                            self.work_resume = None;
                            left
                        }
                        _ => n,
                    };
                    fetched_at + left
                }
                _ => fetched_at,
            };
            self.unresolved_branches += usize::from(inst.is_conditional_branch());
            self.rob.push_back(Entry {
                iid,
                pc,
                inst,
                srcs,
                prod,
                result: None,
                flags: 0,
                determined: false,
                executed: false,
                slot,
                next,
                predicted: None,
                resolved: false,
                settled: false,
                dirty: Bookkeeping(true),
                last_reader: Bookkeeping(0),
                fetched_at,
                ready_at,
                fetched_from,
                fault,
                deps: None,
            });
            if let Some(n) = next {
                self.pc = n;
            }
            if fetched_from.is_some() && env.timed {
                // The next fetch waits for this one's I-cache access.
                self.fetch_ready_at = self.fetch_ready_at.max(fetched_at);
            }
            changed = true;
            if env.timed && next.is_some_and(|n| n != pc + Inst::BYTES) {
                // A taken branch ends the fetch group: fetch resumes at the
                // target a cycle later, so every loop iteration takes time
                // (a loop of register operations cannot spin in zero time).
                self.fetch_ready_at = self.fetch_ready_at.max(fetched_at + env.cfg.taken_branch_cycles.max(1));
                break;
            }
        }
        changed
    }

    /// Exhaustive runs: the patchable address fetch is waiting at, if any.
    pub fn pending_code_fetch(&self, env: &Env) -> Option<Addr> {
        let waiting = self.code_choice.is_none()
            && env.code.is_patchable(self.pc)
            && self.rob.len() < env.cfg.rob_entries.max(1)
            && !self.tail_blocks_fetch(env, 0);
        waiting.then_some(self.pc)
    }

    /// Exhaustive runs: supplies the copy of the instruction at the pending
    /// patchable address that the next fetch returns.
    pub fn choose_code(&mut self, inst: Inst, writer: WriteId) {
        self.code_choice = Some((inst, writer));
    }

    /// Fetch state after [`Core::advance`].
    pub fn fetch_state(&self, code: &CodeSpace) -> FetchState {
        if self.pending_prediction().is_some() {
            FetchState::NeedsPrediction
        } else if code.fetch(self.pc).is_none() {
            FetchState::Ended
        } else {
            FetchState::Running
        }
    }

    /// Short description of what the core is waiting for (for deadlock reports).
    pub fn describe(&self) -> String {
        match self.rob.front() {
            Some(e) => format!("P{} blocked at pc {:#x}: {} (iid {})", self.id, e.pc, e.inst, e.iid),
            None if !self.lsq.is_empty() => format!("P{} draining {} queue entries", self.id, self.lsq.len()),
            None => format!("P{} idle at pc {:#x}", self.id, self.pc),
        }
    }
}

/// Source operand values of an entry being executed: value, available,
/// determined, and the cycle the last available one is ready.
struct Operands {
    vals: [u64; 3],
    avail: [bool; 3],
    det: [bool; 3],
    ready: Cycle,
}

#[derive(Clone, Copy)]
struct StoreView {
    addr: Option<Addr>,
    addr_final: bool,
    data: Option<u64>,
    data_final: bool,
}

/// Cycles a core spent stalled, by cause (gem5 counts the same in its O3 CPU's
/// `rob.fullEvents`, `lsq.sqFullEvents` and barrier stalls, as events rather than cycles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StallCycles {
    /// Fetch waited for room in the reorder buffer.
    pub rob_full: Cycle,
    /// Retirement waited with a store at the head and the store buffer full.
    pub store_buffer_full: Cycle,
    /// Retirement waited with an uncompleted barrier (DMB, DSB, ISB) at the head.
    pub barrier: Cycle,
}

impl StallCycles {
    /// Number of causes.
    pub const CAUSES: usize = 3;
}

/// Running clocks behind [`StallCycles`]: the cycle each ongoing stall began at, and the
/// cycles of the stalls that ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct StallClocks {
    since: [Option<Cycle>; StallCycles::CAUSES],
    total: [Cycle; StallCycles::CAUSES],
}

impl StallClocks {
    fn update(&mut self, now: Cycle, stalled: [bool; StallCycles::CAUSES]) {
        for ((since, total), stalled) in self.since.iter_mut().zip(&mut self.total).zip(stalled) {
            match (*since, stalled) {
                (None, true) => *since = Some(now),
                (Some(from), false) => {
                    *total += now.saturating_sub(from);
                    *since = None;
                }
                _ => {}
            }
        }
    }

    fn read(&self, now: Cycle) -> StallCycles {
        let t = |k: usize| self.total[k] + self.since[k].map_or(0, |from| now.saturating_sub(from));
        StallCycles { rob_full: t(0), store_buffer_full: t(1), barrier: t(2) }
    }
}

fn min_opt(a: Option<Cycle>, b: Cycle) -> Option<Cycle> {
    Some(a.map_or(b, |a| a.min(b)))
}
