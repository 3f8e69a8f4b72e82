//! The in-order core: user (EL0) code without the pipeline's cost.
//!
//! With [`UserCode::InOrder`], a timed run executes user code on this
//! core instead of the out-of-order pipeline. The kernel paths, where the orderings this project
//! studies happen, stay on the pipeline; so does every exhaustive run.
//!
//! ```text
//!   EL1 (pipeline) --ERET--> drain --> EL0 (in order) --SVC, IRQ, anything else--> pipeline
//! ```
//!
//! **Timing.** The same front end and latencies as the pipeline ([`CoreConfig`]):
//! instructions are fetched in groups that a taken branch ends (`taken_branch_cycles`), reach
//! issue `frontend_cycles` after fetch, and issue in program order, each once its operands are
//! ready and not before the one before it. A register operation's result is ready
//! `alu_cycles` after issue; a branch resolves then, and the static predictor (backward taken,
//! forward not) costs `mispredict_penalty` when wrong. A load reads storage when it issues and
//! its value arrives after the coherence model's latency; a store is written to storage when it
//! issues (no store buffer). A system-register read waits for everything before it; an `ISB`
//! completes once earlier branches have resolved and earlier system-register reads have run,
//! and fetch resumes `isb_cycles` later; `DMB` and `DSB` wait for every earlier access.
//!
//! **Timed by dataflow** ([`UserCode::Dataflow`]). The same core, executing in program order,
//! but an instruction issues once its operands are ready and it is in the window, not after the
//! one before it: as on the pipeline, which has no issue limit either, the window is
//! `rob_entries` instructions (one enters once the one that many before it has retired), a
//! load does not issue before an earlier store to the same address, and stores leave the core
//! one after another. This is how ZSim times its out-of-order cores: functional execution in
//! order, timing by dataflow. An instruction takes effect (for the horizon below, and the cycle
//! its accesses are performed at) at its issue or at a later issue before it in program order,
//! whichever is later, so effects stay in program order and the exactness argument below holds
//! unchanged.
//!
//! **Running ahead of the clock, exactly.** One call executes many instructions, each at its
//! own cycle, possibly later than the event being handled. That changes no result as long as
//! nothing else could have happened in between, which the caller's [`Horizon`] guarantees:
//! loads, stores and translations (which read or write what other cores see) only happen before
//! the next pending event of the whole machine; register operations, branches and counter reads
//! (which touch nothing shared) also before anything could reach this core (an interrupt, a
//! broadcast TLB invalidation), which the machine bounds from the events pending and the
//! shortest delay with which a later event could send one. So do loads and stores to data the
//! machine was told is this core's alone, when the TLB holds their translation
//! ([`DataPort::translate_private`]; the machine checks the claim on every other core's access,
//! see `Machine::keep_private`).
//!
//! **And speculatively past that.** The machine may then call again with a later bound, as if
//! nothing would reach the core, recording what the call changes (the old cells of the words
//! its stores wrote, and the core's state before it, `Core::in_order_checkpoint`); if an
//! interrupt or a broadcast TLBI is then scheduled to reach the core before the run's end, the
//! run is rolled back (`Core::roll_back_in_order`) and the core resumes where it would have
//! stopped. See `Machine::speculate`.
//!
//! **What it hands back.** Anything else (an exception-generating instruction, an atomic, an
//! exclusive load, a flag-setting ALU instruction (`ADDS`), a conditional select, `WFE`, cache
//! or TLB maintenance, a device register, patchable code, a store to code, a translation fault,
//! a compute block) is left to the pipeline: the core lets the pipeline fetch that one
//! instruction at EL0, and takes over again once the pipeline is empty.

use super::*;
use crate::isa::{AluOp, Cond, Index, Src2, Width, compare_flags};
use memory_model::memory::Cell;

/// Instructions one call executes at most, so that a user loop that never touches anything
/// shared still returns to the event loop (run limits and event budgets stay meaningful).
const MAX_PER_CALL: u32 = 4096;

/// The in-order core's clocks, kept between its calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Clocks {
    /// The clocks are valid (cleared whenever the pipeline runs).
    pub(super) active: bool,
    /// Cycle the previous instruction issued.
    issued: Cycle,
    /// Every instruction before the stay (the pipeline's) has completed; [`Clocks::done`] adds
    /// the stay's own, which `retired` covers.
    done_before: Cycle,
    /// Every earlier branch has resolved (what an `ISB` waits for).
    branches: Cycle,
    /// Every earlier system-register read has run (what an `ISB` also waits for).
    serial: Cycle,
    /// Every earlier load and store has completed (what `DMB` and `DSB` wait for).
    accesses: Cycle,
    /// [`UserCode::Dataflow`]: every earlier store has left the core (they leave one at a time).
    stores_drained: Cycle,
    /// Cycle the previous instruction retired (probe hits and watched accesses are logged then).
    retired: Cycle,
    /// The instruction at this address goes to the pipeline when the core next runs (it stopped
    /// to hand it over at the cycle the handing over happens at when it issues in its own event).
    leaving: Option<Addr>,
}

impl Clocks {
    /// Every earlier instruction has completed (what a system-register read and a barrier wait
    /// for). `retired` is the latest completion of the stay's instructions, or the stay's start,
    /// which `done_before` is not earlier than: so their maximum is exact, and no maximum of
    /// completions is kept per instruction.
    fn done(&self) -> Cycle {
        self.done_before.max(self.retired)
    }
}

/// What [`UserCode::Dataflow`] remembers between calls (out of [`Clocks`], which every
/// instruction copies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dataflow {
    /// The cycle each recent instruction retired, by instance number modulo [`WINDOW_RING`]: an
    /// instruction enters the window once the one `rob_entries` before it has retired.
    retired: [Cycle; WINDOW_RING],
    /// Recent stores, by address (`(addr >> 3) % RECENT_STORES`), and the cycle each issued: a
    /// later load of the same address does not issue before it (its value comes from that
    /// store).
    stores: [(Addr, Cycle); RECENT_STORES],
}

/// The largest window [`UserCode::Dataflow`] keeps (`rob_entries` beyond it count as this); a
/// power of two, so the ring is indexed by the instance number's low bits.
const WINDOW_RING: usize = 1024;
/// Stores [`Dataflow::stores`] remembers.
const RECENT_STORES: usize = 8;

