//! A GICv3-like interrupt controller: state and rules, no timing.
//!
//! A core sends an IPI by writing ICC_SGI1R_EL1 (one software-generated
//! interrupt, SGI, to a list of cores of one cluster, or to every other
//! core); the controller makes the interrupt pending on each target; a target
//! with a pending interrupt takes an IRQ exception, reads ICC_IAR1_EL1 to
//! acknowledge it (it becomes active), runs the handler and writes
//! ICC_EOIR1_EL1 to end it. This module holds the per-core pending/active
//! state and implements those register semantics; the machine applies the
//! [`GicConfig`] costs and schedules the delivery events, using
//! [`Gic::delivery_latency`] (topology path plus controller processing).
//!
//! Simplifications, each because the isolation question does not need more:
//!
//! * One priority for every interrupt, so no nesting: while a core has an
//!   interrupt active, another pending one is not signalled and
//!   [`Gic::acknowledge`] returns [`SPURIOUS_INTID`] — what a GICv3 does when
//!   the pending interrupt's priority does not beat the running priority.
//!   Among pending interrupts the lowest INTID wins (the usual tie-break).
//! * EOImode 0: the EOIR write both drops priority and deactivates.
//! * No groups, security states, enables or routing registers; SGIs are
//!   INTIDs 0–15, PPIs and SPIs (16–1019) are plain numbers, LPIs are absent.
//!
//! ```
//! use cpu_model::gic::{decode_sgi1r, sgi1r_writes, Gic, GicConfig, SPURIOUS_INTID};
//! use cpu_model::topology::{Topology, TopologyConfig};
//!
//! let topo = Topology::new(&TopologyConfig::default()).unwrap(); // 2 clusters × 4 cores
//! // Linux's gic_ipi_send_mask: one ICC_SGI1R_EL1 write per target cluster.
//! let writes = sgi1r_writes(1, &[2, 3, 5], &topo).unwrap();
//! assert_eq!(writes.len(), 2);
//! let mut gic = Gic::new(GicConfig::default(), topo.num_cores());
//! for &w in &writes {
//!     let (intid, targets) = decode_sgi1r(w, 0, &topo);
//!     for t in targets {
//!         gic.set_pending(t, u32::from(intid)); // the machine does this after delivery_latency
//!     }
//! }
//! assert!(gic.has_pending(5));
//! assert_eq!(gic.acknowledge(5), 1);
//! gic.end_of_interrupt(5, 1).unwrap();
//! assert_eq!(gic.acknowledge(5), SPURIOUS_INTID);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim::Cycle;
use sim::explore::Bookkeeping;

use crate::topology::{Affinity, Topology};

/// Costs of the interrupt controller, in core cycles (2.5 GHz, as
/// [`memory_model::cache::CacheConfig`]). No public measurement isolates
/// these hardware steps; the defaults are assumptions, sized so that the
/// software path the machine simulates (exception entry, handler, exit)
/// dominates an IPI round trip, as it does in the measured 1.2–2.5 µs
/// (3 000–6 250 cycles) unicast round trips (DESIGN.md).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GicConfig {
    /// Cycles the sender spends on one ICC_SGI1R_EL1 write (assumption: a few tens of cycles for a
    /// system-register write to the CPU interface, the order of an ISB, 30–40 cycles, DESIGN.md).
    pub sgi_write_cycles: Cycle,
    /// Distributor/redistributor processing added to the topology path for an SGI to reach its
    /// target, from the end of the write (assumption: 150 cycles, 60 ns; with the default topology
    /// an SGI arrives in 170–310 cycles, ~5–10% of a measured unicast round trip, DESIGN.md).
    pub delivery_cycles: Cycle,
    /// Cycles for the target to read ICC_IAR1_EL1 (assumption: as `sgi_write_cycles`).
    pub iar_read_cycles: Cycle,
    /// Cycles for the target to write ICC_EOIR1_EL1 (assumption: as `sgi_write_cycles`).
    pub eoir_write_cycles: Cycle,
}

