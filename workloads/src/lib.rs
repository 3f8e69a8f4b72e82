//! Workloads: what the simulated cores run.
//!
//! * [`litmus`]: the litmus front end (herd7's C and AArch64 formats).
//! * [`system`]: a loader that lays out code, per-CPU data and stacks for a
//!   many-core machine.
//! * [`kernel`]: kernel code paths as assembler text (vectors, IRQ entry,
//!   IPIs, cross-CPU calls, TLB flushes, task isolation and its kicks).
//! * [`protocol`]: protocol files, the shipped ones and users' variants.
//! * [`verify`]: verifying protocols, by timed fuzzing (`fuzz`) and bounded
//!   exhaustive checking (`check`), with replay files and timelines of what
//!   they find.
//! * [`ipi`]: IPI experiments on that kernel (Norov's benchmark).
//! * [`tlbi_bench`]: the broadcast-TLBI disturbance next to an mprotect()
//!   loop (the ThunderX2 slowdown).
//! * [`activity`]: isolated tasks and housekeeping kernel activity for the
//!   isolation experiments, with their seeded schedules.
//! * [`experiment`]: the isolation experiment itself — build, run, measure,
//!   check safety.
//! * [`input`]: reading the files commands are given (regular files, bounded,
//!   UTF-8 with the first bad byte positioned).
pub mod activity;
pub mod cause;
pub mod experiment;
pub mod input;
pub mod ipi;
pub mod kernel;
pub mod litmus;
pub mod protocol;
pub mod system;
pub mod tlbi_bench;
pub mod verify;