/// The instructions [`UserCode::Dataflow`]'s window holds.
fn window_span(rob_entries: usize) -> u32 {
    rob_entries.clamp(1, WINDOW_RING) as u32
}

/// A [`Dataflow`]'s part a speculative run may change: the window's last `span` entries and the
/// stores.
#[derive(Clone, Debug)]
struct DataflowCheckpoint {
    retired: Vec<Cycle>,
    stores: [(Addr, Cycle); RECENT_STORES],
}

/// The core's state as far as the in-order core changes it: what a speculative run of it is
/// rolled back to ([`Core::in_order_checkpoint`], [`Core::roll_back_in_order`]).
#[derive(Clone, Debug)]
pub(crate) struct Checkpoint {
    pc: Addr,
    fetch_ready_at: Cycle,
    fetch_page: Option<Addr>,
    commit_stall_until: Cycle,
    clocks: Clocks,
    dataflow: Option<DataflowCheckpoint>,
    next_iid: u32,
    head_iid: u32,
    fetched: u64,
    retired: u64,
    arch: [u64; Reg::COUNT],
    arch_ready: [Cycle; Reg::COUNT],
    stalls: StallClocks,
    probe_hits: usize,
}

/// What the machine does for the in-order core besides [`Platform`]: data accesses and their
/// effects on storage, the caches and the machine's logs.
pub trait DataPort: Platform {
    /// Every access of the call must be to the core's private data (a speculative run, whose
    /// memory bound is the clock): one that is not stops the call, with no test of the shared
    /// path's conditions.
    const ONLY_PRIVATE: bool = false;
    /// Reads physical `addr` at cycle `at`: the cell and the cycles until the value arrives.
    /// `own`: the address is `core`'s private data ([`DataPort::translate_private`]).
    fn load(&mut self, core: ThreadId, addr: Addr, at: Cycle, own: bool) -> (Cell, Cycle);
    /// Writes `value` to physical `addr` at cycle `at` as write `w`; returns the cycles until
    /// the store has completed. `own`: as for [`DataPort::load`]; `watched`: the address is
    /// one whose writes the machine logs.
    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        core: ThreadId,
        addr: Addr,
        value: u64,
        w: WriteId,
        at: Cycle,
        own: bool,
        watched: bool,
    ) -> Cycle;
    /// Translates `core`'s access to `va` at cycle `at` if it leads to data private to `core`
    /// through a translation its TLB holds and nothing has made stale (`ctx`: `None` if the MMU
    /// is off): the physical address, and such an access may run past the machine's next event
    /// (see the machine's `private` module). Does nothing otherwise. Private data is neither code
    /// nor watched.
    fn translate_private(
        &mut self,
        core: ThreadId,
        va: Addr,
        kind: AccessKind,
        ctx: Option<Translating>,
        at: Cycle,
    ) -> Option<Addr>;
}

/// How far one call may run. Both bounds are exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Horizon {
    /// Loads, stores and translations happen before this cycle (the machine's next event).
    pub memory: Cycle,
    /// Other instructions, and accesses to the core's private data, issue before this cycle
    /// (nothing can reach the core earlier).
    pub local: Cycle,
    /// The cycle being handled is the core's own to issue in, whatever the bounds say (the
    /// event is its resumption, and nothing still pending in this cycle comes before it).
    pub now_is_mine: bool,
}

/// Why a call to [`Core::run_in_order`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The next instruction issues at this cycle, past the horizon: call again then.
    At(Cycle),
    /// The pipeline takes over at the next instruction.
    Pipeline,
}

/// User code decoded into straight-line blocks, so that the in-order core's steady state does
/// not search the code, the patchable addresses and the probes for every instruction it runs, and
/// checks the translation of fetch's page once per block. A block runs from its first address
/// to the first unconditional jump, instruction only the pipeline runs, instruction the in-order
/// core may not fetch (not included), page end or 64 instructions; it goes on past
/// conditional branches, which leave it when taken. Code, which addresses are patchable and the
/// probes do not change during a run (the machine empties it when its probes are set).
#[derive(Clone, Debug)]
pub struct DecodeCache {
    blocks: Box<[Block; DecodeCache::BLOCKS]>,
}

/// One block of [`DecodeCache`]: the instructions from `pc` on, in order (none: the in-order
/// core may not fetch the one at `pc`).
#[derive(Clone, Debug)]
struct Block {
    /// `Addr::MAX`: empty.
    pc: Addr,
    ops: Vec<Decoded>,
}

impl Block {
    /// Instructions a block holds at most.
    const MAX: usize = 64;

    fn decode(env: &Env, pc: Addr) -> Block {
        let page = pc & !(PAGE_BYTES - 1);
        let mut ops = vec![];
        let mut at = pc;
        while ops.len() < Block::MAX && at & !(PAGE_BYTES - 1) == page {
            let inst = if env.code.is_patchable(at) { None } else { env.code.fetch(at) };
            let Some(inst) = inst else { break };
            let (mut op, srcs) = lower(inst, at);
            // Only a store reads its third operand (the loop reads it in the store's arm alone);
            // anything else that has one is the pipeline's.
            if !matches!(op, Op::Store { .. }) && (srcs[2].slot != RegFile::ZERO || srcs[2].constant != 0) {
                op = Op::Pipeline;
            }
            let probe = env.probes.binary_search_by_key(&at, |p| p.pc).ok().map(|i| i as u16);
            ops.push(Decoded { pc: at, op, srcs, probe });
            if let Op::Jump { .. } | Op::Indirect { .. } | Op::Pipeline = op {
                break;
            }
            at += Inst::BYTES;
        }
        Block { pc, ops }
    }
}

/// One instruction lowered for the in-order core: what it does, already sorted by what the core
/// does with it ([`Op`]), and how to read its operands without a branch.
#[derive(Clone, Copy, Debug)]
struct Decoded {
    /// Its address.
    pc: Addr,
    op: Op,
    /// How to read each source operand ([`Inst::sources`] order; an immediate is a constant).
    /// Only a store has a third ([`Block::decode`]).
    srcs: [SourceRead; 3],
    /// Index of the probe on this instruction in [`Env::probes`], if any.
    probe: Option<u16>,
}