impl Default for GicConfig {
    fn default() -> Self {
        GicConfig { sgi_write_cycles: 30, delivery_cycles: 150, iar_read_cycles: 30, eoir_write_cycles: 30 }
    }
}

/// Number of SGI INTIDs (0–15).
pub const NUM_SGIS: u32 = 16;
/// Largest INTID that can be pending (SPIs end at 1019; 1020–1023 are special).
pub const MAX_INTID: u32 = 1019;
/// What ICC_IAR1_EL1 returns when no interrupt can be acknowledged.
pub const SPURIOUS_INTID: u32 = 1023;

// ICC_SGI1R_EL1 fields (Arm GICv3 architecture specification).
const TARGET_LIST_MASK: u64 = 0xffff; // [15:0]  aff0 bitmap, relative to RS × 16
const AFF1_SHIFT: u32 = 16; // [23:16]
const INTID_SHIFT: u32 = 24; // [27:24]
const AFF2_SHIFT: u32 = 32; // [39:32]
const IRM_BIT: u64 = 1 << 40; // [40]    1: every PE but the sender
const RS_SHIFT: u32 = 44; // [47:44] range selector: TargetList covers aff0 RS×16 … RS×16+15
const AFF3_SHIFT: u32 = 48; // [55:48]

/// Bitmap words covering INTIDs 0–1023.
const WORDS: usize = 16;

/// A misuse of the controller's interface.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GicError {
    /// An SGI number above 15.
    #[error("INTID {0} is not an SGI (0–15)")]
    NotSgi(u8),
    /// An ICC_SGI1R_EL1 value needs at least one target.
    #[error("an SGI needs at least one target core")]
    NoTargets,
    /// A target core the machine does not have.
    #[error("core {0} does not exist")]
    NoSuchCore(usize),
    /// Targets that one ICC_SGI1R_EL1 write cannot name together.
    #[error("cores {0} and {1} are not in one SGI target group (same Aff2.Aff1, same Aff0 / 16)")]
    MixedGroups(usize, usize),
    /// An ICC_EOIR1_EL1 write for an interrupt that is not the active one.
    #[error("core {core}: EOI of INTID {intid}, but the active interrupt is {active:?}")]
    NotActive {
        /// The core.
        core: usize,
        /// The INTID written.
        intid: u32,
        /// The INTID actually active, if any.
        active: Option<u32>,
    },
}

/// Which ICC_SGI1R_EL1 write can name a core: (Aff2, Aff1, RS).
fn sgi_group(aff: Affinity) -> (u8, u8, u8) {
    (aff.aff2, aff.aff1, aff.aff0 >> 4)
}

fn check_sgi(intid: u8) -> Result<(), GicError> {
    if u32::from(intid) < NUM_SGIS { Ok(()) } else { Err(GicError::NotSgi(intid)) }
}

/// Decodes an ICC_SGI1R_EL1 value written by core `sender`: the SGI number
/// and its target cores, ascending.
///
/// With IRM = 1 the targets are every core but the sender. Otherwise they
/// are the cores with Aff3.Aff2.Aff1 as given and an Aff0 of
/// `RS × 16 + b` for each bit `b` set in TargetList. Every core has Aff3 = 0,
/// so a nonzero Aff3 names nobody; bits naming cores the machine lacks are
/// dropped, as are reserved bits.
pub fn decode_sgi1r(value: u64, sender: usize, topo: &Topology) -> (u8, Vec<usize>) {
    let intid = ((value >> INTID_SHIFT) & 0xf) as u8;
    if value & IRM_BIT != 0 {
        return (intid, (0..topo.num_cores()).filter(|&c| c != sender).collect());
    }
    if (value >> AFF3_SHIFT) & 0xff != 0 {
        return (intid, Vec::new());
    }
    let aff2 = (value >> AFF2_SHIFT) as u8;
    let aff1 = (value >> AFF1_SHIFT) as u8;
    let rs = ((value >> RS_SHIFT) & 0xf) as u8;
    let list = value & TARGET_LIST_MASK;
    let targets = (0..16u8)
        .filter(|b| list & (1 << b) != 0)
        .filter_map(|b| topo.core_at(Affinity { aff2, aff1, aff0: rs * 16 + b }))
        .collect();
    (intid, targets)
}

