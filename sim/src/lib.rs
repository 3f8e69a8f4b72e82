//! # sim — isolsim's discrete-event kernel
//!
//! Everything in isolsim that takes time runs on this crate: cores, caches,
//! interrupt controllers and traffic generators are *models* that react to
//! *events* on a shared cycle clock. The crate knows nothing about CPUs.
//!
//! ```text
//!            schedule(at, priority, event)
//!   Model  ─────────────────────────────────▶  EventQueue  (time, priority, seq)
//!     ▲                                            │
//!     └──────────── handle(event) ◀── Engine ◀─────┘  pop smallest key, set clock
//! ```
//!
//! ## Time
//! Time is a [`Cycle`] (`u64`). Nothing is ticked: a core executing a
//! 10 000-cycle compute block schedules *one* event 10 000 cycles ahead.
//!
//! ## The same-time ordering contract
//! Events are totally ordered by the key `(time, priority, sequence)`:
//!
//! 1. earlier `time` first;
//! 2. at equal time, lower [`Priority`] first (named classes such as
//!    [`Priority::EARLY`] and [`Priority::LATE`]; each model documents which
//!    class its events use);
//! 3. at equal time and priority, the event *scheduled first* runs first
//!    (FIFO): each insertion takes the next sequence number.
//!
//! An event scheduled for the current cycle while the cycle is being
//! processed therefore runs after every event of the same priority that was
//! already queued for this cycle. The order never depends on hashing,
//! allocation addresses, wall-clock time or threads, so the same seed and
//! configuration give bit-identical results.
//!
//! ```
//! use sim::{Engine, Model, Priority, Scheduler};
//!
//! struct Log(Vec<&'static str>);
//! impl Model for Log {
//!     type Event = &'static str;
//!     fn handle(&mut self, ev: &'static str, _: &mut Scheduler<&'static str>) {
//!         self.0.push(ev);
//!     }
//! }
//! let mut e = Engine::new(Log(vec![]));
//! e.scheduler().at(7, Priority::LATE, "late");
//! e.scheduler().at(7, Priority::EARLY, "early-1");
//! e.scheduler().at(7, Priority::EARLY, "early-2");
//! e.run();
//! assert_eq!(e.model().0, ["early-1", "early-2", "late"]);
//! ```
//!
//! ## Randomness
//! [`rng::RngStreams`] derives one ChaCha8 stream per component from
//! (master seed, component name). See that module.
//!
//! ## Statistics
//! [`stats::Distribution`] wraps HdrHistogram for latency percentiles.
//!
//! ## Exhaustive exploration
//! [`explore`] enumerates every reachable state of a nondeterministic
//! transition system: the untimed twin of the engine, used by
//! `isolsim litmus --exhaustive` and `isolsim check`.
//!
//! ## Queues scanned by index
//! [`window::Window`] is the FIFO a reorder buffer or load/store queue is kept in: one slice,
//! never wrapped, so the many indexed scans per step are plain slice reads.
//!
//! ## Parallel runs
//! [`par::fold_indexed`] runs independent, index-seeded jobs over rayon and
//! folds their results in index order, as they come in (bounded memory for
//! any count), so `--jobs` never changes an answer.

pub mod engine;
pub mod explore;
pub mod float;
pub mod invalid;
pub mod par;
pub mod queue;
pub mod rng;
pub mod stats;
pub mod window;

pub use engine::{Engine, Model, Scheduler, Stop};
pub use invalid::Invalid;
pub use queue::{EventKey, EventQueue, Priority};

/// Simulated time, in core clock cycles.
pub type Cycle = u64;