/// What the in-order core does with an instruction. Register numbers are [`RegFile`] slots.
///
/// A register operation (`rd` receives [`Op::register_value`] of the operands `alu_cycles`
/// after issue) has a variant per operation, not one variant holding the operation: so that
/// the loop dispatches once per instruction, not twice. The operations user loops are made of
/// have a variant each; `mask` is the destination width's ([`Width::mask`]), `shift_mask` its
/// bits less one (a shift by `b` shifts by `b` modulo the width).
#[derive(Clone, Copy, Debug)]
enum Op {
    /// An instruction only the pipeline runs (see the [module](self) docs): it is handed back
    /// once fetch has translated its page.
    Pipeline,
    /// `MOV`, `ADR`: `a`, masked to the destination's width.
    Move {
        rd: u8,
        mask: u64,
    },
    Add {
        rd: u8,
        mask: u64,
    },
    Sub {
        rd: u8,
        mask: u64,
    },
    Mul {
        rd: u8,
        mask: u64,
    },
    And {
        rd: u8,
        mask: u64,
    },
    Orr {
        rd: u8,
        mask: u64,
    },
    Eor {
        rd: u8,
        mask: u64,
    },
    Lsl {
        rd: u8,
        mask: u64,
        shift_mask: u64,
    },
    Lsr {
        rd: u8,
        mask: u64,
        shift_mask: u64,
    },
    /// Any other ALU operation: `a op b` at the destination's width.
    Alu {
        rd: u8,
        op: AluOp,
        width: Width,
    },
    /// An ALU operation whose second operand is a register shifted by `shift` (`LSL`, `LSR`,
    /// `ASR`) by `amount`.
    AluShifted {
        rd: u8,
        op: AluOp,
        width: Width,
        shift: AluOp,
        amount: u8,
    },
    /// `CMP`: the flags of `a - b`, into the flags' slot `rd`.
    Cmp {
        rd: u8,
        width: Width,
    },
    /// `CMP` with a shifted register.
    CmpShifted {
        rd: u8,
        width: Width,
        shift: AluOp,
        amount: u8,
    },
    /// `CSET`: 1 if `cond` holds of the flags in `a`.
    Cset {
        rd: u8,
        cond: Truth,
    },
    /// `NOP`.
    Nop,
    /// `B`, `BL`.
    Jump {
        target: Addr,
        link: bool,
    },
    /// `B.cond`, `CBZ`, `CBNZ`: predicted taken if `target` is not after the branch.
    Branch {
        test: Test,
        target: Addr,
        backward: bool,
    },
    /// `BR`, `BLR`, `RET`: to the first operand.
    Indirect {
        link: bool,
    },
    /// `ISB`.
    Isb,
    /// `DMB`, `DSB`.
    Barrier,
    /// `MRS` of a register the in-order core reads (the counter, or a core-local one).
    Mrs {
        rd: u8,
        mask: u64,
        reg: SysReg,
    },
    /// `LDR`, `LDAR`: `rd` receives the value masked by `mask`.
    Load {
        rd: u8,
        mask: u64,
        index: Index,
    },
    /// `STR`, `STLR`: of the third operand.
    Store {
        index: Index,
    },
}

impl Op {
    /// The register operation `a op b` at `width` into `rd`, what [`AluOp::apply`] computes
    /// masked to the width.
    fn alu(rd: u8, op: AluOp, width: Width) -> Op {
        let (mask, shift_mask) = (width.mask(u64::MAX), width.bits() - 1);
        match op {
            AluOp::Add => Op::Add { rd, mask },
            AluOp::Sub => Op::Sub { rd, mask },
            AluOp::Mul => Op::Mul { rd, mask },
            AluOp::And => Op::And { rd, mask },
            AluOp::Orr => Op::Orr { rd, mask },
            AluOp::Eor => Op::Eor { rd, mask },
            AluOp::Lsl => Op::Lsl { rd, mask, shift_mask },
            AluOp::Lsr => Op::Lsr { rd, mask, shift_mask },
            _ => Op::Alu { rd, op, width },
        }
    }

    /// A register operation's result from its operands (`a`, `b`: the first two); `None` for
    /// anything else.
    // Inlined into each register operation's arm of the loop, where the variant is known, so
    // that only its own line remains.
    #[inline(always)]
    fn register_value(self, a: u64, b: u64) -> Option<u64> {
        Some(match self {
            Op::Move { mask, .. } => a & mask,
            Op::Add { mask, .. } => a.wrapping_add(b) & mask,
            Op::Sub { mask, .. } => a.wrapping_sub(b) & mask,
            Op::Mul { mask, .. } => a.wrapping_mul(b) & mask,
            Op::And { mask, .. } => a & b & mask,
            Op::Orr { mask, .. } => (a | b) & mask,
            Op::Eor { mask, .. } => (a ^ b) & mask,
            Op::Lsl { mask, shift_mask, .. } => ((a & mask) << (b & shift_mask)) & mask,
            Op::Lsr { mask, shift_mask, .. } => (a & mask) >> (b & shift_mask),
            Op::Alu { op, width, .. } => width.mask(op.apply(width, a, b)),
            Op::AluShifted { op, width, shift, amount, .. } => {
                width.mask(op.apply(width, a, width.mask(shift.apply(width, b, amount as u64))))
            }
            Op::Cmp { width, .. } => compare_flags(width, a, b),
            Op::CmpShifted { width, shift, amount, .. } => {
                compare_flags(width, a, width.mask(shift.apply(width, b, amount as u64)))
            }
            Op::Cset { cond, .. } => cond.holds(a) as u64,
            _ => return None,
        })
    }
}

/// A condition as the set of NZCV values it holds of, bit `i` for the flags `i`
/// ([`crate::isa::flags`]): so that testing it is a shift, not a dispatch on the condition.
#[derive(Clone, Copy, Debug)]
struct Truth(u16);

impl Truth {
    fn of(cond: Cond) -> Truth {
        Truth((0..16).filter(|&nzcv| cond.holds(nzcv)).fold(0, |t, nzcv| t | 1 << nzcv))
    }

    /// [`Cond::holds`] of the flags in `nzcv` (which reads only their four bits).
    #[inline(always)]
    fn holds(self, nzcv: u64) -> bool {
        (self.0 >> (nzcv & 0xf)) & 1 != 0
    }
}