/// Encodes one ICC_SGI1R_EL1 value sending SGI `intid` to `targets`, which
/// must all share Aff2, Aff1 and Aff0 / 16 (one cluster, or one 16-core
/// slice of a larger cluster). Duplicates are fine.
pub fn encode_sgi1r(intid: u8, targets: &[usize], topo: &Topology) -> Result<u64, GicError> {
    check_sgi(intid)?;
    let &first = targets.first().ok_or(GicError::NoTargets)?;
    let group = sgi_group(affinity_checked(first, topo)?);
    let mut list = 0u64;
    for &t in targets {
        let aff = affinity_checked(t, topo)?;
        if sgi_group(aff) != group {
            return Err(GicError::MixedGroups(first, t));
        }
        list |= 1 << (aff.aff0 & 0xf);
    }
    Ok(pack(intid, group, list))
}

/// Encodes the ICC_SGI1R_EL1 value sending SGI `intid` to every core but
/// the writer (IRM = 1). Linux never uses it (it always writes target
/// lists), but other kernels do.
pub fn encode_sgi1r_others(intid: u8) -> Result<u64, GicError> {
    check_sgi(intid)?;
    Ok(IRM_BIT | (u64::from(intid) << INTID_SHIFT))
}

/// Splits an arbitrary set of targets into the fewest ICC_SGI1R_EL1 values
/// that reach exactly those cores: one per target group (cluster, or 16-core
/// slice of a cluster), ordered by core id. This is what Linux's
/// `gic_ipi_send_mask` does — one `gic_send_sgi` write per group — and so the
/// sender's cost of a kick grows with the number of clusters it reaches, not
/// cores. Duplicates are merged; no targets give no writes.
pub fn sgi1r_writes(intid: u8, targets: &[usize], topo: &Topology) -> Result<Vec<u64>, GicError> {
    check_sgi(intid)?;
    // Socket-major numbering makes the (Aff2, Aff1, RS) key order the core order.
    let mut groups = BTreeMap::<(u8, u8, u8), u64>::new();
    for &t in targets {
        let aff = affinity_checked(t, topo)?;
        *groups.entry(sgi_group(aff)).or_default() |= 1 << (aff.aff0 & 0xf);
    }
    Ok(groups.into_iter().map(|(group, list)| pack(intid, group, list)).collect())
}

fn pack(intid: u8, (aff2, aff1, rs): (u8, u8, u8), list: u64) -> u64 {
    (u64::from(rs) << RS_SHIFT)
        | (u64::from(aff2) << AFF2_SHIFT)
        | (u64::from(intid) << INTID_SHIFT)
        | (u64::from(aff1) << AFF1_SHIFT)
        | list
}

fn affinity_checked(core: usize, topo: &Topology) -> Result<Affinity, GicError> {
    if core < topo.num_cores() { Ok(topo.affinity(core)) } else { Err(GicError::NoSuchCore(core)) }
}

/// Interrupt counts of one core.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IrqCounts {
    /// Interrupts made pending on the core ([`Gic::set_pending`] calls).
    pub raised: u64,
    /// Of those, how many found the INTID already pending and merged into it.
    pub coalesced: u64,
    /// Interrupts acknowledged (taken).
    pub taken: u64,
    /// Taken, per SGI number: Linux gives each IPI kind its own SGI, so this
    /// is the count of IPIs by kind.
    pub taken_sgi: [u64; NUM_SGIS as usize],
    /// Acknowledges that returned [`SPURIOUS_INTID`].
    pub spurious: u64,
}

/// One core's redistributor and CPU-interface state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PeState {
    /// Pending INTIDs, one bit each.
    pending: [u64; WORDS],
    /// The active INTID (one at a time: no priority nesting).
    active: Option<u32>,
    counts: IrqCounts,
}

impl Default for PeState {
    fn default() -> Self {
        PeState { pending: [0; WORDS], active: None, counts: IrqCounts::default() }
    }
}

