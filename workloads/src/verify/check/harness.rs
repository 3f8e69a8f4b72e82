//! The programs `isolsim check` runs a protocol in, generated for a shape: how many senders,
//! how many isolated CPUs, how many system calls each isolated CPU makes, and what each
//! sender changes.
//!
//! ```text
//!   CPUs 0 .. S-1: senders, in the kernel     CPUs S .. S+I-1: isolated user code
//!   -------------------------------------     ----------------------------------------
//!   patch: new instruction at its site,       K times: a user load, then a system call:
//!     then flush_icache_range()                 enter_from_user_mode
//!     (DC CVAU; DSB; IC IVAU; DSB; ISB)         per sender: read its data word,
//!   data:  its data word = 2                               run its patched site,
//!   pte:   a new leaf descriptor, DSB ISHST                read through its page
//!   the kick: isolation_publish, then           exit_to_user_mode
//!     isolation_defer_cpu for each              ERET to user space
//!     isolated CPU; for each it does not      on an IPI (IRQs are masked in the kernel, so
//!     skip, DSB ISHST and an SGI                only in user code): isolation_ipi, ERET
//! ```
//!
//! Sender `s`'s labels carry the suffix `_s` (none for sender 0), so the one-sender harness
//! reads as it always did: `check_kick`, `check_decided`, `check_kick_done`,
//! `check_data_read`, `check_site`, and its data word `CHECK_DATA`. The labels are the ghost
//! probes the verdict is judged on (see the parent module).
//!
//! ## The IPI path
//! A sender raises SGI `s` for each CPU it does not skip, after a `DSB ISHST` as
//! `gic_ipi_send_mask()` does; it does not wait for the handler (the kick's wait is what makes
//! the handler's completion come before the kick's return, and the monitor holds the CPU from
//! that completion instead). The isolated CPUs' IRQ vector acknowledges the SGI and calls the
//! protocol's `isolation_ipi` with the `CT_WORK_*` bits of sender `s`'s operations, the
//! callback's work on an interrupted CPU; taking the interrupt and the `ERET` are context
//! synchronization events. One SGI number per sender stands for the call-function IPI and its
//! queue of calls. The handler does not run the protocol's entry and exit hooks, which the
//! kernel's `el0_irq` runs too: they would only add synchronization, and their state writes
//! would interleave with the senders' reads of the CPU's state.
use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What one sender changes before its kick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `text_poke()` of one instruction at the sender's site, with the maintenance sequence of
    /// `flush_icache_range()`; every stay of every isolated CPU runs the site.
    Patch,
    /// A store of new data to the sender's data word; every stay reads it.
    Data,
    /// vmap-style remapping of a kernel page: a new leaf descriptor for the sender's vmalloc
    /// address, then the TLB flush of the deferred scheme (a CPU the sender skips flushes its
    /// TLB at its next kernel entry); every stay reads a word through the mapping, and the
    /// isolated CPUs' TLBs hold the old translation when the run starts.
    Pte,
}

impl Op {
    /// Every operation, in the order a sender does them.
    pub const ALL: [Op; 3] = [Op::Patch, Op::Data, Op::Pte];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Op::Patch => "patch",
            Op::Data => "data",
            Op::Pte => "pte",
        }
    }
}

/// The operations of one sender: some of `patch`, `data` and `pte`, joined by `+`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ops(Vec<Op>);

impl Ops {
    /// Every operation: a text patch, new data and a remapped page (the default: every hazard
    /// a kick must cover).
    pub fn all() -> Ops {
        Ops(Op::ALL.to_vec())
    }

    /// True if the sender does `op`.
    pub fn has(&self, op: Op) -> bool {
        self.0.contains(&op)
    }

    /// The work a CPU the sender does not interrupt owes it (`isolation_defer_cpu`'s), and the
    /// work of its IPI callback on a CPU it does (`isolation_ipi`'s): a context synchronization
    /// for new code or data, a TLB flush for a new mapping.
    pub fn work(&self) -> &'static str {
        match (self.has(Op::Patch) || self.has(Op::Data), self.has(Op::Pte)) {
            (true, true) => "CT_WORK_ALL",
            (false, true) => "CT_WORK_TLBI",
            _ => "CT_WORK_SYNC",
        }
    }
}

impl Default for Ops {
    fn default() -> Self {
        Ops::all()
    }
}

impl fmt::Display for Ops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|o| o.name()).collect();
        f.write_str(&names.join("+"))
    }
}

impl FromStr for Ops {
    type Err = String;

    fn from_str(s: &str) -> Result<Ops, String> {
        let mut ops = vec![];
        for part in s.split('+') {
            let op = Op::ALL.into_iter().find(|o| o.name() == part.trim()).ok_or_else(|| {
                format!(
                    "`{part}` is not an operation (a sender does `patch`, `data` or `pte`, or several joined by `+`)"
                )
            })?;
            if ops.contains(&op) {
                return Err(format!("`{s}` names `{part}` twice"));
            }
            ops.push(op);
        }
        ops.sort();
        Ok(Ops(ops))
    }
}