/// A conditional branch's test of its first operand.
#[derive(Clone, Copy, Debug)]
enum Test {
    /// `B.cond`: the condition holds of the flags ([`Truth`]).
    Cond(Truth),
    /// `CBZ` (`nonzero` false), `CBNZ`: taken if the register (for `TBZ`/`TBNZ`, its bit) is
    /// zero (non-zero).
    Zero { nonzero: bool },
}

/// How the in-order core reads one source operand, without a branch: `(slot & value_mask) |
/// constant`, ready when the slot is. An absent operand, the zero register and an immediate read
/// [`RegFile::ZERO`], which holds 0 ready at 0, and carry the immediate as the constant.
#[derive(Clone, Copy, Debug)]
struct SourceRead {
    slot: u8,
    value_mask: u64,
    constant: u64,
}

impl SourceRead {
    const NONE: SourceRead = SourceRead { slot: RegFile::ZERO, value_mask: 0, constant: 0 };

    fn of(op: Option<Operand>) -> SourceRead {
        match op {
            Some(op) if !op.reg.is_zero() => {
                SourceRead { slot: op.reg.0, value_mask: op.width.mask(u64::MAX), constant: 0 }
            }
            _ => SourceRead::NONE,
        }
    }

    fn constant(constant: u64) -> SourceRead {
        SourceRead { constant, ..SourceRead::NONE }
    }
}

/// The destination slot of a write to `r`: the zero register's writes go to a slot nothing reads.
fn dest_slot(r: Reg) -> u8 {
    if r.is_zero() { RegFile::SINK } else { r.0 }
}

/// Lowers `inst`, at `pc`, for the in-order core: what it does, and how to read its operands.
fn lower(inst: Inst, pc: Addr) -> (Op, [SourceRead; 3]) {
    let mut srcs = inst.sources().map(SourceRead::of);
    let op = match inst {
        Inst::Mov { rd, src } => {
            if let Src2::Imm(v) = src {
                srcs[0] = SourceRead::constant(v);
            }
            Op::Move { rd: dest_slot(rd.reg), mask: rd.width.mask(u64::MAX) }
        }
        Inst::Adr { rd, target } => {
            srcs[0] = SourceRead::constant(target);
            Op::Move { rd: dest_slot(rd.reg), mask: rd.width.mask(u64::MAX) }
        }
        // A flag-setting one has two destinations, which the pipeline keeps (a user loop of
        // this project's has none).
        Inst::Alu { flags: true, .. } => Op::Pipeline,
        // (An extended operand is the pipeline's: no user loop of ours has one.)
        Inst::Alu { src: Src2::Extended(..), .. } | Inst::Cmp { src: Src2::Extended(..), .. } => Op::Pipeline,
        Inst::Alu { op, rd, src, .. } => {
            let (width, rd) = (rd.width, dest_slot(rd.reg));
            match src {
                Src2::Imm(v) => {
                    srcs[1] = SourceRead::constant(width.mask(v));
                    Op::alu(rd, op, width)
                }
                Src2::Reg(_) => Op::alu(rd, op, width),
                Src2::Shifted(_, shift, amount) => Op::AluShifted { rd, op, width, shift, amount },
                Src2::Extended(..) => unreachable!("handed to the pipeline above"),
            }
        }
        Inst::Cmp { rn, src } => {
            let (width, rd) = (rn.width, Reg::FLAGS.0);
            match src {
                Src2::Imm(v) => {
                    srcs[1] = SourceRead::constant(v);
                    Op::Cmp { rd, width }
                }
                Src2::Reg(_) => Op::Cmp { rd, width },
                Src2::Shifted(_, shift, amount) => Op::CmpShifted { rd, width, shift, amount },
                Src2::Extended(..) => unreachable!("handed to the pipeline above"),
            }
        }
        Inst::Cset { rd, cond } => Op::Cset { rd: dest_slot(rd.reg), cond: Truth::of(cond) },
        Inst::Nop => Op::Nop,
        Inst::B { target } => Op::Jump { target, link: false },
        Inst::Bl { target } => Op::Jump { target, link: true },
        Inst::BCond { cond, target } => {
            Op::Branch { test: Test::Cond(Truth::of(cond)), target, backward: target <= pc }
        }
        Inst::Cbz { nonzero, bit, target, .. } => {
            // TBZ/TBNZ read only their bit.
            if let Some(b) = bit {
                srcs[0].value_mask &= 1 << b;
            }
            Op::Branch { test: Test::Zero { nonzero }, target, backward: target <= pc }
        }
        Inst::Br { link, .. } => Op::Indirect { link },
        Inst::Ret { .. } => Op::Indirect { link: false },
        Inst::Isb => Op::Isb,
        Inst::Dmb(_) | Inst::Dsb(_) => Op::Barrier,
        Inst::Mrs { rt, reg } if !matches!(reg, SysReg::IccIar1El1 | SysReg::IccSgi1rEl1 | SysReg::IccEoir1El1) => {
            Op::Mrs { rd: dest_slot(rt.reg), mask: rt.width.mask(u64::MAX), reg }
        }
        // (An exclusive load arms the monitor, which the pipeline's loads do.)
        // (A sign-extending one is the pipeline's: the in-order core's loads only mask.)
        Inst::Load { narrow: Some(n), .. } if n.signed => Op::Pipeline,
        Inst::Load { rt, index, exclusive: false, narrow, .. } => {
            let mask = narrow.map_or(rt.width.mask(u64::MAX), |n| n.mask());
            Op::Load { rd: dest_slot(rt.reg), mask, index }
        }
        // (A store-exclusive decides whether it stores, as the pipeline's do.)
        Inst::Store { status: Some(_), .. } => Op::Pipeline,
        Inst::Store { index, narrow, .. } => {
            // A narrow store writes its register's low bytes.
            if let Some(n) = narrow {
                srcs[2].value_mask &= n.mask();
            }
            Op::Store { index }
        }
        // Device registers, atomics, maintenance, exceptions, compute blocks.
        _ => Op::Pipeline,
    };
    (op, srcs)
}

impl Default for DecodeCache {
    fn default() -> Self {
        DecodeCache::new()
    }
}

impl DecodeCache {
    /// Direct-mapped by the block's first address: a user loop of a few blocks stays in it.
    const BLOCKS: usize = 64;

    /// An empty cache.
    pub fn new() -> Self {
        DecodeCache { blocks: Box::new(std::array::from_fn(|_| Block { pc: Addr::MAX, ops: vec![] })) }
    }

