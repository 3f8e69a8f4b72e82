//! Kernel code paths as assembler text, loaded into a [`crate::system::System`].
//!
//! The text lives in `workloads/kernel/*.S` so that users can read and
//! change it; these constants compile it in.
//!
//! Only the paths the isolation question is about run instruction by
//! instruction: exception entry and exit, the interrupt controller
//! accesses, the cross-CPU call queues and their barriers. Kernel code
//! around them that does not touch shared state the protocol depends on
//! (the generic IRQ layer, scheduler and timer bookkeeping) runs as `work N`
//! compute blocks whose lengths are the [`KernelConfig`] parameters, passed
//! to the programs as symbols.

use serde::{Deserialize, Serialize};
use sim::Cycle;

/// Exception vectors, entry and exit, context tracking, system calls and
/// the idle loop: `workloads/kernel/entry.S`.
pub const ENTRY: &str = include_str!("../kernel/entry.S");

/// The GICv3 IRQ handler and cross-CPU function calls
/// (`smp_call_function_many`/`_single`): `workloads/kernel/smp.S`.
pub const SMP: &str = include_str!("../kernel/smp.S");

/// Kernel TLB maintenance: `flush_tlb_kernel_range` in the three
/// invalidation schemes, the deferred flush at kernel entry, and the
/// isolation bookkeeping it needs (`workloads/kernel/tlb.S`).
pub const TLB: &str = include_str!("../kernel/tlb.S");

/// Task isolation around the protocol: `sys_isolate`, `kick_all_cpus_sync`
/// around the protocol's decision, and the callers that kick
/// (`workloads/kernel/isolation.S`).
pub const ISOLATION: &str = include_str!("../kernel/isolation.S");

/// The kernel without its protocol, in load order: (file name for
/// messages, text). A protocol file ([`Protocol::file`], or a user's
/// variant, [`crate::protocol::ProtocolFile`]) is assembled after these.
pub const FILES: [(&str, &str); 4] = [
    ("workloads/kernel/entry.S", ENTRY),
    ("workloads/kernel/smp.S", SMP),
    ("workloads/kernel/tlb.S", TLB),
    ("workloads/kernel/isolation.S", ISOLATION),
];

/// The whole kernel for a built-in protocol: [`FILES`], then the protocol's file.
pub fn files(protocol: Protocol) -> Vec<(&'static str, &'static str)> {
    let mut f = FILES.to_vec();
    f.push(protocol.file());
    f
}

/// Labels of instructions in the kernel that other CPUs patch at run time
/// (the loader declares them patchable).
pub const PATCH_SITES: [&str; 1] = ["static_key_site"];

/// How `kick_all_cpus_sync()` (and, with the deferred TLB scheme,
/// `flush_tlb_kernel_range()`) treats isolated CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// A stock kernel: an IPI to every other CPU, and wait for all.
    #[default]
    Broadcast,
    /// The task-isolation series: after a full barrier, read every CPU's `ll_isol_flags` and
    /// interrupt only the CPUs not ISOLATED; the others synchronize in their entry hook.
    Deferred,
    /// Context tracking: set a work bit in a nohz_full CPU's context word with a compare-and-swap
    /// that succeeds only while it is out of the kernel; it runs the work at kernel entry.
    CtWork,
}

impl Protocol {
    /// Every protocol, in the order reports show them.
    pub const ALL: [Protocol; 3] = [Protocol::Broadcast, Protocol::Deferred, Protocol::CtWork];

    /// Its file: (name for messages, text) of `workloads/protocols/NAME.S`.
    pub fn file(self) -> (&'static str, &'static str) {
        match self {
            Protocol::Broadcast => ("workloads/protocols/broadcast.S", include_str!("../protocols/broadcast.S")),
            Protocol::Deferred => ("workloads/protocols/deferred.S", include_str!("../protocols/deferred.S")),
            Protocol::CtWork => ("workloads/protocols/ct-work.S", include_str!("../protocols/ct-work.S")),
        }
    }

    /// The protocol called `name` on the command line.
    pub fn by_name(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Broadcast => "broadcast",
            Protocol::Deferred => "deferred",
            Protocol::CtWork => "ct-work",
        }
    }
}

/// How the kernel invalidates other CPUs' TLB entries after changing a
/// kernel mapping (`flush_tlb_kernel_range`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlbScheme {
    /// x86 style: an IPI to every other CPU, whose handler invalidates locally and acknowledges;
    /// the sender waits for all of them.
    Ipi,
    /// arm64 style: TLBI …IS broadcast by the hardware and DSB ISH; no interrupt, but every other
    /// CPU is disturbed by each invalidation.
    #[default]
    Broadcast,
    /// Deferred: CPUs the kick protocol lets the sender skip (`kernel.protocol`) are not
    /// interrupted and flush their whole TLB at their next kernel entry; the others get the IPI.
    /// Under the broadcast protocol nobody is skipped.
    Deferred,
}

