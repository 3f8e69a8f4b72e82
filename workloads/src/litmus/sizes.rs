//! Mixed-size tests are refused, where they are written.
//!
//! herd7 runs a test whose accesses to one location differ in size, or reach into a location
//! at an offset (`LDRB W0,[X1,#1]` on `x`), only with `-variant mixed`: a location is then
//! bytes, and a read may take each of its bytes from a different write. isolsim's storage holds
//! a location as one value, so it would give such a test a wrong answer. Like herd7 without
//! `-variant mixed`, it refuses the test instead, at the access that makes it mixed.
//!
//! The addresses are found before anything runs, by following what each register holds through
//! the thread's code: constants, locations, and what register operations make of them, joined
//! over every path to a fixpoint (a register two paths leave different is unknown after they
//! meet). An access is checked if its address is known on every path to it, which covers how
//! litmus tests compute addresses (a location in a register, `ADD` of an offset, an index
//! register that is a read value `EOR`ed with itself). An address made from a value read from
//! memory (a pointer loaded) is not known, and not checked.
//!
//! ```text
//!   x: 8-byte STR at x, 2-byte LDRH at x      -> refused: two sizes
//!   y: 2-byte STRH at y, 1-byte LDARB at y+1  -> refused: an offset
//! ```

use std::collections::BTreeMap;

use cpu_model::asm::Program;
use cpu_model::isa::{AluOp, Index, Inst, Narrow, Operand, Reg, Src2, Width};
use memory_model::Addr;

use super::ast::Pos;
use super::compile::{CompileError, DATA_STRIDE};

/// What each register holds before an instruction: `Some` if the same value on every path.
type Known = [Option<u64>; Reg::COUNT];

/// One access whose address is known.
struct Access {
    /// The location's name and address.
    loc: (String, Addr),
    /// Bytes from the location's start.
    offset: u64,
    /// Bytes it reads or writes.
    bytes: u8,
    pos: Pos,
}

/// Refuses the test if a known address reaches into a location past its first byte, if two
/// accesses to one location differ in size, or if an access to an array's element is wider
/// than the elements. `threads`: each thread's program and initial registers; `locations`:
/// every location's address, an array's elements among them (`v[1]`); `element_bytes(name)`:
/// an element's size; `pos_of(thread, line)`: where the instruction on that source line of the
/// thread was written.
pub(super) fn check(
    threads: &[(&Program, &[(Reg, u64)])],
    locations: &BTreeMap<String, Addr>,
    element_bytes: impl Fn(&str) -> Option<u64>,
    pos_of: impl Fn(usize, usize) -> Pos,
) -> Result<(), CompileError> {
    let mut first: BTreeMap<Addr, (u8, Pos)> = BTreeMap::new();
    for (tid, (prog, init)) in threads.iter().enumerate() {
        for a in accesses(prog, init, locations, |line| pos_of(tid, line)) {
            let (name, _) = &a.loc;
            if a.offset != 0 {
                return Err(CompileError {
                    pos: a.pos,
                    msg: format!(
                        "unsupported: mixed-size test: this {}-byte access reaches byte {} of `{name}` \
                         (herd7 runs it only with -variant mixed; isolsim's locations are whole values)",
                        a.bytes, a.offset
                    ),
                });
            }
            if let Some(bytes) = element_bytes(name).filter(|&b| u64::from(a.bytes) > b) {
                return Err(CompileError {
                    pos: a.pos,
                    msg: format!(
                        "unsupported: mixed-size test: this {}-byte access to `{name}` covers more than the element \
                         ({bytes}-byte; herd7 runs it only with -variant mixed; isolsim's locations are whole values)",
                        a.bytes
                    ),
                });
            }
            match first.get(&a.loc.1) {
                Some(&(bytes, at)) if bytes != a.bytes => {
                    return Err(CompileError {
                        pos: a.pos,
                        msg: format!(
                            "unsupported: mixed-size test: this access to `{name}` is {}-byte, the one at {}:{} \
                             {bytes}-byte (herd7 runs it only with -variant mixed; isolsim's locations are whole values)",
                            a.bytes, at.line, at.col
                        ),
                    });
                }
                Some(_) => {}
                None => {
                    first.insert(a.loc.1, (a.bytes, a.pos));
                }
            }
        }
    }
    Ok(())
}

