//! The in-order core: user (EL0) code without the pipeline's cost.
//!
//! With [`UserCode::InOrder`](super::UserCode::InOrder), a timed run executes user code on this
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
//! **What it hands back.** Anything else (an exception-generating instruction, an atomic, an
//! exclusive load, `WFE`, cache or TLB maintenance, a device register, patchable code, a store
//! to code, a translation fault, a compute block) is left to the pipeline: the core lets the
//! pipeline fetch that one instruction at EL0, and takes over again once the pipeline is empty.

use super::*;
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
    /// Every earlier instruction has completed (what a system-register read waits for).
    done: Cycle,
    /// Every earlier branch has resolved (what an `ISB` waits for).
    branches: Cycle,
    /// Every earlier system-register read has run (what an `ISB` also waits for).
    serial: Cycle,
    /// Every earlier load and store has completed (what `DMB` and `DSB` wait for).
    accesses: Cycle,
    /// Cycle the previous instruction retired (probe hits and watched accesses are logged then).
    retired: Cycle,
    /// The instruction at this address goes to the pipeline when the core next runs (it stopped
    /// to hand it over at the cycle the handing over happens at when it issues in its own event).
    leaving: Option<Addr>,
}

/// What the machine does for the in-order core besides [`Platform`]: data accesses and their
/// effects on storage, the caches and the machine's logs.
pub trait DataPort: Platform {
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

/// Decoded instructions by address, so that the in-order core's steady state does not search the
/// code, the patchable addresses and the probes for every instruction it runs. Code, which
/// addresses are patchable and the probes do not change during a run (the machine empties it
/// when its probes are set).
#[derive(Clone, Debug)]
pub struct DecodeCache {
    lines: Box<[Decoded; DecodeCache::LINES]>,
}

#[derive(Clone, Copy, Debug)]
struct Decoded {
    /// `Addr::MAX`: empty.
    pc: Addr,
    /// `None`: no instruction here the in-order core may fetch (outside the code, or patchable).
    inst: Option<Inst>,
    /// How to read each source operand ([`Inst::sources`] order).
    srcs: [SourceRead; 3],
    /// Index of the probe on this instruction in [`Env::probes`], if any.
    probe: Option<u16>,
}

/// How the in-order core reads one source operand, without a branch: the register's value and
/// its ready cycle, each masked (an absent operand and the zero register read 0, ready at 0).
#[derive(Clone, Copy, Debug)]
struct SourceRead {
    reg: u8,
    value_mask: u64,
    ready_mask: Cycle,
}

impl SourceRead {
    const NONE: SourceRead = SourceRead { reg: 0, value_mask: 0, ready_mask: 0 };

    fn of(op: Option<Operand>) -> SourceRead {
        match op {
            Some(op) if !op.reg.is_zero() => {
                SourceRead { reg: op.reg.0, value_mask: op.width.mask(u64::MAX), ready_mask: Cycle::MAX }
            }
            _ => SourceRead::NONE,
        }
    }
}

impl Default for DecodeCache {
    fn default() -> Self {
        DecodeCache::new()
    }
}

impl DecodeCache {
    /// Direct-mapped: a user loop of up to this many instructions stays in it.
    const LINES: usize = 256;

    /// An empty cache.
    pub fn new() -> Self {
        let empty = Decoded { pc: Addr::MAX, inst: None, srcs: [SourceRead::NONE; 3], probe: None };
        DecodeCache { lines: Box::new([empty; Self::LINES]) }
    }