impl TlbScheme {
    /// The value of the TLB_SCHEME symbol (TLB_IPI, TLB_BROADCAST, TLB_DEFERRED in tlb.S).
    pub fn code(self) -> u64 {
        match self {
            TlbScheme::Ipi => 0,
            TlbScheme::Broadcast => 1,
            TlbScheme::Deferred => 2,
        }
    }
}

/// How the kernel waits for another CPU's store (`smp_cond_load_acquire()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CondWait {
    /// Polls the location (x86: a load-acquire loop with cpu_relax()).
    Spin,
    /// Sleeps in WFE until the location's line is written (arm64: __cmpwait).
    #[default]
    Wfe,
}

/// Norov's IPI benchmark loop (`workloads/kernel/ipi_bench.S`): times
/// repeated `smp_call_function_many` calls with the counter.
pub const IPI_BENCH: &str = include_str!("../kernel/ipi_bench.S");

/// Lengths of the kernel code that runs as compute blocks, in core cycles.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KernelConfig {
    /// Generic IRQ layer before the handler: irq_enter(), handle_domain_irq() and the descriptor
    /// lookup (symbol IRQ_ENTER_WORK; assumption: ~1 µs of the measured 1.2–2.5 µs x86 IPI round
    /// trip is software besides entry/exit, DESIGN.md; split 40/60 between irq_enter and irq_exit).
    pub irq_enter_cycles: Cycle,
    /// Generic IRQ layer after the handler: irq_exit() with its softirq check and the nohz tick and
    /// RCU bookkeeping of an idle CPU (symbol IRQ_EXIT_WORK; assumption, see `irq_enter_cycles`).
    pub irq_exit_cycles: Cycle,
    /// Sender's bookkeeping per smp_call_function_many() call before queueing: preemption off,
    /// cpumask computations, cfd lookup (symbol CALL_SETUP_WORK; assumption: Norov's Self-IPI, the
    /// call path without an IPI, costs 18/110 of a unicast round trip on ThunderX2).
    pub call_setup_cycles: Cycle,
    /// The part of the `touch` system call (isolation.S: sys_touch) that is not its three
    /// protected accesses: argument checks, lookups, copying (symbol TOUCH_WORK; assumption: a
    /// few-µs system call such as a socket read of a few KiB; 10 000 cycles = 4.8 µs at 2.1 GHz).
    pub touch_cycles: Cycle,
    /// The part of mprotect() on one page (entry.S: sys_mprotect) that is not the descriptor
    /// update and its TLB flush: VMA lookup, split and merge, permission checks, mmap_lock (symbol
    /// MPROTECT_WORK; set so that a call takes 3 µs on arm64-server, within the 2.85–3.2 µs per
    /// mprotect() call measured on ThunderX2 in "arm64/mm: Elide TLB flush in certain pte
    /// protection transitions", linux-arm-kernel, 2023: 6300 cycles at 2.1 GHz, of which the
    /// simulated entry, exit and flush take ~600; `isolsim calibrate` checks it).
    pub mprotect_cycles: Cycle,
    /// How flush_tlb_kernel_range() reaches other CPUs (symbol TLB_SCHEME): `broadcast` is what
    /// arm64 does, `ipi` what x86 does, `deferred` the isolation proposal's alternative.
    pub tlb_scheme: TlbScheme,
    /// How smp_call_function_many()'s sender waits for a CPU's csd to be released, before reusing
    /// it and after the IPI (smp.S, symbol COND_WAIT_WFE): `spin` polls it with LDAR, as x86's
    /// smp_cond_load_acquire() does (with cpu_relax()); `wfe` sleeps as arm64's does (__cmpwait:
    /// LDXR arms the exclusive monitor, WFE waits until another CPU writes the line). The default
    /// is arm64's, like `tlb_scheme`'s; the x86-server preset sets `spin`.
    pub cond_wait: CondWait,
    /// How kick_all_cpus_sync() treats isolated CPUs (which protocol file,
    /// workloads/protocols/NAME.S, the kernel is built with): `broadcast` (a stock kernel),
    /// `deferred` (the task-isolation series, 2020) or `ct-work` (context-tracking work deferral,
    /// 2023–2026).
    pub protocol: Protocol,
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            irq_enter_cycles: 1000,
            irq_exit_cycles: 1500,
            call_setup_cycles: 300,
            touch_cycles: 10_000,
            mprotect_cycles: 5_700,
            tlb_scheme: TlbScheme::default(),
            cond_wait: CondWait::default(),
            protocol: Protocol::default(),
        }
    }
}

impl KernelConfig {
    /// The symbols the kernel text uses for these parameters.
    pub fn symbols(&self) -> [(&'static str, u64); 7] {
        [
            ("IRQ_ENTER_WORK", self.irq_enter_cycles),
            ("IRQ_EXIT_WORK", self.irq_exit_cycles),
            ("CALL_SETUP_WORK", self.call_setup_cycles),
            ("TLB_SCHEME", self.tlb_scheme.code()),
            ("COND_WAIT_WFE", u64::from(self.cond_wait == CondWait::Wfe)),
            ("TOUCH_WORK", self.touch_cycles),
            ("MPROTECT_WORK", self.mprotect_cycles),
        ]
    }
}