impl TryFrom<String> for Ops {
    type Error = String;
    fn try_from(s: String) -> Result<Ops, String> {
        s.parse()
    }
}

impl From<Ops> for String {
    fn from(o: Ops) -> String {
        o.to_string()
    }
}

/// The suffix of sender `s`'s labels and symbols.
pub fn suffix(s: usize) -> String {
    if s == 0 { String::new() } else { format!("_{s}") }
}

/// The address of sender `s`'s data word, as an assembler expression: one cache line each.
fn data_word(s: usize) -> String {
    format!("KERNEL_DATA + {:#x}", 0x200 + 0x40 * s)
}

/// The virtual address sender `s` remaps (`pte`): a page each, away from the identity-mapped
/// layout, where a kernel's vmalloc area would be.
pub fn vmap_va(s: usize) -> u64 {
    0x4000_0000 + 0x1000 * s as u64
}

/// Clears the registers a protocol function may use (X0-X1, X9-X15) where their values are dead:
/// after each decision, and before each return to user code (`kernel_exit` restores the user's
/// registers; the user code here keeps nothing in these). States then do not differ by which
/// scratch registers a protocol happened to use (a `.c` protocol's compiler picks other ones than
/// its `.S` twin), nor by the dead values left in them.
fn clear_scratch() -> String {
    ["X0", "X1", "X9", "X10", "X11", "X12", "X13", "X14", "X15"].map(|r| format!("        MOV   {r}, #0\n")).concat()
}