    fn get(&mut self, env: &Env, pc: Addr) -> &Decoded {
        let slot = &mut self.lines[(pc / Inst::BYTES) as usize % Self::LINES];
        if slot.pc != pc {
            let inst = if env.code.is_patchable(pc) { None } else { env.code.fetch(pc) };
            let probe = env.probes.binary_search_by_key(&pc, |p| p.pc).ok().map(|i| i as u16);
            let srcs = inst.map_or([SourceRead::NONE; 3], |i| i.sources().map(SourceRead::of));
            *slot = Decoded { pc, inst, srcs, probe };
        }
        slot
    }
}

/// What an instruction needs from the world, which decides how far ahead it may issue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    Local,
    Memory,
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
            let done = self.arch_ready.iter().copied().max().unwrap_or(0).max(now);
            self.in_order = Clocks {
                active: true,
                issued: now,
                done,
                branches: now,
                serial: now,
                accesses: now,
                retired: now,
                leaving: None,
            };
            self.fetch_ready_at = self.fetch_ready_at.max(now);
        }
        if self.in_order.leaving == Some(self.pc) {
            return self.hand_back();
        }
        let cfg = env.cfg;
        let may = |t: Cycle, reach: Reach| {
            (t <= now && horizon.now_is_mine)
                || t < match reach {
                    Reach::Local => horizon.local,
                    Reach::Memory => horizon.memory,
                }
        };
        // User code cannot change its translation regime without handing back (MSR, exceptions).
        let translating = self.translating();
        // The state every instruction reads and writes, kept in locals for the call and written
        // back at every exit ([`Hot::store`]).
        let mut hot = Hot::load(self);
        let exit = 'run: {
            for _ in 0..MAX_PER_CALL {
                let pc = hot.pc;
                // What the pipeline does, it does from the cycle the instruction before issued.
                let after_previous = hot.clocks.issued;
                let d = decoded.get(env, pc);
                let Some(inst) = d.inst else { break 'run Exit::HandBackAt(after_previous) };
                // Fetched when the front end was ready, which may be before the event that runs it.
                let mut fetched_at = hot.fetch_ready_at;
                // Instruction fetch is translated once per page, as the pipeline does.
                let page = pc & !(PAGE_BYTES - 1);
                if hot.fetch_page != Some(page) && translating.is_some() {
                    if !may(fetched_at, Reach::Memory) {
                        break 'run Exit::At(fetched_at);
                    }
                    match self.physical(pc, AccessKind::Fetch, fetched_at, port) {
                        Ok((_, walk)) => {
                            hot.fetch_page = Some(page);
                            fetched_at += walk;
                            hot.fetch_ready_at = fetched_at;
                        }
                        Err(TranslationFault) => break 'run Exit::HandBackAt(fetched_at),
                    }
                }
                let mut vals = [0u64; 3];
                let mut operands_at = 0;
                for (k, src) in d.srcs.iter().enumerate() {
                    let r = usize::from(src.reg);
                    vals[k] = self.arch[r] & src.value_mask;
                    operands_at = operands_at.max(self.arch_ready[r] & src.ready_mask);
                }
                let clocks = hot.clocks;
                let ready_to_issue =
                    (fetched_at + cfg.frontend_cycles).max(clocks.issued).max(operands_at).max(hot.commit_stall_until);
                // What the instruction reaches, and when it issues: barriers and system-register
                // reads (serializing) also wait for what came before them.
                let (reach, issue) = match inst {
                    Inst::Mov { .. }
                    | Inst::Alu { .. }
                    | Inst::Cmp { .. }
                    | Inst::Cset { .. }
                    | Inst::Adr { .. }
                    | Inst::Nop
                    | Inst::B { .. }
                    | Inst::Bl { .. }
                    | Inst::BCond { .. }
                    | Inst::Cbz { .. }
                    | Inst::Br { .. }
                    | Inst::Ret { .. }
                    | Inst::Isb => (Reach::Local, ready_to_issue),
                    Inst::Dmb(_) | Inst::Dsb(_) => (Reach::Local, ready_to_issue.max(clocks.accesses).max(clocks.done)),
                    Inst::Mrs { reg, .. }
                        if !matches!(reg, SysReg::IccIar1El1 | SysReg::IccSgi1rEl1 | SysReg::IccEoir1El1) =>
                    {
                        (Reach::Local, ready_to_issue.max(clocks.done))
                    }
                    // (An exclusive load arms the monitor, which the pipeline's loads do.)
                    Inst::Load { exclusive: false, .. } | Inst::Store { .. } => (Reach::Memory, ready_to_issue),
                    // Device registers, atomics, maintenance, exceptions, compute blocks.
                    _ => break 'run Exit::HandBackAt(after_previous),
                };
                // A load or store to the core's private data (translated here if it is) may run as
                // far as register operations.
                let mut private = None;
                if let Inst::Load { index, .. } | Inst::Store { index, .. } = inst
                    && may(issue, Reach::Local)
                {
                    let va = Inst::effective_address(&index, vals[0], vals[1]);
                    let kind = if let Inst::Load { .. } = inst { AccessKind::Read } else { AccessKind::Write };
                    private = port.translate_private(self.id, va, kind, translating, issue);
                }
                if private.is_none() && !may(issue, reach) {
                    break 'run Exit::At(issue);
                }
                let own = private.is_some();
                let iid = hot.iid;
                let sequential = pc + Inst::BYTES;
                // Per instruction: where fetch goes next and when, and when it has completed.
                let (next_pc, next_fetch, completed) = match inst {
                    Inst::Mov { .. } | Inst::Alu { .. } | Inst::Cmp { .. } | Inst::Cset { .. } | Inst::Adr { .. } => {
                        let (rd, v) = match inst {
                            Inst::Adr { rd, target } => (rd.reg, rd.width.mask(target)),
                            _ => (
                                inst.dest().expect("a register operation writes a register"),
                                register_result(inst, vals),
                            ),
                        };
                        let ready = issue + cfg.alu_cycles;
                        self.set_reg(rd, v, ready);
                        (sequential, fetched_at, ready)
                    }
                    Inst::Nop => (sequential, fetched_at, issue),
                    Inst::B { target } | Inst::Bl { target } => {
                        if let Inst::Bl { .. } = inst {
                            self.set_reg(Reg::LR, sequential, issue + cfg.alu_cycles);
                        }
                        (target, fetched_at + cfg.taken_branch_cycles.max(1), issue)
                    }
                    Inst::BCond { .. } | Inst::Cbz { .. } => {
                        let (taken, target) = match inst {
                            Inst::BCond { cond, target } => (cond.holds(vals[0]), target),
                            Inst::Cbz { nonzero, target, .. } => ((vals[0] != 0) == nonzero, target),
                            _ => unreachable!(),
                        };
                        let resolved = issue + cfg.alu_cycles;
                        let actual = if taken { target } else { sequential };
                        let next_fetch = if !env.mode.speculates() {
                            // SC and TSO cores wait for the direction, as the pipeline does.
                            resolved
                        } else if (if target <= pc { target } else { sequential }) != actual {
                            resolved + cfg.mispredict_penalty
                        } else if taken {
                            fetched_at + cfg.taken_branch_cycles.max(1)
                        } else {
                            fetched_at
                        };
                        hot.clocks.branches = clocks.branches.max(resolved);
                        (actual, next_fetch, resolved)
                    }
                    Inst::Br { .. } | Inst::Ret { .. } => {
                        let resolved = issue + cfg.alu_cycles;
                        if let Inst::Br { link: true, .. } = inst {
                            self.set_reg(Reg::LR, sequential, resolved);
                        }
                        hot.clocks.branches = clocks.branches.max(resolved);
                        // Indirect branches are not predicted: fetch waits for the target.
                        (vals[0], resolved, resolved)
                    }
                    Inst::Isb => {
                        let complete = issue.max(clocks.branches).max(clocks.serial);
                        (sequential, complete + cfg.isb_cycles, complete)
                    }
                    Inst::Dmb(_) | Inst::Dsb(_) => (sequential, fetched_at, issue),
                    Inst::Mrs { rt, reg } => {
                        let (v, cost) = match reg {
                            SysReg::CntvctEl0 => port.read_device(self.id, reg, issue),
                            _ => (self.sysreg(reg), 0),
                        };
                        hot.commit_stall_until = issue + cost;
                        hot.clocks.serial = issue + cost;
                        let ready = issue + cost + cfg.alu_cycles;
                        self.set_reg(rt.reg, rt.width.mask(v), ready);
                        (sequential, fetched_at, ready)
                    }
                    Inst::Load { rt, index, .. } => {
                        let va = Inst::effective_address(&index, vals[0], vals[1]);
                        let translated = match private {
                            Some(pa) => Ok((pa, 0)),
                            None => self.physical(va, AccessKind::Read, issue, port),
                        };
                        let Ok((addr, walk)) = translated else { break 'run Exit::HandBackAt(issue) };
                        let (cell, latency) = port.load(self.id, addr, issue, own);
                        let value = rt.width.mask(cell.value);
                        let ready = issue + walk + latency;
                        self.set_reg(rt.reg, value, ready);
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
                        (sequential, fetched_at, ready)
                    }
                    Inst::Store { index, .. } => {
                        let va = Inst::effective_address(&index, vals[0], vals[1]);
                        let translated = match private {
                            Some(pa) => Ok((pa, 0)),
                            None => self.physical(va, AccessKind::Write, issue, port),
                        };
                        let Ok((addr, walk)) = translated else { break 'run Exit::HandBackAt(issue) };
                        if !own && (env.code.contains(addr) || env.code.is_patchable(addr)) {
                            // Code is written through the pipeline, which keeps the I-side's books.
                            break 'run Exit::HandBackAt(issue);
                        }
                        let write = WriteId { tid: self.id, iid };
                        let watched = !own && !env.watch.is_empty() && env.watch.binary_search(&addr).is_ok();
                        let latency = port.store(self.id, addr, vals[2], write, issue, own, watched);
                        hot.clocks.accesses = clocks.accesses.max(issue + walk + latency);
                        if watched {
                            let retired_at = clocks.retired.max(issue);
                            self.observed.retired_stores.push(RetiredStore { addr, pc, write, retired_at });
                        }
                        (sequential, fetched_at, issue)
                    }
                    _ => unreachable!("handed back above"),
                };
                // The instruction has issued: account for it as the pipeline would at retirement.
                hot.clocks.issued = issue;
                hot.clocks.done = hot.clocks.done.max(completed);
                let retired_at = hot.clocks.retired.max(completed);
                hot.clocks.retired = retired_at;
                hot.iid += 1;
                if let Some(i) = d.probe {
                    let i = usize::from(i);
                    let values = env.probes[i].regs.map(|r| self.reg(r));
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
            }
            // The budget is spent: continue from the next instruction's fetch.
            Exit::At(hot.fetch_ready_at.max(now))
        };
        hot.store(self);
        match exit {
            Exit::At(t) => Stop::At(t),
            Exit::HandBackAt(at) => self.hand_back_at(at, now),
        }
    }

    fn set_reg(&mut self, r: Reg, v: u64, ready: Cycle) {
        if !r.is_zero() {
            self.arch[r.index()] = v;
            self.arch_ready[r.index()] = ready;
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