impl PeState {
    fn lowest_pending(&self) -> Option<u32> {
        let (w, bits) = self.pending.iter().enumerate().find(|(_, b)| **b != 0)?;
        Some(w as u32 * 64 + bits.trailing_zeros())
    }
}

/// The interrupt controller: per-core pending and active interrupts.
///
/// Deterministic: state is bitmaps and vectors; every query answers in INTID
/// or core order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gic {
    cfg: GicConfig,
    pes: Vec<PeState>,
    /// Some state changed since the last reset (most litmus runs use no
    /// interrupts, and resetting is then free).
    dirty: Bookkeeping<bool>,
}

impl Gic {
    /// A controller for `num_cores` cores with nothing pending.
    pub fn new(cfg: GicConfig, num_cores: usize) -> Self {
        Gic { cfg, pes: vec![PeState::default(); num_cores], dirty: Bookkeeping(false) }
    }

    /// The costs.
    pub fn config(&self) -> &GicConfig {
        &self.cfg
    }

    /// Number of cores.
    pub fn num_cores(&self) -> usize {
        self.pes.len()
    }

    /// Clears every pending and active interrupt and every count.
    pub fn reset(&mut self) {
        if std::mem::take(&mut self.dirty.0) {
            self.pes.fill(PeState::default());
        }
    }

    /// Cycles from the end of the sender's ICC_SGI1R_EL1 write until the SGI
    /// is pending at `to`: controller processing plus the topology path.
    pub fn delivery_latency(&self, topo: &Topology, from: usize, to: usize) -> Cycle {
        self.cfg.delivery_cycles + topo.latency(from, to)
    }

    /// Decodes a write of `value` to ICC_SGI1R_EL1 by `sender`: the SGI
    /// number and, for each target in core order, the cycles from the end of
    /// the write until the machine should call [`Gic::set_pending`] on it.
    ///
    /// Only cores this controller has are targets: the topology may describe
    /// more cores than the machine runs (a litmus test's threads fill the
    /// first ones), and a PE that does not exist receives nothing, whether
    /// IRM or a target-list bit names it.
    pub fn sgi_deliveries(&self, value: u64, sender: usize, topo: &Topology) -> (u8, Vec<(usize, Cycle)>) {
        let (intid, targets) = decode_sgi1r(value, sender, topo);
        let exists = |t: &usize| *t < self.num_cores();
        (intid, targets.into_iter().filter(exists).map(|t| (t, self.delivery_latency(topo, sender, t))).collect())
    }

    /// Makes `intid` pending on `core`. Returns false if it already was
    /// (edge-triggered interrupts merge: a second SGI of the same number
    /// before the first is acknowledged is not taken twice). An INTID that
    /// is active may also become pending again. Panics if `core` does not
    /// exist or `intid` is above [`MAX_INTID`].
    pub fn set_pending(&mut self, core: usize, intid: u32) -> bool {
        self.dirty.0 = true;
        assert!(intid <= MAX_INTID, "INTID {intid} cannot be pending (max {MAX_INTID})");
        let pe = &mut self.pes[core];
        let (w, b) = (intid as usize / 64, 1u64 << (intid % 64));
        let fresh = pe.pending[w] & b == 0;
        pe.pending[w] |= b;
        pe.counts.raised += 1;
        pe.counts.coalesced += u64::from(!fresh);
        fresh
    }

    /// True if `core` has any interrupt pending (signalled or not).
    pub fn has_pending(&self, core: usize) -> bool {
        // One OR over the words (no early exit): asked on every core step, it vectorizes.
        self.pes[core].pending.iter().fold(0, |acc, &w| acc | w) != 0
    }

    /// True if the controller asserts `core`'s IRQ line: something is
    /// pending and nothing is active. This is when a core with interrupts
    /// unmasked takes the exception.
    pub fn irq_asserted(&self, core: usize) -> bool {
        self.pes[core].active.is_none() && self.has_pending(core)
    }

    /// The INTID [`Gic::acknowledge`] would return if nothing were active
    /// (the lowest pending one), without changing state.
    pub fn highest_priority_pending(&self, core: usize) -> Option<u32> {
        self.pes[core].lowest_pending()
    }

