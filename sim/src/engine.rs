//! The simulation loop: a [`Model`] handles events popped from the queue and
//! schedules new ones through a [`Scheduler`].

use crate::Cycle;
use crate::queue::{EventKey, EventQueue, Priority};

/// Something driven by events: a machine, a network, a test fixture.
///
/// The engine owns the clock; the model owns all state. `handle` is called
/// once per event, in queue order, with the clock already advanced to the
/// event's time.
pub trait Model {
    /// The event payload this model reacts to.
    type Event;

    /// Reacts to one event; may schedule more through `sched`.
    fn handle(&mut self, event: Self::Event, sched: &mut Scheduler<Self::Event>);
}

/// The clock and the pending-event queue, as seen by a model.
pub struct Scheduler<E> {
    queue: EventQueue<E>,
    now: Cycle,
    processed: u64,
    stop_requested: bool,
    /// The time limit of the run in progress ([`Engine::run_until`]).
    limit: Cycle,
}

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Scheduler<E> {
    /// A scheduler at cycle 0 with nothing pending.
    pub fn new() -> Self {
        Scheduler { queue: EventQueue::new(), now: 0, processed: 0, stop_requested: false, limit: Cycle::MAX }
    }

    /// Current simulated cycle.
    #[inline]
    pub fn now(&self) -> Cycle {
        self.now
    }

    /// Schedules `event` at absolute cycle `time` (never in the past).
    #[inline]
    pub fn at(&mut self, time: Cycle, priority: Priority, event: E) -> EventKey {
        debug_assert!(time >= self.now, "event scheduled in the past: {time} < {}", self.now);
        self.queue.push(time.max(self.now), priority, event)
    }

    /// Schedules `event` `delay` cycles from now.
    #[inline]
    pub fn after(&mut self, delay: Cycle, priority: Priority, event: E) -> EventKey {
        // A delay past the end of time (a user's absurd latency) is "never", not a wrap into the past.
        self.queue.push(self.now.saturating_add(delay), priority, event)
    }

    /// Asks the engine to stop after the current event.
    pub fn stop(&mut self) {
        self.stop_requested = true;
    }

    /// Number of events handled so far.
    pub fn events_processed(&self) -> u64 {
        self.processed
    }

    /// Number of events still pending.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Cycle of the next pending event, if any.
    pub fn next_time(&self) -> Option<Cycle> {
        self.queue.peek_key().map(EventKey::time)
    }

    /// The last cycle the run in progress handles events at: the `limit` of
    /// [`Engine::run_until`] (`Cycle::MAX` outside a run). A model that runs a component ahead
    /// of the clock on its own (a core's local work) keeps what it does up to here, so that
    /// state read between two runs is the state at the first one's limit.
    pub fn time_limit(&self) -> Cycle {
        self.limit
    }

    /// Back to cycle 0 with nothing pending, keeping allocations.
    pub fn reset(&mut self) {
        self.queue.clear();
        self.now = 0;
        self.processed = 0;
        self.stop_requested = false;
        self.limit = Cycle::MAX;
    }
}

/// Why [`Engine::run_until`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// No event is pending.
    Drained,
    /// The next event lies beyond the time limit (the clock is left at the limit).
    TimeLimit,
    /// The event budget was spent.
    EventLimit,
    /// The model called [`Scheduler::stop`].
    Requested,
}

/// Couples a model with its scheduler and runs the event loop.
pub struct Engine<M: Model> {
    model: M,
    sched: Scheduler<M::Event>,
}

