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

/// Exception vectors, interrupt entry/exit, the GICv3 IRQ handler and
/// cross-CPU function calls (`smp_call_function_many`/`_single`), plus the
/// idle loop: see `workloads/kernel/smp.S`.
pub const SMP: &str = include_str!("../kernel/smp.S");

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
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig { irq_enter_cycles: 1000, irq_exit_cycles: 1500, call_setup_cycles: 300 }
    }
}

impl KernelConfig {
    /// The symbols the kernel text uses for these parameters.
    pub fn symbols(&self) -> [(&'static str, u64); 3] {
        [
            ("IRQ_ENTER_WORK", self.irq_enter_cycles),
            ("IRQ_EXIT_WORK", self.irq_exit_cycles),
            ("CALL_SETUP_WORK", self.call_setup_cycles),
        ]
    }
}
