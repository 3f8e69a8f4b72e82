//! AArch64 litmus tests translated to herd7's X86_64 dialect, meaning what
//! isolsim's `tso` and `sc` modes make of them, for `x86tso`/`sc.cat`.
//!
//! herd7's 32-bit X86 has six usable registers and no AND or conditional
//! jumps but JE/JNE, so the translation targets X86_64 (AT&T syntax, sixteen
//! registers); herd7 checks an X86_64 test against `x86tso-mixed.cat`, its
//! x86-TSO for that architecture (`x86tso.cat` is declared for X86 only; both
//! forbid the same cycles of `po` minus store→load pairs, `rfe`, `co`, `fr`,
//! MFENCE and the implied barriers of locked instructions).
//!
//! What each instruction becomes follows `memory_model::lsq`'s TSO rules:
//!
//! | AArch64 | X86_64 |
//! |---|---|
//! | `LDR`, `LDAR` / `STR`, `STLR` | `movq` (release and acquire are plain moves) |
//! | `DMB SY/ISH`, `DSB SY/ISH`, `ISB` | `mfence` (ISB: a serializing instruction, which drains the store buffer; MFENCE is herd7's closest) |
//! | `DSB ST`, `DSB ISHST` | `mfence`: it waits for earlier stores and holds later loads back until they complete |
//! | other DMB/DSB options (LD, NSH, DMB ST) | nothing: TSO already keeps what they order, and no later access waits for them |
//! | `SWP` | `xchgq` (locked) |
//! | `CAS` | `lock cmpxchgq` through `%rax` |
//! | `STADD`, `STEOR` | `lock addq`, `lock xorq` (herd7 accepts `lock` on ADD, XOR, XCHG, CMPXCHG, INC and DEC only: `STSET`/`STCLR` have no translation) |
//! | `MOV`, `ADD`, `SUB`, `EOR`, `ORR`, `AND` | `movq` and two-operand arithmetic through a scratch register |
//! | `CMP` + `B.EQ`/`B.NE`, `CSET`, `CBZ`/`CBNZ`, `B` | `cmpq` + `je`/`jne`, `jmp` (herd7's flags for the other conditions are not x86's) |
//!
//! Dependencies need nothing: under TSO they order nothing more, and the
//! register arithmetic that carries them is translated as arithmetic.
//! Everything else has no faithful counterpart and makes the test
//! [`Untranslatable`]: instruction fetch and cache maintenance, `LDADD` and the
//! other LD forms that return the old value (herd7's x86 has no XADD),
//! unsigned conditions, shifts, multiplication, extended register offsets,
//! `SUB` on a W register (it wraps at 32 bits, x86's 64-bit arithmetic does
//! not), a `CBZ` between a `CMP` and the branch that reads its flags (x86's
//! compare would overwrite them), more than twelve registers in a thread.
//! Values are 64-bit on both sides; W loads, stores and arithmetic of the
//! small non-negative values tests use mean the same at either width.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use cpu_model::asm::parse_inst;
use cpu_model::isa::{AluOp, Cond, Extend, Index, Inst, Operand, Reg, Src2, Width};
use memory_model::RmwOp;

use super::ast::{LitmusTest, Loc, Prop, Threads, Value};
use super::print;

/// Registers given to the test's registers, in order; %rax, %r14 and %r15 are scratch.
const POOL: [&str; 12] = ["rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13"];

/// Why a test has no x86 translation: a short class (what campaigns count)
/// and the detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Untranslatable {
    /// The class: `instruction fetch or maintenance`, `LD<op> with a result`, ...
    pub class: &'static str,
    /// What exactly, where.
    pub detail: String,
}

impl std::fmt::Display for Untranslatable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class, self.detail)
    }
}

/// A translated test.
#[derive(Clone, Debug)]
pub struct X86Test {
    /// herd7 X86_64 source.
    pub text: String,
    /// x86 register as herd7 prints it (`0:rbx`) -> the AArch64 register it stands for (`0:X3`).
    pub names: BTreeMap<String, String>,
}

