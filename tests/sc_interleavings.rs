//! Under `--model sc` the simulator's outcome set must be exactly the set of
//! outcomes of all interleavings of the threads' statements. The
//! interleavings are computed here, independently of the simulator, by a
//! small interpreter of the parsed C litmus test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use isolsim::Mode;
use isolsim::workloads::litmus::ast::{AtomicOp, AtomicOrder, BinOp, Expr, Loc, Stmt, Threads, UnOp, Value};
use isolsim::workloads::litmus::parse::parse;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum V {
    Int(i64),
    Ptr(String),
}

impl V {
    fn int(&self) -> i64 {
        match self {
            V::Int(i) => *i,
            V::Ptr(p) => panic!("pointer {p} used as an integer"),
        }
    }
    fn show(&self) -> String {
        match self {
            V::Int(i) => i.to_string(),
            V::Ptr(p) => p.clone(),
        }
    }
}

/// One atomic step of a thread.
#[derive(Clone, Debug)]
enum Op {
    Set(String, Expr),
    Eval(Expr),
    Store(Expr, Expr),
    /// An atomic read-modify-write (an `Expr::Atomic`), its result
    /// assigned to the local if there is one.
    Rmw(Option<String>, Expr),
    JumpUnless(Expr, usize),
    Jump(usize),
}

fn accesses(e: &Expr) -> usize {
    match e {
        Expr::ReadOnce(a, _) | Expr::LoadAcquire(a, _) => 1 + accesses(a),
        // Two accesses: as part of a larger expression it is not one step.
        Expr::Atomic { addr, value, expected, .. } => {
            2 + accesses(addr) + accesses(value) + expected.as_deref().map_or(0, accesses)
        }
        Expr::Unary(_, a, _) => accesses(a),
        Expr::Binary(_, a, b, _) => accesses(a) + accesses(b),
        _ => 0,
    }
}