    /// The instructions from `pc` on, as far as the block goes.
    fn get(&mut self, env: &Env, pc: Addr) -> &[Decoded] {
        let slot = &mut self.blocks[(pc / Inst::BYTES) as usize % Self::BLOCKS];
        if slot.pc != pc {
            *slot = Block::decode(env, pc);
        }
        &slot.ops
    }
}

/// The architectural registers during a call, in locals: values and ready cycles by
/// [`Reg`] number, plus two slots of the call's own ([`RegFile::ZERO`], [`RegFile::SINK`]). Any
/// `u8` masked to the size indexes it, so reads need no bounds check.
struct RegFile {
    /// Each slot's value and ready cycle side by side, as an operand read takes both.
    slots: [(u64, Cycle); RegFile::SLOTS],
}

impl RegFile {
    const SLOTS: usize = 64;
    /// Reads 0, ready at 0; never written.
    const ZERO: u8 = 62;
    /// Where writes to the zero register go; never read.
    const SINK: u8 = 63;

    fn load(core: &Core) -> RegFile {
        let mut file = RegFile { slots: [(0, 0); RegFile::SLOTS] };
        for (slot, (&v, &t)) in file.slots.iter_mut().zip(core.arch.iter().zip(&core.arch_ready)) {
            *slot = (v, t);
        }
        file
    }

    fn store(&self, core: &mut Core) {
        for (&(v, t), (value, ready)) in self.slots.iter().zip(core.arch.iter_mut().zip(core.arch_ready.iter_mut())) {
            *value = v;
            *ready = t;
        }
    }

    /// The operand's value and ready cycle.
    #[inline(always)]
    fn read(&self, src: SourceRead) -> (u64, Cycle) {
        let (v, t) = self.slots[usize::from(src.slot) % RegFile::SLOTS];
        ((v & src.value_mask) | src.constant, t)
    }

    #[inline(always)]
    fn set(&mut self, slot: u8, v: u64, ready: Cycle) {
        self.slots[usize::from(slot) % RegFile::SLOTS] = (v, ready);
    }

    /// What [`Core::reg`] would read.
    fn get(&self, r: Reg) -> u64 {
        if r.is_zero() { 0 } else { self.slots[usize::from(r.0) % RegFile::SLOTS].0 }
    }
}

/// How one call's loop ended.
enum Exit {
    /// The next instruction issues at this cycle, past the horizon.
    At(Cycle),
    /// The next instruction goes to the pipeline at this cycle ([`Core::hand_back_at`]).
    HandBackAt(Cycle),
}

/// The core's state that every instruction reads or writes, held in locals during a call.
struct Hot {
    pc: Addr,
    fetch_ready_at: Cycle,
    fetch_page: Option<Addr>,
    commit_stall_until: Cycle,
    clocks: Clocks,
    /// The next instruction's instance number.
    iid: u32,
}

impl Hot {
    fn load(core: &Core) -> Hot {
        Hot {
            pc: core.pc,
            fetch_ready_at: core.fetch_ready_at,
            fetch_page: core.fetch_page,
            commit_stall_until: core.commit_stall_until,
            clocks: core.in_order,
            iid: core.next_iid,
        }
    }

    /// Writes the state back, and counts the instructions that issued since [`Hot::load`] as
    /// fetched and retired.
    fn store(self, core: &mut Core) {
        let issued = self.iid - core.next_iid;
        core.pc = self.pc;
        core.fetch_ready_at = self.fetch_ready_at;
        core.fetch_page = self.fetch_page;
        core.commit_stall_until = self.commit_stall_until;
        core.in_order = self.clocks;
        core.next_iid = self.iid;
        core.head_iid += issued;
        core.fetched += u64::from(issued);
        core.retired += u64::from(issued);
    }
}

impl Core {
    /// The state a speculative run of the in-order core may change, to roll it back to.
    /// (`rob_entries`: the configuration's, which bounds the window [`UserCode::Dataflow`] reads.)
    pub(crate) fn in_order_checkpoint(&self, rob_entries: usize) -> Checkpoint {
        Checkpoint {
            pc: self.pc,
            fetch_ready_at: self.fetch_ready_at,
            fetch_page: self.fetch_page,
            commit_stall_until: self.commit_stall_until,
            clocks: self.in_order,
            dataflow: self.dataflow.as_ref().map(|d| DataflowCheckpoint {
                // The window's span before the next instruction (a run reads no older entry, and
                // writes only later ones), oldest first.
                retired: (1..=window_span(rob_entries))
                    .rev()
                    .map(|back| d.retired[self.next_iid.wrapping_sub(back) as usize % WINDOW_RING])
                    .collect(),
                stores: d.stores,
            }),
            next_iid: self.next_iid,
            head_iid: self.head_iid,
            fetched: self.fetched,
            retired: self.retired,
            arch: self.arch,
            arch_ready: self.arch_ready,
            stalls: self.stalls,
            probe_hits: self.observed.probe_hits.len(),
        }
    }

    /// Puts the core back as it was at `c`, forgetting the probe hits since. Only loads and
    /// stores to its private data, register operations, branches and counter reads may have
    /// run since (the machine records a speculative run so), so nothing else changed.
    pub(crate) fn roll_back_in_order(&mut self, c: &Checkpoint) {
        debug_assert!(self.rob.is_empty() && self.lsq.is_empty() && self.el == 0 && self.el0_fetches == 0);
        self.pc = c.pc;
        self.fetch_ready_at = c.fetch_ready_at;
        self.fetch_page = c.fetch_page;
        self.commit_stall_until = c.commit_stall_until;
        self.in_order = c.clocks;
        if let (Some(d), Some(was)) = (self.dataflow.as_mut(), &c.dataflow) {
            let first = c.next_iid.wrapping_sub(was.retired.len() as u32);
            for (k, &t) in was.retired.iter().enumerate() {
                d.retired[first.wrapping_add(k as u32) as usize % WINDOW_RING] = t;
            }
            d.stores = was.stores;
        }
        self.next_iid = c.next_iid;
        self.head_iid = c.head_iid;
        self.fetched = c.fetched;
        self.retired = c.retired;
        self.arch = c.arch;
        self.arch_ready = c.arch_ready;
        self.stalls = c.stalls;
        self.observed.probe_hits.truncate(c.probe_hits);
    }

