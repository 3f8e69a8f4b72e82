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

/// The kernel, in load order: (file name for messages, text).
pub const FILES: [(&str, &str); 3] =
    [("workloads/kernel/entry.S", ENTRY), ("workloads/kernel/smp.S", SMP), ("workloads/kernel/tlb.S", TLB)];

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
    /// Deferred: CPUs running isolated user code are skipped and marked; each flushes its whole TLB
    /// at its next kernel entry. The others get the IPI.
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
    /// How flush_tlb_kernel_range() reaches other CPUs (symbol TLB_SCHEME): `broadcast` is what
    /// arm64 does, `ipi` what x86 does, `deferred` the isolation proposal's alternative.
    pub tlb_scheme: TlbScheme,
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            irq_enter_cycles: 1000,
            irq_exit_cycles: 1500,
            call_setup_cycles: 300,
            tlb_scheme: TlbScheme::default(),
        }
    }
}

impl KernelConfig {
    /// The symbols the kernel text uses for these parameters.
    pub fn symbols(&self) -> [(&'static str, u64); 4] {
        [
            ("IRQ_ENTER_WORK", self.irq_enter_cycles),
            ("IRQ_EXIT_WORK", self.irq_exit_cycles),
            ("CALL_SETUP_WORK", self.call_setup_cycles),
            ("TLB_SCHEME", self.tlb_scheme.code()),
        ]
    }
}
