//! Verifying a protocol: is it safe to skip an isolated CPU, and does it skip
//! the CPUs it should? Two ways, which check each other.
//!
//! ```text
//!                      protocol file (workloads/protocols/*.S)
//!                     /                                       \
//!   fuzz: timed runs of a small machine             check: every interleaving and
//!   (2–3 CPUs, a few hundred µs, timing drawn       reordering the memory model allows,
//!   at random per run), many runs                   in a harness of a chosen shape (bounded)
//!                     \                                       /
//!          the same judgement: safety violation, isolation break
//!                     \                                       /
//!         replay FILE: the run or the path again, drawn as a timeline
//! ```
//!
//! * [`fuzz`]: timed fuzzing. Each run is a whole isolation experiment
//!   (housekeeping activity, system calls, the kernel's real entry and kick
//!   paths, TLBs and I-caches) with its latencies and jitter drawn from a seed,
//!   so it covers what only timing reaches (the kernel's own IPI and TLB
//!   flush paths, many kicks in a row) but only the orderings its timing happens to hit.
//!   A finding is minimized by delta debugging over the run's parameters.
//! * [`check`]: bounded exhaustive checking in a harness generated for a
//!   shape: one or two senders, each patching code, publishing data and/or
//!   remapping a page (with TLBs modelled), each kicking once; one to three
//!   isolated CPUs entering the kernel once or twice; explored over every
//!   ordering the memory model allows, with every point a stall could put a
//!   milestone at, up to a bound of instructions per CPU. "Safe within
//!   bound" covers every race of that shape, including those no timing
//!   reaches, but nothing outside it. A CPU a sender interrupts takes the
//!   IPI in user code and runs the protocol's callback; it is checked from
//!   the handler's return on.
//! * [`replay`]: a finding saved to disk (the protocol's text, the
//!   configuration, the run's parameters or the path's choices) and rebuilt.
//! * [`timeline`]: findings drawn one column per CPU, one row per event.
//!
//! How a verdict is judged, by both: a **safety violation** is an access of a
//! CPU the sender skipped, after the point the protocol promises it is
//! synchronized (the end of its entry hook, or the kick's return), that
//! returned the old data, ran the old instruction or used a stale
//! translation; an **isolation break** is an interrupt decided on a read of
//! the CPU's state made while it ran user code (the sender's last read of the
//! state word before the decision, an atomic's included), or on no read.
//! The README's fuzz and check sections state what each finds and what it
//! cannot, with the reason.

pub mod check;
pub mod fuzz;
pub mod replay;
pub mod timeline;