    /// The in-order core stopped to hand its next instruction to the pipeline when it resumes.
    pub(crate) fn in_order_leaving(&self) -> bool {
        self.in_order.leaving.is_some()
    }

    /// True if the in-order core can take over now, in a timed run that runs user code on it
    /// ([`Env::in_order_user`]): user code, nothing in the pipeline or the store buffer, no
    /// interrupt to take, nothing the pipeline has been handed.
    pub fn in_order_ready(&self, irq_pending: bool) -> bool {
        self.el == 0
            && self.el0_fetches == 0
            && self.rob.is_empty()
            && self.lsq.is_empty()
            && !(self.daif & DAIF_I == 0 && irq_pending)
            && !self.asleep
            && self.work_resume.is_none()
            && self.code_fill.is_none()
    }

    /// Executes user code in order from `now` until the horizon, or until something only the
    /// pipeline does (see the [module](self) docs). Needs [`Core::in_order_ready`].
    #[inline(never)]
    pub fn run_in_order(
        &mut self,
        env: &Env,
        now: Cycle,
        horizon: Horizon,
        port: &mut impl DataPort,
        decoded: &mut DecodeCache,
    ) -> Stop {
        debug_assert!(self.rob.is_empty() && self.lsq.is_empty() && self.el == 0);
        self.stalls.update(now, [false; StallCycles::CAUSES]);
        if !self.in_order.active {
            // Everything the pipeline ran has retired; its results arrive when `arch_ready` says.
            let done_before = self.arch_ready.iter().copied().max().unwrap_or(0).max(now);
            self.in_order = Clocks {
                active: true,
                issued: now,
                done_before,
                branches: now,
                serial: now,
                accesses: now,
                stores_drained: now,
                retired: now,
                leaving: None,
            };
            self.fetch_ready_at = self.fetch_ready_at.max(now);
            if env.cfg.user_code == UserCode::Dataflow {
                let d = self.dataflow.get_or_insert_with(|| {
                    Box::new(Dataflow { retired: [0; WINDOW_RING], stores: [(Addr::MAX, 0); RECENT_STORES] })
                });
                // The window holds nothing from before the stay: the entries the stay's first
                // instructions read (those of the `rob_entries` before it) say retired at 0.
                for back in 1..=window_span(env.cfg.rob_entries) {
                    d.retired[self.next_iid.wrapping_sub(back) as usize % WINDOW_RING] = 0;
                }
            }
        }
        if self.in_order.leaving == Some(self.pc) {
            return self.hand_back();
        }
        let cfg = env.cfg;
        // Issue in program order, or as the operands allow within the window (taken for the
        // call, and put back at its end).
        let mut dataflow = if cfg.user_code == UserCode::Dataflow { self.dataflow.take() } else { None };
        let span = window_span(cfg.rob_entries);
        // (Every instruction reads these: in locals, not through `cfg`.)
        let (frontend_cycles, alu_cycles) = (cfg.frontend_cycles, cfg.alu_cycles);
        // An access to shared data issues before `memory_end`; anything else before `local_end`
        // (see [`Horizon`]: the cycle being handled counts if it is the core's own).
        let within = |bound: Cycle| if horizon.now_is_mine { bound.max(now.saturating_add(1)) } else { bound };
        let ends @ (local_end, memory_end) = (within(horizon.local), within(horizon.memory));
        // User code cannot change its translation regime without handing back (MSR, exceptions).
        let translating = self.translating();
        // The state every instruction reads and writes, kept in locals for the call and written
        // back at every exit ([`Hot::store`], [`RegFile::store`]).
        let mut hot = Hot::load(self);
        let mut regs = RegFile::load(self);
        // The call issues at most `MAX_PER_CALL` instructions, counted by instance number.
        let first_iid = hot.iid;
        let exit = 'run: loop {
            // Instructions the call may still issue.
            let budget = MAX_PER_CALL - hot.iid.wrapping_sub(first_iid);
            // The budget is spent: continue from the next instruction's fetch.
            if budget == 0 {
                break 'run Exit::At(hot.fetch_ready_at.max(now));
            }
            let block = decoded.get(env, hot.pc);
            // What the pipeline does, it does from the cycle the instruction before issued.
            let Some(first) = block.first() else { break 'run Exit::HandBackAt(hot.clocks.issued) };
            // Instruction fetch is translated once per page, as the pipeline does (a block is in
            // one page).
            let page = first.pc & !(PAGE_BYTES - 1);
            if hot.fetch_page != Some(page)
                && let Some(ctx) = translating
            {
                // Fetched when the front end was ready, which may be before the event that runs it.
                let fetched_at = hot.fetch_ready_at;
                // (Not before an instruction before it has taken effect: see `effective` below.)
                let at = fetched_at.max(hot.clocks.issued);
                if at >= memory_end {
                    break 'run Exit::At(at);
                }
                match port.translate(self.id, first.pc, AccessKind::Fetch, ctx, at) {
                    Ok((_, walk)) => {
                        hot.fetch_page = Some(page);
                        hot.fetch_ready_at = fetched_at + walk;
                    }
                    Err(TranslationFault) => break 'run Exit::HandBackAt(fetched_at),
                }
            }
            // (Those past the budget wait for the next call, which starts here.)
            for d in &block[..block.len().min(budget as usize)] {
                let pc = d.pc;
                let after_previous = hot.clocks.issued;
                let fetched_at = hot.fetch_ready_at;
                let (a, a_at) = regs.read(d.srcs[0]);
                let (b, b_at) = regs.read(d.srcs[1]);
                let clocks = hot.clocks;
                // In program order, not before the instruction before; by dataflow, once in the
                // window (the instruction `rob_entries` earlier has retired). Either way not
                // before a stalled commit ends.
                let (not_before, window_free) = match &dataflow {
                    Some(d) => (hot.commit_stall_until, d.retired[hot.iid.wrapping_sub(span) as usize % WINDOW_RING]),
                    None => (clocks.issued.max(hot.commit_stall_until), 0),
                };
                let ready_to_issue =
                    (fetched_at.max(window_free) + frontend_cycles).max(not_before).max(a_at.max(b_at));
                // The cycle an instruction takes effect at, for the horizon: its issue, or a
                // later one's issue before it in program order (effects stay in program order;
                // the same as the issue when it is in order).
                let effective = |issue: Cycle| issue.max(clocks.issued);
                let iid = hot.iid;
                let sequential = pc + Inst::BYTES;
                // Per instruction: when it issues, where fetch goes next and when, and when it has
                // completed. Each waits for what it must (barriers and system-register reads for
                // what came before them), and stops the call if that is past the horizon.
                // A register operation: issues when ready, its result `alu_cycles` later.
                macro_rules! register_op {
                    ($rd:expr) => {{
                        let issue = ready_to_issue;
                        if effective(issue) >= local_end {
                            break 'run Exit::At(effective(issue));
                        }
                        let ready = issue + alu_cycles;
                        let value = d.op.register_value(a, b);
                        debug_assert!(value.is_some());
                        regs.set($rd, value.unwrap_or_default(), ready);
                        (issue, sequential, fetched_at, ready)
                    }};
                }
                let (issue, next_pc, next_fetch, completed) = match d.op {
                    Op::Pipeline => break 'run Exit::HandBackAt(after_previous),
                    // One arm per register operation (see [`Op`]), where `register_value` is
                    // that operation's line alone.
                    Op::Move { rd, .. } => register_op!(rd),
                    Op::Add { rd, .. } => register_op!(rd),
                    Op::Sub { rd, .. } => register_op!(rd),
                    Op::Mul { rd, .. } => register_op!(rd),
                    Op::And { rd, .. } => register_op!(rd),
                    Op::Orr { rd, .. } => register_op!(rd),
                    Op::Eor { rd, .. } => register_op!(rd),
                    Op::Lsl { rd, .. } => register_op!(rd),
                    Op::Lsr { rd, .. } => register_op!(rd),
                    Op::Alu { rd, .. } => register_op!(rd),
                    Op::AluShifted { rd, .. } => register_op!(rd),
                    Op::Cmp { rd, .. } => register_op!(rd),
                    Op::CmpShifted { rd, .. } => register_op!(rd),
                    Op::Cset { rd, .. } => register_op!(rd),
                    Op::Nop => {
                        let issue = ready_to_issue;
                        if effective(issue) >= local_end {
                            break 'run Exit::At(effective(issue));
                        }
                        (issue, sequential, fetched_at, issue)
                    }
                    Op::Jump { target, link } => {
                        let issue = ready_to_issue;
                        if effective(issue) >= local_end {
                            break 'run Exit::At(effective(issue));
                        }
                        if link {
                            regs.set(Reg::LR.0, sequential, issue + alu_cycles);
                        }
                        (issue, target, fetched_at + cfg.taken_branch_cycles.max(1), issue)
                    }
                    Op::Branch { test, target, backward } => {
                        let issue = ready_to_issue;
                        if effective(issue) >= local_end {
                            break 'run Exit::At(effective(issue));
                        }
                        let taken = match test {
                            Test::Cond(truth) => truth.holds(a),
                            Test::Zero { nonzero } => (a != 0) == nonzero,
                        };
                        let resolved = issue + alu_cycles;
                        let next_fetch = if !env.mode.speculates() {
                            // SC and TSO cores wait for the direction, as the pipeline does.
                            resolved
                        } else if backward != taken {
                            // The static predictor: backward taken, forward not.
                            resolved + cfg.mispredict_penalty
                        } else if taken {
                            fetched_at + cfg.taken_branch_cycles.max(1)
                        } else {
                            fetched_at
                        };
                        hot.clocks.branches = clocks.branches.max(resolved);
                        (issue, if taken { target } else { sequential }, next_fetch, resolved)
                    }
                    Op::Indirect { link } => {
                        let issue = ready_to_issue;
                        if effective(issue) >= local_end {
                            break 'run Exit::At(effective(issue));
                        }
                        let resolved = issue + alu_cycles;
                        if link {
                            regs.set(Reg::LR.0, sequential, resolved);
                        }
                        hot.clocks.branches = clocks.branches.max(resolved);
                        // Indirect branches are not predicted: fetch waits for the target.
                        (issue, a, resolved, resolved)
                    }
                    Op::Isb => {
                        let issue = ready_to_issue;
                        if effective(issue) >= local_end {
                            break 'run Exit::At(effective(issue));
                        }
                        let complete = issue.max(clocks.branches).max(clocks.serial);
                        (issue, sequential, complete + cfg.isb_cycles, complete)
                    }
                    Op::Barrier => {
                        let issue = ready_to_issue.max(clocks.accesses).max(clocks.done());
                        if effective(issue) >= local_end {
                            break 'run Exit::At(effective(issue));
                        }
                        (issue, sequential, fetched_at, issue)
                    }
                    Op::Mrs { rd, mask, reg } => {
                        let issue = ready_to_issue.max(clocks.done());
                        if effective(issue) >= local_end {
                            break 'run Exit::At(effective(issue));
                        }
                        let (v, cost) = match reg {
                            SysReg::CntvctEl0 => port.read_device(self.id, reg, issue),
                            _ => {
                                // Some system registers are views of the registers (SP_EL0).
                                regs.store(self);
                                (self.sysreg(reg), 0)
                            }
                        };
                        hot.commit_stall_until = issue + cost;
                        hot.clocks.serial = issue + cost;
                        let ready = issue + cost + alu_cycles;
                        regs.set(rd, v & mask, ready);
                        (issue, sequential, fetched_at, ready)
                    }
                    Op::Load { rd, mask, index } => {
                        let va = Inst::effective_address(&index, a, b);
                        // (By dataflow, not before an earlier store to the same address.)
                        let issue = match dataflow.as_ref().map(|d| d.stores[(va >> 3) as usize % RECENT_STORES]) {
                            Some((stored, at)) if stored == va => ready_to_issue.max(at),
                            _ => ready_to_issue,
                        };
                        let at = effective(issue);
                        let (addr, walk, own) =
                            match self.data_access(va, AccessKind::Read, translating, at, ends, port) {
                                Ok(access) => access,
                                Err(exit) => break 'run exit,
                            };
                        let (cell, latency) = port.load(self.id, addr, at, own);
                        let value = cell.value & mask;
                        let ready = issue + walk + latency;
                        regs.set(rd, value, ready);
                        hot.clocks.accesses = clocks.accesses.max(ready);
                        if !own && !env.watch.is_empty() && env.watch.binary_search(&addr).is_ok() {
                            let retired_at = clocks.retired.max(ready);
                            self.observed.watched_loads.push(WatchedLoad {
                                addr,
                                pc,
                                el: self.el,
                                source: cell.writer,
                                value: cell.value,
                                satisfied_at: ready,
                                retired_at,
                            });
                        }
                        (issue, sequential, fetched_at, ready)
                    }
                    Op::Store { index } => {
                        // (The data, which only a store reads.)
                        let (c, c_at) = regs.read(d.srcs[2]);
                        let issue = ready_to_issue.max(c_at);
                        let at = effective(issue);
                        let va = Inst::effective_address(&index, a, b);
                        let (addr, walk, own) =
                            match self.data_access(va, AccessKind::Write, translating, at, ends, port) {
                                Ok(access) => access,
                                Err(exit) => break 'run exit,
                            };
                        if !own && (env.code.contains(addr) || env.code.is_patchable(addr)) {
                            // Code is written through the pipeline, which keeps the I-side's books.
                            break 'run Exit::HandBackAt(at);
                        }
                        if let Some(d) = &mut dataflow {
                            d.stores[(va >> 3) as usize % RECENT_STORES] = (va, issue);
                        }
                        let write = WriteId { tid: self.id, iid };
                        let watched = !own && !env.watch.is_empty() && env.watch.binary_search(&addr).is_ok();
                        let latency = port.store(self.id, addr, c, write, at, own, watched);
                        // By dataflow, stores leave the core one after another, as from the
                        // pipeline's store buffer.
                        let completed = if dataflow.is_some() {
                            let drained = clocks.stores_drained.max(issue + walk) + latency;
                            hot.clocks.stores_drained = drained;
                            drained
                        } else {
                            issue + walk + latency
                        };
                        hot.clocks.accesses = clocks.accesses.max(completed);
                        if watched {
                            let retired_at = clocks.retired.max(issue);
                            self.observed.retired_stores.push(RetiredStore { addr, pc, write, retired_at });
                        }
                        (issue, sequential, fetched_at, issue)
                    }
                };
                // The instruction has issued: account for it as the pipeline would at retirement.
                hot.clocks.issued = effective(issue);
                let retired_at = hot.clocks.retired.max(completed);
                hot.clocks.retired = retired_at;
                if let Some(d) = &mut dataflow {
                    d.retired[iid as usize % WINDOW_RING] = retired_at;
                }
                hot.iid += 1;
                if let Some(i) = d.probe {
                    let i = usize::from(i);
                    let values = env.probes[i].regs.map(|r| regs.get(r));
                    self.observed.probe_hits.push(ProbeHit {
                        probe: env.probe_ids[i],
                        el: self.el,
                        at: retired_at,
                        iid,
                        values,
                    });
                }
                hot.pc = next_pc;
                hot.fetch_ready_at = next_fetch;
                if next_pc != sequential {
                    // A jump, or a branch taken: the block ends here.
                    continue 'run;
                }
            }
        };
        // Nothing comes before what has taken effect (so a speculative run's end is past every
        // instruction it ran, though fetch, for one, may be ready earlier).
        let floor = hot.clocks.issued;
        hot.store(self);
        regs.store(self);
        if dataflow.is_some() {
            self.dataflow = dataflow;
        }
        match exit {
            Exit::At(t) => Stop::At(t.max(floor)),
            Exit::HandBackAt(at) => self.hand_back_at(at.max(floor), now),
        }
    }