/// The accesses of `prog` to `locations` whose address is known, in program text order.
fn accesses(
    prog: &Program,
    init: &[(Reg, u64)],
    locations: &BTreeMap<String, Addr>,
    pos_of: impl Fn(usize) -> Pos,
) -> Vec<Access> {
    let before = known_before(prog, init);
    let mut out = vec![];
    for (i, (inst, known)) in prog.insts.iter().zip(&before).enumerate() {
        let Some(known) = known else { continue };
        let Some((addr, bytes)) = address_and_size(inst, known) else { continue };
        // The nearest location at or before the address: an array's element rather than the
        // array (they share the first element's address).
        let nearest = locations
            .iter()
            .filter(|(_, b)| **b <= addr && addr - **b < DATA_STRIDE)
            .max_by_key(|(n, b)| (**b, super::ast::split_element(n).is_some()));
        let Some((name, base)) = nearest else { continue };
        out.push(Access { loc: (name.clone(), *base), offset: addr - base, bytes, pos: pos_of(prog.lines[i]) });
    }
    out
}

/// What each register holds before each instruction of `prog` (`None`: not reached).
fn known_before(prog: &Program, init: &[(Reg, u64)]) -> Vec<Option<Known>> {
    let n = prog.insts.len();
    let mut before: Vec<Option<Known>> = vec![None; n];
    if n == 0 {
        return before;
    }
    // Registers a test does not set start at 0, as herd7's do.
    let mut start = [Some(0); Reg::COUNT];
    for &(r, v) in init {
        start[r.index()] = Some(v);
    }
    before[0] = Some(start);
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        let Some(known) = before[i] else { continue };
        let pc = prog.base + i as Addr * Inst::BYTES;
        let inst = prog.insts[i];
        let after = step(&inst, &known, pc);
        for next in successors(&inst, &known, pc) {
            let Some(j) = prog.at(next).map(|_| ((next - prog.base) / Inst::BYTES) as usize) else { continue };
            let joined = match &before[j] {
                None => after,
                Some(old) => std::array::from_fn(|r| if old[r] == after[r] { old[r] } else { None }),
            };
            if before[j] != Some(joined) {
                before[j] = Some(joined);
                work.push(j);
            }
        }
    }
    before
}

/// The value of `op` if it is known.
fn read(known: &Known, op: Operand) -> Option<u64> {
    if op.reg.is_zero() { Some(0) } else { known[op.reg.index()].map(|v| op.width.mask(v)) }
}

/// What the registers hold after `inst`, at `pc`, given what they held before.
fn step(inst: &Inst, known: &Known, pc: Addr) -> Known {
    let mut after = *known;
    let mut set = |r: Reg, v: Option<u64>| {
        if !r.is_zero() {
            after[r.index()] = v;
        }
    };
    if inst.is_register_op() {
        let srcs = inst.sources();
        let mut vals = srcs.map(|s| s.map_or(Some(0), |op| read(known, op)));
        // A register combined with itself gives the same whatever it holds: `EOR X2,X1,X1`
        // and `SUB X2,X1,X1` make the zero that carries a dependency into an address.
        if let Inst::Alu { op, src: Src2::Reg(m), rn, .. } = inst
            && matches!(op, AluOp::Eor | AluOp::Sub)
            && *rn == *m
            && vals[0].is_none()
        {
            vals[0] = Some(0);
            vals[1] = Some(0);
        }
        let result = match vals {
            [Some(a), Some(b), Some(c)] => Some(inst.register_result([a, b, c])),
            _ => None,
        };
        if let Some(rd) = inst.dest() {
            set(rd, result.map(|(v, _)| v));
        }
        if inst.writes_flags() {
            set(Reg::FLAGS, result.map(|(_, f)| f));
        }
        return after;
    }
    match *inst {
        Inst::Adr { rd, target } => set(rd.reg, Some(target)),
        Inst::Bl { .. } | Inst::Br { link: true, .. } => set(Reg::LR, Some(pc + Inst::BYTES)),
        // Loads, atomics, store-exclusives' statuses, system registers: what memory or the
        // machine gives.
        _ => {
            if let Some(rd) = inst.dest() {
                set(rd, None);
            }
            if inst.writes_flags() {
                set(Reg::FLAGS, None);
            }
        }
    }
    after
}

/// Where control may go after `inst` at `pc` (addresses outside the thread are left out by the
/// caller); an indirect branch whose target is not known goes nowhere this can follow.
fn successors(inst: &Inst, known: &Known, pc: Addr) -> Vec<Addr> {
    let next = pc + Inst::BYTES;
    match *inst {
        Inst::B { target } => vec![target],
        // (A call may return: the instruction after it is reached too.)
        Inst::BCond { target, .. } | Inst::Cbz { target, .. } | Inst::Bl { target } => vec![next, target],
        Inst::Br { rn, link } => {
            let mut to: Vec<Addr> = read(known, Operand { reg: rn, width: Width::X }).into_iter().collect();
            if link {
                to.push(next);
            }
            to
        }
        Inst::Ret { rn } => read(known, Operand { reg: rn, width: Width::X }).into_iter().collect(),
        Inst::Eret | Inst::Udf(_) => vec![],
        _ => vec![next],
    }
}