fn flatten(stmts: &[Stmt], out: &mut Vec<Op>) {
    for s in stmts {
        match s {
            Stmt::Decl { name, init: Some(e @ Expr::Atomic { .. }), .. }
            | Stmt::Assign { name, value: e @ Expr::Atomic { .. }, .. } => {
                out.push(Op::Rmw(Some(name.clone()), e.clone()))
            }
            Stmt::Expr(e @ Expr::Atomic { .. }, _) => out.push(Op::Rmw(None, e.clone())),
            Stmt::AtomicAdd { addr, value, pos } => out.push(Op::Rmw(
                None,
                Expr::Atomic {
                    op: AtomicOp::Add { fetch: true },
                    order: AtomicOrder::Relaxed,
                    addr: Box::new(addr.clone()),
                    value: Box::new(value.clone()),
                    expected: None,
                    pos: *pos,
                },
            )),
            Stmt::Decl { name, init, .. } => {
                out.push(Op::Set(name.clone(), init.clone().unwrap_or(Expr::Int(0, Default::default()))))
            }
            Stmt::Assign { name, value, .. } => out.push(Op::Set(name.clone(), value.clone())),
            Stmt::WriteOnce { addr, value, .. } | Stmt::StoreRelease { addr, value, .. } => {
                out.push(Op::Store(addr.clone(), value.clone()))
            }
            Stmt::Fence(..) => {}
            Stmt::Expr(e, _) => out.push(Op::Eval(e.clone())),
            Stmt::If { cond, then, els, .. } => {
                let j = out.len();
                out.push(Op::Jump(0));
                flatten(then, out);
                let k = out.len();
                out.push(Op::Jump(0));
                let else_at = out.len();
                flatten(els, out);
                let end = out.len();
                out[j] = Op::JumpUnless(cond.clone(), else_at);
                out[k] = Op::Jump(end);
            }
            Stmt::Loop { .. } | Stmt::Break(_) | Stmt::Continue(_) | Stmt::Return(..) | Stmt::Helper(..) => {
                unreachable!("kernel C only: the litmus parser refuses it")
            }
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Global {
    pcs: Vec<usize>,
    locals: Vec<BTreeMap<String, V>>,
    mem: BTreeMap<String, V>,
}

fn eval(e: &Expr, params: &[String], locals: &BTreeMap<String, V>, mem: &BTreeMap<String, V>) -> V {
    match e {
        Expr::Int(i, _) => V::Int(*i),
        Expr::Var(n, _) if params.contains(n) => V::Ptr(n.clone()),
        Expr::Var(n, _) => locals.get(n).cloned().unwrap_or(V::Int(0)),
        Expr::AddrOf(n, _) => V::Ptr(n.clone()),
        Expr::ReadOnce(a, _) | Expr::LoadAcquire(a, _) => match eval(a, params, locals, mem) {
            V::Ptr(p) => mem.get(&p).cloned().unwrap_or(V::Int(0)),
            V::Int(i) => panic!("dereference of integer {i}"),
        },
        Expr::Atomic { .. } => panic!("an atomic inside an expression is not one step"),
        Expr::Unary(UnOp::Not, a, _) => V::Int((eval(a, params, locals, mem).int() == 0) as i64),
        Expr::Unary(UnOp::Neg, a, _) => V::Int(eval(a, params, locals, mem).int().wrapping_neg()),
        Expr::Unary(UnOp::BitNot, a, _) => V::Int(!eval(a, params, locals, mem).int()),
        Expr::PerCpu { .. } | Expr::Call { .. } => unreachable!("kernel C only: the litmus parser refuses it"),
        Expr::Binary(op, a, b, _) => {
            let (a, b) = (eval(a, params, locals, mem), eval(b, params, locals, mem));
            if let (V::Ptr(p), BinOp::Add) = (&a, op) {
                assert_eq!(b.int(), 0, "pointer arithmetic only as a false dependency");
                return V::Ptr(p.clone());
            }
            let (a, b) = (a.int(), b.int());
            V::Int(match op {
                BinOp::Add => a.wrapping_add(b),
                BinOp::Sub => a.wrapping_sub(b),
                BinOp::Mul => a.wrapping_mul(b),
                BinOp::Shl => (a as u64).wrapping_shl(b as u32) as i64,
                BinOp::Shr => (a as u64).wrapping_shr(b as u32) as i64,
                BinOp::Xor => a ^ b,
                BinOp::And => a & b,
                BinOp::Or => a | b,
                BinOp::Eq => (a == b) as i64,
                BinOp::Ne => (a != b) as i64,
                BinOp::Lt => (a < b) as i64,
                BinOp::Gt => (a > b) as i64,
                BinOp::Le => (a <= b) as i64,
                BinOp::Ge => (a >= b) as i64,
                BinOp::LAnd => (a != 0 && b != 0) as i64,
                BinOp::LOr => (a != 0 || b != 0) as i64,
            })
        }
    }
}

/// Final values of `shown` ("0:r0", "[x]") over all interleavings, or
/// `None` if some statement makes more than one shared access (then it is
/// not one atomic step and this reference does not apply).
fn interleavings(path: &Path, shown: &[String]) -> Option<BTreeSet<Vec<String>>> {
    let text = std::fs::read_to_string(path).unwrap();
    let test = parse(&path.display().to_string(), &text).unwrap();
    let Threads::C(threads) = &test.threads else { return None };
    let progs: Vec<Vec<Op>> = threads
        .iter()
        .map(|t| {
            let mut ops = vec![];
            flatten(&t.body, &mut ops);
            ops
        })
        .collect();
    for op in progs.iter().flatten() {
        let n = match op {
            Op::Set(_, e) | Op::Eval(e) | Op::JumpUnless(e, _) => accesses(e),
            Op::Store(a, v) => 1 + accesses(a) + accesses(v),
            // One step if its operands make no access.
            Op::Rmw(_, e) => accesses(e) - 1,
            Op::Jump(_) => 0,
        };
        if n > 1 {
            return None;
        }
    }
    let params: Vec<Vec<String>> = threads.iter().map(|t| t.params.iter().map(|p| p.name.clone()).collect()).collect();
    let mut init =
        Global { pcs: vec![0; progs.len()], locals: vec![BTreeMap::new(); progs.len()], mem: BTreeMap::new() };
    for item in &test.init {
        let v = match &item.value {
            None => V::Int(0),
            Some(Value::Int(i)) => V::Int(*i),
            Some(Value::Loc(n)) => V::Ptr(n.clone()),
            Some(other) => panic!("unexpected init value {other:?}"),
        };
        match &item.loc {
            Loc::Mem(n) => {
                init.mem.insert(n.clone(), v);
            }
            Loc::Reg { tid, name } => {
                init.locals[*tid].insert(name.clone(), v);
            }
        }
    }
    let mut finals = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![init];
    while let Some(g) = stack.pop() {
        if !seen.insert(g.clone()) {
            continue;
        }
        let mut moved = false;
        for t in 0..progs.len() {
            let Some(op) = progs[t].get(g.pcs[t]) else { continue };
            moved = true;
            let mut n = g.clone();
            n.pcs[t] += 1;
            match op {
                Op::Set(name, e) => {
                    let v = eval(e, &params[t], &g.locals[t], &g.mem);
                    n.locals[t].insert(name.clone(), v);
                }
                Op::Eval(e) => {
                    eval(e, &params[t], &g.locals[t], &g.mem);
                }
                Op::Store(a, e) => {
                    let V::Ptr(p) = eval(a, &params[t], &g.locals[t], &g.mem) else { panic!("store to integer") };
                    let v = eval(e, &params[t], &g.locals[t], &g.mem);
                    n.mem.insert(p, v);
                }
                Op::Rmw(dst, Expr::Atomic { op, addr, value, expected, .. }) => {
                    let ev = |e: &Expr| eval(e, &params[t], &g.locals[t], &g.mem);
                    let V::Ptr(p) = ev(addr) else { panic!("atomic on an integer") };
                    let v = ev(value).int();
                    let old = g.mem.get(&p).cloned().unwrap_or(V::Int(0)).int();
                    let (new, result) = match op {
                        AtomicOp::Xchg => (Some(v), old),
                        AtomicOp::Cmpxchg => {
                            let e = expected.as_deref().map_or(0, |e| ev(e).int());
                            ((old == e).then_some(v), old)
                        }
                        AtomicOp::Add { fetch } => {
                            let new = old.wrapping_add(v);
                            (Some(new), if *fetch { old } else { new })
                        }
                        AtomicOp::FetchOr => (Some(old | v), old),
                        AtomicOp::FetchAndnot => (Some(old & !v), old),
                        AtomicOp::TryCmpxchg => unreachable!("kernel C only: the litmus parser refuses it"),
                    };
                    if let Some(new) = new {
                        n.mem.insert(p, V::Int(new));
                    }
                    if let Some(d) = dst {
                        n.locals[t].insert(d.clone(), V::Int(result));
                    }
                }
                Op::Rmw(..) => unreachable!("only atomics become Rmw steps"),
                Op::JumpUnless(c, to) => {
                    if eval(c, &params[t], &g.locals[t], &g.mem).int() == 0 {
                        n.pcs[t] = *to;
                    }
                }
                Op::Jump(to) => n.pcs[t] = *to,
            }
            stack.push(n);
        }
        if !moved {
            let row = shown
                .iter()
                .map(|s| {
                    if let Some(m) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                        g.mem.get(m).cloned().unwrap_or(V::Int(0)).show()
                    } else {
                        let (t, r) = s.split_once(':').unwrap();
                        g.locals[t.parse::<usize>().unwrap()].get(r).cloned().unwrap_or(V::Int(0)).show()
                    }
                })
                .collect();
            finals.insert(row);
        }
    }
    Some(finals)
}

fn check_dir(dir: &Path, files: &[String]) -> usize {
    let mut compared = 0;
    for f in files {
        let path = dir.join(f);
        if !std::fs::read_to_string(&path).unwrap().starts_with("C ") {
            continue;
        }
        let r = run_file(&path, &exhaustive(Mode::Sc));
        let Some(expected) = interleavings(&path, &r.locations) else { continue };
        let got: BTreeSet<Vec<String>> = r.states.iter().map(|s| s.values.clone()).collect();
        assert_eq!(got, expected, "{f}: simulator (left) vs interleavings (right), locations {:?}", r.locations);
        compared += 1;
    }
    compared
}

#[test]
fn sc_outcomes_are_exactly_the_interleavings_of_the_kernel_corpus() {
    let Some(dir) = shared("kernel") else {
        eprintln!("SKIPPED: ../shared/litmus/kernel not found next to the checkout");
        return;
    };
    let (h, rows) = read_tsv(&dir.join("INDEX.tsv"));
    let files: Vec<String> =
        rows.iter().filter(|r| col(&h, r, "basic") == "yes").map(|r| col(&h, r, "file").to_string()).collect();
    assert_eq!(check_dir(&dir, &files), 24);
}

#[test]
fn sc_outcomes_are_exactly_the_interleavings_of_the_classic_suite() {
    let dir = root().join("workloads/litmus/classic");
    let (_, rows) = read_tsv(&dir.join("EXPECTED.tsv"));
    let files: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    assert!(check_dir(&dir, &files) >= 25);
}