/// The harness for `senders` senders doing `ops` (one entry per sender), one isolated CPU per
/// entry of `targets` (the `ICC_SGI1R_EL1` value that sends it SGI 0) and `syscalls` system
/// calls each. With `only = Some(i)`, the senders kick isolated CPU `i` alone (CPU
/// `senders + i`), as in one part of a split check (the parent module's `--split`).
pub fn text(ops: &[Ops], targets: &[u64], syscalls: usize, only: Option<usize>) -> String {
    let senders = ops.len();
    let isolated = targets.len();
    let mut w = format!(
        "// isolsim check harness: {senders} sender(s), {isolated} isolated CPU(s), {syscalls} system call(s) each.
// Generated by workloads/src/verify/check/harness.rs.
        .equ  CHECK_USER, DATA_BASE             // a user variable of the isolated task
        .equ  check_halt, 0                     // outside all code: the thread is done

// The isolated CPUs' exception vectors (VBAR_EL1); only those from EL0 are ever taken.
check_vectors:
        .org  0x400                             // lower EL (AArch64): synchronous
        B     check_el0_sync
        .org  0x480                             // lower EL (AArch64): IRQ
        B     check_el0_irq
        .org  0x500
"
    );
    for (s, _) in ops.iter().enumerate().filter(|(_, o)| o.has(Op::Data)) {
        let x = suffix(s);
        let _ = writeln!(w, "        .equ  CHECK_DATA{x}, {}       // sender {s}'s data: 1, then 2", data_word(s));
    }
    let clear = clear_scratch();
    for (s, ops) in ops.iter().enumerate() {
        let x = suffix(s);
        let _ = write!(
            w,
            "
// CPU {s}, a sender. X3 = the encoding of its new instruction, X4 its new leaf descriptor (set by
// the loader).
check_sender{x}:
"
        );
        if ops.has(Op::Pte) {
            let _ = write!(
                w,
                "        MOV   X9, #VMAP_PTE{x}
        STR   X4, [X9]                   // the new leaf descriptor
        DSB   ISHST                      // flush_tlb_kernel_range(): the descriptor first
"
            );
        }
        if ops.has(Op::Patch) {
            let _ = write!(
                w,
                "        ADR   X2, check_site{x}
        STR   W3, [X2]                   // text_poke()
        DC    CVAU, X2                   // flush_icache_range()
        DSB   ISH
        IC    IVAU, X2
        DSB   ISH
        ISB
"
            );
        }
        if ops.has(Op::Data) {
            let _ = write!(
                w,
                "        MOV   X9, #CHECK_DATA{x}
        MOV   X10, #2
        STR   X10, [X9]                  // publish the new data
"
            );
        }
        // The work a skipped CPU owes: a context synchronization for new code or data, a TLB
        // flush for a new mapping.
        let work = ops.work();
        let sgi = (s as u64) << 24;
        // The CPUs the kick decides on: every isolated CPU, or the one of a split check's part.
        let (first, end) = match only {
            Some(i) => ((senders + i).to_string(), (senders + i + 1).to_string()),
            None => (senders.to_string(), "NR_CPUS".to_string()),
        };
        // The target list of the CPU decided on: the kernel loads it from SGI_TABLE, a constant,
        // selected here without a load (which would only add states).
        let mut select = String::new();
        for (i, target) in targets.iter().enumerate() {
            let cpu = senders + i;
            let _ = write!(
                select,
                "        CMP   X19, #{}
        CSET  X12, EQ
        MOV   X11, #{target:#x}
        MUL   X11, X11, X12
        ORR   X10, X10, X11              // CPU {cpu}'s target list, if it is the one
",
                cpu + 1
            );
        }
        let _ = write!(
            w,
            "check_kick{x}:                              // kick_all_cpus_sync() begins
        BL    isolation_publish
        MOV   X19, #{first}
check_next_cpu{x}:
        MOV   X0, X19
        MOV   X1, #{work}
        BL    isolation_defer_cpu
check_decided{x}:                           // X0 = 1: skip CPU X19; 0: interrupt it
        ADD   X19, X19, #1
        CBNZ  X0, check_skipped{x}
        MOV   X10, #{sgi:#x}                // INTID {s}: this sender's call-function IPI
{select}        DSB   ISHST                      // gic_ipi_send_mask(): the sender's writes before the SGI
check_ipi_send{x}:
        MSR   ICC_SGI1R_EL1, X10
check_skipped{x}:
{clear}        CMP   X19, #{end}
        B.LO  check_next_cpu{x}
check_kick_done{x}:                         // the kick returns
        MOV   X9, #check_halt
        BR    X9
"
        );
    }
    // User code keeps its values in X25, which an interrupt's handler does not touch.
    w.push_str("\n// The isolated CPUs start here, at EL0, with IRQs unmasked.\ncheck_user:\n");
    for k in 0..syscalls {
        let _ = write!(
            w,
            "        MOV   X25, #CHECK_USER
        LDR   X8, [X25]                  // user code: when it runs is the explorer's choice
check_svc{}:
        SVC   #0
",
            suffix(k)
        );
    }
    w.push_str(
        "        MOV   X25, #check_halt
        BR    X25

// An IPI (gic_handle_irq(), one interrupt per exception: another pending one is taken at the
// ERET). INTID s is sender s's.
check_el0_irq:
        MRS   X0, ICC_IAR1_EL1
        AND   X0, X0, #0xffffff          // INTID
        MSR   ICC_EOIR1_EL1, X0
",
    );
    for s in 1..senders {
        let _ = writeln!(w, "        CMP   X0, #{s}\n        B.EQ  check_ipi{}", suffix(s));
    }
    for (s, ops) in ops.iter().enumerate() {
        let x = suffix(s);
        let _ = write!(
            w,
            "check_ipi{x}:
        MOV   X0, #{}
        BL    isolation_ipi              // sender {s}'s callback
{clear}check_ipi_done{x}:
        ERET
",
            ops.work()
        );
    }
    w.push_str(
        "
// The EL0 synchronous vector: a system call (IRQs stay masked).
check_el0_sync:
        BL    enter_from_user_mode
",
    );
    for (s, ops) in ops.iter().enumerate() {
        let x = suffix(s);
        if ops.has(Op::Data) {
            let _ = write!(
                w,
                "        MOV   X9, #CHECK_DATA{x}
check_data_read{x}:
        LDR   X20, [X9]                  // kernel data sender {s}'s kick protects
"
            );
        }
        if ops.has(Op::Patch) {
            let _ = write!(
                w,
                "check_site{x}:
        MOV   X21, #1                    // patched to MOV X21, #2 by sender {s}
"
            );
        }
        if ops.has(Op::Pte) {
            let _ = write!(
                w,
                "        MOV   X9, #{:#x}
check_vmap_read{x}:
        LDR   X22, [X9]                  // through sender {s}'s remapped page: 1 old, 2 new
",
                vmap_va(s)
            );
        }
    }
    let _ = write!(
        w,
        "        BL    exit_to_user_mode
{clear}check_eret:
        ERET
"
    );
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_read_and_print_back() {
        for s in ["patch", "data", "patch+data", "pte", "patch+data+pte"] {
            assert_eq!(s.parse::<Ops>().unwrap().to_string(), s);
        }
        assert_eq!("pte+data+patch".parse::<Ops>().unwrap(), Ops::all());
        assert_eq!("pte+data".parse::<Ops>().unwrap().to_string(), "data+pte");
        assert!("tlb".parse::<Ops>().unwrap_err().contains("`tlb` is not an operation"));
        assert!("data+data".parse::<Ops>().unwrap_err().contains("twice"));
    }

    #[test]
    fn each_sender_has_its_own_labels_and_every_stay_visits_them() {
        let t = text(&[Ops::all(), "data".parse().unwrap()], &[0x4, 0x8], 2, None);
        for l in ["check_kick:", "check_kick_1:", "check_decided_1:", "check_data_read_1:", "check_svc_1:"] {
            assert_eq!(t.matches(l).count(), 1, "{l}\n{t}");
        }
        assert!(!t.contains("check_site_1"), "sender 1 patches nothing:\n{t}");
        assert_eq!(t.matches("SVC   #0").count(), 2);
        // Each sender raises its own SGI, for either isolated CPU.
        assert_eq!(t.matches("MSR   ICC_SGI1R_EL1").count(), 2);
        assert!(t.contains("MOV   X10, #0x1000000"), "sender 1's INTID:\n{t}");
        assert_eq!(t.matches("MOV   X11, #0x8").count(), 2, "{t}");
        assert_eq!(t.matches("BL    isolation_ipi").count(), 2);
    }
}