    /// Where a load or store to `va` issuing at `issue` goes: the physical address, the
    /// translation's cycles, and whether it is the core's private data, which may run as far as
    /// register operations (`ends`: before which cycles those and shared accesses issue). Or why
    /// the call stops instead.
    #[inline(always)]
    fn data_access<P: DataPort>(
        &self,
        va: Addr,
        kind: AccessKind,
        translating: Option<Translating>,
        issue: Cycle,
        (local_end, memory_end): (Cycle, Cycle),
        port: &mut P,
    ) -> Result<(Addr, Cycle, bool), Exit> {
        let private =
            if issue < local_end { port.translate_private(self.id, va, kind, translating, issue) } else { None };
        if P::ONLY_PRIVATE {
            debug_assert!(issue >= memory_end, "a speculative run's access before its memory bound");
            return private.map(|pa| (pa, 0, true)).ok_or(Exit::At(issue));
        }
        match (private, translating) {
            (Some(pa), _) => Ok((pa, 0, true)),
            _ if issue >= memory_end => Err(Exit::At(issue)),
            (None, None) => Ok((va, 0, false)),
            (None, Some(ctx)) => match port.translate(self.id, va, kind, ctx, issue) {
                Ok((pa, walk)) => Ok((pa, walk, false)),
                Err(TranslationFault) => Err(Exit::HandBackAt(issue)),
            },
        }
    }