impl<M: Model> Engine<M> {
    /// An engine at cycle 0 around `model`.
    pub fn new(model: M) -> Self {
        Engine { model, sched: Scheduler::new() }
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, mutably (between runs).
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// The scheduler, e.g. to seed the first events.
    pub fn scheduler(&mut self) -> &mut Scheduler<M::Event> {
        &mut self.sched
    }

    /// Both halves at once, for set-up code that needs the model and the queue.
    pub fn parts(&mut self) -> (&mut M, &mut Scheduler<M::Event>) {
        (&mut self.model, &mut self.sched)
    }

    /// Current simulated cycle.
    pub fn now(&self) -> Cycle {
        self.sched.now
    }

    /// Handles the next event; returns its time, or `None` if none is pending.
    #[inline]
    pub fn step(&mut self) -> Option<Cycle> {
        let (key, event) = self.sched.queue.pop()?;
        self.sched.now = key.time();
        self.sched.processed += 1;
        self.model.handle(event, &mut self.sched);
        Some(key.time())
    }

    /// Runs until no event is pending or the model asks to stop.
    pub fn run(&mut self) -> Stop {
        self.run_until(Cycle::MAX, u64::MAX)
    }

    /// Runs events with time `<= limit`, handling at most `max_events`.
    pub fn run_until(&mut self, limit: Cycle, max_events: u64) -> Stop {
        self.sched.limit = limit;
        let stop = self.run_within_limit(limit, max_events);
        self.sched.limit = Cycle::MAX;
        stop
    }

    fn run_within_limit(&mut self, limit: Cycle, max_events: u64) -> Stop {
        self.sched.stop_requested = false;
        let mut budget = max_events;
        loop {
            match self.sched.queue.peek_key() {
                None => return Stop::Drained,
                Some(k) if k.time() > limit => {
                    self.sched.now = self.sched.now.max(limit);
                    return Stop::TimeLimit;
                }
                Some(_) => {}
            }
            if budget == 0 {
                return Stop::EventLimit;
            }
            budget -= 1;
            self.step();
            if self.sched.stop_requested {
                return Stop::Requested;
            }
        }
    }

    /// Takes the model back, dropping pending events.
    pub fn into_model(self) -> M {
        self.model
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model that records the order in which it sees events and schedules
    /// follow-ups, to pin down the same-time contract end to end.
    struct Recorder {
        seen: Vec<(Cycle, &'static str)>,
    }

    impl Model for Recorder {
        type Event = &'static str;
        fn handle(&mut self, ev: &'static str, s: &mut Scheduler<&'static str>) {
            self.seen.push((s.now(), ev));
            if ev == "a" {
                // Scheduled during cycle 3 for cycle 3: runs after everything
                // already queued at cycle 3 with the same priority.
                s.after(0, Priority::DEFAULT, "a-follow-up");
            }
        }
    }

    #[test]
    fn events_scheduled_for_the_current_cycle_run_after_earlier_ones() {
        let mut e = Engine::new(Recorder { seen: vec![] });
        e.scheduler().at(3, Priority::DEFAULT, "a");
        e.scheduler().at(3, Priority::DEFAULT, "b");
        e.scheduler().at(3, Priority::LATE, "late");
        e.scheduler().at(1, Priority::LAST, "first");
        assert_eq!(e.run(), Stop::Drained);
        let names: Vec<_> = e.model().seen.iter().map(|&(_, n)| n).collect();
        assert_eq!(names, ["first", "a", "b", "a-follow-up", "late"]);
        assert_eq!(e.now(), 3);
    }

    #[test]
    fn run_until_leaves_later_events_pending() {
        let mut e = Engine::new(Recorder { seen: vec![] });
        e.scheduler().at(5, Priority::DEFAULT, "x");
        e.scheduler().at(50, Priority::DEFAULT, "y");
        assert_eq!(e.run_until(10, u64::MAX), Stop::TimeLimit);
        assert_eq!(e.now(), 10);
        assert_eq!(e.scheduler().pending(), 1);
        assert_eq!(e.run_until(100, 0), Stop::EventLimit);
        assert_eq!(e.run(), Stop::Drained);
        assert_eq!(e.model().seen, [(5, "x"), (50, "y")]);
    }

    /// Records the time limit each event is handled under.
    struct Limits(Vec<Cycle>);

    impl Model for Limits {
        type Event = ();
        fn handle(&mut self, _: (), s: &mut Scheduler<()>) {
            self.0.push(s.time_limit());
        }
    }

    #[test]
    fn a_model_sees_the_limit_of_the_run_in_progress() {
        let mut e = Engine::new(Limits(vec![]));
        for t in [1, 2, 30] {
            e.scheduler().at(t, Priority::DEFAULT, ());
        }
        e.run_until(10, u64::MAX);
        assert_eq!(e.scheduler().time_limit(), Cycle::MAX, "outside a run there is no limit");
        e.step();
        assert_eq!(e.model().0, [10, 10, Cycle::MAX]);
    }
}