fn no<T>(class: &'static str, detail: impl Into<String>) -> Result<T, Untranslatable> {
    Err(Untranslatable { class, detail: detail.into() })
}

struct Regs {
    map: BTreeMap<Reg, &'static str>,
}

impl Regs {
    fn get(&mut self, r: Reg) -> Result<String, Untranslatable> {
        if let Some(n) = self.map.get(&r) {
            return Ok(format!("%{n}"));
        }
        let Some(&n) = POOL.get(self.map.len()) else {
            return no("too many registers", format!("more than {} registers in a thread", POOL.len()));
        };
        self.map.insert(r, n);
        Ok(format!("%{n}"))
    }

    /// A source operand: a register, or `$0` for the zero register.
    fn src(&mut self, op: Operand) -> Result<String, Untranslatable> {
        if op.reg.is_zero() { Ok("$0".into()) } else { self.get(op.reg) }
    }

    fn src2(&mut self, s: Src2) -> Result<String, Untranslatable> {
        match s {
            Src2::Imm(v) => Ok(format!("${}", v as i64)),
            Src2::Reg(op) => self.src(op),
            Src2::Shifted(..) => Err(Untranslatable { class: "shifted register operand", detail: format!("`{s}`") }),
            Src2::Extended(..) => Err(Untranslatable { class: "extended register operand", detail: format!("`{s}`") }),
        }
    }
}

fn reg_of(name: &str) -> Result<Reg, Untranslatable> {
    match cpu_model::asm::parse_reg(name) {
        Some(op) if !op.reg.is_zero() => Ok(op.reg),
        _ => no("not a register", format!("`{name}`")),
    }
}

fn jcc(c: Cond) -> Result<&'static str, Untranslatable> {
    Ok(match c {
        Cond::Eq => "je",
        Cond::Ne => "jne",
        Cond::Al => "jmp",
        // herd7's X86_64 flags are not x86's for these (its JL takes ZF or not SF,
        // its JG SF alone): a campaign found `cmp $0; jl` taken with 0 in the register.
        c => {
            return no(
                "condition other than EQ/NE",
                format!("{c:?} (herd7's x86 gives its own meaning to the others)"),
            );
        }
    })
}

/// True for instructions whose x86 translation overwrites the flags (x86
/// arithmetic sets them; AArch64's ADD, CBZ and atomics do not).
fn clobbers_flags(i: &Inst) -> bool {
    matches!(i, Inst::Alu { .. } | Inst::Cbz { .. }) || matches!(i, Inst::Rmw { op, .. } if *op != RmwOp::Swp)
}

