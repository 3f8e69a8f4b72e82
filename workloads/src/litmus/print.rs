//! Litmus tests back to text in herd7's AArch64 dialect, and C tests lowered
//! to it.
//!
//! [`aarch64`] prints a parsed (or generated) AArch64 test so that herd7 and
//! the project's parser both read it: the init block, one column per thread,
//! `locations`, `filter` and the final condition. [`lower`] turns a compiled C
//! test into the AArch64 test of the very code the simulated cores run (the
//! arm64 kernel mapping of `compile`), so that a C file can be put to
//! `aarch64.cat`; [`complete_locations`] makes a test print complete final
//! states (every register a load or atomic writes, every location).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use cpu_model::isa::{Disasm, Inst};
use memory_model::Addr;

use super::ast::{
    Arch, AsmLine, AsmThread, Condition, InitItem, LitmusTest, Loc, Pos, Prop, Quantifier, Threads, Type, Value,
};
use super::compile::{Compiled, Source};

/// `loc` as herd7 writes it on the left of `=`: `0:X3`, `x`.
pub fn loc_text(loc: &Loc) -> String {
    match loc {
        Loc::Reg { tid, name } => format!("{tid}:{name}"),
        Loc::Mem(n) => n.clone(),
    }
}

/// A value as herd7 writes it: `3`, `x`, `P1:L0`, `NOP`, `instr:"MOV W0,#1"`.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Loc(n) => n.clone(),
        Value::Label { tid, label } => format!("P{tid}:{label}"),
        Value::Instr(t) if t.eq_ignore_ascii_case("NOP") => "NOP".to_string(),
        Value::Instr(t) => format!("instr:\"{t}\""),
        Value::Array(vs) => format!("{{{}}}", vs.iter().map(value_text).collect::<Vec<_>>().join(",")),
    }
}

fn type_text(t: &Type) -> String {
    match t {
        Type::Int(n) | Type::Other(n) => n.clone(),
        Type::Ptr(t) => format!("{} *", type_text(t)),
        Type::Instr => "ins_t".to_string(),
    }
}

/// A proposition, fully parenthesised; memory atoms as `[x]`.
pub fn prop_text(p: &Prop) -> String {
    match p {
        Prop::True => "true".to_string(),
        Prop::False => "false".to_string(),
        Prop::Atom(a) => {
            let l = match &a.loc {
                // (A whole array's name is bare: `t={2,1}`.)
                Loc::Mem(n) if matches!(a.value, Value::Array(_)) => n.clone(),
                Loc::Mem(n) => super::ast::memory_text(n),
                l => loc_text(l),
            };
            format!("{l}={}", value_text(&a.value))
        }
        Prop::Not(q) => format!("~({})", prop_text(q)),
        Prop::And(a, b) => format!("({} /\\ {})", prop_text(a), prop_text(b)),
        Prop::Or(a, b) => format!("({} \\/ {})", prop_text(a), prop_text(b)),
        Prop::Implies(a, b) => format!("({} => {})", prop_text(a), prop_text(b)),
    }
}

/// The final condition: `exists (…)`, `~exists (…)` or `forall (…)`.
pub fn condition_text(c: &Condition) -> String {
    let q = match c.quantifier {
        Quantifier::Exists => "exists",
        Quantifier::NotExists => "~exists",
        Quantifier::Forall => "forall",
    };
    match prop_text(&c.prop) {
        // Conjunctions and the like come parenthesised already.
        p if p.starts_with('(') => format!("{q} {p}"),
        p => format!("{q} ({p})"),
    }
}

/// A conjunction of atoms (`true` when empty).
pub fn conjunction(atoms: Vec<Prop>) -> Prop {
    atoms.into_iter().reduce(|a, b| Prop::And(Box::new(a), Box::new(b))).unwrap_or(Prop::True)
}