    /// Hands the next instruction to the pipeline at cycle `at`: now, or when the core next
    /// runs (it stops until `at`), so that the pipeline starts where it would if every
    /// instruction issued in an event of its own.
    fn hand_back_at(&mut self, at: Cycle, now: Cycle) -> Stop {
        if at > now {
            self.in_order.leaving = Some(self.pc);
            Stop::At(at)
        } else {
            self.hand_back()
        }
    }

    /// Lets the pipeline fetch the next instruction (one) at EL0.
    fn hand_back(&mut self) -> Stop {
        self.el0_fetches = 1;
        self.in_order.active = false;
        Stop::Pipeline
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A condition's truth set tests what the condition does, whatever the flag register's
        /// other bits.
        #[test]
        fn conditions_as_truth_sets_hold_as_conditions(nzcv: u64, k in 0usize..Cond::NAMES.len()) {
            let cond = Cond::NAMES[k].1;
            prop_assert_eq!(Truth::of(cond).holds(nzcv), cond.holds(nzcv));
        }

        /// A register operation of each ALU operation (those with a variant of their own and
        /// the rest) computes what `AluOp::apply` does, masked to the width, at either width
        /// and for any operands (shift amounts past the width included).
        #[test]
        fn register_operations_are_apply(a: u64, b: u64, wide: bool, k in 0usize..12) {
            use AluOp::*;
            let op = [Add, Sub, Mul, And, Orr, Eor, Lsl, Lsr, Asr, Bic, Orn, Movk(16)][k];
            let width = if wide { Width::X } else { Width::W };
            prop_assert_eq!(Op::alu(0, op, width).register_value(a, b), Some(width.mask(op.apply(width, a, b))));
        }
    }
}