/// One thread's instructions, translated.
fn thread(tid: usize, lines: &[super::ast::AsmLine], regs: &mut Regs) -> Result<Vec<String>, Untranslatable> {
    let parsed: Vec<Option<Inst>> = lines
        .iter()
        .map(|l| match &l.inst {
            Some((text, _)) => match parse_inst(text, 1) {
                Ok(p) if p.is_split() => Err(Untranslatable {
                    class: "pre- or post-indexed access or pair",
                    detail: format!("P{tid}: `{text}`"),
                }),
                Ok(p) => Ok(Some(p.inst)),
                Err((_, m)) => {
                    Err(Untranslatable { class: "unreadable instruction", detail: format!("P{tid}: `{text}`: {m}") })
                }
            },
            None => Ok(None),
        })
        .collect::<Result<_, _>>()?;
    // A label may be reached by a branch from anywhere: its flags are the CMP's only if
    // nothing in the thread overwrites x86's flags where AArch64's stay.
    let clobbering = parsed.iter().flatten().any(clobbers_flags);
    let mut out = vec![];
    let mut labels = 0;
    // The flags x86 has are those of the last CMP, as on AArch64.
    let mut flags_ok = false;
    for (line, inst) in lines.iter().zip(parsed) {
        for (l, _) in &line.labels {
            out.push(format!("{l}:"));
            flags_ok &= !clobbering;
        }
        let (Some((text, _)), Some(inst)) = (&line.inst, inst) else { continue };
        if matches!(inst, Inst::BCond { .. } | Inst::Cset { .. }) && !flags_ok {
            return no(
                "flags overwritten",
                format!("P{tid}: `{text}` reads flags x86's arithmetic would have overwritten"),
            );
        }
        flags_ok = matches!(inst, Inst::Cmp { .. }) || (flags_ok && !clobbers_flags(&inst));
        let ea = |regs: &mut Regs, base: Reg, index: Index| -> Result<String, Untranslatable> {
            let b = regs.get(base)?;
            match index {
                Index::Imm(0) => Ok(format!("({b})")),
                Index::Imm(k) => Ok(format!("{k}({b})")),
                Index::Reg(i, Extend::Lsl(n)) if n <= 3 && !i.reg.is_zero() => {
                    Ok(format!("({b},{},{})", regs.get(i.reg)?, 1 << n))
                }
                _ => no("extended register offset", format!("P{tid}: `{text}`")),
            }
        };
        let dest = |regs: &mut Regs, op: Operand| -> Result<Option<String>, Untranslatable> {
            if op.reg.is_zero() { Ok(None) } else { regs.get(op.reg).map(Some) }
        };
        // A register read as an operand: its x86 register, or for the zero register a scratch
        // register set to 0 first (x86 has no zero register).
        let read = |regs: &mut Regs, op: Operand, scratch: &str, out: &mut Vec<String>| {
            dest(regs, op).map(|d| {
                d.unwrap_or_else(|| {
                    out.push(format!("movq $0,{scratch}"));
                    scratch.to_string()
                })
            })
        };
        match inst {
            Inst::Load { narrow: Some(_), .. }
            | Inst::Store { narrow: Some(_), .. }
            | Inst::Rmw { narrow: Some(_), .. } => {
                return no("byte or halfword access", format!("P{tid}: `{text}`"));
            }
            Inst::Store { status: Some(_), .. } => {
                return no("store-exclusive (x86 has none; its CMPXCHG is a CAS)", format!("P{tid}: `{text}`"));
            }
            Inst::Load { rt, base, index, .. } => {
                let a = ea(regs, base, index)?;
                let d = dest(regs, rt)?.unwrap_or("%r15".into());
                out.push(format!("movq {a},{d}"));
            }
            Inst::Store { rt, base, index, .. } => {
                let a = ea(regs, base, index)?;
                out.push(format!("movq {},{a}", regs.src(rt)?));
            }
            Inst::Mov { rd, src } => {
                if let Some(d) = dest(regs, rd)? {
                    out.push(format!("movq {},{d}", regs.src2(src)?));
                }
            }
            Inst::Alu { flags: true, .. } => {
                // (x86's carry after a subtraction is AArch64's inverted, and its ADD and SUB
                // set flags the translation's other instructions would overwrite.)
                return no("flag-setting arithmetic", format!("P{tid}: `{text}`"));
            }
            Inst::Alu { op, rd, rn, src, flags: false } => {
                if op == AluOp::Sub && rd.width == Width::W {
                    return no("W subtraction", format!("P{tid}: `{text}` wraps at 32 bits"));
                }
                out.push(format!("movq {},%r15", regs.src(rn)?));
                let s = regs.src2(src)?;
                match op {
                    AluOp::Add => out.push(format!("addq {s},%r15")),
                    AluOp::Eor => out.push(format!("xorq {s},%r15")),
                    AluOp::Orr => out.push(format!("orq {s},%r15")),
                    AluOp::And => out.push(format!("and {s},%r15")),
                    AluOp::Sub => match src {
                        Src2::Imm(v) => out.push(format!("addq ${},%r15", (v as i64).wrapping_neg())),
                        Src2::Reg(_) | Src2::Shifted(..) | Src2::Extended(..) => {
                            // r15 - s = r15 + (~s + 1): herd7's x86 has no SUB.
                            out.push(format!("movq {s},%r14"));
                            out.push("xorq $-1,%r14".into());
                            out.push("addq $1,%r14".into());
                            out.push("addq %r14,%r15".into());
                        }
                    },
                    _ => return no("shift, multiplication or bit operation", format!("P{tid}: `{text}`")),
                }
                if let Some(d) = dest(regs, rd)? {
                    out.push(format!("movq %r15,{d}"));
                }
            }
            Inst::Cmp { rn, src } => {
                let n = read(regs, rn, "%r15", &mut out)?;
                out.push(format!("cmpq {},{n}", regs.src2(src)?));
            }
            Inst::Cset { rd, cond } => {
                labels += 1;
                let l = format!("LX{tid}s{labels}");
                out.push("movq $1,%r15".into());
                out.push(format!("{} {l}", jcc(cond)?));
                out.push("movq $0,%r15".into());
                out.push(format!("{l}:"));
                if let Some(d) = dest(regs, rd)? {
                    out.push(format!("movq %r15,{d}"));
                }
            }
            Inst::BCond { cond, .. } => {
                out.push(format!("{} {}", jcc(cond)?, target(text)?));
            }
            Inst::B { .. } => out.push(format!("jmp {}", target(text)?)),
            Inst::Cbz { rt, nonzero, .. } => {
                let t = read(regs, rt, "%r15", &mut out)?;
                out.push(format!("cmpq $0,{t}"));
                let c = if nonzero { Cond::Ne } else { Cond::Eq };
                out.push(format!("{} {}", jcc(c)?, target(text)?));
            }
            Inst::Rmw { op, rs, rt, base, .. } => {
                let b = regs.get(base)?;
                match op {
                    RmwOp::Swp => {
                        out.push(format!("movq {},%r15", regs.src(rs)?));
                        out.push(format!("xchgq %r15,({b})"));
                        if let Some(d) = dest(regs, rt)? {
                            out.push(format!("movq %r15,{d}"));
                        }
                    }
                    RmwOp::Cas => {
                        out.push(format!("movq {},%rax", regs.src(rs)?));
                        let new = read(regs, rt, "%r14", &mut out)?;
                        out.push(format!("lock cmpxchgq ({b}),{new}"));
                        if let Some(d) = dest(regs, rs)? {
                            out.push(format!("movq %rax,{d}"));
                        }
                    }
                    _ if !rt.reg.is_zero() => {
                        return no("LD<op> with a result", format!("P{tid}: `{text}` (herd7's x86 has no XADD)"));
                    }
                    RmwOp::Add => out.push(format!("lock addq {},({b})", regs.src(rs)?)),
                    RmwOp::Eor => out.push(format!("lock xorq {},({b})", regs.src(rs)?)),
                    RmwOp::Set | RmwOp::Clr => {
                        return no("locked OR/AND", format!("P{tid}: `{text}` (herd7's x86 locks only ADD and XOR)"));
                    }
                    RmwOp::Smax | RmwOp::Smin | RmwOp::Umax | RmwOp::Umin => {
                        return no("atomic maximum or minimum", format!("P{tid}: `{text}` (x86 has none)"));
                    }
                }
            }
            Inst::Dmb(f) | Inst::Dsb(f) if f.is_full() => out.push("mfence".into()),
            // A DSB ISHST/ST waits for earlier stores and holds every later access back: store→load order.
            Inst::Dsb(memory_model::Fence::SyncStore) => out.push("mfence".into()),
            Inst::Isb => out.push("mfence".into()),
            Inst::Dmb(_) | Inst::Dsb(_) | Inst::Nop => {}
            Inst::MulAdd { .. } => return no("shift, multiplication or bit operation", format!("P{tid}: `{text}`")),
            Inst::Csel { .. } => {
                return no("conditional select", format!("P{tid}: `{text}` (herd7's x86 has only CMOVC)"));
            }
            _ => return no("instruction fetch, maintenance or system", format!("P{tid}: `{text}`")),
        }
    }
    Ok(out)
}