/// Prints an AArch64 test (`test.threads` must be `Threads::Asm`) in herd7's dialect.
pub fn aarch64(test: &LitmusTest) -> String {
    let Threads::Asm(threads) = &test.threads else { panic!("print::aarch64 takes an AArch64 test") };
    let mut out = format!("AArch64 {}\n{{\n", test.name);
    // Init items of one thread (or memory) on one line, as herd7's own tests have them.
    let mut lines: BTreeMap<Option<usize>, Vec<String>> = BTreeMap::new();
    // An array prints as its declaration with every element's value: `int64_t v[2]={1,2};`.
    let arrays: BTreeMap<&str, u32> = test.init.iter().filter_map(InitItem::declared_array).collect();
    let last_value = |name: &str| {
        test.init.iter().rev().find(|i| matches!(&i.loc, Loc::Mem(n) if n == name)).and_then(|i| i.value.as_ref())
    };
    for item in &test.init {
        let tid = match &item.loc {
            Loc::Reg { tid, .. } => Some(*tid),
            Loc::Mem(n) if super::ast::split_element(n).is_some_and(|(a, _)| arrays.contains_key(a)) => continue,
            Loc::Mem(_) => None,
        };
        let ty = item.ty.as_ref().map_or(String::new(), |t| format!("{} ", type_text(t)));
        let text = match item.declared_array() {
            Some((n, len)) => {
                let values: Vec<String> = (0..len)
                    .map(|i| last_value(&super::ast::element_name(n, i)).map_or("0".to_string(), value_text))
                    .collect();
                format!("{ty}{n}[{len}]={{{}}};", values.join(","))
            }
            _ => {
                let v = item.value.as_ref().map_or(String::new(), |v| format!("={}", value_text(v)));
                format!("{ty}{}{v};", loc_text(&item.loc))
            }
        };
        lines.entry(tid).or_default().push(text);
    }
    for l in lines.values() {
        let _ = writeln!(out, "{}", l.join(" "));
    }
    out.push_str("}\n");
    // One cell per label and per instruction, so that every row is one line of the table.
    let cells: Vec<Vec<String>> = threads
        .iter()
        .map(|t| {
            let mut c = vec![];
            for line in &t.lines {
                c.extend(line.labels.iter().map(|(l, _)| format!("{l}:")));
                if let Some((inst, _)) = &line.inst {
                    c.push(format!(" {inst}"));
                }
            }
            c
        })
        .collect();
    let width = cells.iter().flatten().map(String::len).max().unwrap_or(0).max(3);
    let header: Vec<String> = threads.iter().map(|t| format!(" {:width$}", format!("P{}", t.tid))).collect();
    let _ = writeln!(out, "{};", header.join("|"));
    // At least one row: herd7 reads a table without one differently.
    let rows = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
    for i in 0..rows {
        let row: Vec<String> =
            cells.iter().map(|c| format!("{:width$} ", c.get(i).map_or("", String::as_str))).collect();
        let _ = writeln!(out, "{};", row.join("|"));
    }
    if !test.locations.is_empty() {
        let locs: Vec<String> = test.locations.iter().map(loc_text).collect();
        let _ = writeln!(out, "locations [{}]", locs.join("; "));
    }
    if let Some(f) = &test.filter {
        let _ = writeln!(out, "filter {}", prop_text(f));
    }
    let _ = writeln!(out, "{}", condition_text(&test.condition));
    out
}

/// The registers each thread's loads and atomics write, and every shared
/// location, added to `locations` (once): herd7 and isolsim then print whole
/// final states, not only what the condition names.
pub fn complete_locations(test: &mut LitmusTest) {
    let Threads::Asm(threads) = &test.threads else { return };
    let mut add: Vec<Loc> = vec![];
    for t in threads {
        for line in &t.lines {
            let Some((text, _)) = &line.inst else { continue };
            let Ok(p) = cpu_model::asm::parse_inst(text, 1) else { continue };
            // (A pair is two loads.)
            for inst in p.insts() {
                if matches!(inst, Inst::Load { .. } | Inst::Rmw { .. })
                    && let Some(r) = inst.dest()
                {
                    add.push(Loc::Reg { tid: t.tid, name: r.to_string() });
                }
            }
            // A pre- or post-indexed access writes its base too.
            if let Some(w) = p.writeback {
                add.push(Loc::Reg { tid: t.tid, name: w.base.to_string() });
            }
        }
    }
    // (An array is displayed by its elements, which have init items of their own.)
    let arrays: Vec<&str> = test.init.iter().filter_map(|i| i.declared_array().map(|(n, _)| n)).collect();
    let mut mem: Vec<String> = vec![];
    for item in &test.init {
        if let Loc::Mem(n) = &item.loc
            && !arrays.contains(&n.as_str())
        {
            mem.push(n.clone());
        }
        if let Some(Value::Loc(n)) = &item.value
            && !arrays.contains(&n.as_str())
        {
            mem.push(n.clone());
        }
    }
    add.extend(mem.into_iter().map(Loc::Mem));
    for l in add {
        if !test.locations.contains(&l) {
            test.locations.push(l);
        }
    }
}