    /// The pending INTIDs of `core`, ascending.
    pub fn pending(&self, core: usize) -> Vec<u32> {
        let pe = &self.pes[core];
        (0..WORDS as u32 * 64).filter(|&i| pe.pending[i as usize / 64] & (1 << (i % 64)) != 0).collect()
    }

    /// The active INTID of `core`, if any.
    pub fn active(&self, core: usize) -> Option<u32> {
        self.pes[core].active
    }

    /// A read of ICC_IAR1_EL1 by `core`: the lowest pending INTID, now
    /// active and no longer pending; [`SPURIOUS_INTID`] if nothing is
    /// pending or an interrupt is already active (no nesting).
    pub fn acknowledge(&mut self, core: usize) -> u32 {
        self.dirty.0 = true;
        let pe = &mut self.pes[core];
        let intid = match (pe.active, pe.lowest_pending()) {
            (None, Some(intid)) => intid,
            _ => {
                pe.counts.spurious += 1;
                return SPURIOUS_INTID;
            }
        };
        pe.pending[intid as usize / 64] &= !(1 << (intid % 64));
        pe.active = Some(intid);
        pe.counts.taken += 1;
        if intid < NUM_SGIS {
            pe.counts.taken_sgi[intid as usize] += 1;
        }
        intid
    }

    /// A write of `intid` to ICC_EOIR1_EL1 by `core`: deactivates it. Writes
    /// of the special INTIDs 1020–1023 (what a handler gets from a spurious
    /// acknowledge) are ignored, as the architecture says; ending an
    /// interrupt that is not the active one is an error of the simulated
    /// software and changes nothing.
    pub fn end_of_interrupt(&mut self, core: usize, intid: u32) -> Result<(), GicError> {
        self.dirty.0 = true;
        if (MAX_INTID + 1..=SPURIOUS_INTID).contains(&intid) {
            return Ok(());
        }
        let pe = &mut self.pes[core];
        if pe.active != Some(intid) {
            return Err(GicError::NotActive { core, intid, active: pe.active });
        }
        pe.active = None;
        Ok(())
    }