/// The label a branch names, as written.
fn target(text: &str) -> Result<String, Untranslatable> {
    match text.rsplit([' ', ',']).next() {
        Some(l) if !l.is_empty() => Ok(l.to_string()),
        _ => no("unreadable instruction", format!("`{text}`: no target")),
    }
}

/// Translates an AArch64 test (as `print::aarch64` writes them) to X86_64.
pub fn translate(test: &LitmusTest) -> Result<X86Test, Untranslatable> {
    let Threads::Asm(threads) = &test.threads else { return no("not an AArch64 test", test.name.clone()) };
    let mut regs: Vec<Regs> = threads.iter().map(|_| Regs { map: BTreeMap::new() }).collect();
    // Registers the init block, the locations and the condition name come first, in that order.
    let mut named: Vec<Loc> = test.init.iter().map(|i| i.loc.clone()).collect();
    named.extend(test.locations.iter().cloned());
    let mut cond_locs = vec![];
    prop_locs(&test.condition.prop, &mut cond_locs);
    if let Some(f) = &test.filter {
        prop_locs(f, &mut cond_locs);
    }
    named.extend(cond_locs);
    for l in &named {
        if let Loc::Reg { tid, name } = l {
            let Some(r) = regs.get_mut(*tid) else { return no("no such thread", format!("P{tid}")) };
            r.get(reg_of(name)?)?;
        }
    }
    let mut code = vec![];
    for (t, r) in threads.iter().zip(regs.iter_mut()) {
        code.push(thread(t.tid, &t.lines, r)?);
    }
    // Every register named outside the code has its x86 register now.
    let x86 = |loc: &Loc| -> Result<Loc, Untranslatable> {
        match loc {
            Loc::Mem(_) => Ok(loc.clone()),
            Loc::Reg { tid, name } => Ok(Loc::Reg { tid: *tid, name: regs[*tid].map[&reg_of(name)?].to_string() }),
        }
    };
    let mut init = vec![];
    for item in &test.init {
        let v = match &item.value {
            None => "0".to_string(),
            Some(Value::Int(i)) => i.to_string(),
            Some(Value::Loc(n)) => n.clone(),
            Some(v) => {
                return no(
                    "instruction fetch, maintenance or system",
                    format!("init value `{}`", print::value_text(v)),
                );
            }
        };
        init.push(format!("{}={v};", print::loc_text(&x86(&item.loc)?)));
    }
    let mut names = BTreeMap::new();
    for (tid, r) in regs.iter().enumerate() {
        for (reg, x) in &r.map {
            names.insert(format!("{tid}:{x}"), format!("{tid}:{reg}"));
        }
    }
    let mut text = format!("X86_64 {}\n{{ {} }}\n", test.name, init.join(" "));
    let width = code.iter().flatten().map(String::len).max().unwrap_or(0).max(3);
    let header: Vec<String> = (0..code.len()).map(|t| format!(" {:width$}", format!("P{t}"))).collect();
    let _ = writeln!(text, "{};", header.join("|"));
    for i in 0..code.iter().map(Vec::len).max().unwrap_or(0) {
        let row: Vec<String> =
            code.iter().map(|c| format!(" {:width$}", c.get(i).map_or("", String::as_str))).collect();
        let _ = writeln!(text, "{};", row.join("|"));
    }
    let locs = test.locations.iter().map(|l| x86(l).map(|l| print::loc_text(&l))).collect::<Result<Vec<_>, _>>()?;
    if !locs.is_empty() {
        let _ = writeln!(text, "locations [{}]", locs.join("; "));
    }
    if let Some(f) = &test.filter {
        let _ = writeln!(text, "filter {}", print::prop_text(&print::map_locs(f, &x86)?));
    }
    let prop = print::map_locs(&test.condition.prop, &x86)?;
    let _ = writeln!(text, "{}", print::condition_text(&super::ast::Condition { prop, ..test.condition.clone() }));
    Ok(X86Test { text, names })
}

fn prop_locs(p: &Prop, out: &mut Vec<Loc>) {
    out.extend(p.atoms().into_iter().map(|a| a.loc.clone()));
}