/// The AArch64 test of the code a compiled C test runs: the same threads,
/// registers, initial values and condition (C locals renamed to the registers
/// they live in). Errors name what has no AArch64 litmus form.
pub fn lower(test: &LitmusTest, c: &Compiled) -> Result<LitmusTest, String> {
    if test.arch == Arch::AArch64 {
        return Ok(test.clone());
    }
    let reg_of = |loc: &Loc| -> Result<Loc, String> {
        match loc {
            Loc::Mem(_) => Ok(loc.clone()),
            Loc::Reg { tid, name } => match c.observed.iter().find(|o| &o.loc == loc).map(|o| o.source) {
                Some(Source::Reg(_, r)) => Ok(Loc::Reg { tid: *tid, name: r.to_string() }),
                _ => Err(format!("`{tid}:{name}` is not a register of the compiled code")),
            },
        }
    };
    let name_of = |v: u64| c.symbols.locations.iter().find(|(_, a)| **a == v).map(|(n, _)| n.clone());
    let mut init = vec![];
    for item in &test.init {
        if let Loc::Mem(_) = item.loc {
            init.push(InitItem { ty: None, ..item.clone() });
        }
    }
    let mut threads = vec![];
    for (tid, (t, prog)) in c.threads.iter().zip(c.code.programs()).enumerate() {
        for &(r, v) in &t.regs {
            let value = name_of(v).map_or(Value::Int(v as i64), Value::Loc);
            init.push(InitItem {
                loc: Loc::Reg { tid, name: r.to_string() },
                ty: None,
                value: Some(value),
                pos: Pos::default(),
                array: None,
            });
        }
        // Branch targets get labels of their own (the compiler's `.L1` is no herd7 name).
        let mut labels: BTreeMap<Addr, String> = BTreeMap::new();
        for i in &prog.insts {
            if let Inst::B { target } | Inst::BCond { target, .. } | Inst::Cbz { target, .. } = *i {
                let n = labels.len();
                labels.entry(target).or_insert_with(|| format!("L{tid}x{n}"));
            }
            if let Inst::Mov { src: cpu_model::isa::Src2::Imm(v), .. } = *i
                && name_of(v).is_some()
            {
                return Err(format!("P{tid}: an address constant (`{i}`) has no AArch64 litmus form"));
            }
        }
        let mut lines = vec![];
        for (k, i) in prog.insts.iter().enumerate() {
            let pc = prog.base + k as Addr * Inst::BYTES;
            let here: Vec<(String, Pos)> = labels.get(&pc).map(|l| (l.clone(), Pos::default())).into_iter().collect();
            let text = Disasm { inst: i, label: |a| labels.get(&a).cloned() }.to_string();
            lines.push(AsmLine { labels: here, inst: Some((text, Pos::default())) });
        }
        if let Some(l) = labels.get(&prog.end()) {
            lines.push(AsmLine { labels: vec![(l.clone(), Pos::default())], inst: None });
        }
        threads.push(AsmThread { tid, lines });
    }
    let locations = test.locations.iter().map(reg_of).collect::<Result<Vec<_>, _>>()?;
    let filter = test.filter.as_ref().map(|f| map_locs(f, &reg_of)).transpose()?;
    let prop = map_locs(&test.condition.prop, &reg_of)?;
    Ok(LitmusTest {
        arch: Arch::AArch64,
        name: test.name.clone(),
        init,
        threads: Threads::Asm(threads),
        locations,
        filter,
        condition: Condition { prop, ..test.condition.clone() },
    })
}

/// `p` with every location `f` renamed.
pub fn map_locs<E>(p: &Prop, f: &impl Fn(&Loc) -> Result<Loc, E>) -> Result<Prop, E> {
    Ok(match p {
        Prop::True | Prop::False => p.clone(),
        Prop::Atom(a) => Prop::Atom(super::ast::Atom { loc: f(&a.loc)?, ..a.clone() }),
        Prop::Not(q) => Prop::Not(Box::new(map_locs(q, f)?)),
        Prop::And(a, b) => Prop::And(Box::new(map_locs(a, f)?), Box::new(map_locs(b, f)?)),
        Prop::Or(a, b) => Prop::Or(Box::new(map_locs(a, f)?), Box::new(map_locs(b, f)?)),
        Prop::Implies(a, b) => Prop::Implies(Box::new(map_locs(a, f)?), Box::new(map_locs(b, f)?)),
    })
}