    /// Interrupt counts of `core`.
    pub fn counts(&self, core: usize) -> &IrqCounts {
        &self.pes[core].counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::TopologyConfig;

    fn topo(sockets: usize, clusters_per_socket: usize, cores_per_cluster: usize) -> Topology {
        Topology::new(&TopologyConfig { sockets, clusters_per_socket, cores_per_cluster, ..Default::default() })
            .unwrap()
    }

    #[test]
    fn sgi1r_field_layout() {
        let t = topo(2, 7, 8);
        // Core 57 is Aff 1.0.1; core 60 is 1.0.4.
        let v = encode_sgi1r(5, &[57, 60], &t).unwrap();
        assert_eq!(v, (1 << 32) | (5 << 24) | 0b1_0010);
        // Aff1 = 3, Aff2 = 0: cores 24..32.
        assert_eq!(decode_sgi1r((3 << 16) | (2 << 24) | 0b1000_0001, 0, &t), (2, vec![24, 31]));
        // Bits beyond the cluster, clusters and sockets beyond the machine, and Aff3 ≠ 0 name nobody.
        assert_eq!(decode_sgi1r(0xff00 | 1, 0, &t), (0, vec![0]));
        assert_eq!(decode_sgi1r((7 << 16) | 1, 0, &t).1, Vec::<usize>::new());
        assert_eq!(decode_sgi1r((2 << 32) | 1, 0, &t).1, Vec::<usize>::new());
        assert_eq!(decode_sgi1r((1 << 48) | 1, 0, &t).1, Vec::<usize>::new());
    }

    #[test]
    fn encode_decode_round_trip_in_every_cluster() {
        let t = topo(2, 3, 5);
        for cluster in 0..t.num_clusters() {
            let cores: Vec<usize> = t.cores_of_cluster(cluster);
            for mask in 1u32..1 << cores.len() {
                let targets: Vec<usize> =
                    cores.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, &c)| c).collect();
                let intid = (mask % 16) as u8;
                let v = encode_sgi1r(intid, &targets, &t).unwrap();
                assert_eq!(decode_sgi1r(v, 0, &t), (intid, targets));
            }
        }
    }

    #[test]
    fn irm_broadcast_excludes_the_sender() {
        let t = topo(2, 7, 8);
        let v = encode_sgi1r_others(3).unwrap();
        for sender in [0, 57, 111] {
            let (intid, targets) = decode_sgi1r(v, sender, &t);
            assert_eq!(intid, 3);
            assert_eq!(targets, (0..112).filter(|&c| c != sender).collect::<Vec<_>>());
        }
        // IRM ignores the target fields.
        assert_eq!(decode_sgi1r(v | 0xffff | (1 << 32), 4, &t).1.len(), 111);
    }

    #[test]
    fn sgis_reach_only_the_cores_the_machine_has() {
        // A 2-thread machine on the default 8-core topology (as a litmus test or harness runs).
        let (t, gic) = (topo(1, 2, 4), Gic::new(GicConfig::default(), 2));
        let irm = (1u64 << 40) | (2 << 24);
        let (intid, to) = gic.sgi_deliveries(irm, 0, &t);
        assert_eq!(
            (intid, to.iter().map(|d| d.0).collect::<Vec<_>>()),
            (2, vec![1]),
            "every existing core but the sender"
        );
        assert_eq!(gic.sgi_deliveries(irm, 1, &t).1.iter().map(|d| d.0).collect::<Vec<_>>(), vec![0]);
        // Target-list bits naming cores 2..3 (in the topology, not in the machine) and 4.. (in neither).
        let (_, to) = gic.sgi_deliveries(0xfffe, 0, &t);
        assert_eq!(to.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1]);
        assert!(gic.sgi_deliveries((1 << 16) | 0xf, 0, &t).1.is_empty(), "the second cluster has no machine core");
    }

    #[test]
    fn broadcast_to_112_cores_is_one_write_per_cluster() {
        let t = topo(2, 7, 8);
        let all: Vec<usize> = (0..112).collect();
        let writes = sgi1r_writes(1, &all, &t).unwrap();
        assert_eq!(writes.len(), 14);
        let mut reached = Vec::new();
        for &w in &writes {
            let (intid, targets) = decode_sgi1r(w, 0, &t);
            assert_eq!(intid, 1);
            assert_eq!(targets.len(), 8);
            reached.extend(targets);
        }
        assert_eq!(reached, all);
        // Everyone but the sender, as smp_call_function does: still 14 writes.
        let others: Vec<usize> = (0..112).filter(|&c| c != 9).collect();
        assert_eq!(sgi1r_writes(1, &others, &t).unwrap().len(), 14);
        // Order and duplicates of the input do not matter.
        let mut shuffled: Vec<usize> = all.iter().rev().chain(&all).copied().collect();
        shuffled.rotate_left(37);
        assert_eq!(sgi1r_writes(1, &shuffled, &t).unwrap(), writes);
        assert_eq!(sgi1r_writes(1, &[], &t).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn clusters_wider_than_16_use_the_range_selector() {
        // A Skylake-SP-like socket modelled as one 28-core cluster.
        let t = topo(2, 1, 28);
        let writes = sgi1r_writes(0, &(0..56).collect::<Vec<_>>(), &t).unwrap();
        assert_eq!(writes.len(), 4); // aff0 0–15 and 16–27 in each socket
        let v = encode_sgi1r(0, &[20, 27], &t).unwrap();
        assert_eq!(v >> RS_SHIFT & 0xf, 1);
        assert_eq!(decode_sgi1r(v, 0, &t).1, vec![20, 27]);
        assert_eq!(encode_sgi1r(0, &[15, 16], &t), Err(GicError::MixedGroups(15, 16)));
    }

    #[test]
    fn encode_rejects_bad_requests() {
        let t = topo(1, 2, 4);
        assert_eq!(encode_sgi1r(16, &[0], &t), Err(GicError::NotSgi(16)));
        assert_eq!(encode_sgi1r(0, &[], &t), Err(GicError::NoTargets));
        assert_eq!(encode_sgi1r(0, &[8], &t), Err(GicError::NoSuchCore(8)));
        assert_eq!(encode_sgi1r(0, &[3, 4], &t), Err(GicError::MixedGroups(3, 4)));
        assert_eq!(sgi1r_writes(0, &[0, 99], &t), Err(GicError::NoSuchCore(99)));
        assert_eq!(encode_sgi1r_others(16), Err(GicError::NotSgi(16)));
    }

    #[test]
    fn acknowledge_takes_the_lowest_pending_then_1023() {
        let mut g = Gic::new(GicConfig::default(), 4);
        assert!(!g.has_pending(2));
        assert_eq!(g.acknowledge(2), SPURIOUS_INTID);
        for intid in [700, 3, 64, 1] {
            assert!(g.set_pending(2, intid));
        }
        assert!(!g.set_pending(2, 3)); // merges
        assert_eq!(g.pending(2), [1, 3, 64, 700]);
        assert!(g.irq_asserted(2) && !g.has_pending(1));
        let mut order = Vec::new();
        loop {
            let intid = g.acknowledge(2);
            if intid == SPURIOUS_INTID {
                break;
            }
            assert_eq!(g.active(2), Some(intid));
            // No nesting: nothing else is taken until the EOI.
            assert!(!g.irq_asserted(2));
            assert_eq!(g.acknowledge(2), SPURIOUS_INTID);
            g.end_of_interrupt(2, intid).unwrap();
            order.push(intid);
        }
        assert_eq!(order, [1, 3, 64, 700]);
        let c = g.counts(2);
        assert_eq!((c.raised, c.coalesced, c.taken), (5, 1, 4));
        assert_eq!((c.taken_sgi[1], c.taken_sgi[3]), (1, 1));
        assert_eq!(c.spurious, 6); // the empty one, one per taken, the final one
        assert_eq!(g.counts(0), &IrqCounts::default());
    }

    #[test]
    fn eoi_clears_active_and_rejects_the_wrong_intid() {
        let mut g = Gic::new(GicConfig::default(), 2);
        g.set_pending(1, 2);
        assert_eq!(g.acknowledge(1), 2);
        // The same SGI again while active: pending and active at once.
        g.set_pending(1, 2);
        assert_eq!(g.active(1), Some(2));
        assert!(g.has_pending(1) && !g.irq_asserted(1));
        assert_eq!(g.end_of_interrupt(1, 5), Err(GicError::NotActive { core: 1, intid: 5, active: Some(2) }));
        assert_eq!(g.end_of_interrupt(1, SPURIOUS_INTID), Ok(()));
        assert_eq!(g.active(1), Some(2));
        g.end_of_interrupt(1, 2).unwrap();
        assert_eq!(g.active(1), None);
        assert!(g.irq_asserted(1));
        assert_eq!(g.acknowledge(1), 2);
        g.end_of_interrupt(1, 2).unwrap();
        assert_eq!(g.end_of_interrupt(1, 2), Err(GicError::NotActive { core: 1, intid: 2, active: None }));
        g.reset();
        assert_eq!(g, Gic::new(GicConfig::default(), 2));
    }

    #[test]
    fn deliveries_add_controller_latency_to_the_path() {
        let t = topo(2, 7, 8);
        let g = Gic::new(GicConfig::default(), t.num_cores());
        let v = encode_sgi1r(0, &[0, 1], &t).unwrap();
        let (_, d) = g.sgi_deliveries(v, 0, &t);
        assert_eq!(d, [(0, 150), (1, 150 + t.latency(0, 1))]);
        let (_, far) = g.sgi_deliveries(encode_sgi1r(0, &[56], &t).unwrap(), 0, &t);
        assert!(far[0].1 > d[1].1);
    }

    #[test]
    #[should_panic(expected = "cannot be pending")]
    fn special_intids_cannot_be_pending() {
        Gic::new(GicConfig::default(), 1).set_pending(0, 1020);
    }
}