/// The address and size of a data access whose address is known.
fn address_and_size(inst: &Inst, known: &Known) -> Option<(Addr, u8)> {
    let x = |reg: Reg| read(known, Operand { reg, width: Width::X });
    let at = |base: Reg, index: &Index| {
        let idx = match index {
            Index::Imm(_) => 0,
            Index::Reg(op, _) => read(known, *op)?,
        };
        Some(Inst::effective_address(index, x(base)?, idx))
    };
    let size = |rt: Operand, narrow: Option<Narrow>| narrow.map_or((rt.width.bits() / 8) as u8, |n| n.bytes);
    match inst {
        Inst::Load { rt, base, index, narrow, .. } => Some((at(*base, index)?, size(*rt, *narrow))),
        Inst::Store { rt, base, index, narrow, .. } => Some((at(*base, index)?, size(*rt, *narrow))),
        Inst::Rmw { rs, base, narrow, .. } => Some((x(*base)?, size(*rs, *narrow))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(threads: &[&str]) -> Option<String> {
        let progs: Vec<Program> = threads
            .iter()
            .enumerate()
            .map(|(t, text)| cpu_model::asm::assemble(text, 0x1000 * (t as Addr + 1)).unwrap())
            .collect();
        let locations: BTreeMap<String, Addr> =
            [("x".to_string(), 0x10_0000), ("y".to_string(), 0x10_0000 + DATA_STRIDE)].into();
        let init = [(Reg(1), 0x10_0000), (Reg(3), 0x10_0000 + DATA_STRIDE)];
        let threads: Vec<(&Program, &[(Reg, u64)])> = progs.iter().map(|p| (p, &init[..])).collect();
        check(&threads, &locations, |_| None, |t, line| Pos { line, col: t + 1 })
            .err()
            .map(|e| format!("{}:{} {}", e.pos.line, e.pos.col, e.msg))
    }

    #[test]
    fn one_size_per_location_at_its_start_passes() {
        assert_eq!(refusal(&["STR W0,[X1]\nLDR X2,[X3]", "LDR W0,[X1]\nSTR X2,[X3]\nLDAR X4,[X3]"]), None);
    }

    #[test]
    fn two_sizes_on_one_location_are_refused_at_the_second() {
        let e = refusal(&["STR X0,[X1]", "NOP\nLDRH W0,[X1]"]).unwrap();
        assert!(
            e.starts_with("2:2 unsupported: mixed-size test: this access to `x` is 2-byte, the one at 1:1 8-byte"),
            "{e}"
        );
    }

    #[test]
    fn an_offset_into_a_location_is_refused_however_it_is_computed() {
        for code in ["LDRB W0,[X1,#1]", "ADD X2,X1,#4\nLDR W0,[X2]", "MOV X5,#2\nLDRH W0,[X1,X5]"] {
            let e = refusal(&[code]).unwrap();
            assert!(e.contains("access reaches byte"), "{code}: {e}");
        }
    }

    #[test]
    fn a_dependency_through_a_read_value_keeps_the_address_known() {
        // The index is the read value EORed with itself: 0 whatever was read.
        let e = refusal(&["LDR W0,[X3]\nEOR W5,W0,W0\nADD X6,X1,W5,SXTW\nLDRB W7,[X6,#1]"]).unwrap();
        assert!(e.starts_with("4:1 ") && e.contains("byte 1 of `x`"), "{e}");
    }

    #[test]
    fn paths_that_disagree_leave_the_address_unknown_and_those_that_agree_known() {
        // X2 is x on one path and y on the other: the access after they meet is not checked.
        assert_eq!(refusal(&["LDR W0,[X3]\nMOV X2,X1\nCBZ W0,L\nMOV X2,X3\nL:\nLDRB W4,[X2,#1]"]), None);
        // Both paths leave x+1.
        let e = refusal(&["LDR W0,[X3]\nADD X2,X1,#1\nCBZ W0,L\nADD X2,X1,#1\nL:\nLDRB W4,[X2]"]).unwrap();
        assert!(e.contains("byte 1 of `x`"), "{e}");
    }

    #[test]
    fn an_address_loaded_from_memory_is_not_checked() {
        assert_eq!(refusal(&["LDR X2,[X1]\nLDRB W4,[X2,#1]"]), None);
    }
}
