//! # memory-model — storage, latencies and ordering
//!
//! ```text
//!   core 0 pipeline ──▶ Lsq (core 0) ─┐                ┌─ CoherenceModel: latency of
//!   core 1 pipeline ──▶ Lsq (core 1) ─┼─▶ FlatMemory ◀─┤  each access (L1, transfer,
//!   core N pipeline ──▶ Lsq (core N) ─┘   (one value    └─ memory)
//!                        ▲                 per location)
//!                        └ mode rules: SC / TSO / ARMv8 (Flat)
//! ```
//!
//! * [`memory::FlatMemory`] — one coherent storage shared by all cores:
//!   multi-copy atomic, as ARMv8 and x86 both are.
//! * [`lsq::Lsq`] — per core, the in-flight loads, stores (the store
//!   buffer), barriers and branches, and the consistency mode's rules: which
//!   load may be satisfied, from which write, which store may drain, when a
//!   barrier completes, and which reads must be redone.
//! * [`cache::CoherenceModel`] — how many cycles each access takes.
//! * [`graph`] — execution graphs (po, rf, co, fr, dependencies, barriers)
//!   and the axiomatic check of each mode, the oracle the operational rules
//!   are tested against.
//!
//! The crate knows nothing about instructions or pipelines; `cpu-model`
//! builds cores on top of it.

pub mod cache;
pub mod graph;
pub mod iside;
pub mod lsq;
pub mod memory;
pub mod tlb;
pub mod types;

pub use lsq::RmwStep;
pub use types::{Addr, Fence, MaintOp, Mode, Rmw, RmwOp, ThreadId, TlbiScope, Value, WriteId};
