//! Kernel code paths as assembler text, loaded into a [`crate::system::System`].
//!
//! The text lives in `workloads/kernel/*.S` so that users can read and
//! change it; these constants compile it in.

/// Exception vectors, interrupt entry/exit, the GICv3 IRQ handler and
/// cross-CPU function calls (`smp_call_function_many`/`_single`), plus the
/// idle loop: see `workloads/kernel/smp.S`.
pub const SMP: &str = include_str!("../kernel/smp.S");

/// Norov's IPI benchmark loop (`workloads/kernel/ipi_bench.S`): times
/// repeated `smp_call_function_many` calls with the counter.
pub const IPI_BENCH: &str = include_str!("../kernel/ipi_bench.S");
